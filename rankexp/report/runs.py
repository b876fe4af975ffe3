"""Reading finished runs for `rankexp.report`: results.json plus the run's Hydra overrides and config.

A run's *config* is its overrides minus `seed` (and `hydra.*`), so the seeds of one config pool
into one row; loss knobs are read from the resolved config, a disabled loss counting as weight 0.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankexp.errors import RankexpError

log = logging.getLogger(__name__)

# Short names for the loss knobs (the papers' symbols) -> config keys.
LOSS_KNOBS = {"alpha": "loss.soft_lambda.weight", "beta": "loss.perm_kl.weight", "gamma": "loss.soft_lambda.gamma"}


class ReportError(RankexpError):
    """Nothing to report, or a dir that does not exist."""


@dataclass
class Run:
    path: Path
    results: dict[str, Any]
    overrides: list[str]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> Any:
        return self.results.get("seed", self.config.get("seed"))

    def value(self, dotted: str) -> Any:
        """A config value by dotted key (`loss.soft_lambda.gamma`), None when absent."""
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


def override_key(override: str) -> str:
    """`+loss.perm_kl.weight=0.5` -> `loss.perm_kl.weight`."""
    return override.split("=", 1)[0].lstrip("+~")


def config_overrides(overrides: Iterable[str]) -> tuple[str, ...]:
    """What identifies a config: the overrides minus `seed` (and any `hydra.*`), sorted."""
    keep = [o for o in overrides if override_key(o) != "seed" and not override_key(o).startswith("hydra.")]
    return tuple(sorted(keep))


def short_override(override: str) -> str:
    """`optim.lr=0.000471115235575939` -> `optim.lr=0.0004711` (display only; the CSV keeps the full text)."""
    key, sep, value = override.partition("=")
    number = parse_value(value) if sep else value
    if isinstance(number, float) and len(value) > 8:
        return f"{key}={number:.4g}"
    return override


def _natural(path: Path) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


def load_yaml(path: Path) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def find_runs(roots: Sequence[Path]) -> tuple[list[Run], list[Path], list[str]]:
    """(runs with results, job dirs without results, unreadable files) below `roots`.

    A damaged results.json (cut short, not JSON) is one warning line naming it and its decode
    error, and a "problems" entry; the other runs are read on, and its job is not listed as one
    without results.
    """
    runs: list[Run] = []
    problems: list[str] = []
    with_results: set[Path] = set()
    job_dirs: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise ReportError(f"{root} is not a directory; pass a run dir or a multirun dir "
                              "(e.g. multirun/2026-01-01/12-00-00)")
        job_dirs.update(p.parent.parent for p in root.rglob(".hydra/overrides.yaml"))
        for path in sorted(root.rglob("results.json"), key=_natural):
            run_dir = path.parent
            results, damage = _read_results(path)
            if damage is not None:  # named once, counted as read: not listed among the jobs without one
                log.warning("%s is %s; skipped, the other runs are reported", path, damage)
                problems.append(f"{path}: {damage}")
                with_results.add(run_dir.resolve())
                continue
            hydra_dir = run_dir / ".hydra"
            overrides, config = [], {}
            try:
                if (hydra_dir / "overrides.yaml").is_file():
                    overrides = [str(o) for o in load_yaml(hydra_dir / "overrides.yaml") or []]
                if (hydra_dir / "config.yaml").is_file():
                    config = load_yaml(hydra_dir / "config.yaml") or {}
            except Exception as error:  # noqa: BLE001 - a broken YAML must not hide the other runs
                problems.append(f"{hydra_dir}: {error}")
            if not (hydra_dir / "overrides.yaml").is_file():
                problems.append(f"{run_dir}: no .hydra/overrides.yaml, grouped as its own config")
                overrides = [f"run={run_dir.name}"]
            runs.append(Run(run_dir, results, overrides, config))
            with_results.add(run_dir.resolve())
    missing = sorted((d for d in job_dirs if d.resolve() not in with_results), key=_natural)
    return runs, missing, problems


def _read_results(path: Path) -> tuple[Any, str | None]:
    """(results, None), or (None, what is wrong with the file: its JSON error, or unreadable)."""
    try:
        results = json.loads(path.read_bytes())
    except OSError as error:
        return None, f"unreadable ({error.strerror or error})"
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError: a file cut short or overwritten
        return None, f"damaged ({type(error).__name__}: {error})"
    if not isinstance(results, dict):
        return None, f"damaged (not a JSON object but a {type(results).__name__})"
    return results, None


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def varying_keys(groups: Sequence[tuple[str, ...]]) -> list[str]:
    """Override keys whose value differs between configs (or that only some configs set)."""
    values: dict[str, set[str]] = {}
    for overrides in groups:
        for o in overrides:
            values.setdefault(override_key(o), set()).add(o)
    keys = sorted(values)
    return [k for k in keys if len(values[k]) > 1 or any(not any(override_key(o) == k for o in g) for g in groups)]


def knob_value(run: Run, key: str) -> float | None:
    """A loss knob; a weight of a loss term the run does not use counts as 0 (the term is off)."""
    loss_name = key.split(".")[1]
    if run.config and run.value("loss") is not None and run.value(f"loss.{loss_name}") is None:
        return 0.0 if key.endswith(".weight") else None
    return finite_number(run.value(key))
