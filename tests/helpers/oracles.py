"""Independent parses of each data format, for the fuzzers: a few lines of plain Python per format,
written from the documented rules (docs/protocols.md "Data files", each loader's docstring), not
from the loaders' code.

Each oracle returns the counts a load must give, `(ratings, users, items)` after the documented
processing (k-core off, unknown items an error, a repeated (user, item) pair kept once), or
INVALID when the rules refuse the input, or UNKNOWN where a plain parse cannot decide (csv quoting
beyond `"a";"b"`, number syntax beyond plain decimals, quoted atomic fields): there only the
error contract is checked.
"""

from __future__ import annotations

import codecs
import json
import math
import re

INVALID = None
UNKNOWN = "unknown"
MAX_STAMP = 2**63  # a timestamp must fit the int64 column it is stored in
PLAIN_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
BX_LINE = re.compile(r'"[^"\\]*"(;"[^"\\]*")*')
ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")


def _utf8_char_in(raw: bytes) -> bool:
    """Whether `raw` holds at least one well-formed multi-byte UTF-8 character."""
    for i, lead in enumerate(raw):
        width = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0
        if width:
            try:
                raw[i:i + width].decode("utf-8")
                return True
            except UnicodeDecodeError:
                pass
    return False


def text_of(raw: bytes, legacy: str | None, mixed_ok: bool = False) -> str | None:
    """The file's text under the documented rules, or None when they refuse it."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # the UTF-32 LE mark starts like UTF-16 LE's
        return None
    bom = raw.startswith(codecs.BOM_UTF8)
    raw = raw[3:] if bom else raw
    if raw.startswith(codecs.BOM_UTF32_BE) or b"\x00" in raw or not raw or raw[-1:] not in (b"\n", b"\r"):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        if bom or legacy is None or (_utf8_char_in(raw) and not mixed_ok):
            return None
        text = raw.decode(legacy)
    text = text.replace("\r\n", "\n")
    return None if "\r" in text else text


def counts(pairs: list[tuple[str, str]]) -> tuple[int, int, int]:
    distinct = set(pairs)
    return len(distinct), len({u for u, _ in distinct}), len({i for _, i in distinct})


def _stamp_ok(value: float) -> bool:
    try:
        return 0 <= float(value) < MAX_STAMP  # compared as a float, as the loaders do
    except OverflowError:  # an integer past the float range
        return False


def movielens(ratings: bytes, items: bytes, sep: str, item_width: int):
    """u.data + u.item (`\\t`, 24 `|` fields) or ratings.dat + movies.dat (`::`, 3 fields)."""
    r_text, i_text = text_of(ratings, "latin-1"), text_of(items, "latin-1")
    if r_text is None or i_text is None:
        return INVALID
    pairs = []
    for line in filter(str.strip, r_text.split("\n")):
        fields = line.split(sep)
        if len(fields) != 4:
            return INVALID
        try:
            rating, stamp = float(fields[2]), int(fields[3])
        except ValueError:
            return INVALID
        if not (1 <= rating <= 5 and _stamp_ok(stamp)):
            return INVALID
        pairs.append((fields[0].strip(), fields[1].strip()))
    rows = [line.split("|" if sep == "\t" else sep) for line in filter(str.strip, i_text.split("\n"))]
    if not pairs or not rows or any(len(row) != item_width for row in rows):
        return INVALID
    known = {row[0].strip() for row in rows}
    return counts(pairs) if all(item in known for _, item in pairs) else INVALID


def _bx_rows(raw: bytes, first: str):
    """Rows (fields) after the header of a Book-Crossing file, INVALID or UNKNOWN."""
    text = text_of(raw, "latin-1", mixed_ok=True)
    if text is None:
        return INVALID
    lines = [line for line in text.split("\n") if line != ""]
    if not all(BX_LINE.fullmatch(line) for line in lines):
        return UNKNOWN
    rows = [line[1:-1].split('";"') for line in lines]
    return rows[1:] if len(rows) > 1 and rows[0][0].strip() == first else INVALID


def bookcrossing(ratings: bytes, books: bytes):
    rows, book_rows = _bx_rows(ratings, "User-ID"), _bx_rows(books, "ISBN")
    if rows is INVALID or book_rows is INVALID or UNKNOWN in (rows, book_rows):
        return INVALID if INVALID in (rows, book_rows) else UNKNOWN
    if any(len(row) != 3 for row in rows) or any(len(row) < 5 for row in book_rows):
        return INVALID
    pairs = []
    for user, item, rating in rows:
        if not PLAIN_NUMBER.fullmatch(rating):
            return UNKNOWN if _float_or_none(rating) is not None else INVALID
        if not 0 <= float(rating) <= 10:
            return INVALID
        if float(rating) != 0:
            pairs.append((user.strip(), item.strip().upper()))
    known = {row[0].strip().upper() for row in book_rows}
    return counts(pairs) if pairs and all(i in known for _, i in pairs) else INVALID


def _float_or_none(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _json_records(raw: bytes):
    """Each non-blank line's JSON value (UTF-8; a UTF-8 mark on line 1 skipped), or INVALID."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return INVALID
    raw = raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw
    records = []
    for line in raw.split(b"\n"):
        try:
            text = line.decode("utf-8")
            if text.strip():
                records.append(json.loads(text))
        except ValueError:  # not UTF-8, not JSON
            return INVALID
    return records


def amazon(reviews: bytes, meta: bytes):
    records, metas = _json_records(reviews), _json_records(meta)
    if records is INVALID or metas is INVALID or not records or not metas:
        return INVALID
    pairs = []
    for record in records:
        if not isinstance(record, dict) or not {"reviewerID", "asin", "overall", "unixReviewTime"} <= set(record):
            return INVALID
        rating, stamp = _float_or_none(record["overall"]), _float_or_none(record["unixReviewTime"])
        if rating is None or stamp is None or not 1 <= rating <= 5 or not math.isfinite(stamp):
            return INVALID
        try:
            if not _stamp_ok(int(record["unixReviewTime"])):
                return INVALID
        except ValueError:  # "5.5" is a float, not an int
            return INVALID
        pairs.append((str(record["reviewerID"]), str(record["asin"])))
    known = set()
    for record in metas:
        if not isinstance(record, dict) or "asin" not in record:
            return INVALID
        if record.get("category") and not isinstance(record["category"], list):
            return INVALID
        known.add(str(record["asin"]))
    return counts(pairs) if all(i in known for _, i in pairs) else INVALID


def _atomic_rows(raw: bytes, original: bytes, required: tuple[str, ...]):
    """(column names, rows) of an atomic file, INVALID, or UNKNOWN (a changed file with quotes)."""
    text = text_of(raw, None)
    if text is None:
        return INVALID
    if '"' in text and raw != original:
        return UNKNOWN
    text = re.sub(r'"[^"]*"', "quoted", text)  # the undamaged file's quoted fields open and close in one field
    lines = [line.split("\t") for line in text.split("\n") if line.strip()]
    if not lines:
        return INVALID
    names = []
    for column in lines[0]:
        name, sep, kind = column.strip().rpartition(":")
        if not sep or not name or kind not in ATOMIC_TYPES:
            return INVALID
        names.append(name)
    if len(set(names)) < len(names) or not set(required) <= set(names) or len(lines) < 2 or any(len(row) != len(names) for row in lines[1:]):
        return INVALID
    return names, lines[1:]


def _atomic_number(value: str):
    if PLAIN_NUMBER.fullmatch(value):
        return float(value)
    return UNKNOWN if _float_or_none(value) is not None else INVALID


def atomic(inter: bytes, item: bytes, originals: tuple[bytes, bytes]):
    """`<name>.inter` + `<name>.item` (title column `movie_title`); rating not required, timestamp optional.
    `originals`: the files before mutation (a quoted field in a changed file is UNKNOWN)."""
    parsed = _atomic_rows(inter, originals[0], ("user_id", "item_id"))
    items = _atomic_rows(item, originals[1], ("item_id", "movie_title"))
    if INVALID in (parsed, items) or UNKNOWN in (parsed, items):
        return INVALID if INVALID in (parsed, items) else UNKNOWN
    names, rows = parsed
    pairs = []
    for row in rows:
        fields = dict(zip(names, row))
        for column in ("rating", "timestamp"):
            if column in fields:
                value = _atomic_number(fields[column])
                if value in (INVALID, UNKNOWN):
                    return value
                if column == "timestamp" and not _stamp_ok(value):
                    return INVALID
                if column == "rating" and not 1.0 <= value <= 5.0:  # the loader's default data.rating_scale
                    return INVALID
        if not fields["user_id"].strip() or not fields["item_id"].strip():
            return INVALID
        pairs.append((fields["user_id"], fields["item_id"]))
    known = {dict(zip(items[0], row))["item_id"] for row in items[1]}
    return counts(pairs) if all(i in known for _, i in pairs) else INVALID
