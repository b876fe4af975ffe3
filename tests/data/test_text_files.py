"""Text files as people save them: every loader decodes them right or refuses them in one line naming what is wrong.

Each loader gets a small dataset in its real format (MovieLens 100K / 1M, Book-Crossing's `;` CSV,
Amazon's JSON lines, RecBole atomic files) whose item file holds an accented title, then the same
files re-saved as UTF-8, with a byte-order mark, with CRLF line ends, with another separator, with a
header and no rows, and with impossible timestamps (docs/protocols.md, "Data files"). Amazon's
JSON has no separator to get wrong and reads a CR as whitespace, so it sits out those two cases;
Book-Crossing has no timestamps.
"""

from __future__ import annotations

import codecs
import json
import logging
from pathlib import Path

import pytest

from rankexp.data import load_dataset
from rankexp.data.atomic import load_atomic_dataset
from rankexp.errors import DataError

TITLE = "Misérables, Les (1995)"
FLAGS = "|0" * 19
REVIEWS = [("U1", "B1", 5.0, 881250949), ("U1", "B2", 3.0, 881250950), ("U2", "B1", 4.0, 891717742)]
# loader -> ({file: text}, ratings file, item id of TITLE, the line holding timestamp 881250950, load kwargs)
DATASETS = {
    "ml100k": ({"ml-100k/u.data": "1\t543\t5\t881250949\n1\t2\t3\t881250950\n2\t543\t4\t891717742\n",
                "ml-100k/u.item": f"2|GoldenEye (1995)|01-Jan-1995||u{FLAGS}\n543|{TITLE}|01-Jan-1995||u{FLAGS}\n"},
               "ml-100k/u.data", "543", 2, {}),
    "ml1m": ({"ml-1m/ratings.dat": "1::73::5::881250949\n1::2::3::881250950\n2::73::4::891717742\n",
              "ml-1m/movies.dat": f"2::Jumanji (1995)::Adventure\n73::{TITLE}::Drama|Musical\n"},
             "ml-1m/ratings.dat", "73", 2, {}),
    "bookcrossing": ({"bookcrossing/BX-Book-Ratings.csv": '"User-ID";"ISBN";"Book-Rating"\n"7";"0155061224";"5"\n'
                                                         '"8";"0446520802";"9"\n"9";"0446520802";"10"\n',
                      "bookcrossing/BX-Books.csv": '"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";'
                                                   '"Publisher"\n"0155061224";"Rites of Passage";"Judith Rae";'
                                                   f'"2001";"Heinle"\n"0446520802";"{TITLE}";"Victor Hugo";"1862";"P"\n'},
                     "bookcrossing/BX-Book-Ratings.csv", "0446520802", None,
                     {"like_threshold": 8.0, "rating_scale": (0.0, 10.0)}),
    "amazon": ({"amazon/Music_5.json": "".join(json.dumps({"reviewerID": u, "asin": i, "overall": r,
                                                           "unixReviewTime": t}) + "\n" for u, i, r, t in REVIEWS),
                "amazon/meta_Music.json": json.dumps({"asin": "B1", "title": TITLE}, ensure_ascii=False) + "\n"
                + json.dumps({"asin": "B2", "title": "Kind of Blue"}) + "\n"},
               "amazon/Music_5.json", "B1", 2, {"category": "Music"}),
    "atomic": ({"toy/toy.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                 "1\t543\t5\t881250949\n1\t2\t3\t881250950\n2\t543\t4\t891717742\n",
                "toy/toy.item": f"item_id:token\tmovie_title:token_seq\n2\tGoldenEye (1995)\n543\t{TITLE}\n"},
               "toy/toy.inter", "543", 3, {}),
}
LEGACY = {"ml100k": "latin-1", "ml1m": "latin-1", "bookcrossing": "latin-1", "amazon": "utf-8", "atomic": "utf-8"}
LOADERS = list(DATASETS)
TEXT_LOADERS = [name for name in LOADERS if name != "amazon"]  # JSON has no separator, and reads a CR as whitespace
TIMED = [name for name in LOADERS if name != "bookcrossing"]  # Book-Crossing has no timestamps


def write(root: Path, loader: str, encoding: str | None = None, edit=None, only: str | None = None) -> dict[str, Path]:
    """The loader's files under `root`, in `encoding` (its official one by default); `edit(text) -> bytes | str`
    rewrites `only` (the ratings file by default), or every file with `only="all"`."""
    files, ratings = DATASETS[loader][:2]
    paths = {}
    for name, text in files.items():
        path = paths[name] = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = edit(text) if edit and (only == "all" or name == (only or ratings)) else text
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding or LEGACY[loader]))
    return paths


def load(loader: str, root: Path):
    if loader == "atomic":
        return load_atomic_dataset("toy", str(root))
    return load_dataset(loader, root, **DATASETS[loader][4])


def refusal(loader: str, root: Path) -> str:
    with pytest.raises(DataError) as caught:
        load(loader, root)
    message = str(caught.value)
    assert "\n" not in message
    return message


def title(data, loader: str) -> str:
    return data.items.set_index("item_id").loc[DATASETS[loader][2], "title"]


def same(a, b) -> bool:
    return a.ratings.equals(b.ratings) and a.items.equals(b.items) and list(a.user_ids) == list(b.user_ids)


def item_file(loader: str) -> str:
    return next(name for name in DATASETS[loader][0] if name != DATASETS[loader][1])


@pytest.mark.parametrize("loader", LOADERS)
def test_an_item_file_saved_as_utf8_keeps_its_accents(tmp_path, loader):
    write(tmp_path, loader, encoding="utf-8")
    assert title(load(loader, tmp_path), loader) == TITLE  # not 'MisÃ©rables'


@pytest.mark.parametrize("loader", ["ml100k", "ml1m", "bookcrossing"])
def test_the_official_latin1_files_still_decode(tmp_path, loader):
    paths = write(tmp_path, loader)
    assert "é".encode("latin-1") in paths[item_file(loader)].read_bytes()
    assert title(load(loader, tmp_path), loader) == TITLE


@pytest.mark.parametrize("loader", ["amazon", "atomic"])
def test_a_utf8_only_file_in_latin1_is_refused_naming_line_and_byte(tmp_path, loader):
    write(tmp_path, loader, edit=lambda text: text.encode("latin-1"), only=item_file(loader))
    line = 1 if loader == "amazon" else 3
    assert f"{item_file(loader).split('/')[1]} line {line}: byte 0xe9 is not UTF-8; this file must be UTF-8" \
        in refusal(loader, tmp_path)


@pytest.mark.parametrize("loader", ["ml100k", "ml1m"])
def test_a_movielens_file_mixing_utf8_and_latin1_is_refused(tmp_path, loader):
    def mixed(text: str) -> bytes:
        first, rest = text.split("\n", 1)
        return (first.replace("(1995)", "(1995) é") + "\n").encode("utf-8") + rest.encode("latin-1")

    write(tmp_path, loader, edit=mixed, only=item_file(loader))
    assert ("line 2: byte 0xe9 is not UTF-8, yet line 1 holds UTF-8 text ('é'): the file mixes UTF-8 and latin-1"
            in refusal(loader, tmp_path))


def test_bookcrossing_mixing_encodings_like_its_dump_loads_as_latin1_with_a_warning(tmp_path, caplog):
    write(tmp_path, "bookcrossing", edit=lambda text: text.replace("Rites", "RitÃ©s").encode("latin-1"),
          only="bookcrossing/BX-Books.csv")  # 'Ã©' in latin-1 is UTF-8's é: the dump's own mojibake
    with caplog.at_level(logging.WARNING, logger="rankexp.data.text_files"):
        data = load("bookcrossing", tmp_path)
    assert title(data, "bookcrossing") == TITLE
    assert "the file mixes UTF-8 and latin-1" in caplog.text


@pytest.mark.parametrize("loader", LOADERS)
def test_a_utf8_byte_order_mark_is_skipped_and_logged(tmp_path, loader, caplog):
    plain = load(loader, write(tmp_path / "plain", loader) and tmp_path / "plain")
    write(tmp_path / "bom", loader, edit=lambda text: codecs.BOM_UTF8 + text.encode("utf-8"))
    with caplog.at_level(logging.INFO, logger="rankexp.data.text_files"):
        assert same(load(loader, tmp_path / "bom"), plain)
    assert "starts with a UTF-8 byte-order mark (BOM)" in caplog.text


def test_a_utf8_byte_order_mark_on_latin1_text_is_refused(tmp_path):
    write(tmp_path, "ml100k", edit=lambda text: codecs.BOM_UTF8 + text.encode("latin-1"), only="ml-100k/u.item")
    assert "u.item line 2: byte 0xe9 is not UTF-8, yet the file starts with a UTF-8 byte-order mark (BOM)" \
        in refusal("ml100k", tmp_path)


@pytest.mark.parametrize("loader", LOADERS)
def test_utf16_is_refused_naming_its_byte_order_mark(tmp_path, loader):
    write(tmp_path, loader, edit=lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert "line 1: starts with a UTF-16 byte-order mark (BOM), so it is UTF-16 text" in refusal(loader, tmp_path)


@pytest.mark.parametrize("loader", TEXT_LOADERS)
def test_utf16_without_a_byte_order_mark_is_refused_naming_its_nul_bytes(tmp_path, loader):
    write(tmp_path, loader, edit=lambda text: text.encode("utf-16-le"))
    assert "line 1: holds NUL bytes, so it is UTF-16/32 text or not text at all" in refusal(loader, tmp_path)


@pytest.mark.parametrize("loader", TEXT_LOADERS)
def test_crlf_line_ends_are_read_as_lf_and_named(tmp_path, loader, caplog):
    plain = load(loader, write(tmp_path / "plain", loader) and tmp_path / "plain")
    write(tmp_path / "crlf", loader, edit=lambda text: text.replace("\n", "\r\n"), only="all")
    with caplog.at_level(logging.INFO, logger="rankexp.data.text_files"):
        assert same(load(loader, tmp_path / "crlf"), plain)
    assert "CRLF (Windows) line endings; read as LF" in caplog.text


@pytest.mark.parametrize("loader", TEXT_LOADERS)
def test_a_carriage_return_without_line_feed_is_refused_naming_the_line(tmp_path, loader):
    write(tmp_path, loader, edit=lambda text: text.replace("\n", "\r", 2).replace("\r", "\n", 1))
    assert "line 2: a carriage return (CR) not followed by a line feed" in refusal(loader, tmp_path)


@pytest.mark.parametrize(("loader", "old", "new", "expected"), [
    ("ml100k", "\t", ",", "u.data line 1: fields are separated by commas, expected tab"),
    ("ml1m", "::", "\t", "ratings.dat line 1: fields are separated by tabs, expected '::'"),
    ("bookcrossing", ";", ",", "BX-Book-Ratings.csv line 1: fields are separated by commas, expected ';'"),
    ("atomic", "\t", " ", "toy.inter line 1: fields are separated by spaces, expected tab"),
])
def test_a_wrong_separator_is_named(tmp_path, loader, old, new, expected):
    write(tmp_path, loader, edit=lambda text: text.replace(old, new))
    assert expected in refusal(loader, tmp_path)


def test_an_item_file_with_another_separator_is_named(tmp_path):
    write(tmp_path, "ml100k", edit=lambda text: text.replace("|", "\t"), only="ml-100k/u.item")
    assert "u.item line 1: fields are separated by tabs, expected '|' (24 fields)" in refusal("ml100k", tmp_path)


def test_an_atomic_row_with_spaces_under_a_tab_header_is_named(tmp_path):
    write(tmp_path, "atomic", edit=lambda text: text.replace("1\t2\t3\t881250950", "1 2 3 881250950"))
    assert "toy.inter line 3: fields are separated by spaces, expected tab (4 fields: user_id, item_id" \
        in refusal("atomic", tmp_path)


def header_only(loader: str):
    """The file's header line alone; MovieLens and Amazon files have no header: a blank line."""
    return lambda text: text.split("\n", 1)[0] + "\n" if loader in ("bookcrossing", "atomic") else "\n"


@pytest.mark.parametrize("loader", LOADERS)
def test_a_ratings_file_with_a_header_and_no_rows_says_no_ratings(tmp_path, loader):
    paths = write(tmp_path, loader, edit=header_only(loader))
    assert refusal(loader, tmp_path).startswith(f"no ratings in {paths[DATASETS[loader][1]]}")


@pytest.mark.parametrize("loader", LOADERS)
def test_an_item_file_with_a_header_and_no_rows_says_no_items(tmp_path, loader):
    paths = write(tmp_path, loader, edit=header_only(loader), only=item_file(loader))
    assert refusal(loader, tmp_path).startswith(f"no items in {paths[item_file(loader)]}")


@pytest.mark.parametrize("loader", TIMED)
def test_a_negative_timestamp_is_refused_naming_the_line(tmp_path, loader):
    write(tmp_path, loader, edit=lambda text: text.replace("881250950", "-5"))
    ratings = Path(DATASETS[loader][1]).name
    assert f"{ratings} line {DATASETS[loader][3]}: timestamp -5 is negative" in refusal(loader, tmp_path)


@pytest.mark.parametrize("loader", TIMED)
def test_a_timestamp_in_the_future_is_kept_with_a_warning(tmp_path, loader, caplog):
    write(tmp_path, loader, edit=lambda text: text.replace("881250950", "99999999999"))  # year 5138
    with caplog.at_level(logging.WARNING, logger="rankexp.data.parsing"):
        data = load(loader, tmp_path)
    assert data.ratings["timestamp"].max() == 99999999999
    ratings = Path(DATASETS[loader][1]).name
    assert f"{ratings} line {DATASETS[loader][3]}: timestamp 99999999999 is in the future (1 such rows)" in caplog.text
