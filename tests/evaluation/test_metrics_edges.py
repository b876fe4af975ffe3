"""Edges of the ranking metrics: the gain, the ranked-list form, default cut-offs, bad input,
one- and two-list accumulators, and ties on lists long enough for torch's sort to reorder them."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from rankexp.evaluation.metrics import RankingMetrics, ndcg_at_k, ndcg_gain, ranked_list_metrics, ranking_metrics


def test_gain_is_two_to_the_rating_minus_one():
    assert ndcg_gain(torch.tensor([0, 1, 2, 3, 5])).tolist() == [0.0, 1.0, 3.0, 7.0, 31.0]


def test_shapes_that_differ_are_refused():
    with pytest.raises(ValueError, match=r"must both be \[B, m\]"):
        ndcg_at_k(torch.rand(2, 3), torch.rand(2, 4), 3)
    with pytest.raises(ValueError, match=r"must both be \[B, m\]"):
        ndcg_at_k(torch.rand(3), torch.rand(3), 3)


def test_ranked_lists_score_as_scored_candidates():
    # ranked item lists (best first) with one target each = scores K..1 with gain 1 at the target
    items = torch.tensor([[7, 3, 9, 1, 4], [2, 8, 6, 5, 0], [1, 2, 3, 4, 5]])
    targets = torch.tensor([9, 2, 6])  # at rank 3, rank 1, missing
    got = ranked_list_metrics(items, targets, ks=(1, 3, 5))
    scores = torch.arange(5, 0, -1).float().expand(3, 5)
    gains = (items == targets[:, None]).float()
    expected = ranking_metrics(scores, gains, ks=(1, 3, 5))
    assert set(got) == set(expected)
    for key in expected:
        assert torch.allclose(got[key], expected[key]), key
    assert got["ndcg@3"].tolist() == pytest.approx([0.5, 1.0, 0.0])  # 1 / log2(4) at rank 3
    assert got["hr@1"].tolist() == [0.0, 1.0, 0.0] and got["hr@3"].tolist() == [1.0, 1.0, 0.0]
    assert got["mrr@1"].tolist() == [0.0, 1.0, 0.0] and got["mrr@5"].tolist() == pytest.approx([1 / 3, 1.0, 0.0])


def test_default_cut_offs_are_1_3_5_10():
    keys = {f"{name}@{k}" for k in (1, 3, 5, 10) for name in ("ndcg", "hr", "mrr")}
    assert set(ranking_metrics(torch.rand(2, 12), torch.rand(2, 12))) == keys
    assert set(RankingMetrics().keys) == keys


@pytest.mark.parametrize("ks", [[], [0], [3, 0], [-1]])
def test_cut_offs_must_be_positive(ks):
    with pytest.raises(ValueError, match="ks must be a non-empty list"):
        RankingMetrics(ks=ks)


def test_one_list_mean_is_its_value_and_its_se_zero():
    # by score: item 1 (rating gain 0), item 2 (gain 2^2 - 1 = 3), item 0 (gain 1); ideal: 3, 1, 0
    metric = RankingMetrics(ks=(1, 3))
    metric.update(torch.tensor([[0.1, 0.9, 0.5]]), torch.tensor([[1.0, 0.0, 3.0]]))
    ndcg3 = (3 / math.log2(3) + 1 / 2) / (3 + 1 / math.log2(3))
    hand = {"ndcg@1": 0.0, "hr@1": 0.0, "mrr@1": 0.0, "ndcg@3": ndcg3, "hr@3": 1.0, "mrr@3": 0.5}
    result, se = metric.compute(), metric.standard_errors()
    assert set(result) == set(hand)
    for key, value in hand.items():
        assert result[key].item() == pytest.approx(value, rel=1e-6), key
        assert se[key].item() == 0.0


def test_a_list_without_a_positive_gain_scores_zero():
    # the docstring's rule, also when a caller passes negative gains
    assert ndcg_at_k(torch.tensor([[1.0, 0.0]]), torch.tensor([[-1.0, 0.0]]), 1).tolist() == [0.0]
    assert ndcg_at_k(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]), 2).tolist() == [0.0]


def test_two_lists_se_is_the_sample_sd_over_root_two():
    scores, gains = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5]]), torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    metric = RankingMetrics(ks=(3,))
    metric.update(scores, gains)
    values = ranking_metrics(scores, gains, (3,))["ndcg@3"].tolist()
    assert values[0] != values[1]
    assert metric.standard_errors()["ndcg@3"].item() == pytest.approx(statistics.stdev(values) / 2**0.5, rel=1e-6)


def test_tied_scores_keep_list_order_on_long_lists():
    # every score tied: the list's own order decides, for every row, at any length (an unstable
    # sort on the CPU reorders ties from about 17 items on)
    m = 64
    gains = torch.zeros(8, m)
    gains[:, 0] = 1.0
    scores = torch.zeros(8, m)
    assert ranking_metrics(scores, gains, (1,))["ndcg@1"].tolist() == [1.0] * 8
    gains = torch.zeros(8, m)
    gains[:, -1] = 1.0
    assert ranking_metrics(scores, gains, (10,))["hr@10"].tolist() == [0.0] * 8
