"""MovieLens 100K and 1M: official archives, latin-1 item files.

Files are read through `text_files`: UTF-8 when they decode as UTF-8 (a u.item re-saved as UTF-8
keeps its accents), latin-1 otherwise (the official files), a mix of the two refused.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rankexp.data.dataset import RatingData, finish
from rankexp.data.locate import movielens_folder
from rankexp.data.parsing import parse_rating_lines, require_file, split_fields
from rankexp.data.text_files import read_lines
from rankexp.errors import DataError

ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]

SOURCES = {
    "ml100k": {
        "folder": "ml-100k",
        "url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "md5": "0e33842e24a9c977be4e0107933c0723",
    },
    "ml1m": {
        "folder": "ml-1m",
        "url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "md5": "c4d9eecfca2ab87c1945afe126590906",
    },
}

HOW_TO_GET = (
    "Download it from https://grouplens.org/datasets/movielens/ (its licence forbids "
    "redistribution), extract it and point `data.root` or RANKEXP_DATA_DIR at the folder "
    "that holds `{folder}/`, or set `data.fetch=true`."
)


def _dataframe(columns: dict[str, list], path: Path) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    frame["user_id"] = frame["user_id"].astype(str)
    frame["item_id"] = frame["item_id"].astype(str)
    frame.attrs["source"] = str(path)
    return frame


def _items(rows: list[dict], path: Path) -> pd.DataFrame:
    if not rows:
        raise DataError(f"no items in {path}: it holds no item lines")
    frame = pd.DataFrame(rows, columns=["item_id", "title", "genres"])
    frame.attrs["source"] = str(path)
    return frame


def load_ml100k_ratings(folder: Path) -> pd.DataFrame:
    path = require_file(folder / "u.data", HOW_TO_GET.format(folder="ml-100k"))
    return _dataframe(parse_rating_lines(path, "\t", "latin-1", (1, 5)), path)


def load_ml100k_items(folder: Path) -> pd.DataFrame:
    path = require_file(folder / "u.item", HOW_TO_GET.format(folder="ml-100k"))
    rows = []
    for number, line in read_lines(path, "latin-1"):
        fields = split_fields(path, number, line, "|", 5 + len(ML100K_GENRES))
        flags = fields[5:]
        genres = [g for g, flag in zip(ML100K_GENRES, flags) if flag.strip() == "1"]
        rows.append({"item_id": fields[0].strip(), "title": fields[1].strip(), "genres": "|".join(genres)})
    return _items(rows, path)


def load_ml1m_ratings(folder: Path) -> pd.DataFrame:
    path = require_file(folder / "ratings.dat", HOW_TO_GET.format(folder="ml-1m"))
    return _dataframe(parse_rating_lines(path, "::", "latin-1", (1, 5)), path)


def load_ml1m_items(folder: Path) -> pd.DataFrame:
    path = require_file(folder / "movies.dat", HOW_TO_GET.format(folder="ml-1m"))
    rows = []
    for number, line in read_lines(path, "latin-1"):
        item, title, genres = split_fields(path, number, line, "::", 3)
        rows.append({"item_id": item.strip(), "title": title.strip(), "genres": genres.strip()})
    return _items(rows, path)


READERS = {"ml100k": (load_ml100k_ratings, load_ml100k_items), "ml1m": (load_ml1m_ratings, load_ml1m_items)}


def load_movielens(
    name: str, root: str | Path | None = None, *, fetch: bool | str = False, url: str | None = None,
    md5: str | None = None, like_threshold: float = 4.0, rating_scale: tuple[float, float] = (1.0, 5.0), kcore_k: int = 0,
    item_noun: str = "item", unknown_items: str = "error",
) -> RatingData:
    """What `conf/data/ml100k.yaml` and `ml1m.yaml` instantiate: the official archive's files as RatingData."""
    if name not in SOURCES:
        raise DataError(f"`data.name`={name!r}: the MovieLens loader reads {', '.join(SOURCES)}")
    folder = movielens_folder(SOURCES[name], root, fetch, url, md5)
    read_ratings, read_items = READERS[name]
    ratings = read_ratings(folder)
    return finish(name, ratings, read_items(folder), like_threshold=like_threshold, rating_scale=rating_scale, kcore_k=kcore_k,
                  item_noun=item_noun, unknown_items=unknown_items)
