"""Runs write the paired CI and p-values beside the unchanged mean and s.e.; the summary and results.md show them."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from rich.console import Console

from rankexp.evaluation.paired import SUFFIXES, paired_stats

KEY = "paired_test/llm_minus_item_mean/ndcg@5"


def test_alro_rows_write_every_paired_key():
    from rankexp.evaluation.comparison import Comparison, own_row

    cfg = Comparison(metric="ndcg@1", ks=(1,), test_orders=1, fusion="none", seed=0, ndcg_only=False)
    gains = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])
    scores = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # right on lists 0, 2, 3
    out = own_row(cfg, "orders", scores, gains, {"llm": -gains})
    want = paired_stats([1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]).keys("paired_test/orders_minus_llm/ndcg@1")
    assert {k: v for k, v in out.items() if k.startswith("paired_test/")} == pytest.approx(want)
    assert out["paired_test/orders_minus_llm/ndcg@1_se"] == pytest.approx(math.sqrt(0.25) / 2)  # s.d. 0.5, n = 4


def test_recranker_paired_to_retriever_writes_every_paired_key():
    from rankexp.models.hybrid import UserResult
    from rankexp.recipes.recranker import paired_to_retriever

    hit = np.eye(5, dtype=np.float32)[0]
    good, bad = np.arange(5, 0, -1, dtype=np.float64), np.arange(5, dtype=np.float64)
    users = [UserResult({"hybrid": good, "retriever": bad}, hit), UserResult({"hybrid": bad, "retriever": good}, hit),
             UserResult({"hybrid": good, "retriever": bad}, hit)]
    out = paired_to_retriever(users, "ndcg@5")
    assert sorted(out) == sorted(f"paired_test/hybrid_minus_retriever/ndcg@5{s}" for s in ("", *SUFFIXES))
    assert out["paired_test/hybrid_minus_retriever/ndcg@5_ci_low"] < out["paired_test/hybrid_minus_retriever/ndcg@5"]


def test_summary_and_results_md_show_the_interval(tmp_path):
    from rankexp.report.console import print_summary
    from rankexp.report.results_md import results_markdown

    results = {"test/ndcg@5": 0.75, **paired_stats([0.9, 0.8, 0.7, 0.75], [0.8, 0.7, 0.72, 0.7]).keys(KEY)}
    shown = io.StringIO()
    print_summary(results, tmp_path, Console(file=shown, width=200))
    for text in (shown.getvalue(), results_markdown(results)):
        lines = [line for line in text.splitlines() if "llm_minus_item_mean" in line]
        assert len(lines) == 1 and "(paired s.e.), 95% CI [" in lines[0] and "(Wilcoxon)" in lines[0], text
