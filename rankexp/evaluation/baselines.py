"""Non-LLM baselines on the SAME candidate lists the LLM ranks (docs/alro.md, "Measured risk").

Explicit ratings are dominated by item quality: on ML-100K lists, item-mean
train rating reached NDCG@5 0.794 while the LLM stayed near random (0.66).
Every report puts these numbers beside the LLM's:

- `random_expected`: the exact expectation of each metric under a uniformly
  random order (closed form, no sampling noise);
- `popularity`: scores = train interaction count of each candidate;
- `item_mean`: scores = mean train rating, shrunk toward the global mean.

Scores follow `rankexp.evaluation.metrics` conventions (higher = ranked higher, ties by
slot order), so candidates must be shuffled the way the LLM sees them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from rankexp.errors import ConfigError
from rankexp.evaluation.metrics import ranking_metrics


def _lookup(table: pd.Series, candidates, fill: float) -> Tensor:
    """table[item] for every candidate id ([B, m] tensor/array/list), `fill` for unseen items."""
    ids = np.asarray(candidates.cpu() if isinstance(candidates, Tensor) else candidates)
    if ids.ndim != 2:
        raise ValueError(f"candidates must be [B, m], got shape {ids.shape}")
    values = table.reindex(pd.Index(ids.ravel())).to_numpy(dtype=np.float64, na_value=fill)
    return torch.tensor(values.reshape(ids.shape), dtype=torch.float32)


def popularity(train: pd.DataFrame, candidates, item_col: str = "item") -> Tensor:
    """Scores [B, m] = number of train interactions of each candidate (0 if unseen)."""
    return _lookup(train[item_col].value_counts(), candidates, 0.0)


def item_mean(
    train: pd.DataFrame, candidates, shrinkage: float = 5.0, item_col: str = "item", rating_col: str = "rating"
) -> Tensor:
    """Scores [B, m] = Bayesian-shrunk mean train rating per candidate.

    score_i = (sum_i + c * mu) / (n_i + c), with mu the global train mean and
    c = `shrinkage` pseudo-ratings: an item rated once at 5 does not outrank
    one rated 4.6 by hundreds. Unseen items get mu.
    """
    if shrinkage < 0:
        raise ConfigError(f"`baselines.item_mean.shrinkage` must be >= 0, got {shrinkage}")
    mu = float(train[rating_col].mean()) if len(train) else 0.0
    stats = train.groupby(item_col)[rating_col].agg(["sum", "count"])
    shrunk = (stats["sum"] + shrinkage * mu) / (stats["count"] + shrinkage)
    return _lookup(shrunk, candidates, mu)


def _log_comb(n: Tensor, r: Tensor) -> Tensor:
    """log C(n, r) elementwise; -inf where r < 0 or r > n."""
    ok = (r >= 0) & (r <= n)
    n, r = n.clamp_min(0).double(), r.clamp(min=0).double()
    r = torch.minimum(r, n)
    out = torch.lgamma(n + 1) - torch.lgamma(r + 1) - torch.lgamma(n - r + 1)
    return out.masked_fill(~ok, float("-inf"))


def random_expected(gains: Tensor, ks: Sequence[int] = (1, 3, 5, 10), mask: Tensor | None = None) -> dict[str, Tensor]:
    """Exact expected NDCG@k, HR@k, MRR@k of a uniformly random order, per list [B].

    With n real candidates and p of positive gain, a random order puts every
    item at every rank with probability 1/n, so
      E[DCG@k]  = mean(g) * sum_{r<=min(k,n)} 1/log2(r+1)   (NDCG: divide by ideal DCG),
      E[HR@k]   = 1 - C(n-p, k) / C(n, k),
      E[MRR@k]  = sum_{r<=k} (1/r) * C(n-r, p-1) / C(n, p)  (first positive at rank r).
    """
    valid = torch.ones_like(gains, dtype=torch.bool) if mask is None else mask.bool()
    gains = torch.where(valid, gains.double(), torch.zeros((), dtype=torch.float64))
    n = valid.sum(-1).double()  # [B]
    p = ((gains > 0) & valid).sum(-1).double()
    m = gains.shape[-1]
    ranks = torch.arange(1, m + 1, dtype=torch.float64)
    disc = 1.0 / torch.log2(ranks + 1)
    ideal_sorted = torch.sort(gains, dim=-1, descending=True).values
    mean_gain = gains.sum(-1) / n.clamp_min(1)
    out: dict[str, Tensor] = {}
    for k in ks:
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        kk = min(int(k), m)
        in_list = ranks[None, :kk] <= n[:, None]  # ranks beyond a short list hold nothing
        ideal = (ideal_sorted[:, :kk] * disc[:kk]).sum(-1)
        expected_dcg = mean_gain * (disc[None, :kk] * in_list).sum(-1)
        out[f"ndcg@{k}"] = torch.where(ideal > 0, expected_dcg / ideal.clamp_min(1e-300), 0.0).float()
        k_eff = torch.minimum(torch.full_like(n, kk), n)
        miss = torch.exp(_log_comb(n - p, k_eff) - _log_comb(n, k_eff))
        out[f"hr@{k}"] = torch.where(p > 0, 1.0 - miss, 0.0).float()
        r = ranks[None, :kk]
        first_at = torch.exp(_log_comb(n[:, None] - r, p[:, None] - 1) - _log_comb(n, p)[:, None])
        out[f"mrr@{k}"] = torch.where(p > 0, (first_at / r).sum(-1), 0.0).float()
    return out


def evaluate_baselines(
    train: pd.DataFrame,
    candidates,
    gains: Tensor,
    ks: Sequence[int] = (1, 3, 5, 10),
    mask: Tensor | None = None,
    shrinkage: float = 5.0,
    item_col: str = "item",
    rating_col: str = "rating",
    prefix: str = "baseline",
) -> dict[str, float]:
    """Mean metrics of every baseline, flat keys like "baseline/item_mean/ndcg@5"."""
    results: dict[str, float] = {}
    per_list = {"random": random_expected(gains, ks, mask)}
    for name, scores in (
        ("popularity", popularity(train, candidates, item_col)),
        ("item_mean", item_mean(train, candidates, shrinkage, item_col, rating_col)),
    ):
        per_list[name] = ranking_metrics(scores, gains, ks, mask)
    for name, values in per_list.items():
        for key, value in values.items():
            results[f"{prefix}/{name}/{key}"] = float(value.mean())
    return results
