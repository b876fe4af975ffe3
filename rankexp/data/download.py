"""Fetch dataset archives from their official URLs, verified and atomic.

Why this exists: MovieLens may not be redistributed, so every user downloads it
themselves. A half-downloaded or tampered archive must never be trusted by a
later run, so files are written to a temp name and renamed only after the
checksum matches, and zip members that escape the target folder are refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

from rankexp.errors import DataError
from rankexp.io import atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported for the loaders)

log = logging.getLogger(__name__)


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, md5: str | None, allow_unverified: bool = False, attempts: int = 3) -> Path:
    """Download `url` to `dest` unless a verified copy is already there (retries, progress bar, atomic)."""
    if md5 is None and not allow_unverified:
        raise DataError(
            f"no checksum is configured for {url}; set `data.md5` to the archive's md5 "
            "or `data.allow_unverified=true` to download it unverified"
        )
    if dest.exists() and (md5 is None or file_md5(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            return _download_once(url, dest, md5)
        except DataError as err:
            if attempt == attempts:
                raise
            log.warning("%s; retrying (%d/%d)", err, attempt + 1, attempts)
            time.sleep(min(2.0 ** attempt, 10.0))
    raise AssertionError("unreachable")


def _download_once(url: str, dest: Path, md5: str | None) -> Path:
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        log.info("downloading %s -> %s", url, dest)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            headers = getattr(response, "headers", None) or {}
            _copy_with_progress(response, out, int(headers.get("Content-Length") or 0), dest.name)
        got = file_md5(tmp)
        if md5 is not None and got != md5:
            raise DataError(
                f"checksum mismatch for {url}: got md5 {got}, expected {md5}; the download is "
                "truncated or changed. Retry, or place a verified copy under `data.root`."
            )
        os.replace(tmp, dest)
    except OSError as err:
        raise DataError(
            f"could not download {url} ({err}). Offline? Put the extracted files under "
            "`data.root` or the RANKEXP_DATA_DIR folder instead."
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _copy_with_progress(response, out, total: int, name: str) -> None:
    from tqdm import tqdm

    with tqdm(total=total or None, unit="B", unit_scale=True, desc=f"download {name}", leave=False) as bar:
        for chunk in iter(lambda: response.read(1 << 16), b""):
            out.write(chunk)
            bar.update(len(chunk))


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
