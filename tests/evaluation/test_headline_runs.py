"""experiments/headline_runs.py: the default's 3-seed headline is computed from its runs' results.json."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture()
def headline_runs(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    return importlib.import_module("headline_runs")


def write_run(folder: Path, seed: int, llm: float, test_lists: int = 707) -> Path:
    results = {"seed": seed, "git_sha": "abcdef0123", "wall_time_s": 800.4 + seed, "lists/val_evaluated": 100,
               "lists/test_evaluated": test_lists, "test_fusion/ndcg@5": llm + 0.01, "fusion/weight": 1.0,
               "position_bias/top1_agreement": 0.5 + seed / 10, "baseline_val/item_mean/ndcg@5": 0.75,
               "best_val/ndcg@5": 0.7 + seed / 100, "val_curve/step_0": 0.6, "val_curve/step_50": 0.7 + seed / 100,
               "baseline_test/popularity/ndcg@5": 0.71, "baseline_test/random/ndcg@5": 0.65}
    for k in (1, 3, 5, 10):
        results[f"test/ndcg@{k}"] = llm
        results[f"baseline_test/item_mean/ndcg@{k}"] = 0.78
    for key in ("paired_test/llm_minus_item_mean/ndcg@5", "paired_test/fusion_minus_item_mean/ndcg@5"):
        results[key], results[f"{key}_se"] = llm - 0.78, 0.003
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_the_headline_is_the_runs_mean_and_sd_and_keeps_what_other_commands_wrote(headline_runs, tmp_path):
    out = tmp_path / "candidate.json"
    out.write_text(json.dumps({"before_fix": {"x": 1}, "baselines": {"y": 2}, "test": "replaced"}))
    runs = [write_run(tmp_path / f"s{s}", s, llm) for s, llm in enumerate((0.76, 0.77, 0.78))]
    assert headline_runs.main([*map(str, runs), "--out", str(out), "--command", "cmd"]) == 0
    d = json.loads(out.read_text())
    assert d["test"]["LLM alone (candidate readout)"]["ndcg@5"] == [0.77, 0.01]
    assert d["test"]["item mean"]["ndcg@5"] == [0.78, None]
    assert d["paired_test/llm_minus_item_mean/ndcg@5"] == [[-0.02, 0.003], [-0.01, 0.003], [0.0, 0.003]]
    assert d["position_bias/top1_agreement"] == [0.6, 0.1]
    assert d["val_curve"] == {"steps": [0, 50], "seed_0": [0.6, 0.7], "seed_1": [0.6, 0.71], "seed_2": [0.6, 0.72]}
    assert d["runs"][1] == {"seed": 1, "git_sha": "abcdef0", "wall_time_s": 801}
    assert d["lists"] == {"val": 100, "test": 707} and d["command"] == "cmd"
    assert d["before_fix"] == {"x": 1} and d["baselines"] == {"y": 2}


def test_runs_on_different_lists_are_refused(headline_runs, tmp_path):
    runs = [write_run(tmp_path / "s0", 0, 0.76), write_run(tmp_path / "s1", 1, 0.77, test_lists=200)]
    with pytest.raises(SystemExit, match="different lists"):
        headline_runs.main([*map(str, runs), "--out", str(tmp_path / "out.json")])
