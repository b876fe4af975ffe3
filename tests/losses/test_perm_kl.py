"""Permutation-sensitive KL (docs/alro.md, "Permutation-sensitive loss")."""

from __future__ import annotations

import math

import pytest
import torch

from rankexp.errors import ConfigError
from rankexp.losses.perm_kl import PermutationKLLoss, inverse_permutation, permutation_kl, reindex_by_item


def rand_y(batch=2, m=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(batch, m, m, generator=gen, dtype=torch.float64) * 2, dim=-1)


def test_zero_for_identical_positive_otherwise():
    y = rand_y()
    for direction in ("forward", "reverse", "symmetric"):
        assert permutation_kl(y, y.clone(), direction).item() == pytest.approx(0.0, abs=1e-12)
        assert permutation_kl(y, rand_y(seed=1), direction).item() > 0


def test_hand_value_and_directions():
    # one slot, two items: p = (0.5, 0.5), q = (0.9, 0.1) after renormalising;
    # y rows need not sum to 1 (probabilities over the full vocabulary).
    p = torch.tensor([[[0.25, 0.25], [0.5, 0.5]]], dtype=torch.float64)
    q = torch.tensor([[[0.45, 0.05], [0.5, 0.5]]], dtype=torch.float64)
    kl_pq = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    kl_qp = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert permutation_kl(p, q, "forward").item() == pytest.approx(kl_pq / 2)  # mean over 2 slots
    assert permutation_kl(p, q, "reverse").item() == pytest.approx(kl_qp / 2)
    assert permutation_kl(p, q, "symmetric").item() == pytest.approx((kl_pq + kl_qp) / 4)


def test_reindex_explicit_example():
    # permuted prompt shows original item perm[j] under label j: labels (A, B, C) = items (2, 0, 1)
    perm = torch.tensor([[2, 0, 1]])
    y_label = torch.tensor([[[0.7, 0.2, 0.1]]])  # slot 1: P(A) = 0.7 -> item 2
    out = reindex_by_item(y_label, perm)
    assert torch.equal(out, torch.tensor([[[0.2, 0.1, 0.7]]]))
    assert inverse_permutation(perm).tolist() == [[1, 2, 0]]


def test_reindex_round_trip_and_position_invariant_model_has_zero_kl():
    gen = torch.Generator().manual_seed(4)
    y_item = rand_y(batch=3, m=6)
    perm = torch.stack([torch.randperm(6, generator=gen) for _ in range(3)])
    # a position-invariant model gives item perm[j] the same probability under its new label j
    y_label = y_item.gather(-1, perm[:, None, :].expand(3, 6, 6))
    back = reindex_by_item(y_label, perm)
    assert torch.equal(back, y_item)
    assert permutation_kl(y_item, back).item() == pytest.approx(0.0, abs=1e-12)
    # the un-reindexed matrix is (almost surely) not the same distribution
    assert permutation_kl(y_item, y_label).item() > 0
    # a shared 1-D perm broadcasts over the batch
    assert torch.equal(reindex_by_item(y_item[:, :, perm[0]], perm[0]), y_item)


def test_stop_grad_and_gradient():
    y_orig = rand_y().requires_grad_()
    y_perm = rand_y(seed=2).requires_grad_()
    permutation_kl(y_orig, y_perm, stop_grad_orig=True).backward()
    assert y_orig.grad is None and y_perm.grad.abs().sum() > 0
    permutation_kl(y_orig, y_perm, direction="symmetric").backward()
    assert y_orig.grad.abs().sum() > 0


def test_underflowed_probabilities_stay_finite():
    y_orig = torch.zeros(1, 3, 3, requires_grad=True)
    y_perm = torch.eye(3)[None].requires_grad_()
    loss = permutation_kl(y_orig, y_perm, direction="symmetric")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(y_orig.grad).all() and torch.isfinite(y_perm.grad).all()


def test_mask_equals_unpadded():
    small_p, small_q = rand_y(1, 3, seed=5), rand_y(1, 3, seed=6)
    cols = torch.tensor([1, 3, 4])
    p, q = torch.rand(1, 5, 5, dtype=torch.float64), torch.rand(1, 5, 5, dtype=torch.float64)
    p[0, :3, cols], q[0, :3, cols] = small_p[0], small_q[0]
    mask = torch.zeros(1, 5, dtype=torch.bool)
    mask[0, cols] = True
    got = permutation_kl(p, q, mask=mask).item()
    assert got == pytest.approx(permutation_kl(small_p, small_q).item(), rel=1e-9)


def test_errors_and_module():
    y = torch.ones(1, 1, 1)
    with pytest.raises(ConfigError, match=r"loss\.perm_kl"):
        permutation_kl(y, y)
    with pytest.raises(ConfigError, match=r"loss\.perm_kl\.direction"):
        PermutationKLLoss(direction="js")
    with pytest.raises(ConfigError, match=r"loss\.perm_kl\.weight"):
        PermutationKLLoss(weight=-1)
    p, q = rand_y(), rand_y(seed=3)
    module = PermutationKLLoss(weight=0.5, direction="reverse")
    assert module(p, q).item() == pytest.approx(0.5 * permutation_kl(p, q, "reverse").item())


def test_half_precision_input_is_upcast():
    p, q = rand_y().float(), rand_y(seed=1).float()
    loss = permutation_kl(p.bfloat16(), q.bfloat16())
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(permutation_kl(p, q).item(), rel=0.05)
