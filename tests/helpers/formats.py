"""ML-100K written in the other built-in formats (ML-1M, BookCrossing, Amazon), so every shipped experiment runs
end to end on its own loader where its real files cannot be fetched (ML-1M ratings, BookCrossing and Amazon are
not on the test machines).

The files are real-format files: `::`-separated latin-1 lines for ML-1M, quoted `;`-separated latin-1 CSV for
BookCrossing (ratings doubled onto its 1-10 scale; string ISBNs), JSON lines for Amazon (string asins). Only the
source of the ratings is borrowed; each loader parses them as it parses the real dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

from rankexp.data.movielens import load_ml100k_items, load_ml100k_ratings

FORMATS = ("ml1m", "bookcrossing", "amazon")


def _clean(title: str) -> str:
    """A title safe in every format's separators (`::`, `;`-quoted CSV)."""
    return title.replace('"', "'").replace("::", ":").replace(";", ",")


def write_ml100k_as(name: str, ml100k_folder: Path, root: Path, *, category: str = "Digital_Music") -> Path:
    """Write ML-100K (`<ml100k_folder>/u.data`, `u.item`) under `root` as dataset `name` expects it; returns root."""
    if name not in FORMATS:
        raise ValueError(f"no writer for {name!r}; known: {FORMATS}")
    ratings, items = load_ml100k_ratings(ml100k_folder), load_ml100k_items(ml100k_folder)
    titles = {str(i): _clean(str(t)) for i, t in zip(items["item_id"], items["title"])}
    rows = list(zip(ratings["user_id"].astype(str), ratings["item_id"].astype(str), ratings["rating"].astype(int),
                    ratings["timestamp"].astype(int)))
    if name == "ml1m":
        folder = root / "ml-1m"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ratings.dat").write_bytes("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows).encode("latin-1"))
        (folder / "movies.dat").write_bytes("".join(f"{i}::{title}::Drama\n" for i, title in titles.items())
                                            .encode("latin-1", errors="replace"))
    elif name == "bookcrossing":
        folder = root / "bookcrossing"
        folder.mkdir(parents=True, exist_ok=True)
        isbn = {i: f"{int(i):09d}X" for i in titles}
        lines = ['"User-ID";"ISBN";"Book-Rating"'] + [f'"{u}";"{isbn[i]}";"{2 * r}"' for u, i, r, _ in rows]
        (folder / "BX-Book-Ratings.csv").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
        header = '"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";"Image-URL-M";"Image-URL-L"'
        books = [header] + [f'"{isbn[i]}";"{title}";"A. Author";"2000";"Pub";"u";"u";"u"' for i, title in titles.items()]
        (folder / "BX-Books.csv").write_bytes(("\n".join(books) + "\n").encode("latin-1", errors="replace"))
    else:
        folder = root / "amazon"
        folder.mkdir(parents=True, exist_ok=True)
        reviews = (json.dumps({"reviewerID": f"U{u}", "asin": f"B{int(i):09d}", "overall": float(r),
                               "unixReviewTime": t}) for u, i, r, t in rows)
        (folder / f"{category}_5.json").write_text("\n".join(reviews) + "\n")
        meta = (json.dumps({"asin": f"B{int(i):09d}", "title": title, "category": ["Music"]})
                for i, title in titles.items())
        (folder / f"meta_{category}.json").write_text("\n".join(meta) + "\n")
    return root
