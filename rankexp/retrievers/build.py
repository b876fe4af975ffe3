"""A retriever from its config: `conf/retriever/*.yaml` names its class by `_target_` and nothing else.

`from_config` is the one way a run builds a retriever: Hydra's `instantiate`, with its errors turned
into one `ConfigError` line. A class outside rankexp works the same way (any importable subclass of
`Retriever` that sets `name`); nothing is registered at run time.

Older configs carried `name:` beside (or instead of) `_target_`, and `topk:`, which nothing read:
`upgrade_config` maps `name` onto the built-in class and drops both keys, with one deprecation line.
`build_retriever("mf", dim=8)` is the Python shorthand for the built-in ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rankexp.errors import ConfigError, unknown_name
from rankexp.retrievers.base import Retriever
from rankexp.retrievers.lightgcn import LightGCN
from rankexp.retrievers.mf import MF
from rankexp.retrievers.pop import Pop
from rankexp.retrievers.sasrec import SASRec

log = logging.getLogger(__name__)

BUILT_IN: dict[str, type[Retriever]] = {cls.name: cls for cls in (Pop, MF, LightGCN, SASRec)}


def target_of(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def build_retriever(name: str, **hparams: Any) -> Retriever:
    """An unfitted built-in retriever by its short name (Python use); unknown keys raise ConfigError."""
    if name not in BUILT_IN:
        raise unknown_name("retriever", name, tuple(BUILT_IN), "retriever.name")
    return BUILT_IN[name](**hparams)


def upgrade_config(retriever_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict with `_target_` and hyperparameters only: an older `name` becomes its `_target_`, and
    `topk` (never read: a list holds the retriever's top `protocol.m`) is dropped, each with a warning."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(retriever_cfg, DictConfig):
        retriever_cfg = OmegaConf.to_container(retriever_cfg, resolve=True)
    cfg = dict(retriever_cfg)
    if cfg.pop("topk", None) is not None:
        log.warning("`retriever.topk` is not read (a list holds the retriever's top `protocol.m`): remove it")
    name = cfg.pop("name", None)
    if name is None:
        return cfg
    if name not in BUILT_IN:
        raise unknown_name("retriever", name, tuple(BUILT_IN), "retriever.name")
    target = target_of(BUILT_IN[name])
    if cfg.setdefault("_target_", target) != target:
        raise ConfigError(f"`retriever.name`={name!r} disagrees with `retriever._target_`={cfg['_target_']!r}: "
                          "`_target_` alone names the class")
    log.warning("`retriever.name` is deprecated: `retriever._target_`=%s names the class; remove `name`", target)
    return cfg


def retriever_class(target: Any) -> type[Retriever]:
    """The class `retriever._target_` names; it must subclass `rankexp.retrievers.Retriever` and set `name`."""
    from hydra.utils import get_class

    if not isinstance(target, str):
        raise ConfigError("the retriever config needs `_target_`: a Retriever class, e.g. "
                          f"{target_of(LightGCN)}")
    try:
        cls = get_class(target)
    except Exception as err:  # hydra raises ImportError, ValueError or its own exception, by case
        raise ConfigError(f"`retriever._target_`: no class {target!r} ({err})") from err
    if not (isinstance(cls, type) and issubclass(cls, Retriever)) or not cls.name:
        raise ConfigError(f"`retriever._target_`={target!r} is not a retriever: subclass "
                          "rankexp.retrievers.Retriever and set its `name`")
    return cls


def from_config(retriever_cfg: Mapping[str, Any]) -> Retriever:
    """An unfitted retriever, built by `hydra.utils.instantiate` from a `conf/retriever/*.yaml` mapping."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    cfg = upgrade_config(retriever_cfg)
    retriever_class(cfg.get("_target_"))  # a clear line before instantiate's wrapped traceback
    try:
        return instantiate(cfg)
    except InstantiationException as err:
        if isinstance(err.__cause__, ConfigError):
            raise err.__cause__ from None
        raise ConfigError(f"`retriever`: {err}") from err
