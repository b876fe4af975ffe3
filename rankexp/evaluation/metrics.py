"""Ranking metrics over candidate lists: NDCG@k, HR@k, MRR@k (docs/alro.md, "Task and template").

Inputs are [B, m] tensors, one candidate list per row; a higher score ranks
higher. Ties in scores are broken by slot order (a stable descending sort:
the earlier slot wins), so results are deterministic. Evaluation candidates
must be shuffled (seeded) beforehand (docs/protocols.md, "Pitfalls avoided"), otherwise this
tie rule hands constant-score rankers the retriever's order for free.
Gains are used as given: pass 2^r - 1 for ALRO's graded NDCG, or 1/0 for the
held-out-item protocol. An optional `mask` [B, m] (True = real candidate)
excludes padded slots: they are never ranked and add no gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

METRIC_NAMES = ("ndcg", "hr", "mrr")


def _rank(scores: Tensor, gains: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Check shapes, zero padded gains; return (gains in ranked order, gains in ideal order), both [B, m]."""
    if scores.shape != gains.shape or scores.dim() != 2:
        raise ValueError(f"scores {tuple(scores.shape)} and gains {tuple(gains.shape)} must both be [B, m]")
    valid = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.to(scores.device, torch.bool)
    gains = torch.where(valid, gains.to(scores.device).float(), torch.zeros((), device=scores.device))
    keys = scores.detach().float().masked_fill(~valid, float("-inf"))  # padded slots sort last
    order = torch.sort(keys, dim=-1, descending=True, stable=True).indices
    return gains.gather(-1, order), torch.sort(gains, dim=-1, descending=True).values


def _check_k(k: int, m: int) -> int:
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return min(int(k), m)


def _ndcg(ranked: Tensor, ideal: Tensor, k: int) -> Tensor:
    k = _check_k(k, ranked.shape[-1])
    disc = 1.0 / torch.log2(torch.arange(2, k + 2, device=ranked.device, dtype=torch.float32))
    dcg = (ranked[:, :k] * disc).sum(-1)
    idcg = (ideal[:, :k] * disc).sum(-1)
    return torch.where(idcg > 0, dcg / idcg.clamp_min(torch.finfo(idcg.dtype).tiny), torch.zeros_like(dcg))


def _hr(ranked: Tensor, ideal: Tensor, k: int) -> Tensor:
    return (ranked[:, : _check_k(k, ranked.shape[-1])] > 0).any(-1).float()


def _mrr(ranked: Tensor, ideal: Tensor, k: int) -> Tensor:
    hit = ranked[:, : _check_k(k, ranked.shape[-1])] > 0
    first = hit.float().argmax(-1)  # index of the first True (argmax returns the first maximum)
    return torch.where(hit.any(-1), 1.0 / (first + 1).float(), torch.zeros(hit.shape[0], device=hit.device))


def ndcg_at_k(scores: Tensor, gains: Tensor, k: int, mask: Tensor | None = None) -> Tensor:
    """NDCG@k per list, [B]: DCG of the top k by score over the ideal DCG from the gains.

    DCG@k = sum_{r=1..k} g_(r) / log2(r + 1); k > m is clamped to m. A list
    whose ideal DCG is 0 (no positive gain) scores 0.
    """
    return _ndcg(*_rank(scores, gains, mask), k)


def hit_rate_at_k(scores: Tensor, gains: Tensor, k: int, mask: Tensor | None = None) -> Tensor:
    """HR@k per list, [B]: 1 if any item with positive gain is among the top k, else 0."""
    return _hr(*_rank(scores, gains, mask), k)


def mrr_at_k(scores: Tensor, gains: Tensor, k: int, mask: Tensor | None = None) -> Tensor:
    """MRR@k per list, [B]: 1 / rank of the first positive-gain item if within the top k, else 0."""
    return _mrr(*_rank(scores, gains, mask), k)


METRIC_FNS = {"ndcg": ndcg_at_k, "hr": hit_rate_at_k, "mrr": mrr_at_k}
_FROM_RANKED = {"ndcg": _ndcg, "hr": _hr, "mrr": _mrr}


def ndcg_gain(ratings: Tensor) -> Tensor:
    """Graded gain 2^r - 1 (ALRO's NDCG); maps binary 0/1 relevance to itself. The one gain rankexp uses."""
    return torch.exp2(ratings.float()) - 1.0


def ranked_list_metrics(items: Tensor, targets: Tensor, ks: Sequence[int]) -> dict[str, Tensor]:
    """HR / NDCG / MRR@k per row of ranked item lists `items` [n, K] (best first), one target per row.

    A row whose target is not in its list scores 0 (the overall metric). Same formulas as
    `ranking_metrics`: the list's gains are 1 at the target, and the ideal list has it first.
    """
    ranked = (items == targets[:, None]).float()
    ideal = torch.zeros_like(ranked)
    ideal[:, 0] = 1.0
    return {f"{name}@{k}": fn(ranked, ideal, k) for k in ks for name, fn in _FROM_RANKED.items()}


def ranking_metrics(
    scores: Tensor, gains: Tensor, ks: Sequence[int] = (1, 3, 5, 10), mask: Tensor | None = None
) -> dict[str, Tensor]:
    """Every metric at every k, per list: {"ndcg@5": [B], "hr@5": [B], "mrr@5": [B], ...} (one sort)."""
    ranked, ideal = _rank(scores, gains, mask)
    return {f"{name}@{k}": fn(ranked, ideal, k) for k in ks for name, fn in _FROM_RANKED.items()}


class RankingMetrics(Metric):
    """Accumulates NDCG@k, HR@k, MRR@k over batches and DDP ranks.

    States are per-metric sums, sums of squares and the list count, reduced
    with "sum" across processes, so `compute()` is the mean over every list
    seen and :meth:`standard_errors` its standard error (report it: docs/alro.md's
    probes differ by about 1 s.e.). Lists with no positive gain count as 0,
    which makes these the *overall* metrics when misses are fed in.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, ks: Sequence[int] = (1, 3, 5, 10), **kwargs) -> None:
        super().__init__(**kwargs)
        if not ks or any(int(k) < 1 for k in ks):
            raise ValueError(f"ks must be a non-empty list of integers >= 1, got {ks}")
        self.ks = tuple(int(k) for k in ks)
        self.keys = [f"{name}@{k}" for k in self.ks for name in METRIC_NAMES]
        n = len(self.keys)
        self.add_state("total", default=torch.zeros(n, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total_sq", default=torch.zeros(n, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, scores: Tensor, gains: Tensor, mask: Tensor | None = None) -> None:
        values = ranking_metrics(scores, gains, self.ks, mask)
        stacked = torch.stack([values[key] for key in self.keys], dim=-1).double()  # [B, n]
        self.total += stacked.sum(0)
        self.total_sq += (stacked**2).sum(0)
        self.count += stacked.shape[0]

    def compute(self) -> dict[str, Tensor]:
        mean = self.total / self.count.clamp_min(1)
        return {key: mean[i].float() for i, key in enumerate(self.keys)}

    def standard_errors(self) -> dict[str, Tensor]:
        """Standard error of each mean, sqrt(var / n) with the unbiased variance."""
        with self.sync_context():  # same cross-process reduction compute() gets
            count = self.count.clone()
            mean = self.total / count.clamp_min(1)
            var = ((self.total_sq - count * mean**2) / (count.clamp_min(2) - 1)).clamp_min(0)
        return {key: (var[i] / count.clamp_min(1)).sqrt().float() for i, key in enumerate(self.keys)}
