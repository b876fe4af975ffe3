"""Paired differences and score fusion: exact on hand-made lists."""

from __future__ import annotations

import math

import torch

from rankexp.evaluation.fusion import choose_weight, fuse, paired_difference, zscore


def test_zscore_is_per_list_and_keeps_the_order():
    scores = torch.tensor([[1.0, 2.0, 3.0], [10.0, 10.0, 10.0]])
    z = zscore(scores)
    assert torch.allclose(z[0].mean(), torch.tensor(0.0)) and torch.equal(z[0].argsort(), scores[0].argsort())
    assert torch.equal(z[1], torch.zeros(3))


def test_paired_difference_mean_and_standard_error():
    gains = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0]])
    right = gains.clone()  # ranks every list perfectly
    wrong = -gains  # ranks every list backwards
    diff, se = paired_difference(right, wrong, gains, "ndcg@1")
    assert diff == 1.0 and se == 0.0
    half = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # right on lists 0 and 2 only
    diff, se = paired_difference(half, wrong, gains, "ndcg@1")
    assert math.isclose(diff, 2 / 3, rel_tol=1e-6) and math.isclose(se, math.sqrt(1 / 3) / math.sqrt(3), rel_tol=1e-5)


def test_fusion_weight_is_chosen_on_the_given_lists():
    gains = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    useless_llm = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])  # always backwards
    good_signal = gains.clone()
    weight, value = choose_weight(useless_llm, good_signal, gains, "ndcg@1")
    assert weight > 1.0 and value == 1.0
    weight, _ = choose_weight(good_signal, useless_llm, gains, "ndcg@1")
    assert weight == 0.0  # the LLM alone is already perfect: no fusion
    assert torch.equal(fuse(good_signal, useless_llm, 0.0).argsort(), good_signal.argsort())
