"""Writing files so a crash never leaves half of one: the one atomic writer, results.json, checkpoints.

`atomic_write` writes through a temp file in the target's folder, fsyncs it and renames it
over the target, so readers see the old file or the whole new one. Every file rankexp writes
(results, CSV/PNG media, reports, checkpoints) goes through it; folders (the adapter, the GGUF
cache) are built aside and renamed whole by their own modules, and downloads stream to a
`.part` file first.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write(handle)` on a temp file next to `path`, then rename it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text (reports, CSV tables)."""
    atomic_write_bytes(path, text.encode("utf-8"))
