"""experiments/bench_speed.py: the FLOPs a LoRA training token costs, with every layer adapted or only the top K."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    return importlib.import_module("bench_speed")


def test_a_training_token_costs_4n_with_every_layer_adapted_and_less_with_the_top_layers_only(bench):
    n = 106_000_000
    assert bench.train_flops_per_token(n, 30, {"r": 16, "top_layers": None}) == 4 * n
    assert bench.train_flops_per_token(n, 30, {"r": 16}) == 4 * n  # configs from before the key
    assert bench.train_flops_per_token(n, 30, None) == 4 * n
    assert bench.train_flops_per_token(n, 30, {"top_layers": 15}) == 3 * n  # backward through half the layers
    assert bench.train_flops_per_token(n, 30, {"top_layers": 30}) == 4 * n
    assert bench.train_flops_per_token(n, 30, {"top_layers": 40}) == 4 * n  # more than the model has: all of them
