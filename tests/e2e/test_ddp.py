"""DDP on 2 CPU processes (gloo) gives the metrics of one process on the same data.

Two ranks at batch 1 see, step for step, the two instances one process sees at batch 2
(Lightning's DistributedSampler interleaves an unshuffled dataset), and DDP averages the
gradients, so training follows the same path; evaluation is sharded and the torchmetrics
states are summed across ranks. Slow: ~1 min (two interpreters import torch, gloo setup).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.runs import TINY, TINY_PROTOCOL, explain, run_module

pytestmark = pytest.mark.slow

COMMON = [*TINY, *TINY_PROTOCOL, "data=synthetic", "model.lora.dropout=0.0", "eval.methods=[verbalizer]",
          "eval.example_rankings=0", "eval.position_bias_lists=0", "callbacks.throughput=null",
          "trainer.max_steps=3", "trainer.val_check_interval=3", "train.draws_per_epoch=6",
          "train.eval_batch_size=2", "optim.lr=0.005", "trainer.log_every_n_steps=1", "optim.warmup_steps=0"]


def _run(tmp: Path, *overrides: str) -> dict:
    proc = run_module("rankexp.run", *COMMON, *overrides, f"hydra.run.dir={tmp}", timeout=600)
    assert proc.returncode == 0, explain(proc)
    return json.loads((tmp / "results.json").read_text())


def test_ddp_two_cpu_processes_match_one_process(tmp_path: Path):
    single = _run(tmp_path / "single", "train.batch_size=2")
    ddp = _run(tmp_path / "ddp", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
               "+trainer.num_nodes=1", "trainer.precision=32", "train.batch_size=1")
    # the large lr makes 3 steps move the ranking, so matching metrics say training matched too
    assert single["best_val/ndcg@5"] != pytest.approx(single["zero_shot_val/ndcg@5"], abs=1e-4)
    keys = [k for k in single if k.startswith(("test/", "zero_shot_val/", "best_val/"))]
    assert keys and all(k in ddp for k in keys), (sorted(single), sorted(ddp))
    for key in keys:
        assert ddp[key] == pytest.approx(single[key], abs=1e-4), key
    # every rank wrote nothing but rank 0's one results file
    assert sorted(p.name for p in (tmp_path / "ddp").glob("results*.json")) == ["results.json"]
