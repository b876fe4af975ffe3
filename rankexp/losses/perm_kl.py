"""Permutation-sensitive loss (PSL) of ALRO — docs/alro.md, "Permutation-sensitive loss".

An LLM ranker tends to prefer candidates by their position in the prompt.
PSL shows each training list twice, the second time with the candidates in a
new random order (so the same item carries a different label), and asks the
two probability matrices to agree once both are indexed by item identity:

    L_perm = mean over batch and slots k of KL(Y_orig[k, .] || Y_perm[k, .]),

with each slot row renormalised over the m candidates. The gold target is the
same item order in both prompts (only the labels differ), so slot k predicts
the same item in both and slots need no re-indexing, only columns do.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rankexp.errors import ConfigError
from rankexp.losses.common import check_weight

DIRECTIONS = ("forward", "reverse", "symmetric")


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ConfigError(f"`loss.perm_kl.direction` must be one of {DIRECTIONS}, got {direction!r}")
    return direction


def inverse_permutation(perm: Tensor) -> Tensor:
    """inv with inv[b, perm[b, j]] = j, for perm [B, m] (or [m])."""
    positions = torch.arange(perm.shape[-1], device=perm.device).expand_as(perm)
    return torch.empty_like(perm).scatter_(-1, perm, positions)


def reindex_by_item(y_perm_by_label: Tensor, perm: Tensor) -> Tensor:
    """Map the permuted prompt's Y from label positions back to item identity.

    Convention (torch indexing): the permuted prompt shows
    `candidates[b, perm[b, j]]` under label j, i.e. `perm[b, j]` is the index,
    in the ORIGINAL candidate order, of the item written at label position j
    (`permuted = original[perm]`). `y_perm_by_label[b, k, j]` is the
    probability of label j at slot k of the permuted prompt. The result
    satisfies `out[b, k, perm[b, j]] = y_perm_by_label[b, k, j]`, so
    `out[b, k, i]` is the probability of ORIGINAL item i at slot k, directly
    comparable with the original prompt's Y (whose labels are the original
    order). Equivalently `out = y_perm_by_label.gather(-1, inverse(perm))`.

    Args:
        y_perm_by_label: [B, m, m] (slots x label positions).
        perm: [B, m] or [m] long tensor, a permutation of 0..m-1 per row.
    """
    batch, slots, m = y_perm_by_label.shape
    perm = perm.to(device=y_perm_by_label.device, dtype=torch.long)
    if perm.dim() == 1:
        perm = perm.expand(batch, m)
    if perm.shape != (batch, m):
        raise ValueError(f"perm shape {tuple(perm.shape)} != (B, m) = {(batch, m)}")
    inv = inverse_permutation(perm)
    return y_perm_by_label.gather(-1, inv[:, None, :].expand(batch, slots, m))


def _log_rows(y: Tensor, item_ok: Tensor, eps: float) -> Tensor:
    """log of each slot row renormalised over the valid items (floored at eps)."""
    p = torch.where(item_ok, y.clamp_min(eps), torch.zeros((), dtype=y.dtype, device=y.device))
    log_p = torch.log(p.clamp_min(torch.finfo(y.dtype).tiny)) - torch.log(p.sum(-1, keepdim=True))
    return log_p.masked_fill(~item_ok, 0.0)


def _kl(log_p: Tensor, log_q: Tensor, item_ok: Tensor) -> Tensor:
    """KL(p || q) per slot row: sum_i p_i (log p_i - log q_i) over valid items."""
    terms = log_p.exp() * (log_p - log_q)
    return torch.where(item_ok, terms, torch.zeros((), dtype=terms.dtype, device=terms.device)).sum(-1)


def permutation_kl(
    y_orig: Tensor,
    y_perm: Tensor,
    direction: str = "forward",
    stop_grad_orig: bool = False,
    eps: float = 1e-8,
    mask: Tensor | None = None,
) -> Tensor:
    """Permutation KL (docs/alro.md, "Permutation-sensitive loss"), a scalar.

    Args:
        y_orig, y_perm: [B, m, m] probabilities, BOTH indexed by item identity
            (y[b, k, i]); build `y_perm` with :func:`reindex_by_item`.
        direction: "forward" KL(orig || perm), "reverse" KL(perm || orig),
            "symmetric" their mean.
        stop_grad_orig: detach the original side so only the permuted prompt
            is pulled toward it (the original then acts as a teacher).
        eps: floor on probabilities before renormalising: Y is a softmax over
            the full vocabulary, so a label can underflow to 0 and log 0 = -inf.
        mask: optional [B, m] bool of real candidates (padded lists); list b
            uses its first mask[b].sum() slots and renormalises over its items.

    Returns:
        Mean over batch and valid slots of the per-slot KL.
    """
    direction = _check_direction(direction)
    if y_orig.shape != y_perm.shape:
        raise ValueError(f"y_orig {tuple(y_orig.shape)} and y_perm {tuple(y_perm.shape)} differ")
    batch, slots, m = y_orig.shape
    if m == 1:
        raise ConfigError("`loss.perm_kl` needs lists of >= 2 candidates: with m = 1 there is nothing to permute")
    if y_orig.dtype in (torch.float16, torch.bfloat16):
        y_orig, y_perm = y_orig.float(), y_perm.float()  # log of eps-floored probabilities
    if stop_grad_orig:
        y_orig = y_orig.detach()
    if mask is None:
        item_ok = torch.ones(batch, 1, m, dtype=torch.bool, device=y_orig.device)
        slot_ok = torch.ones(batch, slots, dtype=torch.bool, device=y_orig.device)
    else:
        mask = mask.to(device=y_orig.device, dtype=torch.bool)
        item_ok = mask[:, None, :]
        slot_ok = torch.arange(slots, device=y_orig.device)[None, :] < mask.sum(-1, keepdim=True)

    log_p = _log_rows(y_orig, item_ok, eps)
    log_q = _log_rows(y_perm, item_ok, eps)
    if direction == "forward":
        kl = _kl(log_p, log_q, item_ok)
    elif direction == "reverse":
        kl = _kl(log_q, log_p, item_ok)
    else:
        kl = 0.5 * (_kl(log_p, log_q, item_ok) + _kl(log_q, log_p, item_ok))
    kl = torch.where(slot_ok, kl, torch.zeros((), dtype=kl.dtype, device=kl.device))
    return kl.sum() / slot_ok.sum().clamp_min(1).to(kl.dtype)


class PermutationKLLoss(nn.Module):
    """`weight * permutation_kl(...)`; config group `loss/perm_kl`.

    `weight` is ALRO's beta in L = L_sft + alpha L_rank + beta L_perm. With
    weight 0 the caller should skip the second (permuted) prompt entirely.
    """

    name = "perm_kl"

    def __init__(
        self, weight: float = 1.0, direction: str = "forward", stop_grad_orig: bool = False, eps: float = 1e-8
    ) -> None:
        super().__init__()
        self.weight = check_weight(weight, self.name)
        self.direction = _check_direction(direction)
        self.stop_grad_orig = bool(stop_grad_orig)
        if not (math.isfinite(float(eps)) and 0 < float(eps) < 1):
            raise ConfigError(f"`loss.perm_kl.eps` must be in (0, 1), got {eps}")
        self.eps = float(eps)

    def forward(self, y_orig: Tensor, y_perm: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.weight * permutation_kl(y_orig, y_perm, self.direction, self.stop_grad_orig, self.eps, mask)

    def on_scores(self, scores_orig: Tensor, scores_perm: Tensor) -> Tensor:
        """PSL for score vectors [B, m] (both indexed by item): KL between softmax(score) of the two orders."""
        return self.forward(torch.softmax(scores_orig.float(), -1)[:, None], torch.softmax(scores_perm.float(), -1)[:, None])

    needs = (("y", "y_permuted"), ("scores", "scores_permuted"))
    needs_permuted = True  # the datamodule adds a shuffled copy of every list

    def term(self, out) -> Tensor:
        """KL between the original and the shuffled prompt, both indexed by item: on Y where the forward gives
        it, else on the candidates' scores."""
        if "y" in out.provides:
            return self(out.y, out.y_permuted)
        return self.on_scores(out.scores, out.scores_permuted)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, direction={self.direction!r}, stop_grad_orig={self.stop_grad_orig}"
