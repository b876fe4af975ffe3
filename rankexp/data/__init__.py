"""Datasets: one loader module per file format, the shared encoding, filters and splits.

A run builds its dataset from `conf/data/<name>.yaml`, whose `_target_` names the format's loader
(`movielens.load_movielens`, `bookcrossing.load_bookcrossing`, `amazon.load_amazon`,
`atomic.load_atomic_dataset`, `synthetic.load_synthetic`). Each returns a :class:`RatingData` with
contiguous integer ids that the rest of the pipeline uses. A new format is one loader module plus one
yaml; nothing here lists the formats.

`load_dataset("ml100k", root)` is the same from Python: it calls the loader the shipped yaml names.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from rankexp.config.conf_dir import CONF_DIR
from rankexp.data.dataset import (
    UNKNOWN_ITEM_POLICIES,
    RatingData,
    drop_unknown_items,
    encode,
    finish,
    kcore,
    natural_order,
    resolve_root,
)
from rankexp.errors import ConfigError, unknown_name


def shipped_datasets() -> list[str]:
    """The names of `conf/data/*.yaml`."""
    return sorted(path.stem for path in (CONF_DIR / "data").glob("*.yaml"))


def load_dataset(name: str, root: str | Path | None = None, **options: Any) -> RatingData:
    """Load, check, filter and encode a shipped dataset by name, through the loader its yaml's `_target_`
    names. `options` are that loader's keyword arguments; the yaml's other values are not applied (the
    loaders' own defaults are: `fetch=False`, `item_noun="item"`, ...)."""
    from hydra.utils import get_method
    from omegaconf import OmegaConf

    path = CONF_DIR / "data" / f"{name}.yaml"
    if not path.is_file():
        raise unknown_name("dataset", name, shipped_datasets(), "data.name")
    loader = get_method(str(OmegaConf.load(path)["_target_"]))
    if root is not None:
        options["root"] = root  # the synthetic loader reads no files and takes no root
    known = list(inspect.signature(loader).parameters)
    for key in options:
        if key not in known:
            raise ConfigError(f"`data.{key}` is not read by {name}'s loader ({loader.__module__}.{loader.__name__}); "
                              f"it takes {[k for k in known if k != 'name']}")
    return loader(name, **options)


__all__ = [
    "UNKNOWN_ITEM_POLICIES",
    "RatingData",
    "drop_unknown_items",
    "encode",
    "finish",
    "kcore",
    "load_dataset",
    "natural_order",
    "resolve_root",
    "shipped_datasets",
]
