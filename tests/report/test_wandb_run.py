"""W&B: one switch for online logging, one run per sweep job, and what a run logs (read back from the files)."""

from __future__ import annotations

import pytest

from rankexp.errors import ConfigError
from rankexp.report.wandb_run import summary_scalars, wandb_mode
from tests.helpers.runs import TINY, TINY_PROTOCOL, compose, explain, run_module
from tests.helpers.wandb_files import offline_run


@pytest.mark.parametrize("offline, env, expected", [
    (None, None, "offline"), (None, "online", "online"), (None, "dryrun", "offline"), (None, "disabled", "disabled"),
    (False, "offline", "online"), (True, "online", "offline"),
])
def test_the_key_wins_then_wandb_mode_then_offline(monkeypatch, offline, env, expected):
    if env is None:
        monkeypatch.delenv("WANDB_MODE", raising=False)
    else:
        monkeypatch.setenv("WANDB_MODE", env)
    assert wandb_mode(offline) == expected


def test_a_wrong_wandb_mode_names_the_variable(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "onlin")
    with pytest.raises(ConfigError, match="WANDB_MODE='onlin'.*logger.offline"):
        wandb_mode(None)


def test_summary_keeps_numbers_and_short_strings():
    out = summary_scalars({"test/ndcg@5": 0.7, "seed": 1, "git_sha": "abc", "flag": True, "none": None,
                           "long": "x" * 500, "nested": {"a": 1}})
    assert out == {"test/ndcg@5": 0.7, "seed": 1, "git_sha": "abc"}


def test_the_default_logger_is_offline_wandb_grouped_by_task():
    cfg = compose()
    assert cfg.logger._target_ == "rankexp.report.wandb_run.RankexpWandbLogger"
    assert cfg.logger.offline is None and cfg.logger.log_adapter is False
    from omegaconf import OmegaConf

    from rankexp.config.resolvers import job_name, sweep_group

    raw = OmegaConf.to_container(cfg.logger, resolve=False)
    assert raw["group"] == "${rankexp.sweep_group:${task_name}}" and raw["name"] == "${rankexp.job_name:}"
    assert sweep_group("explicit_listwise_ml100k") == "explicit_listwise_ml100k" and job_name() is None  # no sweep


@pytest.mark.slow
def test_each_sweep_job_is_its_own_wandb_run_with_config_summary_and_media(tmp_path):
    """A 2-job `-m` sweep with WANDB_MODE=offline: 2 offline runs, different ids and configs, one group."""
    overrides = [o for o in TINY if not o.startswith("logger=")]
    done = run_module("rankexp.run", "-m", "data=synthetic", *overrides, *TINY_PROTOCOL, "logger=wandb",
                      "logger.log_adapter=true", "optim.lr=0.001,0.002", f"hydra.sweep.dir={tmp_path}",
                      env_overrides={"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, explain(done)
    files = sorted(tmp_path.glob("*/wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 2, (files, explain(done))
    runs = [offline_run(f) for f in files]
    assert runs[0]["id"] != runs[1]["id"]
    assert [r["config"]["optim"]["lr"] for r in runs] == [0.001, 0.002]
    assert runs[0]["group"] == runs[1]["group"] == f"sweep:{tmp_path}"
    assert runs[0]["name"].startswith("0:") and "optim.lr=0.002" in runs[1]["name"]
    import json

    for job, run in enumerate(runs):
        results = json.loads((tmp_path / str(job) / "results.json").read_text())
        assert run["summary"]["test/ndcg@5"] == pytest.approx(results["test/ndcg@5"])
        assert run["summary"]["baseline_test/item_mean/ndcg@5"] == pytest.approx(
            results["baseline_test/item_mean/ndcg@5"])
        assert ("adapter", "model") in run["artifacts"], run["artifacts"]  # logger.log_adapter=true
        logged = " ".join(run["files"])
        for media in ("example_rankings", "position_bias", "learning_curve"):
            assert media in logged, (media, run["files"])
        # the example table shows the test step's own scores: its NDCG@5 is each list's in test_per_list.csv
        import pandas as pd

        shown = pd.read_csv(tmp_path / str(job) / "media" / "example_rankings.csv")
        tested = pd.read_csv(tmp_path / str(job) / "test_per_list.csv")
        assert len(shown) > 1
        assert shown["ndcg@5"].to_numpy() == pytest.approx(tested["llm_ndcg@5"].to_numpy()[: len(shown)], abs=1e-5)
    output = done.stderr + done.stdout
    assert "There is a wandb run already in progress" not in output
    assert "wandb: Run history" not in output and "anonymous setting" not in output  # quiet logs
