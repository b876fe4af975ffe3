"""Read an offline W&B run's `run-<id>.wandb` file: what the run would upload (run, config, summary).

wandb 0.31 keeps config and summary of an offline run only in that file (no config.yaml /
wandb-summary.json), a leveldb-style log of protobuf `Record`s: a 7-byte header (":W&B", magic,
version), then 32 KiB blocks of chunks, each with a 7-byte header (crc32, length, type:
1 full, 2 first, 3 middle, 4 last). Tests only: it checks what W&B received, not how.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32 * 1024
HEADER = 7


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    out, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER:  # block tail padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if length == 0 and kind == 0:
            pos += left_in_block
            continue
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def offline_run(path: Path) -> dict:
    """{id, group, name, config, summary, artifacts: [(name, type)], files: [...]} of one run file."""
    run = {"config": {}, "summary": {}, "artifacts": []}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.update(id=record.run.run_id, group=record.run.run_group, name=record.run.display_name)
            for item in record.run.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                run["config"][item.key] = json.loads(item.value_json)
        elif kind == "artifact":
            run["artifacts"].append((record.artifact.name, record.artifact.type))
        elif kind == "summary":
            for item in record.summary.update:
                run["summary"][item.key] = json.loads(item.value_json)
    run["files"] = sorted(str(p.relative_to(Path(path).parent)) for p in Path(path).parent.rglob("*") if p.is_file())
    return run
