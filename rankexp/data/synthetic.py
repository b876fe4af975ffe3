"""A dataset with planted preferences, so tests can assert that a model learns.

Each user has a taste vector over `n_genres`; each item belongs to one genre
and has a quality bias. The rating is the rounded sum of taste, quality and
noise, clipped to 1..5. Titles name the genre ("Item 17 (Sci-Fi)") so an LLM
can pick up the taste from the text alone, and a collaborative model from ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rankexp.data.dataset import RatingData, finish

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Western", "Musical")


def generate_synthetic(
    n_users: int = 200,
    n_items: int = 300,
    n_genres: int = 4,
    ratings_per_user: int = 40,
    noise: float = 0.3,
    seed: int = 0,
    genre_bias: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (ratings, items) in the same raw-id format the real loaders return.

    `genre_bias` adds a taste every user shares, spread evenly from +genre_bias (first genre) to
    -genre_bias (last): a preference a text model can pick up from the genre word in a few dozen
    steps, so a short test can tell a ranker that learns from one that does not.
    """
    if not 1 <= n_genres <= len(GENRES):
        raise ValueError(f"n_genres must be in 1..{len(GENRES)}")
    rng = np.random.default_rng(seed)
    item_genre = rng.integers(0, n_genres, size=n_items)
    item_quality = rng.normal(0.0, 0.5, size=n_items)
    taste = rng.normal(0.0, 1.2, size=(n_users, n_genres)) + np.linspace(genre_bias, -genre_bias, n_genres)[None, :]
    rows = []
    per_user = min(ratings_per_user, n_items)
    for user in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        raw = 3.0 + taste[user, item_genre[items]] + item_quality[items] + rng.normal(0, noise, per_user)
        ratings = np.clip(np.rint(raw), 1, 5)
        stamps = np.sort(rng.integers(0, 10_000_000, size=per_user))
        rows.append(pd.DataFrame({"user_id": str(user), "item_id": items.astype(str), "rating": ratings, "timestamp": stamps}))
    ratings = pd.concat(rows, ignore_index=True)
    items = pd.DataFrame(
        {
            "item_id": np.arange(n_items).astype(str),
            "title": [f"Item {i} ({GENRES[g]})" for i, g in enumerate(item_genre)],
            "genres": [GENRES[g] for g in item_genre],
        }
    )
    return ratings, items


def load_synthetic(
    name: str = "synthetic", *, synthetic: dict | None = None, like_threshold: float = 4.0, rating_scale: tuple[float, float] = (1.0, 5.0), kcore_k: int = 0,
    item_noun: str = "item", unknown_items: str = "error",
) -> RatingData:
    """What `conf/data/synthetic.yaml` instantiates: `generate_synthetic(**synthetic)` as RatingData."""
    ratings, items = generate_synthetic(**(synthetic or {}))
    ratings["line"] = np.arange(1, len(ratings) + 1)
    ratings.attrs["source"] = "the synthetic generator (row)"
    return finish(name, ratings, items, like_threshold=like_threshold, rating_scale=rating_scale, kcore_k=kcore_k,
                  item_noun=item_noun, unknown_items=unknown_items)
