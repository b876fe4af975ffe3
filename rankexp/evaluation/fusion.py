"""Paired comparisons with a baseline on the same lists, and score fusion (`eval.fusion`).

`paired_difference` answers "does the LLM beat the item mean on these lists?" with the
mean per-list difference, its standard error, p-values and a bootstrap CI (`evaluation/paired.py`;
both rank the very same lists, so the pairing removes the lists' own difficulty from the noise).

Fusion is a separate, explicitly named row: z(LLM score) + w * z(signal) per list, with w
picked on validation lists only and then applied once to the test lists. It is never
reported as "the LLM".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from rankexp.evaluation.metrics import ranking_metrics
from rankexp.evaluation.paired import PairedStats, paired_stats

FUSIONS = ("none", "item_mean", "retriever")
WEIGHTS = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def check_fusion(source: str, signals: dict) -> None:
    """`eval.fusion` must name a signal these lists have: `retriever` exists only under `protocol=rerank_topk`."""
    from rankexp.errors import ConfigError, unknown_name

    if source not in FUSIONS:
        raise unknown_name("fusion", source, FUSIONS, "eval.fusion")
    if source not in signals:
        raise ConfigError(f"`eval.fusion={source}` needs the retriever's scores of each list: use it with "
                          "`protocol=rerank_topk retriever=...` (explicit lists have no retriever), or "
                          "`eval.fusion=item_mean`")


def zscore(scores: Tensor) -> Tensor:
    """Standardise each list's scores (a constant list becomes all zeros)."""
    scores = scores.float()
    centred = scores - scores.mean(dim=1, keepdim=True)
    return centred / centred.std(dim=1, keepdim=True, unbiased=False).clamp_min(1e-6)


def fuse(llm: Tensor, signal: Tensor, weight: float) -> Tensor:
    return zscore(llm) + weight * zscore(signal)


def per_list(scores: Tensor, gains: Tensor, metric: str) -> Tensor:
    k = metric.split("@")[1]
    return ranking_metrics(scores, gains, (int(k),))[metric]


def choose_weight(llm: Tensor, signal: Tensor, gains: Tensor, metric: str,
                  weights: Sequence[float] = WEIGHTS) -> tuple[float, float]:
    """(w, val metric) maximising the validation metric; ties keep the smaller w (less fusion)."""
    best = (weights[0], -math.inf)
    for weight in weights:
        value = float(per_list(fuse(llm, signal, weight), gains, metric).mean())
        if value > best[1] + 1e-9:
            best = (weight, value)
    return best


def paired_difference(scores_a: Tensor, scores_b: Tensor, gains: Tensor, metric: str) -> PairedStats:
    """metric(a) - metric(b) per list: mean, s.e., p-values, bootstrap CI (`.keys(name)` -> results keys)."""
    # the per-list difference in the metrics' own dtype, as runs have always taken it; statistics in float64
    return paired_stats(per_list(scores_a, gains, metric) - per_list(scores_b, gains, metric))
