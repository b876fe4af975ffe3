"""Which config keys a run reads: a recorder on OmegaConf's DictConfig, for the "no key that nothing reads" test.

`record_reads()` patches `DictConfig._get_impl` (every `cfg.x`, `cfg["x"]`, `cfg.get("x")` and `.items()` goes
through it) and `OmegaConf.to_container` (a component handed its whole group reads all of it). Reads made by
the run's bookkeeping are not counted: checking the config, hashing it, saving it or showing it to a logger
touches every key, used or not. `unread(cfg, reads)` then lists the leaves no code read.

A group handed to `instantiate` is read whole (its keys are the target's parameters, checked against its
signature before the run), and a key another key interpolates (`tags: ${tags}`) is read through it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

from omegaconf import DictConfig, ListConfig, OmegaConf

# Functions whose reads are bookkeeping, not use: they walk the whole config by design.
BOOKKEEPING = frozenset({
    "validate_config",  # rankexp.config.check: every key's rule
    "check_closed_groups",
    "resolved_config",  # config.stored: the hyperparameters a logger shows
    "config_hash",  # io.results: provenance
    "config_tree",  # recipes.experiment: the printed tree
    "manifest_from_config",  # models.manifest: what an adapter was trained with, saved beside it
    "warn_idle_overrides",  # config.idle: which typed keys change nothing
    "idle_keys",
    "to_yaml",
    "save",
})


def _in_bookkeeping() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in BOOKKEEPING:
            return True
        frame = frame.f_back
    return False


class Reads:
    """Full keys read as values (`leaves`), and subtrees read whole (`subtrees`: to_container)."""

    def __init__(self) -> None:
        self.leaves: set[str] = set()
        self.subtrees: set[str] = set()

    def covers(self, path: str) -> bool:
        parts = path.split(".")
        return path in self.leaves or any(".".join(parts[:i]) in self.subtrees for i in range(1, len(parts) + 1))


def record_reads() -> Reads:
    """Start recording, for the rest of the process. Call it before importing rankexp, so that the modules'
    `from hydra.utils import instantiate` binds the recording one."""
    import hydra.utils

    reads = Reads()
    real_get, real_to_container, real_instantiate = DictConfig._get_impl, OmegaConf.to_container, hydra.utils.instantiate

    def whole(cfg: object) -> None:
        if isinstance(cfg, (DictConfig, ListConfig)) and cfg._get_parent() is not None and not _in_bookkeeping():
            reads.subtrees.add(cfg._get_full_key(None))

    def get_impl(self, key, default_value, validate_key=True):
        value = real_get(self, key, default_value, validate_key)
        if not isinstance(value, DictConfig) and not _in_bookkeeping():  # a node is not read until its keys are
            reads.leaves.add(self._get_full_key(key))
        return value

    def to_container(cfg, *args, **kwargs):
        whole(cfg)
        return real_to_container(cfg, *args, **kwargs)

    def instantiate(config, *args, **kwargs):
        whole(config)
        return real_instantiate(config, *args, **kwargs)

    DictConfig._get_impl = get_impl
    OmegaConf.to_container = staticmethod(to_container)
    hydra.utils.instantiate = instantiate
    return reads


INTERPOLATED = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def interpolated(cfg: DictConfig) -> set[str]:
    """Keys that some value of `cfg` interpolates as `${key}`: read whenever that value is."""
    found: set[str] = set()
    for path in leaves(cfg):
        raw = _node(cfg, path)._value()
        if isinstance(raw, str):
            found |= set(INTERPOLATED.findall(raw))
    return found


def leaves(cfg: DictConfig, prefix: str = "") -> Iterator[str]:
    """Full keys of the leaves of `cfg` (a list is one leaf)."""
    for key in cfg:
        path = f"{prefix}.{key}" if prefix else str(key)
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_none():
            yield from leaves(node, path)
        else:
            yield path


def set_leaves(cfg: DictConfig, skip: tuple[str, ...] = ("hydra",)) -> list[str]:
    """Leaves of `cfg` set to a value (null is an option left unset), less those another key interpolates."""
    through = interpolated(cfg)  # a key interpolated whole (`template: ${prompt.listwise}`) covers its subtree
    return sorted(p for p in leaves(cfg) if not p.startswith(skip)
                  and not any(p == key or p.startswith(key + ".") for key in through) and not _node(cfg, p)._is_none())


def unread(cfg: DictConfig, reads: Reads) -> list[str]:
    """Leaves of `cfg` set to a value that no code read."""
    return [p for p in set_leaves(cfg) if not reads.covers(p)]


def _node(cfg: DictConfig, path: str):
    """The node at `path`, unresolved (an `${hydra:...}` value cannot resolve once the run has ended)."""
    node = cfg
    for key in path.split("."):
        node = node._get_node(key)
    return node
