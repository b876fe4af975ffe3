"""LoRA's input dropout (`rankexp.models.dropout.FastDropout`): nn.Dropout's contract with a faster CPU mask.

Mutations checked by hand, each failing a test here: the threshold halved (`round(p * LEVELS / 2)`); the
comparison turned around (`slices < threshold - 32768`); one random slice reused for four neighbours
(`repeat_interleave(4)`); the scale from the unrounded p (`1 / (1 - p)`); `add_lora` without the swap.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rankexp.models.dropout import LEVELS, FastDropout, use_fast_lora_dropout


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5])
def test_drops_each_element_with_probability_p_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    x = torch.ones(400, 1000)
    out = FastDropout(p).train()(x)
    dropped = (out == 0).float().mean().item()
    n = x.numel()
    assert abs(dropped - p) < 5 * (p * (1 - p) / n) ** 0.5, (dropped, p)
    assert abs(out.mean().item() - 1.0) < 5 * (p / (1 - p) / n) ** 0.5
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, LEVELS / (LEVELS - round(p * LEVELS))))


def test_the_scale_uses_the_rounded_probability():
    dropout = FastDropout(0.05)
    assert dropout.threshold == 3277
    assert dropout.scale == LEVELS / (LEVELS - 3277)


def test_masks_are_independent_between_elements_and_calls():
    torch.manual_seed(1)
    dropout = FastDropout(0.5).train()
    first, second = (dropout(torch.ones(200, 512)) != 0).float(), (dropout(torch.ones(200, 512)) != 0).float()
    n = first.numel()
    # neighbours (the four slices of one word, and across words) and two calls: no correlation beyond noise
    for a, b in [(first[:, :-1], first[:, 1:]), (first[:, :-4], first[:, 4:]), (first, second)]:
        corr = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()
        assert abs(corr) < 5 / n ** 0.5, corr


def test_a_seed_fixes_the_mask_and_evaluation_passes_the_input_through():
    x = torch.randn(7, 33)
    dropout = FastDropout(0.2).train()
    torch.manual_seed(3)
    a = dropout(x)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x))
    assert dropout.eval()(x) is x
    assert FastDropout(0.0).train()(x) is x


def test_the_gradient_goes_through_the_kept_elements_scaled():
    torch.manual_seed(4)
    x = torch.randn(50, 64, requires_grad=True)
    dropout = FastDropout(0.3).train()
    out = dropout(x)
    out.sum().backward()
    kept = out.detach() != 0
    assert torch.equal(x.grad, kept.float() * dropout.scale)


def test_rejects_a_probability_outside_zero_to_one():
    with pytest.raises(ValueError, match="dropout probability"):
        FastDropout(1.0)


def test_every_lora_model_built_here_uses_it_and_it_swaps_back():
    from rankexp.models.adapters import add_lora
    from rankexp.models.loading import tiny_random_llama

    model = add_lora(tiny_random_llama(64), {"r": 2, "alpha": 4, "dropout": 0.1,
                                              "target_modules": ["q_proj", "v_proj"], "bias": "none"})
    dropouts = [d for m in model.modules() if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict)
                for d in m.lora_dropout.values()]
    assert dropouts and all(isinstance(d, FastDropout) and d.p == 0.1 for d in dropouts)
    assert use_fast_lora_dropout(model, fast=False) == len(dropouts)
    assert all(type(d) is nn.Dropout for m in model.modules()
               if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict) for d in m.lora_dropout.values())
