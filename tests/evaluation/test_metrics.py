"""NDCG@k, HR@k, MRR@k on hand-computed lists, against torchmetrics, and accumulated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.retrieval import retrieval_normalized_dcg

from rankexp.evaluation.metrics import RankingMetrics, hit_rate_at_k, mrr_at_k, ndcg_at_k, ranking_metrics


def test_hand_computed_example():
    scores = torch.tensor([[0.9, 0.1, 0.5]])  # order: slot 0, slot 2, slot 1
    gains = torch.tensor([[0.0, 1.0, 3.0]])
    dcg = 0 + 3 / math.log2(3) + 1 / 2
    ideal = 3 + 1 / math.log2(3)
    assert ndcg_at_k(scores, gains, 3).item() == pytest.approx(dcg / ideal)
    assert ndcg_at_k(scores, gains, 1).item() == 0.0
    assert ndcg_at_k(scores, gains, 2).item() == pytest.approx((3 / math.log2(3)) / ideal)
    assert ndcg_at_k(scores, gains, 50).item() == pytest.approx(dcg / ideal)  # k > m clamps
    assert hit_rate_at_k(scores, gains, 1).item() == 0.0 and hit_rate_at_k(scores, gains, 2).item() == 1.0
    assert mrr_at_k(scores, gains, 1).item() == 0.0 and mrr_at_k(scores, gains, 3).item() == 0.5


def test_ties_break_by_slot_order_and_zero_ideal():
    scores = torch.zeros(1, 4)
    gains = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    assert mrr_at_k(scores, gains, 4).item() == pytest.approx(1 / 3)  # positive sits at slot 3
    assert hit_rate_at_k(scores, gains, 2).item() == 0.0
    assert ndcg_at_k(scores, torch.zeros(1, 4), 4).item() == 0.0


def test_mask_ignores_padded_slots():
    scores = torch.tensor([[10.0, 0.2, 0.1, 0.3]])
    gains = torch.tensor([[7.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[False, True, True, True]])  # the padded slot would win and carry gain
    # valid order: slot 3 (gain 0), slot 1 (gain 1): DCG@2 = 1/log2(3), ideal = 1
    assert ndcg_at_k(scores, gains, 2, mask).item() == pytest.approx(1 / math.log2(3))
    assert mrr_at_k(scores, gains, 3, mask).item() == 0.5
    assert hit_rate_at_k(scores, gains, 1, mask).item() == 0.0


def test_ndcg_matches_torchmetrics():
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(16, 12, generator=gen) + 0.01  # positive, (almost surely) tie-free
    gains = (2 ** torch.randint(1, 6, (16, 12), generator=gen)) - 1  # graded 2^r - 1, integer
    for k in (1, 3, 5, 10):
        ours = ndcg_at_k(scores, gains.float(), k)
        ref = torch.stack([retrieval_normalized_dcg(s, g, top_k=k) for s, g in zip(scores, gains)])
        torch.testing.assert_close(ours, ref.float(), rtol=1e-5, atol=1e-6)


def test_ranking_metric_accumulates_and_reports_stderr():
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.rand(5, 8, generator=gen), torch.randint(0, 2, (5, 8), generator=gen).float()) for _ in range(3)]
    metric = RankingMetrics(ks=(1, 5))
    for scores, gains in batches:
        metric.update(scores, gains)
    result = metric.compute()
    assert set(result) == {"ndcg@1", "hr@1", "mrr@1", "ndcg@5", "hr@5", "mrr@5"}
    all_scores, all_gains = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    direct = ranking_metrics(all_scores, all_gains, (1, 5))
    for key, value in direct.items():
        assert result[key].item() == pytest.approx(value.mean().item(), rel=1e-6)
        se = np.std(value.numpy(), ddof=1) / math.sqrt(len(value))
        assert metric.standard_errors()[key].item() == pytest.approx(se, rel=1e-5, abs=1e-7)
