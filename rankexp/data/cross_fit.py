"""Cross-fitted hints: a conventional model's signal in training prompts without its labels.

A retriever fit on the whole train split has seen every training instruction's answer: asked
"would the user like X?" about a train interaction, it answers from having trained on exactly that
interaction, so its hint is right far more often on training prompts than it can be on test
prompts, and the LLM learns to trust it too much. Stacking's standard fix is cross-fitting:

- the train interactions are split into K folds (`assign_folds`), stratified per user so every
  copy keeps (K-1)/K of each user's history;
- copy f of the retriever is fit with fold f held out (`rankexp.retrievers.cross_fit`);
- a training prompt's hint comes from a copy that held out every rated item the prompt asks about:
  RecRanker's instructions pick one fold and draw their asked items from it
  (`rankexp.data.recranker`), a listwise window takes each line's value from the copy that held
  out that line (`out_of_fold`);
- validation and test prompts take the retriever fit on all of train, as at inference.

`CrossFittedHints` holds the full retriever, the K copies and the fold of every train row; it is
duck-typed on the retriever (`predict_rating(users, items)`, `score(users)`), so this module stays
in the data layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from rankexp.errors import ConfigError

MIN_FOLDS = 2  # `task.hint_folds`: one fold held out per copy, and a copy must keep some train rows

HintValues = Callable[[int, np.ndarray], np.ndarray]


def assign_folds(train: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """Fold (0..k-1) of each row of `train`, aligned with its rows.

    Per user, rows are ordered by rating (best first, ties in a seeded random order) and dealt out
    round-robin from a seeded random start. Why: every fold then holds about 1/k of each user's
    rows *and* of each rating level, so a fold can supply RecRanker's listwise instruction (3 items
    of the user's top rating + 2 of the next) as often as the user's ratings allow, and each copy
    keeps (k-1)/k of every user's history.
    """
    if int(k) < MIN_FOLDS:
        raise ConfigError(f"`task.hint_folds` must be >= {MIN_FOLDS} (one held-out fold per copy), got {k}")
    rng = np.random.default_rng([abs(int(seed)), 53])
    order = pd.DataFrame({"user": train["user"].to_numpy(), "rating": train["rating"].to_numpy(),
                          "tie": rng.random(len(train)), "row": np.arange(len(train))})
    order = order.sort_values(["user", "rating", "tie"], ascending=[True, False, True], kind="mergesort")
    position = order.groupby("user", sort=False).cumcount().to_numpy()
    start = rng.integers(k, size=int(order["user"].max()) + 1 if len(order) else 1)
    folds = np.empty(len(train), dtype=np.int64)
    folds[order["row"].to_numpy()] = (position + start[order["user"].to_numpy()]) % k
    return folds


def _ratings_of(retriever) -> HintValues:
    import torch

    def predicted(user: int, items: np.ndarray) -> np.ndarray:
        items = torch.from_numpy(np.array(items, dtype=np.int64))
        with torch.autocast("cpu", enabled=False):  # fp32 in training prompts and under bf16 evaluation alike
            return retriever.predict_rating(torch.full_like(items, int(user)), items).float().numpy()

    return predicted


def _per_user_rows(row_of: Callable[[int], np.ndarray], capacity: int = 8192) -> HintValues:
    """values(user, items) read from one row over all items per user, computed once (bounded cache)."""
    cache: dict[int, np.ndarray] = {}

    def values(user: int, items: np.ndarray) -> np.ndarray:
        row = cache.get(int(user))
        if row is None:
            if len(cache) > capacity:
                cache.clear()
            row = cache[int(user)] = row_of(int(user))
        return row[np.asarray(items, dtype=np.int64)]

    return values


def _scores_of(retriever) -> HintValues:
    import torch

    def row(user: int) -> np.ndarray:
        with torch.autocast("cpu", enabled=False):  # the same fp32 values inside Lightning's bf16 autocast
            return retriever.score(torch.tensor([user])).float().numpy()[0]

    return _per_user_rows(row)


KINDS = ("rating", "score", "percentile")


def _percentiles_of(retriever) -> HintValues:
    """The share of all items the retriever scores below each item, for this user (0..1).

    Why: raw scores of two fold copies live on different scales, so a listwise window whose lines
    come from different copies cannot compare them; each copy's percentile can be compared. Within
    one model the order is the raw score order, so a block's ranks equal the retriever's own."""
    scores = _scores_of(retriever)

    def row(user: int) -> np.ndarray:
        every = scores(user, np.arange(retriever.n_items))
        return np.argsort(np.argsort(every, kind="stable"), kind="stable") / max(len(every) - 1, 1)

    return _per_user_rows(row)


def values_of(retriever, kind: str) -> HintValues:
    """`values(user, items)` of one retriever: its predicted rating (`rating`), ranking score (`score`)
    or that score's percentile among all items (`percentile`)."""
    if kind not in KINDS:
        raise ValueError(f"hint kind must be one of {KINDS}, got {kind!r}")
    return {"rating": _ratings_of, "score": _scores_of, "percentile": _percentiles_of}[kind](retriever)


class CrossFittedHints:
    """The full retriever (evaluation hints) and K copies, copy f fit without the train rows of fold f."""

    def __init__(self, full, copies: Sequence, train: pd.DataFrame, folds: np.ndarray) -> None:
        if len(folds) != len(train):
            raise ValueError(f"{len(folds)} folds for {len(train)} train rows")
        self.full, self.copies, self.k = full, list(copies), len(copies)
        self.train, self.folds = train, np.asarray(folds, dtype=np.int64)
        keys = zip(train["user"].to_numpy().tolist(), train["item"].to_numpy().tolist(), self.folds.tolist())
        self._fold = {(int(u), int(i)): int(f) for u, i, f in keys}
        self._values: dict[tuple[int | None, str], HintValues] = {}

    def fold_of(self, user: int, item: int) -> int | None:
        """The fold of the train row (user, item); None for an item the user has no train row of."""
        return self._fold.get((int(user), int(item)))

    def values(self, fold: int | None, kind: str) -> HintValues:
        """Copy `fold`'s values; `fold=None` is the retriever fit on all of train (evaluation prompts)."""
        key = (fold, kind)
        if key not in self._values:
            self._values[key] = values_of(self.full if fold is None else self.copies[int(fold)], kind)
        return self._values[key]

    def folded(self, kind: str) -> Callable[[int], HintValues]:
        """fold -> that copy's values: what a training instruction that picked a fold asks."""
        return lambda fold: self.values(int(fold), kind)

    def out_of_fold(self, kind: str) -> HintValues:
        """Per item: the value of the copy that held out the user's train row of it (the full
        retriever's for items without one). Listwise windows show one such value per line."""

        def oof(user: int, items: np.ndarray) -> np.ndarray:
            items = np.asarray(items, dtype=np.int64)
            out = np.empty(len(items), dtype=np.float64)
            folds = np.array([-1 if (f := self.fold_of(user, i)) is None else f for i in items.tolist()])
            for fold in np.unique(folds).tolist():
                at = folds == fold
                out[at] = self.values(None if fold < 0 else fold, kind)(user, items[at])
            return out

        return oof
