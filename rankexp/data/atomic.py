"""RecBole atomic files: every dataset RecBole distributes, without new code (`data=atomic`).

    python -m rankexp.run +experiment=rerank_ml100k data=atomic data.path=~/recbole/dataset data.name=ml-1m

`<path>/<name>/<name>.inter` (or `<path>/<name>.inter`): a tab-separated file whose first line
names each column and its type, `user_id:token  item_id:token  rating:float  timestamp:float`.
`<name>.item`: `item_id:token` plus a title column (and optionally `data.genre_field`). Types are
RecBole's: token, token_seq, float, float_seq. The title column is `data.title_field` when set; else
RecBole's own name for it (`movie_title` in its ML sets, `title` in Amazon, `book_title` in
Book-Crossing, ...), else the only token_seq text column; which one is logged, and a header that
leaves it open is a DataError naming its columns, so RecBole's files load without flags.

- No `rating` column (implicit feedback): every interaction gets `data.implicit_rating`; such
  data suits `protocol=rerank_topk` (the explicit-list protocol needs graded ratings).
- No `timestamp` column: the file's line order is the time order.
- A field holding a tab is written in double quotes (`"Title\twith tab"`), csv-style; RecBole's
  own files never quote, and a quote inside a field is kept as is.
- Text is UTF-8, as RecBole reads it (a UTF-8 BOM and CRLF line ends are accepted, `text_files`);
  a header or line whose fields another separator splits says "fields are separated by spaces,
  expected tab".

Every malformed input is a DataError naming the file, the line and what is expected. Parsing is
plain Python over lines (like the MovieLens loaders), so errors can name the line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from rankexp.data.dataset import finish
from rankexp.data.parsing import check_rating, check_timestamps
from rankexp.data.text_files import read_lines, separator_hint
from rankexp.errors import DataError

log = logging.getLogger(__name__)
TYPES = ("token", "token_seq", "float", "float_seq")
INTER_EXAMPLE = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
# RecBole's names for an item's title (ml-*: movie_title, Amazon / Steam: title, Book-Crossing: book_title,
# Yelp: item_name, ...) and for a genre-like token_seq column that is never the title.
TITLE_FIELDS = ("movie_title", "title", "book_title", "item_name", "app_name", "name")
GENRE_FIELDS = ("class", "genre", "genres", "categories", "category", "tags")


def atomic_file(path: str | Path, name: str, suffix: str) -> Path | None:
    """`<path>/<name>/<name>.<suffix>` (RecBole's layout) or `<path>/<name>.<suffix>`; None when neither exists."""
    base = Path(path).expanduser()
    for candidate in (base / name / f"{name}.{suffix}", base / f"{name}.{suffix}"):
        if candidate.is_file():
            return candidate
    return None


def _fields(path: Path, number: int, line: str) -> list[str]:
    """Tab-split `line`; a field that starts and ends in double quotes may hold tabs (`""` is one quote).

    Hand-written rather than csv: RecBole never quotes, so a title like `"Weird" Al` must stay as is,
    which csv's quoting rules refuse. A quote that opens a field and never closes is literal text.
    """
    pieces, out, i = line.split("\t"), [], 0
    while i < len(pieces):
        piece = pieces[i]
        if piece.startswith('"') and not (len(piece) > 1 and piece.endswith('"')):
            for j in range(i + 1, len(pieces)):
                if pieces[j].endswith('"'):
                    out.append("\t".join(pieces[i:j + 1])[1:-1].replace('""', '"'))
                    i = j + 1
                    break
            else:  # never closed: literal
                out.extend(pieces[i:])
                break
            continue
        out.append(piece[1:-1].replace('""', '"') if len(piece) > 1 and piece.startswith('"') and piece.endswith('"')
                   else piece)
        i += 1
    return out


def _typed(parts: list[str]) -> bool:
    return all(part.strip().rpartition(":")[2] in TYPES for part in parts)


def read_header(path: Path, number: int, line: str) -> list[tuple[str, str]]:
    """[(field name, type)] of the header line; another separator, an unknown type or a field without one is named."""
    hint = separator_hint(line, "\t", _typed)
    if hint:
        raise DataError(f"{path} line {number}: {hint}; RecBole atomic files separate fields by tabs, "
                        f"e.g. {INTER_EXAMPLE!r}")
    header = []
    for column in _fields(path, number, line):
        name, sep, kind = column.strip().rpartition(":")
        if not sep or not name:
            raise DataError(f"{path} line {number}: header field {column!r} has no type; write `name:type` with "
                            f"type one of {', '.join(TYPES)} (e.g. {INTER_EXAMPLE!r})")
        if kind not in TYPES:
            raise DataError(f"{path} line {number}: header field {column!r} has unknown type {kind!r}; "
                            f"RecBole types are {', '.join(TYPES)}")
        if name in dict(header):
            raise DataError(f"{path} line {number}: the header names column {name!r} twice; each column once")
        header.append((name, kind))
    return header


def read_atomic(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """The file as strings, one column per header field, plus `line`; `required` fields must be in the header."""
    rows, lines, header = [], [], None
    for number, line in read_lines(path, None):
        if header is None:
            header = read_header(path, number, line)
            names = [n for n, _ in header]
            missing = [f for f in required if f not in names]
            if missing:
                raise DataError(f"{path} line {number}: the header lacks {', '.join(missing)}; it has "
                                f"{', '.join(f'{n}:{k}' for n, k in header)}; expected e.g. {INTER_EXAMPLE!r}")
            continue
        fields = _fields(path, number, line)
        if len(fields) != len(header):
            names, width = ", ".join(n for n, _ in header), len(header)
            hint = separator_hint(line, "\t", lambda parts, width=width: len(parts) == width)
            raise DataError(f"{path} line {number}: {hint} ({width} fields: {names})" if hint else
                            f"{path} line {number}: {len(fields)} tab-separated fields, expected {width} ({names})")
        rows.append(fields)
        lines.append(number)
    if header is None:
        raise DataError(f"{path}: no header line; the first line names the columns, e.g. {INTER_EXAMPLE!r}")
    if not rows:
        noun = "ratings" if path.suffix == ".inter" else "items"
        raise DataError(f"no {noun} in {path}: it holds its header line and no rows")
    frame = pd.DataFrame(rows, columns=[n for n, _ in header], dtype=object)
    frame["line"] = lines
    frame.attrs["types"] = dict(header)
    return frame


def _floats(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    for bad, what in ((values.isna(), "a number"), (~np.isfinite(values.fillna(0.0)), "a finite number")):
        if bad.any():
            row = frame[bad].iloc[0]
            raise DataError(f"{path} line {int(row['line'])}: `{column}` must be {what}, got {row[column]!r}")
    return values.to_numpy(dtype=np.float64)


def load_atomic_ratings(path: Path, implicit_rating: float, scale: tuple[float, float]) -> pd.DataFrame:
    """Raw ratings [user_id, item_id, rating, timestamp, line] of a `.inter` file; a rating column's values
    must be finite and on `data.rating_scale`, as every other loader checks."""
    frame = read_atomic(path, ("user_id", "item_id"))
    out = pd.DataFrame({"user_id": frame["user_id"].astype(str), "item_id": frame["item_id"].astype(str)})
    for column in ("user_id", "item_id"):
        empty = out[column].str.strip() == ""
        if empty.any():
            raise DataError(f"{path} line {int(frame['line'][empty].iloc[0])}: `{column}` is empty")
    if "rating" in frame:
        out["rating"] = _floats(frame, "rating", path)
        outside = ~out["rating"].between(*scale)
        if outside.any():
            check_rating(path, int(frame["line"][outside].iloc[0]), float(out["rating"][outside].iloc[0]), *scale)
    else:
        log.info("%s has no rating column: implicit feedback, every interaction rated %g", path, implicit_rating)
        out["rating"] = float(implicit_rating)
    stamps = _floats(frame, "timestamp", path) if "timestamp" in frame else frame["line"].to_numpy()
    check_timestamps(path, stamps, frame["line"].to_numpy())
    out["timestamp"] = stamps.astype(np.int64)
    out["line"] = frame["line"].to_numpy()
    out.attrs["source"] = str(path)
    return out


def title_column(path: Path, types: dict[str, str], genre_field: str | None) -> tuple[str, str]:
    """(the title column, why it was chosen) of an .item header when `data.title_field` is unset.

    RecBole names the title differently per dataset, so a fixed default made its own files fail.
    One of its conventional names wins; with none, the only token_seq column that is neither the
    genre field nor a conventional genre name. Anything else is ambiguous and must be named.
    """
    known = [name for name in types if name in TITLE_FIELDS]
    if len(known) == 1:
        return known[0], "RecBole's title name"
    text = [name for name, kind in types.items()
            if kind == "token_seq" and name != genre_field and name not in GENRE_FIELDS]
    if not known and len(text) == 1:
        return text[0], "the only token_seq text column"
    found = ("several title columns " + ", ".join(known) if known
             else "no title column (" + ("token_seq columns " + ", ".join(text) if text else "no token_seq column")
             + ")")
    columns = ", ".join(f"{name}:{kind}" for name, kind in types.items())
    raise DataError(f"{path}: {found}; it has {columns}; set `data.title_field` to the .item file's title column")


def load_atomic_items(path: Path, title_field: str | None, genre_field: str | None) -> pd.DataFrame:
    """Item table [item_id, title, genres] of a `.item` file; `title_field` None: detected (`title_column`)."""
    required = ("item_id",) + ((title_field,) if title_field else ()) + ((genre_field,) if genre_field else ())
    try:
        frame = read_atomic(path, required)
    except DataError as error:
        if "the header lacks" in str(error):
            raise DataError(f"{error} (set `data.title_field` / `data.genre_field` to the .item file's columns)") \
                from error
        raise
    why = "data.title_field"
    if not title_field:
        title_field, why = title_column(path, frame.attrs["types"], genre_field)
    log.info("%s: titles from column %r (%s)", path, title_field, why)
    genres = frame[genre_field].astype(str).str.replace(" ", "|") if genre_field else ""
    items = pd.DataFrame({"item_id": frame["item_id"].astype(str), "title": frame[title_field].astype(str),
                          "genres": genres})
    items.attrs["source"] = str(path)
    items.attrs["title_field"] = title_field
    return items


def load_atomic_dataset(name: str, path: str | None = None, *, title_field: str | None = None,
                        genre_field: str | None = None, require_titles: bool = True, implicit_rating: float = 1.0,
                        like_threshold: float = 4.0, rating_scale: tuple[float, float] = (1.0, 5.0),
                        kcore_k: int = 0, item_noun: str = "item", unknown_items: str = "error"):
    """What `conf/data/atomic.yaml` instantiates: the atomic files of `name` under `path`, as RatingData."""
    if not path:
        raise DataError("`data.path` is required for `data=atomic`: the folder holding <name>/<name>.inter "
                        "(RecBole's dataset folder)")
    inter = atomic_file(path, name, "inter")
    if inter is None:
        raise DataError(f"no {name}.inter under {Path(path).expanduser()} (looked for {name}/{name}.inter and "
                        f"{name}.inter); set `data.path` and `data.name` to a RecBole atomic dataset")
    ratings = load_atomic_ratings(inter, implicit_rating, tuple(rating_scale))
    item_file = atomic_file(path, name, "item")
    if item_file is not None:
        items = load_atomic_items(item_file, title_field, genre_field)
    elif require_titles:
        raise DataError(f"no {name}.item beside {inter}: the prompts show item titles; add the .item file with "
                        f"item_id:token and {title_field or 'movie_title'}:token_seq, or set "
                        "`data.require_titles=false` for runs without an LLM (titles are then the item ids)")
    else:
        ids = pd.unique(ratings["item_id"])
        items = pd.DataFrame({"item_id": ids, "title": ids, "genres": ""})
        items.attrs["source"] = "(item ids; no .item file)"
    return finish(name, ratings, items, like_threshold=like_threshold, rating_scale=rating_scale, kcore_k=kcore_k,
                  item_noun=item_noun, unknown_items=unknown_items)
