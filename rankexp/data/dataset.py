"""The dataset every loader returns (`RatingData`) and the steps all formats share after reading.

A format's loader reads its raw files into two frames (ratings with the source `line` of each row, and
items), then calls `finish`: drop ratings of unknown items (`data.unknown_items`), k-core filter, and
encode raw ids as 0..n-1 in their natural order. One module per format holds its reader and its
`load_*` function; `conf/data/<name>.yaml` names that function by `_target_`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rankexp.data.locate import cache_dir
from rankexp.errors import DataError, unknown_name

UNKNOWN_ITEM_POLICIES = ("error", "drop")


@dataclass(frozen=True)
class RatingData:
    """Ratings with contiguous ids: `user`, `item` in 0..n-1 index `user_ids` / `items`."""

    name: str
    ratings: pd.DataFrame  # user, item, rating, timestamp
    items: pd.DataFrame  # one row per item index: item_id, title, genres
    user_ids: np.ndarray
    like_threshold: float
    rating_scale: tuple[float, float]
    item_noun: str = "item"
    dropped_unknown_items: int = 0

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.items)


def resolve_root(root: str | Path | None) -> Path:
    """`data.root`, else RANKEXP_DATA_DIR, else the download cache."""
    if root:
        return Path(root).expanduser()
    if os.environ.get("RANKEXP_DATA_DIR"):
        return Path(os.environ["RANKEXP_DATA_DIR"]).expanduser()
    return cache_dir() / "data"


def natural_order(ids: np.ndarray | pd.Series) -> np.ndarray:
    """Distinct ids in their natural order: numerically when every id is all digits, else as strings.

    The encoded index follows this order, and every split breaks ties in time by that
    index, so ties must resolve like the raw ids do: "98" < "604" < "1443", not the
    string order "1443" < "604" < "98". ISBNs and ASINs (not all digits) sort as strings.
    """
    unique = pd.unique(pd.Series(ids, dtype=str))
    if len(unique) and all(value.isdigit() for value in unique):
        return np.array(sorted(unique, key=lambda value: (int(value), value)), dtype=object)
    return np.array(sorted(unique), dtype=object)


def drop_unknown_items(ratings: pd.DataFrame, items: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, int]:
    """Apply `data.unknown_items` to ratings whose item is not in the item file.

    Such an item has no title, so a prompt would show its raw id: `error` (the default)
    stops with the file, line and id; `drop` removes those ratings and returns their count.
    """
    if policy not in UNKNOWN_ITEM_POLICIES:
        raise unknown_name("unknown-item policy", policy, UNKNOWN_ITEM_POLICIES, "data.unknown_items")
    unknown = ~ratings["item_id"].isin(set(items["item_id"]))
    if not unknown.any():
        return ratings, 0
    if policy == "drop":
        return ratings[~unknown], int(unknown.sum())
    first = ratings[unknown].iloc[0]
    distinct = ratings.loc[unknown, "item_id"].nunique()
    raise DataError(
        f"{ratings.attrs.get('source', 'ratings')} line {int(first['line'])}: item {first['item_id']!r} is not in "
        f"the item file {items.attrs.get('source', '')} ({int(unknown.sum())} ratings of {distinct} such items); "
        "use the matching item file, or set `data.unknown_items=drop` to drop those ratings (counted in "
        "data/dropped_unknown_items)"
    )


def kcore(ratings: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep users and items with at least k ratings each, iterated to a fixed point."""
    while k > 1:
        users = ratings["user_id"].map(ratings["user_id"].value_counts())
        items = ratings["item_id"].map(ratings["item_id"].value_counts())
        keep = (users >= k) & (items >= k)
        if keep.all():
            break
        ratings = ratings[keep]
    return ratings


def encode(name: str, ratings: pd.DataFrame, items: pd.DataFrame, like_threshold: float,
           rating_scale: tuple[float, float]) -> RatingData:
    """Map raw ids to 0..n-1 in their natural order (see `natural_order`)."""
    if ratings.empty:
        raise DataError(f"dataset {name!r} is empty after filtering (k-core / implicit / unknown-item drop); "
                        "relax `data.kcore_k`")
    user_ids = natural_order(ratings["user_id"])
    item_ids = natural_order(ratings["item_id"])
    meta = items.drop_duplicates("item_id").set_index("item_id").reindex(item_ids)
    meta["genres"] = meta["genres"].fillna("")
    table = pd.DataFrame(
        {
            "user": pd.Index(user_ids).get_indexer(ratings["user_id"].astype(str)),
            "item": pd.Index(item_ids).get_indexer(ratings["item_id"].astype(str)),
            "rating": ratings["rating"].to_numpy(dtype=np.float32),
            "timestamp": ratings["timestamp"].to_numpy(dtype=np.int64),
        }
    )
    table = table.drop_duplicates(["user", "item"], keep="last").reset_index(drop=True)
    return RatingData(name, table, meta.reset_index(names="item_id"), user_ids, like_threshold, rating_scale)


def finish(name: str, ratings: pd.DataFrame, items: pd.DataFrame, *, like_threshold: float,
           rating_scale: tuple[float, float], kcore_k: int, item_noun: str, unknown_items: str) -> RatingData:
    """The shared tail of every loader: unknown-item policy, k-core, id encoding."""
    ratings, dropped = drop_unknown_items(ratings, items, unknown_items)
    data = encode(name, kcore(ratings.drop(columns="line"), kcore_k), items, like_threshold, tuple(rating_scale))
    return replace(data, item_noun=item_noun, dropped_unknown_items=dropped)
