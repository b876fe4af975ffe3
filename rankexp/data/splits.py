"""Leakage-free splits (docs/protocols.md is the contract).

Order within a user is (timestamp, item) everywhere, so ties in time resolve
the same way in the split, the history accessor and every prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rankexp.errors import ConfigError, DataError

ORDER = ["user", "timestamp", "item"]
MIN_CANDIDATES = 2  # `protocol.m`: a list of one item has no order to learn or score


@dataclass(frozen=True)
class Split:
    """Train interactions and one held-out target row per evaluated user."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def _ordered(ratings: pd.DataFrame) -> pd.DataFrame:
    frame = ratings.rename(columns={"user_id": "user", "item_id": "item"})
    return frame.sort_values(ORDER, kind="mergesort").reset_index(drop=True)


def leave_one_out(ratings: pd.DataFrame, like_threshold: float) -> Split:
    """Last liked = test, second-last liked = val, the rest = train.

    Users with fewer than 3 liked interactions stay train-only, so every
    evaluated user keeps at least one liked item to learn from. `like_threshold` has no
    default: it is the dataset's (`data.like_threshold`), one decision in the data config.
    """
    frame = _ordered(ratings)
    liked = frame["rating"] >= like_threshold
    n_liked = liked.groupby(frame["user"]).transform("sum")
    # 0 for the last liked interaction of a user, 1 for the one before, ...
    from_end = liked[::-1].groupby(frame["user"][::-1]).cumsum()[::-1] - 1
    evaluated = n_liked >= 3
    is_test = liked & evaluated & (from_end == 0)
    is_val = liked & evaluated & (from_end == 1)
    return Split(
        train=frame[~(is_test | is_val)].reset_index(drop=True),
        val=frame[is_val].reset_index(drop=True),
        test=frame[is_test].reset_index(drop=True),
    )


@dataclass(frozen=True)
class ListwiseSplit:
    """ALRO's explicit protocol: per user, the last m rated items are the test list."""

    train: pd.DataFrame  # everything before the validation list
    val: pd.DataFrame  # m rows per evaluated user
    test: pd.DataFrame  # m rows per evaluated user
    skipped_users: int


def explicit_listwise(ratings: pd.DataFrame, m: int, min_history: int, min_distinct_ratings: int = 2) -> ListwiseSplit:
    """Per user: last m rated items = test list, the m before = val list.

    Users with fewer than `min_history + 2m` ratings stay train-only. A list whose
    ratings are all equal scores NDCG 1 under any order, so lists with fewer than
    `min_distinct_ratings` distinct ratings are dropped (counted in `skipped_users`).
    """
    if m < MIN_CANDIDATES:
        raise ConfigError(f"`protocol.m` must be >= {MIN_CANDIDATES} to rank a list, got {m}")
    frame = _ordered(ratings)
    size = frame.groupby("user")["item"].transform("size")
    from_end = frame.groupby("user").cumcount(ascending=False)
    eligible = size >= min_history + 2 * m
    test = frame[eligible & (from_end < m)]
    val = frame[eligible & (from_end >= m) & (from_end < 2 * m)]
    good = _varied(test, min_distinct_ratings) & _varied(val, min_distinct_ratings)
    keep_users = good[good].index
    held_out = frame.index.isin(test.index) | frame.index.isin(val.index)
    # Users whose lists were dropped keep all ratings in train; evaluated users keep only the prefix.
    train = frame[~(frame["user"].isin(keep_users) & held_out)]
    if len(keep_users) == 0:
        raise DataError(
            f"no user has {min_history + 2 * m} ratings with varied lists; lower `protocol.m` or `protocol.min_history`"
        )
    return ListwiseSplit(
        train=train.reset_index(drop=True),
        val=val[val["user"].isin(keep_users)].reset_index(drop=True),
        test=test[test["user"].isin(keep_users)].reset_index(drop=True),
        skipped_users=int(eligible.groupby(frame["user"]).first().sum() - len(keep_users)),
    )


def _varied(lists: pd.DataFrame, min_distinct: int) -> pd.Series:
    return lists.groupby("user")["rating"].nunique() >= min_distinct


class History:
    """The H most recent interactions strictly before a target, from one source table.

    The source decides what a prompt may see: train for training and validation
    prompts, train + val for test prompts. Never pass a table holding targets.
    """

    def __init__(self, source: pd.DataFrame) -> None:
        frame = _ordered(source)
        self._items = frame["item"].to_numpy()
        self._ratings = frame["rating"].to_numpy()
        self._times = frame["timestamp"].to_numpy()
        users = frame["user"].to_numpy()
        n = int(users.max()) + 2 if len(frame) else 1
        self._starts = np.searchsorted(users, np.arange(n))

    def before(self, user: int, timestamp: int | None, item: int | None, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Items and ratings of `user`, oldest first, strictly before (timestamp, item).

        `timestamp=None` means "after everything" (the whole visible history).
        """
        if user + 1 >= len(self._starts):
            return self._items[:0], self._ratings[:0]
        lo, hi = int(self._starts[user]), int(self._starts[user + 1])
        if timestamp is not None:
            times, items = self._times[lo:hi], self._items[lo:hi]
            earlier = (times < timestamp) | ((times == timestamp) & (items < (item if item is not None else -1)))
            hi = lo + int(earlier.sum())  # rows are sorted, so the earlier ones form a prefix
        lo = max(lo, hi - length)
        return self._items[lo:hi], self._ratings[lo:hi]


def train_rows(protocol: Mapping[str, Any], ratings: pd.DataFrame, like_threshold: float) -> pd.DataFrame:
    """The train split a protocol's lists are built on: what train-only signals (the hints) may read.

    `protocol`: the run's `protocol` config (name, m, min_history, min_distinct_ratings). The API
    re-derives an adapter's hints from it, so it must give exactly the rows the run trained on.
    """
    name = protocol["name"]
    if name == "explicit_listwise":
        return explicit_listwise(ratings, int(protocol["m"]), int(protocol["min_history"]),
                                 int(protocol["min_distinct_ratings"])).train
    if name == "rerank_topk":
        return leave_one_out(ratings, like_threshold).train
    raise ConfigError(f"protocol {name!r} has no train split rankexp knows (explicit_listwise, rerank_topk)")
