"""Data files cut short: every loader refuses a file that ends inside a line, naming the file.

Each case writes a small dataset in the loader's real format, cuts one of its files at a
byte offset (inside a line, right after a non-ASCII character, inside a quoted field) and
loads it through `load_dataset`, the path every run takes. A cut exactly at a line end is a
shorter but well-formed file and loads (tested too). `data=synthetic` reads no file.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rankexp.data import load_dataset
from rankexp.errors import DataError

UITEM_GENRES = "|0" * 19


def _ml100k(root: Path) -> tuple[str, dict]:
    folder = root / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_bytes(b"1\t543\t5\t881250949\n1\t2\t3\t881250950\n2\t543\t4\t891717742\n")
    items = (f"2|GoldenEye (1995)|01-Jan-1995||u{UITEM_GENRES}\n"
             f"543|Misérables, Les (1995)|01-Jan-1995||u{UITEM_GENRES}\n")
    (folder / "u.item").write_bytes(items.encode("latin-1"))
    return "ml100k", {}


def _ml1m(root: Path) -> tuple[str, dict]:
    folder = root / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_bytes(b"1::73::5::978300760\n1::2::3::978302109\n2::73::4::978298413\n")
    (folder / "movies.dat").write_bytes("2::Jumanji (1995)::Adventure\n73::Misérables, Les (1995)::Drama|Musical\n"
                                        .encode("latin-1"))
    return "ml1m", {}


def _bookcrossing(root: Path) -> tuple[str, dict]:
    folder = root / "bookcrossing"
    folder.mkdir()
    ratings = '"User-ID";"ISBN";"Book-Rating"\n"7";"0155061224";"5"\n"8";"0446520802";"9"\n"9";"0446520802";"10"\n'
    (folder / "BX-Book-Ratings.csv").write_bytes(ratings.encode("latin-1"))
    books = ('"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher"\n'
             '"0155061224";"Rites of Passage; a Novel";"Judith Rae";"2001";"Heinle"\n'
             '"0446520802";"Les Misérables";"Victor Hugo";"1862";"Pub"\n')
    (folder / "BX-Books.csv").write_bytes(books.encode("latin-1"))
    return "bookcrossing", {"like_threshold": 8.0, "rating_scale": (0.0, 10.0)}


def _amazon(root: Path, gz: bool) -> tuple[str, dict]:
    folder = root / "amazon"
    folder.mkdir()
    reviews = [{"reviewerID": "U1", "asin": "B1", "overall": 5.0, "unixReviewTime": 10},
               {"reviewerID": "U2", "asin": "B1", "overall": 2.0, "unixReviewTime": 11}]
    text = "".join(json.dumps(r) + "\n" for r in reviews).encode()
    meta = (json.dumps({"asin": "B1", "title": "Misérables", "category": ["Jazz"]}, ensure_ascii=False) + "\n").encode()
    if gz:
        (folder / "Music_5.json.gz").write_bytes(gzip.compress(text))
        (folder / "meta_Music.json.gz").write_bytes(gzip.compress(meta))
    else:
        (folder / "Music_5.json").write_bytes(text)
        (folder / "meta_Music.json").write_bytes(meta)
    return "amazon", {"category": "Music"}


WRITERS: dict[str, Callable[[Path], tuple[str, dict]]] = {
    "ml100k": _ml100k, "ml1m": _ml1m, "bookcrossing": _bookcrossing,
    "amazon": lambda root: _amazon(root, gz=False), "amazon_gz": lambda root: _amazon(root, gz=True),
}
TEXT = ("inside-the-last-line", "last-character-lost")
ACCENT = (*TEXT, "inside-a-non-ascii-char")
GZIP = ("inside-the-stream", "before-the-crc")
# dataset -> {file: the cuts that apply to it}
FILES = {
    "ml100k": {"ml-100k/u.data": TEXT, "ml-100k/u.item": ACCENT},
    "ml1m": {"ml-1m/ratings.dat": TEXT, "ml-1m/movies.dat": ACCENT},
    "bookcrossing": {"bookcrossing/BX-Book-Ratings.csv": (*TEXT, "inside-a-quoted-field"),
                     "bookcrossing/BX-Books.csv": (*ACCENT, "inside-a-quoted-field")},
    "amazon": {"amazon/Music_5.json": TEXT, "amazon/meta_Music.json": ACCENT},
    "amazon_gz": {"amazon/Music_5.json.gz": GZIP, "amazon/meta_Music.json.gz": GZIP},
}


def _offsets(raw: bytes, compressed: bool) -> dict[str, int]:
    """Byte offsets to cut at, chosen from the file's own bytes."""
    if compressed:
        return {"inside-the-stream": len(raw) // 2, "before-the-crc": len(raw) - 4}
    last_start = raw.rstrip(b"\n").rfind(b"\n") + 1
    cuts = {"inside-the-last-line": last_start + (len(raw) - last_start) // 2, "last-character-lost": len(raw) - 2}
    for accent in (b"\xc3\xa9", b"\xe9"):  # UTF-8 é (cut between its bytes), latin-1 é (cut right after it)
        at = raw.find(accent)
        if at >= 0:
            cuts["inside-a-non-ascii-char"] = at + 1
            break
    quote = raw.rfind(b';"')
    if quote >= 0:
        cuts["inside-a-quoted-field"] = quote + 3
    return cuts


CASES = [(name, file, cut) for name, files in FILES.items() for file, cuts in files.items() for cut in cuts]


@pytest.mark.parametrize(("name", "file", "cut"), CASES, ids=[f"{n}-{Path(f).name}-{c}" for n, f, c in CASES])
def test_cut_file_is_a_clear_error(tmp_path, name, file, cut):
    dataset, kwargs = WRITERS[name](tmp_path)
    path = tmp_path / file
    raw = path.read_bytes()
    offsets = _offsets(raw, compressed=file.endswith(".gz"))
    load_dataset(dataset, tmp_path, **kwargs)  # the whole file loads
    path.write_bytes(raw[: offsets[cut]])
    with pytest.raises(DataError, match=str(path.name).replace(".", r"\.")) as caught:
        load_dataset(dataset, tmp_path, **kwargs)
    assert "\n" not in str(caught.value)


def test_cut_at_a_line_end_is_a_shorter_well_formed_file(tmp_path):
    _ml100k(tmp_path)
    path = tmp_path / "ml-100k" / "u.data"
    raw = path.read_bytes()
    path.write_bytes(raw[: raw.index(b"\n") + 1])
    assert len(load_dataset("ml100k", tmp_path).ratings) == 1
