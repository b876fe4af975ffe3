"""Where a dataset's files are, and `data.fetch`: use a local copy, else download it (auto).

`data.fetch=auto` (the default) looks in `data.root`, RANKEXP_DATA_DIR and the cache
(`~/.cache/rankexp/data`, or RANKEXP_CACHE_DIR) in that order, and downloads from the official
source (md5-checked, atomic, with retries and a progress bar) only when none holds the files.
`true` downloads when `data.root` lacks them; `false` never downloads. BookCrossing and Amazon
have no official archive with a published checksum: fetching them is refused with a message
saying what to download and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

from rankexp.data.download import download, safe_extract
from rankexp.errors import DataError

FETCH_MODES = ("auto", True, False)
NOT_FETCHABLE = {
    "bookcrossing": "BookCrossing (BX-Book-Ratings.csv, BX-Books.csv from the Freiburg BookCrossing dump) into "
                    "<root>/bookcrossing/",
    "amazon": "the Amazon review 5-core file <category>_5.json(.gz) from the McAuley lab page into <root>/amazon/",
}


def cache_dir() -> Path:
    return Path(os.environ.get("RANKEXP_CACHE_DIR", Path.home() / ".cache" / "rankexp")).expanduser()


def search_roots(root: str | Path | None) -> list[Path]:
    """`data.root`, RANKEXP_DATA_DIR, the cache: the folders a local copy may sit in, in order."""
    roots = [Path(root).expanduser()] if root else []
    if os.environ.get("RANKEXP_DATA_DIR"):
        roots.append(Path(os.environ["RANKEXP_DATA_DIR"]).expanduser())
    roots.append(cache_dir() / "data")
    return list(dict.fromkeys(roots))


def movielens_folder(source: dict[str, str], root: str | Path | None, fetch: bool | str, url: str | None = None,
                     md5: str | None = None) -> Path:
    """The extracted MovieLens folder (`source`: one of `movielens.SOURCES`), downloaded first if `fetch`
    allows and no local copy exists."""
    folder = source["folder"]
    roots = search_roots(root) if fetch == "auto" else search_roots(root)[:1]
    for base in roots:
        if (base / folder).is_dir():
            return base / folder
    if fetch is False or fetch == "false":
        return roots[0] / folder  # the loader says what is missing and how to get it
    target = Path(root).expanduser() if root else cache_dir() / "data"
    try:
        archive = download(url or source["url"], cache_dir() / "downloads" / f"{folder}.zip", md5 or source["md5"])
    except DataError as err:
        raise DataError(f"{err} Looked for a local copy of {folder}/ in {', '.join(str(r) for r in roots)}; "
                        f"download {source['url']} yourself and extract it into one of them.") from err
    safe_extract(archive, target)
    return target / folder


def refuse_fetch(name: str, fetch: bool | str) -> None:
    """`data.fetch=true` on a dataset without an official checked archive: say so instead of ignoring it."""
    if fetch is True and name in NOT_FETCHABLE:
        raise DataError(f"`data.fetch=true`: {name} has no official archive with a published checksum to "
                        f"download; put {NOT_FETCHABLE[name]} (or use `data.fetch=auto`, which only reads local files)")
