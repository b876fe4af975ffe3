"""A ranking request checked at the edge: titles, ratings on the scale, finite hint numbers.

`Ranker.rank` and `rankexp.predict` share these checks, so a bad request is one RequestError
naming the field (and the title), never a prompt that says "avg nan".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankexp.errors import RequestError


@dataclass
class Request:
    history_titles: list[str]
    history_ratings: list[float]
    candidates: list[str]


def parse_request(history: Sequence[Any], candidates: Sequence[Any], max_candidates: int | None,
                  rating_scale: tuple[float, float] = (1.0, 5.0), where: str = "request") -> Request:
    """Validate a request; `history` holds (title, rating) pairs or {"title", "rating"} objects."""
    if not isinstance(history, (list, tuple)):
        raise RequestError(f"{where}: `history` must be a list of (title, rating) pairs, got {type(history).__name__}")
    titles, ratings = [], []
    low, high = rating_scale
    for i, entry in enumerate(history):
        if isinstance(entry, dict):
            extra = sorted(set(entry) - {"title", "rating"})
            if extra:
                raise RequestError(f"{where}: `history[{i}]` has unknown field(s) {extra}; use only title, rating")
            title, rating = entry.get("title"), entry.get("rating")
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            title, rating = entry
        else:
            raise RequestError(f"{where}: `history[{i}]` must be a (title, rating) pair or "
                               f"{{\"title\": \"...\", \"rating\": 5}}, got {entry!r}")
        if not isinstance(title, str) or not title.strip():
            raise RequestError(f"{where}: `history[{i}].title` must be a non-empty string, got {title!r}")
        if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not math.isfinite(rating):
            raise RequestError(f"{where}: `history[{i}].rating` must be a number, got {rating!r}")
        if not low <= rating <= high:
            raise RequestError(f"{where}: `history[{i}].rating`={rating} is outside the rating scale {low:g}-{high:g}")
        titles.append(title.strip())
        ratings.append(float(rating))
    if not isinstance(candidates, (list, tuple)) or not candidates:
        raise RequestError(f"{where}: `candidates` must be a non-empty list of titles, got {candidates!r}")
    for i, title in enumerate(candidates):
        if not isinstance(title, str) or not title.strip():
            raise RequestError(f"{where}: `candidates[{i}]` must be a non-empty string, got {title!r}")
    if max_candidates is not None and len(candidates) > max_candidates:
        raise RequestError(f"{where}: {len(candidates)} candidates, but the ranker has only {max_candidates} labels "
                           f"(one per candidate); send at most {max_candidates}")
    stripped = [c.strip() for c in candidates]
    duplicates = sorted({c for c in stripped if stripped.count(c) > 1})
    if duplicates:
        raise RequestError(f"{where}: `candidates` lists {duplicates} more than once; each candidate once")
    return Request(titles, ratings, stripped)


def checked_hints(hints: Any, titles: list[str], where: str) -> np.ndarray:
    """The hint of each title as a float array; a missing, non-numeric or non-finite value is a RequestError."""
    if not isinstance(hints, Mapping):
        raise RequestError(f"{where}: `hints` must map title -> number, got {type(hints).__name__}")
    missing = [t for t in titles if t not in hints]
    if missing:
        raise RequestError(f"{where}: `hints` has no value for {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
                           "give one for every history and candidate title")
    for title in titles:
        value = hints[title]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RequestError(f"{where}: `hints[{title!r}]` must be a finite number, got {value!r}")
    return np.array([float(hints[t]) for t in titles])
