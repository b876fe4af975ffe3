"""A new loss is a class and a yaml file: nothing in rankexp is edited to train with it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.helpers.runs import TINY, TINY_PROTOCOL, explain, run_with_components, write_component

pytestmark = pytest.mark.slow

TOY = '''
from torch import nn


class ToyLoss(nn.Module):
    """Pulls the hidden states towards 0: any differentiable term of the forward will do."""

    needs = (("hidden",),)  # any readout's forward gives the hidden states
    needs_permuted = False

    def __init__(self, weight: float = 1.0, scale: float = 1.0) -> None:
        super().__init__()
        self.weight, self.scale = weight, scale

    def term(self, out):
        return self.weight * self.scale * out.hidden.float().pow(2).mean()
'''


def test_a_toy_loss_in_a_temp_dir_trains_and_is_logged(tmp_path: Path):
    write_component(tmp_path, "loss", "toy", "toy_loss_pkg", TOY,
                    "# @package loss.toy\n_target_: toy_loss_pkg.ToyLoss\nweight: 0.5\nscale: 2.0\n")
    run_dir = tmp_path / "run"
    proc = run_with_components(tmp_path, run_dir, "data=synthetic", *TINY, *TINY_PROTOCOL, "trainer.max_steps=2",
                               "trainer.val_check_interval=1", "trainer.log_every_n_steps=1", "loss=[sft,toy]")
    assert proc.returncode == 0, explain(proc)
    assert "test/ndcg@5" in json.loads((run_dir / "results.json").read_text())
    rows = list(csv.DictReader((run_dir / "csv" / "version_0" / "metrics.csv").open()))
    toy = [float(r["train/loss_toy"]) for r in rows if r.get("train/loss_toy")]
    sft = [float(r["train/loss_sft"]) for r in rows if r.get("train/loss_sft")]
    assert toy and sft, sorted(rows[0])
    assert all(value > 0 for value in toy)
