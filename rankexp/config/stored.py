"""A run's config as it is stored and read back: resolved for loggers and manifests, and read again from a
run folder, old spellings included.

Why here: reading an older run's `.hydra/config.yaml` maps its deprecated keys (`recranker: true`, no
`recipe`) with the same `upgrade_deprecated_keys` a live run goes through, so the mapping is written once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rankexp.config.check import upgrade_deprecated_keys
from rankexp.errors import ConfigError
from rankexp.io.results import scrub_secrets
from rankexp.models.manifest import FORMAT, MANIFEST_FILE, manifest_from_config


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The run's config with interpolations resolved, secrets dropped (what W&B shows as hyperparameters)."""
    data: dict[str, Any] = {}
    for key in cfg:
        if key == "hydra":
            continue
        try:
            value = cfg[key]
            data[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        except Exception:  # noqa: BLE001 - e.g. ${hydra:...} outside a Hydra app: keep it as written
            data[key] = OmegaConf.to_container(cfg, resolve=False)[key]
    return scrub_secrets(data)


def read_run_config(path: Path) -> dict[str, Any]:
    """A run folder's `.hydra/config.yaml`, its deprecated keys mapped onto today's (one warning each), resolved."""
    try:
        cfg = OmegaConf.load(path)
    except Exception as error:
        raise ConfigError(f"{path} is not a readable run config ({error})") from error
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{path} holds a {type(cfg).__name__}, not a run config mapping")
    upgrade_deprecated_keys(cfg)
    return resolved_config(cfg)


def read_manifest(adapter: Path) -> dict[str, Any]:
    """The adapter's `rankexp.json`; for an adapter saved before it existed, built from the run's config."""
    path = Path(adapter) / MANIFEST_FILE
    if path.is_file():
        try:
            manifest: Mapping[str, Any] = json.loads(path.read_text())
        except ValueError as error:
            raise ConfigError(f"{path} is not valid JSON ({error}); re-save the adapter with a run") from error
        if manifest.get("format") != FORMAT:
            raise ConfigError(f"{path} has format {manifest.get('format')!r}; this rankexp reads format {FORMAT}")
        return dict(manifest)
    run_config = Path(adapter).parent / ".hydra" / "config.yaml"
    if run_config.is_file():
        return manifest_from_config(read_run_config(run_config))
    raise ConfigError(f"{adapter} has no {MANIFEST_FILE} and no run config (../.hydra/config.yaml) beside it: "
                      "rankexp cannot tell the prompt it was trained on; pass the `adapter` folder of a run")
