"""Where ranking instances come from: which candidates, which history, which gains.

Two protocols share one instance type (`ListwiseExample`):
- explicit_listwise (ALRO): a user's held-out rated items, graded by rating;
- rerank_topk (LlamaRec / RecRanker): a retriever's top-m for a held-out liked item.
Training instances always come from the train split alone, drawn as windows of
m consecutive rated items with the H interactions before them as history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rankexp.data.examples import ListwiseExample, order_by_gain
from rankexp.data.splits import ORDER, History
from rankexp.errors import DataError


def rng_for(*keys: int) -> np.random.Generator:
    return np.random.default_rng([abs(int(k)) for k in keys])


@dataclass
class TrainWindows:
    """Random windows of m rated train items per user (position shifting on every draw)."""

    train: pd.DataFrame
    m: int
    history_len: int
    min_history: int = 1
    tie_break: str = "random"
    shuffle: bool = True
    hint_fn: Callable[[int, np.ndarray], list[str]] | None = None

    def __post_init__(self) -> None:
        frame = self.train.sort_values(ORDER, kind="mergesort")
        self._groups = {u: g for u, g in frame.groupby("user", sort=True)}
        need = self.m + self.min_history
        self.users = np.array([u for u, g in self._groups.items() if len(g) >= need], dtype=np.int64)
        if len(self.users) == 0:
            raise DataError(f"no user has {need} train ratings for a window of m={self.m}; lower `protocol.m`")

    def draw(self, index: int, seed: int, user: int | None = None) -> ListwiseExample:
        rng = rng_for(seed, index, 17)
        user = int(self.users[rng.integers(len(self.users))]) if user is None else int(user)
        group = self._groups[user]
        end = int(rng.integers(self.m + self.min_history, len(group) + 1))
        window = group.iloc[end - self.m : end]
        history = group.iloc[max(0, end - self.m - self.history_len) : end - self.m]
        order = rng.permutation(self.m) if self.shuffle else np.arange(self.m)
        window = window.iloc[order]
        gains = window["rating"].to_numpy(dtype=np.float32)
        tie = rng.random(self.m) if self.tie_break == "random" else window["timestamp"].to_numpy()
        return ListwiseExample(
            user=user,
            history=history["item"].to_numpy(),
            history_ratings=history["rating"].to_numpy(),
            candidates=window["item"].to_numpy(),
            gains=gains,
            target_slots=order_by_gain(gains, tie),
            hints=self.hint_fn(user, window["item"].to_numpy()) if self.hint_fn else [],
            history_hints=self.hint_fn(user, history["item"].to_numpy()) if self.hint_fn else [],
        )


def explicit_eval_lists(held_out: pd.DataFrame, visible: pd.DataFrame, history_len: int, seed: int,
                        stage: int) -> list[ListwiseExample]:
    """ALRO evaluation: the user's held-out rated list, shuffled with a seed per user."""
    history = History(visible)
    examples = []
    for user, group in held_out.sort_values(ORDER, kind="mergesort").groupby("user", sort=True):
        first = group.iloc[0]
        items, ratings = history.before(int(user), int(first["timestamp"]), int(first["item"]), history_len)
        order = rng_for(seed, user, stage).permutation(len(group))
        shuffled = group.iloc[order]
        gains = shuffled["rating"].to_numpy(dtype=np.float32)
        examples.append(
            ListwiseExample(int(user), items, ratings, shuffled["item"].to_numpy(), gains,
                            order_by_gain(gains, np.arange(len(gains))))
        )
    return examples


def rerank_eval_lists(targets: pd.DataFrame, candidates: np.ndarray, visible: pd.DataFrame, history_len: int,
                      seed: int, stage: int, prior_scores: np.ndarray | None = None) -> list[ListwiseExample]:
    """Rerank protocol: the retriever's top-m, shuffled; gain 1 on the held-out liked item.

    `candidates[r]` belongs to `targets.iloc[r]`. A user whose target the retriever
    missed keeps an all-zero list so overall metrics count the miss as 0.
    """
    history = History(visible)
    examples = []
    for index, (row, cands) in enumerate(zip(targets.itertuples(index=False), candidates)):
        items, ratings = history.before(int(row.user), int(row.timestamp), int(row.item), history_len)
        order = rng_for(seed, row.user, stage).permutation(len(cands))
        shown = np.asarray(cands)[order]
        gains = (shown == row.item).astype(np.float32)
        prior = None if prior_scores is None else np.asarray(prior_scores[index])[order]
        examples.append(
            ListwiseExample(int(row.user), items, ratings, shown, gains, order_by_gain(gains, np.arange(len(gains))),
                            prior_scores=prior)
        )
    return examples
