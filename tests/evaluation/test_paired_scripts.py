"""The experiment scripts that pair runs or scores take their statistics from `rankexp.evaluation.paired`."""

from __future__ import annotations

import csv
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rankexp.evaluation.paired import paired_stats

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture()
def scripts(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    return importlib.import_module


def write_run(folder: Path, llm: list[float], item_mean: list[float]) -> Path:
    folder.mkdir()
    with (folder / "test_per_list.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["list", "user", "llm_ndcg@5", "item_mean_ndcg@5"])
        writer.writerows([i, 100 + i, a, b] for i, (a, b) in enumerate(zip(llm, item_mean)))
    return folder


def test_paired_runs_pairs_lists_within_a_seed(scripts, tmp_path, capsys):
    paired_runs = scripts("paired_runs")
    rng = np.random.default_rng(0)
    base = [rng.uniform(0.4, 0.9, 30).round(4) for _ in range(2)]
    better = [b + rng.normal(0.03, 0.05, 30).round(4) for b in base]
    ref = [write_run(tmp_path / f"sft_s{s}", list(base[s]), list(base[s])) for s in range(2)]
    full = [write_run(tmp_path / f"full_s{s}", list(better[s]), list(base[s])) for s in range(2)]
    table = paired_runs.compare({"sft": ref, "full": full}, "sft", "llm_ndcg@5")
    for seed, entry in enumerate(table["full"]["seeds"]):
        diff = better[seed] - base[seed]
        want = paired_stats(better[seed], base[seed])
        assert entry["minus_sft"] == pytest.approx(diff.mean(), rel=1e-12)
        assert entry["minus_sft_se"] == pytest.approx(diff.std(ddof=1) / math.sqrt(30), rel=1e-12)  # the old formula
        assert (entry["minus_sft_ci_low"], entry["minus_sft_ci_high"]) == (want.ci_low, want.ci_high)
        assert (entry["minus_sft_p_t"], entry["minus_sft_p_wilcoxon"]) == (want.p_t, want.p_wilcoxon)
    assert "minus_sft" not in table["sft"]["seeds"][0]
    per_seed = [e["minus_sft"] for e in table["full"]["seeds"]]
    assert table["full"]["minus_sft_sd"] == pytest.approx(np.std(per_seed, ddof=1), rel=1e-12)

    out = tmp_path / "table.json"
    assert paired_runs.main(["--ref", "sft", f"sft={ref[0]},{ref[1]}", f"full={full[0]},{full[1]}", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["full"]["seeds"][0]["minus_sft_ci_low"] == table["full"]["seeds"][0][
        "minus_sft_ci_low"]
    assert "minus sft:" in capsys.readouterr().out


def test_order_averaging_probe_keeps_mean_and_se_and_adds_the_interval(scripts):
    probe = scripts("probe_order_averaging")
    a = torch.rand(50, generator=torch.Generator().manual_seed(1))
    b = torch.rand(50, generator=torch.Generator().manual_seed(2))
    got = probe.paired("one_order_minus_item_mean", a, b)
    diff = a - b
    assert got["one_order_minus_item_mean"] == pytest.approx([float(diff.mean()),
                                                              float(diff.std(unbiased=True)) / math.sqrt(50)], abs=1e-8)
    assert sorted(got) == sorted(f"one_order_minus_item_mean{s}" for s in
                                 ("", "_ci_low", "_ci_high", "_p_t", "_p_wilcoxon"))


def test_rating_ceiling_and_rounding_probes_import(scripts):
    """Both probes import the shared statistics (the rounding probe once took `paired` from the ceiling probe)."""
    assert scripts("probe_hint_rounding").paired_stats is paired_stats
    assert scripts("probe_rating_ceiling").paired_stats is paired_stats
