"""`ckpt_path=last` in an interrupted run's dir logs into the same W&B run (offline here), not a new one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rankexp.report.wandb_run import continued_run, previous_run_id
from tests.helpers.runs import TINY, explain, run_module
from tests.helpers.wandb_files import records

WANDB = [o for o in TINY if not o.startswith("logger=")] + ["logger=wandb"]


def _run_ids(run_dir: Path) -> list[str]:
    folders = sorted(p for p in (run_dir / "wandb").iterdir() if p.is_dir() and p.name.startswith("offline-run-"))
    ids = []
    for folder in folders:
        (run_file,) = folder.glob("run-*.wandb")
        ids.append(next(r.run.run_id for r in records(run_file) if r.WhichOneof("record_type") == "run"))
    return ids


@pytest.mark.slow
def test_resumed_run_logs_into_the_run_it_continues(tmp_path: Path):
    run_dir = tmp_path / "run"
    first = run_module("rankexp.run", *WANDB, "trainer.max_steps=2", f"hydra.run.dir={run_dir}",
                       env_overrides={"WANDB_MODE": "offline"})
    assert first.returncode == 0, explain(first)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    (original,) = _run_ids(run_dir)
    resumed = run_module("rankexp.run", *WANDB, "trainer.max_steps=4", "ckpt_path=last", f"hydra.run.dir={run_dir}",
                         env_overrides={"WANDB_MODE": "offline"})
    assert resumed.returncode == 0, explain(resumed)
    ids = _run_ids(run_dir)
    assert len(ids) == 2 and set(ids) == {original}, ids

    fresh = tmp_path / "fresh"
    other = run_module("rankexp.run", *WANDB, "trainer.max_steps=2", f"hydra.run.dir={fresh}",
                       env_overrides={"WANDB_MODE": "offline"})
    assert other.returncode == 0, explain(other)
    assert _run_ids(fresh) != [original]


def _cfg(tmp_path: Path, **root) -> object:
    return OmegaConf.create({"mode": "train", "ckpt_path": "last", **root,
                             "logger": {"_target_": "rankexp.report.wandb_run.RankexpWandbLogger",
                                        "save_dir": str(tmp_path)}})


def test_only_a_resumed_training_run_continues_the_previous_id(tmp_path: Path):
    folder = tmp_path / "wandb" / "offline-run-20261205_070312-abc123xy"
    folder.mkdir(parents=True)
    os.symlink(folder.name, tmp_path / "wandb" / "latest-run")
    assert previous_run_id(tmp_path) == "abc123xy"
    assert continued_run(_cfg(tmp_path)) == {"id": "abc123xy", "resume": "allow"}
    assert continued_run(_cfg(tmp_path, ckpt_path=None)) == {}
    assert continued_run(_cfg(tmp_path, mode="eval")) == {}
    assert previous_run_id(tmp_path / "elsewhere") is None
