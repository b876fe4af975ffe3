"""Soft Lambda loss (docs/alro.md, "Soft Lambda loss")."""

from __future__ import annotations

import math

import pytest
import torch

from rankexp.errors import ConfigError
from rankexp.losses.soft_lambda import SoftLambdaLoss, expected_positions, soft_lambda_loss

M = 20


def sure_y(order, m: int = M, p: float = 0.9, batch: int = 1) -> torch.Tensor:
    """A model that is `p` sure of item order[k] at slot k and spreads 1-p over the others."""
    y = torch.full((batch, m, m), (1 - p) / (m - 1), dtype=torch.float64)
    for k, i in enumerate(order):
        y[:, k, i] = p
    return y


def reference_pairwise(s, ratings, delta="target"):
    """Literal double loop over docs/alro.md's pair sum on positions s [B, m] (lower = ranked higher)."""
    per_list = []
    for sb, rb in zip(s.double(), ratings.double()):
        m = len(rb)
        keys = (-rb).tolist() if delta == "target" else sb.tolist()
        order = sorted(range(m), key=lambda i: (keys[i], i))
        tau = {item: rank + 1 for rank, item in enumerate(order)}
        total, pairs = 0.0, 0
        for i in range(m):
            for j in range(m):
                if rb[i] > rb[j]:
                    n = abs(tau[i] - tau[j])
                    d = abs(1 / math.log2(1 + n) - 1 / math.log2(2 + n))
                    g = abs(2 ** rb[i].item() - 2 ** rb[j].item())
                    total += d * g * math.log2(1 + math.exp(-(sb[j] - sb[i]).item()))
                    pairs += 1
        if pairs:
            per_list.append(total / pairs)
    return sum(per_list) / len(per_list) if per_list else 0.0


def reference_loss(y, ratings, gamma, delta="target"):
    """The pair sum on ALRO's soft-argmax positions s_i = sum_k k softmax_k(gamma Y[:, i])."""
    m = y.shape[-1]
    w = torch.softmax(gamma * y.double(), dim=1)
    s = (w * torch.arange(1, m + 1, dtype=torch.float64)[None, :, None]).sum(1)
    return reference_pairwise(s, ratings, delta)


def test_alro_md_numbers_reproduce():
    # docs/alro.md "Scale of gamma": m = 20, a model 90% sure of each slot. Reproduced
    # exactly with 20 distinct ratings 5.00, 4.75, ..., 0.25 (best first) and
    # Y = 0.9 on the gold item of each slot, 0.1/19 on each other item.
    ratings = torch.tensor([[(M - i) / 4 for i in range(M)]], dtype=torch.float64)
    perfect, reversed_ = sure_y(range(M)), sure_y(range(M - 1, -1, -1))
    expected = {1.0: (0.197, 0.312), 10.0: (0.037, 1.739)}
    for gamma, (lo, hi) in expected.items():
        assert soft_lambda_loss(perfect, ratings, gamma).item() == pytest.approx(lo, abs=5e-4)
        assert soft_lambda_loss(reversed_, ratings, gamma).item() == pytest.approx(hi, abs=5e-4)
    s1 = expected_positions(perfect, 1.0)[0]
    s10 = expected_positions(perfect, 10.0)[0]
    assert (s1[0].item(), s1[-1].item()) == pytest.approx((9.9, 11.1), abs=0.05)
    assert (s10[0].item(), s10[-1].item()) == pytest.approx((1.02, 19.98), abs=0.01)


def test_matches_literal_reference_with_ties():
    gen = torch.Generator().manual_seed(0)
    y = torch.softmax(torch.randn(3, 6, 6, generator=gen, dtype=torch.float64) * 3, dim=-1)
    ratings = torch.tensor([[5, 5, 3, 1, 3, 4], [1, 2, 3, 4, 5, 1], [4, 4, 4, 4, 4, 2]], dtype=torch.float64)
    for delta in ("target", "predicted"):
        for gamma in (1.0, 10.0):
            got = soft_lambda_loss(y, ratings, gamma, delta=delta).item()
            assert got == pytest.approx(reference_loss(y, ratings, gamma, delta), rel=1e-9)


def test_perfect_below_reversed_and_predicted_delta():
    ratings = torch.tensor([[5.0, 4, 4, 3, 2, 1, 1, 1]])
    perfect, reversed_ = sure_y(range(8), m=8).float(), sure_y(range(7, -1, -1), m=8).float()
    for delta in ("target", "predicted"):
        assert soft_lambda_loss(perfect, ratings, 10, delta) < soft_lambda_loss(reversed_, ratings, 10, delta)
    # with distinct ratings and a perfect prediction, predicted ranks == target ranks
    distinct = torch.arange(8, 0, -1).float()[None]
    assert soft_lambda_loss(perfect, distinct, 10, "predicted") == pytest.approx(
        soft_lambda_loss(perfect, distinct, 10, "target").item(), rel=1e-6
    )


def test_zero_pairs_give_zero_with_grad():
    y = torch.rand(2, 5, 5, requires_grad=True)
    loss = soft_lambda_loss(y, torch.full((2, 5), 4.0), gamma=10)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(y.grad, torch.zeros_like(y))


def test_list_without_pairs_contributes_nothing():
    gen = torch.Generator().manual_seed(1)
    y = torch.rand(2, 5, 5, generator=gen)
    ratings = torch.tensor([[5.0, 1, 3, 2, 4], [3.0, 3, 3, 3, 3]])
    both = soft_lambda_loss(y, ratings, 10)
    assert both.item() == pytest.approx(soft_lambda_loss(y[:1], ratings[:1], 10).item(), rel=1e-6)


def test_gradient_flows_to_y_and_is_finite_at_extreme_gamma():
    logits = torch.randn(2, 6, 6, generator=torch.Generator().manual_seed(3)).requires_grad_()
    ratings = torch.tensor([[1.0, 2, 3, 4, 5, 5], [5.0, 1, 1, 2, 2, 3]])
    for gamma in (10.0, 1e4):
        logits.grad = None
        loss = soft_lambda_loss(torch.softmax(logits, -1), ratings, gamma)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
        if gamma == 10.0:
            assert logits.grad.abs().sum() > 0
    # at gamma = 1e4 the soft-argmax saturates to hard positions: finite but ~zero gradient


def test_gamma_sharpens_positions():
    y = sure_y(range(M), p=0.6)
    hard = torch.arange(1, M + 1, dtype=torch.float64)
    errors = [(expected_positions(y, g)[0] - hard).abs().mean().item() for g in (1, 5, 10, 50)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.01


def test_mask_equals_unpadded_list():
    gen = torch.Generator().manual_seed(2)
    n, m = 5, 8
    y_small = torch.softmax(torch.randn(1, n, n, generator=gen), -1)
    r_small = torch.tensor([[5.0, 2, 4, 1, 4]])
    cols = torch.tensor([0, 2, 3, 5, 7])  # real candidates, anywhere among the m columns
    y = torch.rand(1, m, m, generator=gen) * 100  # garbage in padded rows / columns
    y[0, :n, cols] = y_small[0]
    ratings = torch.full((1, m), 9.0)
    ratings[0, cols] = r_small[0]
    mask = torch.zeros(1, m, dtype=torch.bool)
    mask[0, cols] = True
    for delta in ("target", "predicted"):
        got = soft_lambda_loss(y, ratings, 10, delta, mask=mask)
        assert got.item() == pytest.approx(soft_lambda_loss(y_small, r_small, 10, delta).item(), rel=1e-6)
    # an entirely padded list is harmless
    empty = torch.zeros(1, m, dtype=torch.bool)
    both = soft_lambda_loss(torch.cat([y, y]), torch.cat([ratings, ratings]), 10, mask=torch.cat([mask, empty]))
    assert both.item() == pytest.approx(soft_lambda_loss(y_small, r_small, 10).item(), rel=1e-6)


def test_config_errors_name_their_keys():
    y, r = torch.rand(1, 3, 3), torch.tensor([[3.0, 2, 1]])
    for gamma in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match=r"loss\.soft_lambda\.gamma"):
            soft_lambda_loss(y, r, gamma)
    with pytest.raises(ConfigError, match=r"loss\.soft_lambda\.weight"):
        SoftLambdaLoss(weight=-0.1)
    with pytest.raises(ConfigError, match=r"loss\.soft_lambda\.delta"):
        SoftLambdaLoss(delta="ideal")


def test_module_applies_weight():
    y, r = torch.rand(2, 4, 4), torch.tensor([[4.0, 3, 2, 1], [1.0, 1, 2, 5]])
    module = SoftLambdaLoss(weight=0.5, gamma=5.0, delta="predicted")
    assert module(y, r).item() == pytest.approx(0.5 * soft_lambda_loss(y, r, 5.0, "predicted").item())


def test_half_precision_input_is_upcast():
    y = sure_y(range(M)).float()
    ratings = torch.tensor([[(M - i) / 4 for i in range(M)]])
    loss = soft_lambda_loss(y.bfloat16(), ratings, 10.0)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(soft_lambda_loss(y, ratings, 10.0).item(), rel=0.05)


def test_first_slot_scores_prefer_the_better_item_first():
    # first_slot compares -log Y[1, i] only: later slots (and gamma) do not matter
    later = torch.tensor([[[0.7, 0.2, 0.1], [0.0, 0.1, 0.9], [0.0, 0.9, 0.1]]])
    ratings_ = torch.tensor([[5.0, 3.0, 1.0]])
    assert soft_lambda_loss(later, ratings_, 1.0, scores="first_slot") == pytest.approx(
        soft_lambda_loss(later, ratings_, 50.0, scores="first_slot").item())
    ratings = torch.tensor([[5.0, 3.0, 1.0]])
    good = torch.tensor([[[0.7, 0.2, 0.1]] * 3])
    bad = torch.tensor([[[0.1, 0.2, 0.7]] * 3])
    assert soft_lambda_loss(good, ratings, 10.0, scores="first_slot") < soft_lambda_loss(bad, ratings, 10.0, scores="first_slot")
    with pytest.raises(ConfigError, match="loss.soft_lambda.scores"):
        SoftLambdaLoss(scores="all_slots")
