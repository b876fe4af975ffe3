"""Optuna with persistent storage: a study killed after trial 1 resumes at trial 2 when the command is rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.runs import REPO, TINY, TINY_PROTOCOL, env, explain, run_module

pytestmark = pytest.mark.slow


def test_resumable_sweeper_requeues_the_running_trial(tmp_path):
    """The unit part: a RUNNING trial (the process died) goes back to WAITING and keeps its number and params."""
    import optuna

    from hydra_plugins.rankexp_sweepers.resumable_optuna import resume_state

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    done = study.ask()
    done.suggest_float("x", 0, 1)
    study.tell(done, 0.5)
    killed = study.ask()
    x = killed.suggest_float("x", 0, 1)
    left, first = resume_state(optuna.load_study(study_name="s", storage=storage), n_trials=3)
    assert (left, first) == (2, 1)
    again = optuna.load_study(study_name="s", storage=storage).ask()
    assert again.number == 1 and again.suggest_float("x", 0, 1) == x


def test_a_killed_study_resumes_at_the_next_trial(tmp_path: Path):
    sweep, db = tmp_path / "sweep", tmp_path / "study.db"
    args = ["+experiment=alro_ml100k", "hparams_search=alro_optuna", "hydra.sweeper.n_trials=3",
            f"hydra.sweeper.storage=sqlite:///{db}", "hydra.sweeper.study_name=resume_test", "data=synthetic",
            *TINY, *TINY_PROTOCOL, "train.validate_before_fit=false", "eval.position_bias_lists=0",
            "eval.example_rankings=0", f"hydra.sweep.dir={sweep}"]
    environment = {**env(), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rankexp.run", *args], cwd=REPO, env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (sweep / "1" / "results.json").is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # killed after trial 1 (0-based: trials 0 and 1 are done)
    proc.wait()
    assert (sweep / "1" / "results.json").is_file(), "the first sweep never finished trial 1"
    assert not (sweep / "2" / "results.json").is_file()
    first_results = {k: (sweep / k / "results.json").stat().st_mtime_ns for k in ("0", "1")}
    again = run_module("rankexp.run", *args, timeout=900, env_overrides={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, explain(again)
    assert "resuming study resume_test: 2 trials finished" in again.stdout + again.stderr
    assert sorted(p.parent.name for p in sweep.glob("*/results.json")) == ["0", "1", "2"]
    assert {k: (sweep / k / "results.json").stat().st_mtime_ns for k in ("0", "1")} == first_results  # not re-run
    import optuna

    study = optuna.load_study(study_name="resume_test", storage=f"sqlite:///{db}")
    states = [(t.number, t.state.name) for t in study.trials]
    assert states == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")], states
