"""Fetch dataset archives from their official URLs, verified and atomic.

Why this exists: MovieLens may not be redistributed, so every user downloads it
themselves. A half-downloaded or tampered archive must never be trusted by a
later run. `download` hands the transfer to pooch (streamed into a temp file
beside the target, md5-checked, renamed into place only when the checksum
matches, retried, with a tqdm progress bar) and turns its errors into one
`DataError` line: a checksum mismatch, or "Offline? Put the extracted files
under ...".

`safe_extract` stays hand-written: `pooch.Unzip` extracts next to the archive,
silently rewrites a member that would escape the folder (zipfile's sanitising)
instead of refusing the archive, and writes the members one by one into the
final folder; here a hostile member refuses the whole archive and the files
appear in the target only by rename from a staging folder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from rankexp.errors import DataError
from rankexp.io import atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported for the loaders)

log = logging.getLogger(__name__)
TIMEOUT_S = 60


def download(url: str, dest: Path, md5: str | None, allow_unverified: bool = False, attempts: int = 3) -> Path:
    """Download `url` to `dest` unless a verified copy is already there (retries, progress bar, atomic)."""
    import pooch

    if md5 is None and not allow_unverified:
        raise DataError(
            f"no checksum is configured for {url}; set `data.md5` to the archive's md5 "
            "or `data.allow_unverified=true` to download it unverified"
        )
    fetcher = pooch.create(path=dest.parent, base_url="", registry={dest.name: f"md5:{md5}" if md5 else None},
                           urls={dest.name: url}, retry_if_failed=attempts - 1)
    try:
        return Path(fetcher.fetch(dest.name, downloader=_downloader()))
    except ValueError as err:  # pooch's hash check (after the last attempt); the temp file is already gone
        raise DataError(
            f"checksum mismatch for {url}: {err} The download is truncated or changed. Retry, or place a "
            "verified copy under `data.root`."
        ) from err
    except OSError as err:  # requests' errors are OSErrors: no network, refused, HTTP 4xx/5xx, timeout
        raise DataError(
            f"could not download {url} ({_reason(err)}). Offline? Put the extracted files under "
            "`data.root` or the RANKEXP_DATA_DIR folder instead."
        ) from err


def _reason(err: OSError) -> str:
    """`[Errno 111] Connection refused` out of requests' nested connection-pool message, else the message."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*", str(err))
    return found.group(0) if found else str(err)


def _downloader():
    """pooch's HTTP(S) downloader with a tqdm progress bar on stderr."""
    import pooch

    return pooch.HTTPDownloader(progressbar=True, timeout=TIMEOUT_S)


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip, refusing members that would land outside `target`."""
    target = target.resolve()
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            where = (target / member).resolve()
            if target != where and target not in where.parents:
                raise DataError(f"{archive}: member {member!r} would extract outside {target}; refusing")
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            zf.extractall(staging)
            target.mkdir(parents=True, exist_ok=True)
            for entry in staging.iterdir():
                final = target / entry.name
                if final.exists():
                    shutil.rmtree(final) if final.is_dir() else final.unlink()
                os.replace(entry, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
