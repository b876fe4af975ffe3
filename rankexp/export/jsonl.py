"""Writing the export: one JSONL file per split, a schema line first, all or nothing.

Every file is streamed into a staging folder inside `out` and renamed into place only after all
of them are complete, so an error (a bad config key deep in the data, a full disk, ^C) leaves the
previous export or none, never a half-written file a trainer would silently read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "rankexp.export"
VERSION = 1


def plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON values (ids may be ints or strings, per dataset)."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_lines(path: Path, schema: Mapping[str, Any], records: Iterable[Mapping[str, Any]]) -> int:
    """Schema line, then one line per record; the record count must be the schema's (a bug guard)."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(dict(schema), ensure_ascii=False) + "\n")
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    if count != schema["records"]:
        raise RuntimeError(f"{path.name}: wrote {count} records, the schema line says {schema['records']}")
    return count


def write_splits(out: Path, splits: Mapping[str, tuple[Mapping[str, Any], Iterable[Mapping[str, Any]]]]) -> dict[str, int]:
    """`<out>/<split>.jsonl` for each (schema, records) of `splits`; the record count of each."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".export-", suffix=".tmp"))
    try:
        counts = {split: _write_lines(staging / f"{split}.jsonl", schema, records)
                  for split, (schema, records) in splits.items()}
        for split in splits:
            os.replace(staging / f"{split}.jsonl", out / f"{split}.jsonl")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counts
