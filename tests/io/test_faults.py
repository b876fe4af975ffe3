"""Faults: kill -9 mid-training then resume, same seed twice, atomic outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = [
    "model=tiny_random", "data=synthetic", "logger=csv", "trainer.precision=32", "protocol.m=6",
    "protocol.history_len=5", "protocol.min_history=3", "train.draws_per_epoch=2", "train.max_val_lists=4",
    "train.max_test_lists=6", "trainer.max_steps=8", "trainer.val_check_interval=2", "eval.baselines=false",
]


def _run(run_dir: Path, *extra: str, wait: bool = True):
    cmd = [sys.executable, "-m", "rankexp.run", *TINY, f"hydra.run.dir={run_dir}", *extra]
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((run_dir / "results.json").read_text())


def _test_metrics(results: dict) -> dict:
    return {k: v for k, v in results.items() if k.startswith("test/")}


@pytest.mark.slow
def test_kill_9_mid_training_then_resume_matches_uninterrupted(tmp_path):
    reference = _run(tmp_path / "reference")
    interrupted = tmp_path / "interrupted"
    process = _run(interrupted, wait=False)
    last = interrupted / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert last.exists(), "no checkpoint was written before the run ended"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (interrupted / "results.json").exists()
    assert not list((interrupted / "checkpoints").glob(".*.tmp"))  # no half-written checkpoint left behind
    resumed = _run(interrupted, "ckpt_path=last")
    assert _test_metrics(resumed) == _test_metrics(reference)
    assert resumed["best_val/ndcg@5"] == reference["best_val/ndcg@5"]


@pytest.mark.slow
def test_same_seed_twice_gives_identical_instructions_and_metrics(tmp_path):
    first = _run(tmp_path / "a")
    second = _run(tmp_path / "b")
    assert first["train/draws_hash"] == second["train/draws_hash"]
    assert _test_metrics(first) == _test_metrics(second)
    other = _run(tmp_path / "c", "seed=1", "trainer.max_steps=2")
    assert other["train/draws_hash"] != first["train/draws_hash"]


def test_results_json_is_written_atomically(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from rankexp.io import results

    cfg = OmegaConf.create({"seed": 3, "model": {"api_key": "x"}})
    path = tmp_path / "results.json"
    results.write_results(path, {"test/ndcg@5": 0.5, "wandb_api_key": "secret"}, cfg, 1.0)
    payload = json.loads(path.read_text())
    assert payload["test/ndcg@5"] == 0.5 and payload["seed"] == 3 and "wandb_api_key" not in payload

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        results.write_results(path, {"test/ndcg@5": 0.9}, cfg, 1.0)
    assert json.loads(path.read_text())["test/ndcg@5"] == 0.5  # the old file stays whole
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    from rankexp.errors import ConfigError
    from rankexp.io.checkpoint import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {}, "epoch": 1}, tmp_path / "ok.ckpt")
    assert io.load_checkpoint(tmp_path / "ok.ckpt")["epoch"] == 1
    data = (tmp_path / "ok.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="not a readable rankexp checkpoint"):
        io.load_checkpoint(tmp_path / "cut.ckpt")
    with pytest.raises(ConfigError, match="no checkpoint file"):
        io.load_checkpoint(tmp_path / "missing.ckpt")


def test_credentials_are_dropped_and_token_counts_kept():
    from rankexp.io.results import scrub_secrets

    data = {"wandb_api_key": 1, "logger.apikey": 1, "hf_token": 1, "access_token_id": 1, "db.password": 1,
            "client_secret": 1, "speed/train_tokens_per_s": 2.5, "model.tokenizer": "x", "test/ndcg@5": 0.5}
    assert scrub_secrets(data) == {"speed/train_tokens_per_s": 2.5, "model.tokenizer": "x", "test/ndcg@5": 0.5}
