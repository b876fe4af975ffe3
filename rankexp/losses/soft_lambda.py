"""Soft Lambda loss (SLL) of ALRO — docs/alro.md, "Soft Lambda loss".

Plain SFT on the target string gives one weak, tie-ridden signal per list.
SLL reads the whole probability matrix Y (one teacher-forced pass) and turns
it into a differentiable expected position per item, then applies a
LambdaLoss-style pairwise logistic loss weighted by how much each swapped pair
would cost in NDCG. Equations, in docs/alro.md's notation:

    s_i   = sum_k k * softmax_k(gamma * Y[:, i])      expected slot, 1-based, lower = better
    G_i   = 2^{r_i} - 1                               graded gain
    D(n)  = log2(1 + n)                               discount
    d_ij  = |1/D(|t_i - t_j|) - 1/D(|t_i - t_j| + 1)|  pair weight, t = ranks (1 = best)
    L     = mean over pairs (r_i > r_j) of d_ij * |G_i - G_j| * log2(1 + exp(-(s_j - s_i)))

averaged over the pairs of each list, then over the lists that have a pair.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rankexp.errors import ConfigError
from rankexp.evaluation.metrics import ndcg_gain
from rankexp.losses.common import check_weight

DELTA_MODES = ("target", "predicted")
# expected_position = ALRO's s_i from every teacher-forced slot | first_slot = s_i = -log Y[1, i], the
# verbalizer's own scores (inference ranks with slot 1 only).
SCORE_MODES = ("expected_position", "first_slot")


def _check_gamma(gamma: float) -> float:
    gamma = float(gamma)
    if not math.isfinite(gamma) or gamma <= 0:
        raise ConfigError(
            f"`loss.soft_lambda.gamma` must be > 0, got {gamma}: it is the soft-argmax sharpness "
            "(docs/alro.md: s_i = sum_k k softmax_k(gamma Y[:, i])); try 10"
        )
    return gamma


def _check_delta(delta: str) -> str:
    if delta not in DELTA_MODES:
        raise ConfigError(f"`loss.soft_lambda.delta` must be one of {DELTA_MODES}, got {delta!r}")
    return delta


def _check_scores(scores: str) -> str:
    if scores not in SCORE_MODES:
        raise ConfigError(f"`loss.soft_lambda.scores` must be one of {SCORE_MODES}, got {scores!r}")
    return scores


def first_slot_positions(y: Tensor, eps: float = 1e-12) -> Tensor:
    """s_i = -log Y[1, i]: lower = ranked higher; only differences s_i - s_j enter the loss,
    so the renormalisation over candidates cancels. [B, m, m] -> [B, m]."""
    return -torch.log(y[:, 0, :].clamp_min(eps))


def _valid_mask(ratings: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return torch.ones_like(ratings, dtype=torch.bool)
    if mask.shape != ratings.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} != ratings shape {tuple(ratings.shape)}")
    return mask.to(dtype=torch.bool, device=ratings.device)


def expected_positions(y: Tensor, gamma: float, mask: Tensor | None = None) -> Tensor:
    """Soft-argmax expected slot s_i (1-based) of every item: [B, m, m] -> [B, m].

    y[b, k, i] = P(identifier of item i at slot k). With a candidate `mask`
    [B, m], list b has n_b = mask[b].sum() valid items and (teacher forcing on
    a target of n_b identifiers) its valid slots are the first n_b; the
    softmax runs over those slots only. Padded items get a finite dummy s.
    """
    gamma = _check_gamma(gamma)
    if y.dim() != 3 or y.shape[1] != y.shape[2]:
        raise ValueError(f"y must be [B, m, m] (slots x items), got {tuple(y.shape)}")
    m = y.shape[-1]
    slots = torch.arange(1, m + 1, device=y.device, dtype=y.dtype)
    logits = gamma * y
    if mask is not None:
        n_valid = mask.sum(-1, keepdim=True).clamp_min(1)  # an empty list keeps one slot: no NaN
        slot_ok = torch.arange(m, device=y.device)[None, :] < n_valid  # [B, m]
        keep = slot_ok[:, :, None] & mask[:, None, :].bool()  # valid slot x valid item
        logits = torch.where(keep, logits, torch.zeros((), dtype=y.dtype, device=y.device))
        logits = logits.masked_fill(~slot_ok[:, :, None], float("-inf"))
    # softmax over slots (dim 1) is logsumexp-stable; -inf rows give exact zeros.
    weights = torch.softmax(logits, dim=1)
    return (weights * slots[None, :, None]).sum(dim=1)


def _ranks(keys: Tensor, valid: Tensor, descending: bool) -> Tensor:
    """1-based ranks of `keys` per row; ties keep slot order; invalid items rank last."""
    fill = float("-inf") if descending else float("inf")
    keys = keys.detach().masked_fill(~valid, fill)
    order = torch.sort(keys, dim=-1, descending=descending, stable=True).indices
    ranks = torch.empty_like(order)
    positions = torch.arange(1, keys.shape[-1] + 1, device=keys.device).expand_as(order)
    return ranks.scatter_(-1, order, positions)


def soft_lambda_loss(
    y: Tensor,
    ratings: Tensor,
    gamma: float,
    delta: str = "target",
    mask: Tensor | None = None,
    scores: str = "expected_position",
) -> Tensor:
    """Soft Lambda loss (docs/alro.md, "Soft Lambda loss"), a scalar.

    Args:
        y: [B, m, m], y[b, k, i] = P(identifier of item i at output slot k),
            probabilities from one teacher-forced forward pass.
        ratings: [B, m] ratings r_i of the candidates (item order = y's columns).
        gamma: soft-argmax sharpness, > 0. Y is in [0, 1], so gamma = 1 keeps
            every s_i near (m+1)/2 and barely separates good from bad orders;
            gamma = 10 gives nearly hard positions (docs/alro.md, "Scale of gamma");
            very large gamma (~1e3+) saturates the softmax and the gradient
            vanishes (finite, ~0).
        delta: "target" (default) takes ranks t from the target order (ratings
            descending, ties broken by slot order; tied items form no pair);
            "predicted" takes them from the current s (LambdaLoss NDCG-Loss2).
            Ranks carry no gradient either way.
        mask: optional [B, m] bool, True for real candidates (padded lists).
            Valid slots of list b are its first mask[b].sum() slots.
        scores: "expected_position" (ALRO) or "first_slot". Slot k > 1 is
            teacher-forced on the gold identifiers of slots 1..k-1, while the
            verbalizer ranks with slot 1 alone; "first_slot" scores items by
            -log Y[1, i] so the loss trains exactly the scores inference uses.

    Returns:
        Mean over lists with >= 1 pair of (mean over that list's ordered pairs
        r_i > r_j of d_ij |G_i - G_j| log2(1 + exp(s_i - s_j))). A batch with
        no pair at all returns 0 that still has a grad_fn connected to y.
    """
    gamma = _check_gamma(gamma)
    delta = _check_delta(delta)
    scores = _check_scores(scores)
    if ratings.shape != y.shape[:2]:
        raise ValueError(f"ratings shape {tuple(ratings.shape)} != y.shape[:2] {tuple(y.shape[:2])}")
    valid = _valid_mask(ratings, mask)
    if y.dtype in (torch.float16, torch.bfloat16):
        y = y.float()  # positions 1..m and gains 2^r need more than bf16's 8 mantissa bits
    ratings = ratings.to(y.dtype)
    if scores == "first_slot":
        s = first_slot_positions(y)
    else:
        s = expected_positions(y, gamma, valid if mask is not None else None)  # [B, m]

    return lambda_pairwise(s, ratings, delta, valid)


def lambda_pairwise(s: Tensor, ratings: Tensor, delta: str = "target", valid: Tensor | None = None) -> Tensor:
    """The pairwise part of SLL on any position vector `s` [B, m] (lower = ranked higher).

    Shared by ALRO's expected positions and by candidate readout, where s = -score:
    mean over lists with a pair of (mean over pairs r_i > r_j of d_ij |G_i - G_j| log2(1 + e^(s_i - s_j))).
    """
    delta = _check_delta(delta)
    valid = torch.ones_like(ratings, dtype=torch.bool) if valid is None else valid
    if s.dtype in (torch.float16, torch.bfloat16):
        s = s.float()
    ratings = ratings.to(s.dtype)
    # Ordered pairs (i better than j): strictly higher rating, both real items.
    pair = (ratings[:, :, None] > ratings[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    n_pairs = pair.sum(dim=(1, 2))  # [B]

    if delta == "target":
        tau = _ranks(ratings, valid, descending=True)
    else:
        tau = _ranks(s, valid, descending=False)  # lower s = ranked higher
    diff = (tau[:, :, None] - tau[:, None, :]).abs().to(s.dtype).clamp_min(1.0)  # no pair has diff 0
    d_ij = (1.0 / torch.log2(1.0 + diff) - 1.0 / torch.log2(2.0 + diff)).abs()

    gains = ndcg_gain(ratings)
    gain_diff = (gains[:, :, None] - gains[:, None, :]).abs()
    # log2(1 + exp(-(s_j - s_i))) via softplus: stable for any |s_i - s_j|.
    logistic = nn.functional.softplus(s[:, :, None] - s[:, None, :]) / math.log(2.0)
    zero = torch.zeros((), dtype=s.dtype, device=s.device)
    terms = torch.where(pair, d_ij * gain_diff * logistic, zero)

    per_list = terms.sum(dim=(1, 2)) / n_pairs.clamp_min(1).to(s.dtype)
    has_pair = n_pairs > 0
    # Lists without a pair add exactly 0 to the sum and 0 to the count; the sum
    # stays connected to s so an all-tied batch still backpropagates (zeros).
    return per_list.sum() / has_pair.sum().clamp_min(1).to(s.dtype)




class SoftLambdaLoss(nn.Module):
    """`weight * soft_lambda_loss(y, ratings, gamma, delta, mask)`; config group `loss/soft_lambda`.

    `weight` is ALRO's alpha in L = L_sft + alpha L_rank + beta L_perm.
    """

    name = "soft_lambda"

    def __init__(self, weight: float = 1.0, gamma: float = 10.0, delta: str = "target",
                 scores: str = "expected_position") -> None:
        super().__init__()
        self.weight = check_weight(weight, self.name)
        self.gamma = _check_gamma(gamma)
        self.delta = _check_delta(delta)
        self.scores = _check_scores(scores)

    def forward(self, y: Tensor, ratings: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.weight * soft_lambda_loss(y, ratings, self.gamma, self.delta, mask, self.scores)

    def on_scores(self, scores: Tensor, ratings: Tensor) -> Tensor:
        """SLL's pairwise loss on a score vector (higher = better), as candidate readout needs it."""
        return self.weight * lambda_pairwise(-scores, ratings, self.delta)

    needs = (("y", "gains"), ("scores", "gains"))  # ALRO's Y (slot verbalizer), else candidate scores
    needs_permuted = False

    def term(self, out) -> Tensor:
        """On ALRO's Y where the forward gives it, else on the candidates' scores."""
        if "y" in out.provides:
            return self(out.y, out.gains)
        return self.on_scores(out.scores, out.gains)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, gamma={self.gamma}, delta={self.delta!r}, scores={self.scores!r}"
