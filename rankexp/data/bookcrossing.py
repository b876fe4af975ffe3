"""Book-Crossing (Ziegler et al. 2005): `;`-separated, quoted, latin-1 CSV files.

The files carry no timestamps, so the row order of BX-Book-Ratings.csv stands in
for time (documented in README): leave-one-out then holds out each user's last
listed liked book. Rating 0 marks an implicit interaction; `data.keep_implicit`
decides whether those rows stay.

Files are read through `text_files`: UTF-8 when they decode as UTF-8, latin-1 otherwise (the
official dump). That dump's latin-1 text already carries mojibake (UTF-8 byte pairs such as 'Ã©'),
so a file mixing the two is read as latin-1 with a warning rather than refused.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from rankexp.data.dataset import RatingData, finish, resolve_root
from rankexp.data.locate import refuse_fetch
from rankexp.data.parsing import check_rating, convert, require_file
from rankexp.data.text_files import read_text, separator_hint
from rankexp.errors import DataError

SOURCE = {
    "folder": "bookcrossing",
    "url": "http://www2.informatik.uni-freiburg.de/~cziegler/BX/BX-CSV-Dump.zip",
    "md5": None,
}
HOW_TO_GET = (
    "Get BX-CSV-Dump.zip from http://www2.informatik.uni-freiburg.de/~cziegler/BX/, extract "
    "BX-Book-Ratings.csv and BX-Books.csv into `<data.root>/bookcrossing/`."
)


def _rows(path: Path, min_fields: int) -> list[tuple[int, list[str]]]:
    """(line, fields) of each record; a header that another separator splits into `min_fields` is named."""
    text = read_text(path, "latin-1", mixed_ok=True)
    hint = separator_hint(text.split("\n", 1)[0], ";", lambda parts: len(parts) >= min_fields)
    if hint:
        raise DataError(f"{path} line 1: {hint} (the official files separate quoted fields by ';')")
    try:
        reader = csv.reader(io.StringIO(text), delimiter=";", quotechar='"', escapechar="\\")
        rows = [(reader.line_num, row) for row in reader if row]
    except csv.Error as err:
        raise DataError(f"{path}: malformed CSV ({err})") from err
    if not rows:
        raise DataError(f"{path}: only blank lines; expected a `;`-separated header line, then one record a line")
    return rows


def _no_rows(path: Path, rows: list, what: str) -> None:
    if len(rows) < 2:
        raise DataError(f"no {what} in {path}: it holds its header line and no rows")


def _check_header(path: Path, header: list[str], expected: str) -> None:
    if not header or header[0].strip() != expected:
        raise DataError(
            f"{path} line 1: expected a `;`-separated header starting with {expected!r}, got {header[:3]!r}"
        )


def load_bookcrossing_ratings(folder: Path, keep_implicit: bool = False) -> pd.DataFrame:
    path = require_file(folder / "BX-Book-Ratings.csv", HOW_TO_GET)
    rows = _rows(path, 3)
    _check_header(path, rows[0][1], "User-ID")
    _no_rows(path, rows, "ratings")
    columns: dict[str, list] = {"user_id": [], "item_id": [], "rating": [], "timestamp": [], "line": []}
    for order, (number, row) in enumerate(rows[1:]):
        if len(row) != 3:
            raise DataError(f"{path} line {number}: expected 3 `;`-separated fields, got {len(row)}: {row!r}")
        rating = float(convert(path, number, "Book-Rating", row[2], float))
        check_rating(path, number, rating, 0, 10)
        if rating == 0 and not keep_implicit:
            continue
        columns["user_id"].append(row[0].strip())
        columns["item_id"].append(row[1].strip().upper())
        columns["rating"].append(rating)
        columns["timestamp"].append(order)
        columns["line"].append(number)
    if not columns["user_id"]:
        raise DataError(f"{path}: no explicit ratings left (set `data.keep_implicit=true` to keep rating 0)")
    frame = pd.DataFrame(columns)
    frame.attrs["source"] = str(path)
    return frame


def load_bookcrossing_items(folder: Path) -> pd.DataFrame:
    path = require_file(folder / "BX-Books.csv", HOW_TO_GET)
    rows = _rows(path, 5)
    _check_header(path, rows[0][1], "ISBN")
    _no_rows(path, rows, "items")
    records = []
    for number, row in rows[1:]:
        if len(row) < 5:
            raise DataError(f"{path} line {number}: expected at least 5 `;`-separated fields, got {len(row)}")
        records.append({"item_id": row[0].strip().upper(), "title": row[1].strip(), "genres": row[2].strip()})
    frame = pd.DataFrame(records, columns=["item_id", "title", "genres"]).drop_duplicates("item_id")
    frame.attrs["source"] = str(path)
    return frame


def load_bookcrossing(
    name: str = "bookcrossing", root: str | Path | None = None, *, keep_implicit: bool = False,
    fetch: bool | str = False, like_threshold: float = 4.0, rating_scale: tuple[float, float] = (1.0, 5.0), kcore_k: int = 0,
    item_noun: str = "item", unknown_items: str = "error",
) -> RatingData:
    """What `conf/data/bookcrossing.yaml` instantiates: `<root>/bookcrossing/BX-*.csv` as RatingData."""
    refuse_fetch("bookcrossing", fetch)
    folder = resolve_root(root) / SOURCE["folder"]
    ratings = load_bookcrossing_ratings(folder, keep_implicit)
    return finish(name, ratings, load_bookcrossing_items(folder), like_threshold=like_threshold, rating_scale=rating_scale, kcore_k=kcore_k,
                  item_noun=item_noun, unknown_items=unknown_items)
