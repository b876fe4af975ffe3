"""results.json: one flat file per run, written atomically.

Keys are `split/metric@k` (plus `baseline/...`, `retriever/...`), next to the
provenance a reader needs to trust a number: seed, config hash, git sha, wall
time, and the run's tags. A crash mid-write leaves the previous file or none, never half a file.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rankexp.io import atomic_write_bytes

# A key naming a credential (`wandb_api_key`, `hf_token`, `access_token`, `db_password`); `token` followed by
# a letter (`tokens_per_s`, `tokenizer`) names text tokens, not a credential.
SECRET_KEY = re.compile(r"api_?key|secret|password|token(?![a-z])")


def config_hash(cfg: DictConfig) -> str:
    """Hash of the resolved config, ignoring paths that differ between identical runs."""
    data = OmegaConf.to_container(cfg, resolve=False)
    data.pop("paths", None)
    data.pop("hydra", None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def git_sha(root: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def scrub_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """Drop any key that looks like a credential (W&B keys must never be saved)."""
    return {k: v for k, v in data.items() if not SECRET_KEY.search(k.lower())}


def write_results(path: Path, metrics: dict[str, Any], cfg: DictConfig, wall_time_s: float,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = {k: _clean(v) for k, v in sorted(metrics.items())}
    payload.update(
        {
            "seed": int(cfg.seed),
            "tags": [str(tag) for tag in cfg.get("tags") or []],
            "config_hash": config_hash(cfg),
            "git_sha": git_sha(Path(__file__).resolve().parent),
            "wall_time_s": round(wall_time_s, 3),
        }
    )
    payload.update(extra or {})
    payload = scrub_secrets(payload)
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())
    return payload
