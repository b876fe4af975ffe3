"""Amazon reviews (McAuley et al., 2018 release): 5-core JSON lines per category.

Any category works by name: `data.category=Digital_Music` reads
`<root>/amazon/Digital_Music_5.json(.gz)` and `meta_Digital_Music.json(.gz)`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd

from rankexp.data.dataset import RatingData, finish, resolve_root
from rankexp.data.locate import refuse_fetch
from rankexp.data.parsing import check_rating, check_timestamps
from rankexp.data.text_files import decode_line
from rankexp.errors import DataError

URL = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2/categoryFilesSmall/{category}_5.json.gz"
HOW_TO_GET = (
    "Download `{category}_5.json.gz` and `meta_{category}.json.gz` from "
    "https://nijianmo.github.io/amazon/ into `<data.root>/amazon/`."
)


def _find(folder: Path, stem: str, category: str) -> Path:
    for name in (f"{stem}.json", f"{stem}.json.gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"missing data file {folder / (stem + '.json(.gz)')}. " + HOW_TO_GET.format(category=category))


def _json_lines(path: Path):
    """(line, record) of each JSON line, streamed: JSON is UTF-8 only (`text_files.decode_line`)."""
    opener = gzip.open if path.suffix == ".gz" else open
    # A cut needs no check of its own here: every record is one `{...}` object, so a line cut short
    # never parses, and gzip checks its own length and CRC (a cut .gz raises EOFError below).
    # CRLF needs none either: JSON reads the CR as whitespace.
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = decode_line(path, number, raw)
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except ValueError as err:  # JSONDecodeError, or an integer past Python's 4300-digit limit
                    raise DataError(f"{path} line {number}: not a JSON object "
                                    f"({getattr(err, 'msg', str(err)[:80])})") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read ({err}); a truncated .gz?") from None


def load_amazon_ratings(folder: Path, category: str) -> pd.DataFrame:
    path = _find(folder, f"{category}_5", category)
    columns: dict[str, list] = {"user_id": [], "item_id": [], "rating": [], "timestamp": [], "line": []}
    for number, record in _json_lines(path):
        try:
            user, item = str(record["reviewerID"]), str(record["asin"])
            rating, stamp = float(record["overall"]), int(record["unixReviewTime"])
        except (KeyError, TypeError, ValueError, OverflowError) as err:  # OverflowError: int(1e400)
            raise DataError(
                f"{path} line {number}: expected reviewerID, asin, numeric overall and unixReviewTime ({err!r})"
            ) from None
        columns["user_id"].append(user)
        columns["item_id"].append(item)
        columns["rating"].append(check_rating(path, number, rating, 1, 5))
        columns["timestamp"].append(stamp)
        columns["line"].append(number)
    if not columns["user_id"]:
        raise DataError(f"no ratings in {path}: it holds no review lines")
    check_timestamps(path, columns["timestamp"], columns["line"])
    frame = pd.DataFrame(columns)
    frame.attrs["source"] = str(path)
    return frame


def load_amazon_items(folder: Path, category: str) -> pd.DataFrame:
    path = _find(folder, f"meta_{category}", category)
    records = []
    for number, record in _json_lines(path):
        if not isinstance(record, dict) or "asin" not in record:
            raise DataError(f"{path} line {number}: expected a JSON object with `asin`, got {str(record)[:80]!r}")
        categories = record.get("category") or []
        if not isinstance(categories, list):
            raise DataError(f"{path} line {number}: `category` must be a list of strings, got {categories!r}")
        records.append(
            {
                "item_id": str(record["asin"]),
                "title": str(record.get("title") or record["asin"]).strip(),
                "genres": "|".join(c for c in categories if isinstance(c, str)),
            }
        )
    if not records:
        raise DataError(f"no items in {path}: it holds no metadata lines")
    frame = pd.DataFrame(records, columns=["item_id", "title", "genres"]).drop_duplicates("item_id")
    frame.attrs["source"] = str(path)
    return frame


def load_amazon(
    name: str = "amazon", root: str | Path | None = None, *, category: str = "Digital_Music",
    fetch: bool | str = False, like_threshold: float = 4.0, rating_scale: tuple[float, float] = (1.0, 5.0), kcore_k: int = 0,
    item_noun: str = "item", unknown_items: str = "error",
) -> RatingData:
    """What `conf/data/amazon.yaml` instantiates: one category's 5-core reviews and metadata as RatingData."""
    refuse_fetch("amazon", fetch)
    folder = resolve_root(root) / "amazon"
    ratings = load_amazon_ratings(folder, category)
    return finish(name, ratings, load_amazon_items(folder, category), like_threshold=like_threshold, rating_scale=rating_scale, kcore_k=kcore_k,
                  item_noun=item_noun, unknown_items=unknown_items)
