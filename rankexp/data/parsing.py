"""Line-level parsing with errors that name the file and line.

Pandas' fast readers report a malformed line as an opaque tokenizer error; a
researcher needs "u.data line 5312: expected 4 tab-separated fields, got 3".
Parsing stays in plain Python: ML-1M (1M lines) parses in about two seconds.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rankexp.data.text_files import describe, read_lines, separator_hint
from rankexp.errors import DataError

log = logging.getLogger(__name__)
FUTURE_SLACK_S = 86_400  # a timestamp later than now + one day cannot be right (clock skew, time zones aside)
MAX_STAMP = 2.0**63  # timestamps are stored as int64
MAX_FLOAT = sys.float_info.max


def require_file(path: Path, how_to_get: str) -> Path:
    if not path.is_file():
        raise DataError(f"missing data file {path}. {how_to_get}")
    return path


def split_fields(path: Path, number: int, line: str, sep: str, n_fields: int, exact: bool = True) -> list[str]:
    fields = line.split(sep)
    if (exact and len(fields) != n_fields) or len(fields) < n_fields:
        hint = separator_hint(line, sep, lambda parts: len(parts) == n_fields or (not exact and len(parts) > n_fields))
        if hint:
            raise DataError(f"{path} line {number}: {hint} ({n_fields} fields): {line[:120]!r}")
        shown = describe(sep)
        raise DataError(
            f"{path} line {number}: expected {n_fields} {shown}-separated fields, got {len(fields)}: {line[:120]!r}"
        )
    return fields


def convert(path: Path, number: int, field: str, value: str, cast: Callable[[str], float | int]) -> float | int:
    try:
        return cast(value.strip())
    except ValueError:
        raise DataError(f"{path} line {number}: field `{field}` must be a number, got {value!r}") from None


def check_rating(path: Path, number: int, rating: float, low: float, high: float) -> float:
    if not low <= rating <= high:
        raise DataError(f"{path} line {number}: rating {rating} is outside the scale [{low}, {high}]")
    return rating


def parse_rating_lines(path: Path, sep: str, legacy: str | None, scale: tuple[float, float],
                       header: bool = False) -> dict[str, list]:
    """Parse `user sep item sep rating sep timestamp` lines into columns (`line`: 1-based source line).

    `legacy`: the encoding to read when the file is not UTF-8 (`text_files.decode`)."""
    columns: dict[str, list] = {"user_id": [], "item_id": [], "rating": [], "timestamp": [], "line": []}
    for number, line in read_lines(path, legacy):
        if header and number == 1:
            continue
        user, item, rating, stamp = split_fields(path, number, line, sep, 4)
        columns["line"].append(number)
        columns["user_id"].append(user.strip())
        columns["item_id"].append(item.strip())
        value = float(convert(path, number, "rating", rating, float))
        columns["rating"].append(check_rating(path, number, value, *scale))
        columns["timestamp"].append(int(convert(path, number, "timestamp", stamp, int)))
    if not columns["user_id"]:
        raise DataError(f"no ratings in {path}: it holds no rating lines" + (", only its header" if header else ""))
    check_timestamps(path, np.asarray(columns["timestamp"]), np.asarray(columns["line"]))
    return columns


def check_timestamps(path: Path, stamps: np.ndarray, lines: np.ndarray) -> None:
    """docs/protocols.md's timestamp rule: Unix seconds that cannot be right.

    Negative, not a finite number, or past 2^63 (the int64 column they are stored in): a DataError
    naming the first such line (no dataset here predates 1970). Later than now + 1 day: a warning
    naming the first line and the count, not an error: only the order of a user's timestamps is used, a consistent other unit (milliseconds)
    still orders correctly, and whether a file loads must not depend on the day it is loaded.
    """
    try:
        stamps = np.asarray(stamps, dtype=np.float64)
    except OverflowError:  # an integer past the float range, as far out as infinity
        stamps = np.array([math.copysign(math.inf, s) if abs(s) > MAX_FLOAT else float(s) for s in stamps])
    bad = ~np.isfinite(stamps) | (stamps < 0) | (stamps >= MAX_STAMP)
    if bad.any():
        at = int(np.argmax(bad))
        raise DataError(f"{path} line {int(lines[at])}: timestamp {stamps[at]:g} is negative, not finite or past "
                        "2^63 (the int64 range); timestamps are Unix seconds (>= 0); fix or drop that line")
    future = stamps > time.time() + FUTURE_SLACK_S
    if future.any():
        at = int(np.argmax(future))
        log.warning("%s line %d: timestamp %d is in the future (%d such rows); kept, only their order is used "
                    "(milliseconds instead of seconds?)", path, int(lines[at]), int(stamps[at]), int(future.sum()))
