"""A ranking request checked at the edge: titles, ratings on the scale, finite hint numbers.

`Ranker.rank` and `rankexp.predict` share these checks, so a bad request is one RequestError
naming the field (and the title), never a prompt that says "avg nan".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankexp.errors import RequestError


@dataclass
class Request:
    history_titles: list[str]
    history_ratings: list[float]
    candidates: list[str]


def is_finite_number(value: Any) -> bool:
    """A number (not a bool) that is a finite float: NaN, infinities and integers past the float range are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past the float range (JSON allows any number of digits)
        return False


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
        if not is_finite_number(rating):
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


def request_of(item: Any, max_candidates: int | None, rating_scale: tuple[float, float], where: str) -> Request:
    """One request of `Ranker.rank_batch` ({"history", "candidates", ...}) checked by `parse_request`.

    Any other iterable (a tuple, an array, a generator) is read as a list; a string or a mapping is not
    (a string's characters are no list of titles), so `parse_request` names it."""
    if not isinstance(item, Mapping):
        raise RequestError(f"{where}: a request is a mapping with `history` and `candidates`, got {type(item).__name__}")

    def listed(value: Any) -> Any:
        return value if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable) else list(value)

    fields = {"history": [], "candidates": [], **item}  # a request's own optional fields, not config defaults
    return parse_request(listed(fields["history"]), listed(fields["candidates"]), max_candidates, rating_scale,
                         where=where)


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
        if not is_finite_number(value):
            raise RequestError(f"{where}: `hints[{title!r}]` must be a finite number, got {value!r}")
    return np.array([float(hints[t]) for t in titles])
