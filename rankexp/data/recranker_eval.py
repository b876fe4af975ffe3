"""RecRanker at evaluation: one user's pointwise, pairwise and listwise instances over the retriever's top-m.

The hybrid formula that combines their answers is `rankexp.models.hybrid`.

All of one user's prompts show the same history order (one shared prefix to cache, `rankexp.models.hybrid`);
candidate and pair orders are shuffled (position shifting) unless `shuffle=False`.
"""

from __future__ import annotations

import numpy as np

from rankexp.data.examples import ListwiseExample, order_by_gain
from rankexp.data.recranker import (
    PAIR_SETS,
    PairwiseExample,
    PointwiseExample,
    PredictRating,
    Score,
    list_hints,
    pair_hint,
)
from rankexp.errors import ConfigError


def _eval_history(history: np.ndarray, history_ratings: np.ndarray, rng: np.random.Generator, shuffle: bool):
    """One history order per user, shared by all its prompts (a shared prefix to cache)."""
    history, history_ratings = np.asarray(history), np.asarray(history_ratings)
    order = rng.permutation(len(history)) if shuffle else np.arange(len(history))
    return history[order], history_ratings[order]


def pointwise_eval(user: int, candidates: np.ndarray, history: np.ndarray, history_ratings: np.ndarray,
                   rng: np.random.Generator, shuffle: bool = True,
                   predict_rating: PredictRating | None = None) -> list[PointwiseExample]:
    """One pointwise prompt per candidate, in the given (retriever) order."""
    candidates = np.asarray(candidates, dtype=np.int64)
    items, ratings = _eval_history(history, history_ratings, rng, shuffle)
    hints = predict_rating(user, candidates) if predict_rating else [None] * len(candidates)
    return [PointwiseExample(user, items, ratings, int(c), None, None if h is None else float(h))
            for c, h in zip(candidates, hints)]


def pairwise_eval(user: int, candidates: np.ndarray, history: np.ndarray, history_ratings: np.ndarray,
                  rng: np.random.Generator, shuffle: bool = True, both_orders: bool = False, pairs: str = "all",
                  score: Score | None = None) -> list[PairwiseExample]:
    """Pairs of candidates: "all" = every i < j (45 for m=10); "matching" = a random perfect
    matching (m/2 = 5 pairs, the official code). `both_orders` asks each pair both ways (x2)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    m = len(candidates)
    items, ratings = _eval_history(history, history_ratings, rng, shuffle)
    if pairs == "all":
        index_pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    elif pairs == "matching":
        perm = rng.permutation(m)
        index_pairs = [(int(perm[k]), int(perm[k + m // 2])) for k in range(m // 2)]
    else:
        raise ConfigError(f"`task.pairs` must be one of {', '.join(PAIR_SETS)}, got {pairs!r}")
    out = []
    for i, j in index_pairs:
        a, b = int(candidates[i]), int(candidates[j])
        if not both_orders and (rng.random() < 0.5 if shuffle else a > b):
            a, b = b, a
        orders = [(a, b), (b, a)] if both_orders else [(a, b)]
        out.extend(PairwiseExample(user, items, ratings, x, y, None, pair_hint(user, x, y, score)) for x, y in orders)
    return out


def listwise_eval(user: int, candidates: np.ndarray, history: np.ndarray, history_ratings: np.ndarray,
                  rng: np.random.Generator, shuffle: bool = True, target_item: int | None = None,
                  score: Score | None = None) -> ListwiseExample:
    """The m candidates in one prompt; gain 1 on `target_item` (all 0 if missed or unknown)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    items, ratings = _eval_history(history, history_ratings, rng, shuffle)
    shown = candidates[rng.permutation(len(candidates)) if shuffle else np.argsort(candidates, kind="stable")]
    gains = (shown == target_item).astype(np.float32)
    return ListwiseExample(user, items, ratings, shown, gains, order_by_gain(gains, np.arange(len(gains))),
                           list_hints(user, shown, score))
