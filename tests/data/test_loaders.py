"""Real loaders on real formats: ML-100K from the local copy, the rest on files written here."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from rankexp.data import load_dataset
from rankexp.data.bookcrossing import load_bookcrossing_items, load_bookcrossing_ratings
from rankexp.data.movielens import load_ml1m_items, load_ml1m_ratings, load_ml100k_items
from rankexp.data.summary import summarize


def test_ml100k_counts(ml100k):
    stats = summarize(ml100k)
    assert (stats["users"], stats["items"], stats["ratings"]) == (943, 1682, 100_000)
    assert stats["evaluated_users"] == 942


def test_ml100k_items_are_latin1_with_genres(data_root):
    items = load_ml100k_items(data_root / "ml-100k").set_index("item_id")
    assert items.loc["1", "title"] == "Toy Story (1995)"
    assert items.loc["1", "genres"] == "Animation|Children's|Comedy"
    # latin-1 titles decode to real accented characters
    assert any("é" in title for title in items["title"])


def test_ml1m_real_movies_and_written_ratings(tmp_path, data_root):
    real = data_root / "ml-1m" / "movies.dat"
    if not real.is_file():
        pytest.skip("no ML-1M movies.dat")
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "movies.dat").write_bytes(real.read_bytes())
    (folder / "ratings.dat").write_bytes(b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    ratings = load_ml1m_ratings(folder)
    assert len(ratings) == 3 and ratings["rating"].tolist() == [5.0, 3.0, 4.0]
    items = load_ml1m_items(folder).set_index("item_id")
    assert items.loc["1", "genres"] == "Animation|Children's|Comedy"
    assert len(items) == 3883


def _write_bx(folder: Path) -> None:
    folder.mkdir(parents=True)
    ratings = '"User-ID";"ISBN";"Book-Rating"\n"276725";"034545104X";"0"\n"276726";"0155061224";"5"\n"276727";"0446520802";"9"\n'
    (folder / "BX-Book-Ratings.csv").write_bytes(ratings.encode("latin-1"))
    books = (
        '"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";"Image-URL-M";"Image-URL-L"\n'
        '"0155061224";"Rites of Passage; a Novel";"Judith Rae";"2001";"Heinle";"u";"u";"u"\n'
        '"0446520802";"Les Misérables";"Victor Hugo";"1862";"Pub";"u";"u";"u"\n'
    )
    (folder / "BX-Books.csv").write_bytes(books.encode("latin-1"))


def test_bookcrossing_quoted_semicolons_latin1_and_implicit(tmp_path):
    _write_bx(tmp_path / "bookcrossing")
    explicit = load_bookcrossing_ratings(tmp_path / "bookcrossing")
    assert explicit["item_id"].tolist() == ["0155061224", "0446520802"]  # rating 0 dropped
    assert len(load_bookcrossing_ratings(tmp_path / "bookcrossing", keep_implicit=True)) == 3
    titles = load_bookcrossing_items(tmp_path / "bookcrossing").set_index("item_id")["title"]
    assert titles["0155061224"] == "Rites of Passage; a Novel"
    assert titles["0446520802"] == "Les Misérables"


def test_amazon_json_lines_gz(tmp_path):
    folder = tmp_path / "amazon"
    folder.mkdir()
    reviews = [{"reviewerID": "U1", "asin": "B1", "overall": 5.0, "unixReviewTime": 10},
               {"reviewerID": "U2", "asin": "B1", "overall": 2.0, "unixReviewTime": 11}]
    with gzip.open(folder / "Digital_Music_5.json.gz", "wt") as handle:
        handle.write("\n".join(json.dumps(r) for r in reviews))
    (folder / "meta_Digital_Music.json").write_text(json.dumps({"asin": "B1", "title": "Kind of Blue", "category": ["Jazz"]}))
    data = load_dataset("amazon", tmp_path, category="Digital_Music")
    assert data.n_users == 2 and data.items["title"].tolist() == ["Kind of Blue"]


def test_synthetic_has_planted_genre_preferences(synthetic):
    ratings = synthetic.ratings.merge(synthetic.items[["genres"]], left_on="item", right_index=True)
    spread = ratings.groupby(["user", "genres"])["rating"].mean().groupby("user").agg(lambda s: s.max() - s.min())
    assert spread.mean() > 1.0  # tastes differ by genre, so genre predicts rating


def test_kcore_filter(tmp_path, data_root):
    data = load_dataset("ml100k", data_root, kcore_k=20)
    counts_u = data.ratings.groupby("user").size()
    counts_i = data.ratings.groupby("item").size()
    assert counts_u.min() >= 20 and counts_i.min() >= 20
