"""Is a binary file whole? A safetensors file's own structure, and a streamed sha256.

`safetensors_damage` reads the 8-byte header length and the JSON header only (microseconds for any
size) and checks the tensors' data fills the file exactly: a file cut short, or one with bytes
appended, fails it. A bit flip inside the tensor data passes it; only a checksum sees that.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

HEADER_LIMIT = 100_000_000  # safetensors' own bound on the JSON header

# What loading a damaged safetensors raises: safetensors' SafetensorError (a bare Exception subclass),
# and OSError / ValueError / RuntimeError from transformers and peft around it.
try:
    from safetensors import SafetensorError
except ImportError:  # pragma: no cover - safetensors is a dependency of transformers
    SafetensorError = RuntimeError
LOAD_ERRORS = (SafetensorError, OSError, ValueError, RuntimeError)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """sha256 of a file, read in 4 MiB chunks (SmolLM2's 538 MB: ~1 s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def safetensors_damage(path: str | os.PathLike) -> str | None:
    """Why `path` is not a whole safetensors file, or None when its header parses and its data fills it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return f"{size} bytes: shorter than a safetensors header"
            (length,) = struct.unpack("<Q", head)
            if length > min(HEADER_LIMIT, size - 8):
                return f"{size:,} bytes: the header says it alone is {length:,} bytes"
            header = json.loads(handle.read(length))
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    except (ValueError, UnicodeDecodeError) as error:
        return f"its header is not JSON ({error})"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    try:
        end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return "its header lacks tensor offsets"
    if size != 8 + length + end:
        return f"{size:,} bytes where its header needs {8 + length + end:,}: cut short" if size < 8 + length + end \
            else f"{size:,} bytes where its header needs {8 + length + end:,}"
    return None
