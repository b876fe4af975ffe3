"""Target-only next-token loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rankexp.errors import ConfigError
from rankexp.losses.sft import SFTLoss, sft_loss


def test_matches_shifted_cross_entropy_on_target_only():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 11, generator=gen)
    labels = torch.tensor([[-100, -100, -100, 3, 4, 5], [-100, -100, 7, 8, 9, 10]])
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=-100)
    assert sft_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    # log-probabilities give the same value
    assert sft_loss(logits.log_softmax(-1), labels).item() == pytest.approx(expected.item(), rel=1e-6)
    unshifted = F.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
    assert sft_loss(logits, labels, shift=False).item() == pytest.approx(unshifted.item(), rel=1e-6)


def test_all_masked_is_zero_with_grad_and_weight():
    logits = torch.randn(1, 4, 5, requires_grad=True)
    loss = sft_loss(logits, torch.full((1, 4), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    labels = torch.tensor([[-100, 1, 2, 3]])
    assert SFTLoss(weight=2.0)(logits, labels).item() == pytest.approx(2 * sft_loss(logits, labels).item())
    with pytest.raises(ConfigError, match=r"loss\.sft\.weight"):
        SFTLoss(weight=-1)
