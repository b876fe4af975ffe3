"""What a retriever may learn from: train-only positives, negatives and sequences.

Every training signal of every retriever is built here from the *train* frame,
so one spy on these functions proves that no val/test pair reaches a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rankexp.errors import ConfigError, DataError

COLUMNS = ("user", "item", "rating", "timestamp")


def check_frame(frame: pd.DataFrame, n_users: int, n_items: int, what: str) -> None:
    """Fail early, with the frame's name, on missing columns or ids outside 0..n-1."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{what} frame lacks columns {missing}; expected {list(COLUMNS)} (see rankexp.data.encode)")
    if len(frame) == 0:
        return
    for column, bound in (("user", n_users), ("item", n_items)):
        low, high = int(frame[column].min()), int(frame[column].max())
        if low < 0 or high >= bound:
            raise DataError(f"{what} frame: `{column}` ids span {low}..{high}, outside 0..{bound - 1}")


@dataclass(frozen=True)
class Exclusion:
    """Per-user item sets in CSR form: the items a user must not be recommended."""

    indptr: np.ndarray  # [n_users + 1]
    indices: np.ndarray  # item ids, grouped by user

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, n_users: int) -> Exclusion:
        users = frame["user"].to_numpy(dtype=np.int64)
        order = np.argsort(users, kind="stable")
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
        return cls(indptr, frame["item"].to_numpy(dtype=np.int64)[order])

    def counts(self, users: np.ndarray) -> np.ndarray:
        return self.indptr[users + 1] - self.indptr[users]

    def mask_(self, scores: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """Set the excluded entries of `scores` [B, n_items] (rows = `users`) to -inf in place."""
        u = users.cpu().numpy()
        counts = self.counts(u)
        rows = np.repeat(np.arange(len(u)), counts)
        cols = np.concatenate([self.indices[self.indptr[x] : self.indptr[x + 1]] for x in u]) if len(u) else rows
        scores[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
        return scores


def bpr_positives(train: pd.DataFrame, like_threshold: float, positives: str) -> np.ndarray:
    """(user, item) pairs [P, 2] that BPR treats as observed.

    `liked` keeps ratings >= the like threshold (the targets are liked items);
    `all` treats every rated item as implicit feedback (denser signal).
    """
    if positives == "liked":
        frame = train[train["rating"] >= like_threshold]
    elif positives == "all":
        frame = train
    else:
        raise ConfigError(f"`retriever.positives` must be 'liked' or 'all', got {positives!r}")
    if len(frame) == 0:
        raise DataError(f"no positive train interactions (positives={positives!r}, like_threshold={like_threshold})")
    return frame[["user", "item"]].to_numpy(dtype=np.int64)


class NegativeSampler:
    """Uniform negatives outside the user's train items (rejection sampling, vectorised)."""

    def __init__(self, train: pd.DataFrame, n_items: int, rng: np.random.Generator, tries: int = 20) -> None:
        self.n_items = n_items
        self.rng = rng
        self.tries = tries
        self.seen = np.unique(train["user"].to_numpy(np.int64) * n_items + train["item"].to_numpy(np.int64))

    def _is_seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        pos = np.minimum(np.searchsorted(self.seen, keys), len(self.seen) - 1)
        return self.seen[pos] == keys

    def sample(self, users: np.ndarray) -> np.ndarray:
        items = self.rng.integers(0, self.n_items, size=len(users))
        todo = np.arange(len(users))
        for _ in range(self.tries):  # re-draw only the rejected entries
            todo = todo[self._is_seen(users[todo], items[todo])]
            if len(todo) == 0:
                break
            items[todo] = self.rng.integers(0, self.n_items, size=len(todo))
        return items


def user_sequences(train: pd.DataFrame, n_users: int) -> list[np.ndarray]:
    """Each user's train items ordered by (timestamp, item), the order of the split."""
    frame = train.sort_values(["user", "timestamp", "item"], kind="mergesort")
    users = frame["user"].to_numpy(np.int64)
    items = frame["item"].to_numpy(np.int64)
    starts = np.searchsorted(users, np.arange(n_users + 1))
    return [items[starts[u] : starts[u + 1]] for u in range(n_users)]


def left_pad(sequences: list[np.ndarray], length: int, pad: int = -1) -> torch.Tensor:
    """[N, length] LongTensor holding the last `length` items of each sequence, padded on the left."""
    out = np.full((len(sequences), length), pad, dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-length:] if length else seq[:0]
        if len(tail):
            out[row, length - len(tail) :] = tail
    return torch.from_numpy(out)
