"""RecRanker at evaluation: one user's prompts over the retriever's top-m, and the hybrid utilities.

All of one user's prompts show the same history order (one shared prefix to cache, `rankexp.hybrid`);
candidate and pair orders are shuffled (position shifting) unless `shuffle=False`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rankexp.data.prompts import ListwiseExample, order_by_gain
from rankexp.data.recranker import (
    LISTWISE_TOP,
    POINTWISE_ANSWERS,
    PairwiseExample,
    PointwiseExample,
    PredictRating,
    Score,
    _list_hints,
    _pair_hint,
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
        raise ConfigError(f"`task.pairs` must be all or matching, got {pairs!r}")
    out = []
    for i, j in index_pairs:
        a, b = int(candidates[i]), int(candidates[j])
        if not both_orders and (rng.random() < 0.5 if shuffle else a > b):
            a, b = b, a
        orders = [(a, b), (b, a)] if both_orders else [(a, b)]
        out.extend(PairwiseExample(user, items, ratings, x, y, None, _pair_hint(user, x, y, score)) for x, y in orders)
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
                           _list_hints(user, shown, score))


# ---- hybrid ranking (docs/recranker.md) ---------------------------------------------------------------

def expected_rating(probs: np.ndarray, answers: Sequence[str] = POINTWISE_ANSWERS) -> np.ndarray:
    """Σ_r r·P(r) over the answer tokens (probabilities renormalised over them); [..., R] -> [...]."""
    probs = np.asarray(probs, dtype=np.float64)
    values = np.array([float(a) for a in answers])
    return (probs * values).sum(-1) / probs.sum(-1)


def pair_wins(candidates: np.ndarray, examples: Sequence[PairwiseExample], p_first: np.ndarray) -> np.ndarray:
    """Wins per candidate from pairwise answers. `p_first[k]` = P(Yes) or 0/1 for examples[k].

    Each unordered pair gives its two items shares summing to 1: the mean, over the orders it was
    asked in, of "this item won". With 0/1 answers in both orders that is 1/0 when the answers
    agree and 0.5/0.5 when they contradict each other (the official code's 0.5 / 0.25 once scaled
    by its 0.5 pair weight).
    """
    index = {int(c): k for k, c in enumerate(np.asarray(candidates).tolist())}
    share: dict[tuple[int, int], list[float]] = {}
    for ex, p in zip(examples, np.asarray(p_first, dtype=np.float64)):
        a, b = index[ex.first], index[ex.second]
        key = (min(a, b), max(a, b))
        share.setdefault(key, []).append(p if a == key[0] else 1.0 - p)  # P(key[0] wins)
    wins = np.zeros(len(index))
    for (a, b), ps in share.items():
        wins[a] += np.mean(ps)
        wins[b] += 1.0 - np.mean(ps)
    return wins


def hybrid_scores(point: np.ndarray, pair_wins: np.ndarray, list_positions: Sequence[int | None],
                  form: str = "paper", weights: Sequence[float] = (1 / 3, 1 / 3, 1 / 3),
                  retriever_rank: np.ndarray | None = None, list_top: int = LISTWISE_TOP) -> np.ndarray:
    """Hybrid utility per candidate (higher = ranked higher); all inputs indexed by candidate.

    point: pointwise utility (expected or predicted rating); pair_wins: see `pair_wins`;
    list_positions: 1-based position in the returned listwise answer, None if not returned;
    retriever_rank: 0-based rank in the retriever's top-m (default: inputs are in retriever order).
    - paper: a1·point + a2·wins + a3·U_list, U_list = m - position + 1 if returned else 0.
    - code (cal_result.py): point + 0.05·(m - rank) + 0.5·wins + 0.025·(list_top - (position - 1))
      if returned; `weights` unused. m = 10 and list_top = 5 in the official run. A position past
      list_top gives a negative term, as in the code.
    """
    point = np.asarray(point, dtype=np.float64)
    wins = np.asarray(pair_wins, dtype=np.float64)
    m = len(point)
    returned = np.array([p is not None for p in list_positions])
    pos = np.array([p if p is not None else 0 for p in list_positions], dtype=np.float64)
    if form == "paper":
        a1, a2, a3 = weights
        return a1 * point + a2 * wins + a3 * np.where(returned, m - pos + 1, 0.0)
    if form == "code":
        rank = np.arange(m) if retriever_rank is None else np.asarray(retriever_rank, dtype=np.float64)
        return point + 0.05 * (m - rank) + 0.5 * wins + np.where(returned, 0.025 * (list_top - (pos - 1)), 0.0)
    raise ConfigError(f"`task.form` must be paper or code, got {form!r}")
