"""Datasets: raw loaders, id encoding, filters.

Public API: `load_ratings(name, root)` and `load_items(name, root)`
return raw-id frames; `load_dataset(...)` returns a :class:`RatingData` with
contiguous integer ids that the rest of the pipeline uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rankexp.data import amazon, bookcrossing, movielens
from rankexp.data.locate import cache_dir, movielens_folder, refuse_fetch
from rankexp.data.synthetic import generate_synthetic
from rankexp.errors import DataError, unknown_name

DATASETS = ("ml100k", "ml1m", "bookcrossing", "amazon", "synthetic")
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


def _read_ratings(name: str, root: str | Path | None, fetch: bool | str, category: str, keep_implicit: bool,
                  synthetic: dict, url: str | None = None, md5: str | None = None) -> pd.DataFrame:
    """Raw ratings plus `line` (1-based line in the source file); `attrs["source"]` names the file."""
    refuse_fetch(name, fetch)
    base = resolve_root(root)
    if name == "ml100k":
        return movielens.load_ml100k_ratings(movielens_folder(name, root, fetch, url, md5))
    if name == "ml1m":
        return movielens.load_ml1m_ratings(movielens_folder(name, root, fetch, url, md5))
    if name == "bookcrossing":
        return bookcrossing.load_bookcrossing_ratings(base / "bookcrossing", keep_implicit)
    if name == "amazon":
        return amazon.load_amazon_ratings(base / "amazon", category)
    if name == "synthetic":
        ratings = generate_synthetic(**synthetic)[0]
        ratings["line"] = np.arange(1, len(ratings) + 1)
        ratings.attrs["source"] = "the synthetic generator (row)"
        return ratings
    raise unknown_name("dataset", name, DATASETS, "data.name")


def load_ratings(name: str, root: str | Path | None = None, *, fetch: bool | str = False,
                 category: str = "Digital_Music", keep_implicit: bool = False, **synthetic: float) -> pd.DataFrame:
    """Raw ratings: DataFrame[user_id, item_id, rating, timestamp]."""
    ratings = _read_ratings(name, root, fetch, category, keep_implicit, synthetic)
    return ratings.drop(columns="line")


def load_items(name: str, root: str | Path | None = None, *, fetch: bool | str = False,
               category: str = "Digital_Music", url: str | None = None, md5: str | None = None,
               **synthetic: float) -> pd.DataFrame:
    """Raw item table: DataFrame[item_id, title, genres]."""
    base = resolve_root(root)
    if name == "ml100k":
        return movielens.load_ml100k_items(movielens_folder(name, root, fetch, url, md5))
    if name == "ml1m":
        return movielens.load_ml1m_items(movielens_folder(name, root, fetch, url, md5))
    if name == "bookcrossing":
        return bookcrossing.load_bookcrossing_items(base / "bookcrossing")
    if name == "amazon":
        return amazon.load_amazon_items(base / "amazon", category)
    if name == "synthetic":
        return generate_synthetic(**synthetic)[1]
    raise unknown_name("dataset", name, DATASETS, "data.name")


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


def load_dataset(name: str, root: str | Path | None = None, *, like_threshold: float = 4.0,
                 rating_scale: tuple[float, float] = (1.0, 5.0), kcore_k: int = 0, fetch: bool | str = False,
                 category: str = "Digital_Music", keep_implicit: bool = False,
                 synthetic: dict | None = None, item_noun: str = "item", unknown_items: str = "error",
                 url: str | None = None, md5: str | None = None) -> RatingData:
    """Load, check, filter and encode one dataset (what `conf/data/*.yaml` instantiates)."""
    extra = dict(synthetic or {})
    ratings = _read_ratings(name, root, fetch, category, keep_implicit, extra, url, md5)
    items = load_items(name, root, fetch=fetch, category=category, url=url, md5=md5, **extra)
    ratings, dropped = drop_unknown_items(ratings, items, unknown_items)
    data = encode(name, kcore(ratings.drop(columns="line"), kcore_k), items, like_threshold, tuple(rating_scale))
    return replace(data, item_noun=item_noun, dropped_unknown_items=dropped)
