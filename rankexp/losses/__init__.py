"""ALRO's training objective L = L_sft + alpha L_rank + beta L_perm (docs/alro.md, "Objective").

Each term is a small nn.Module carrying its own weight, configured by one
file of the Hydra group `conf/loss/` (`loss=[sft,soft_lambda,perm_kl]`
composes to `loss: {sft: {...}, soft_lambda: {...}, perm_kl: {...}}`).
:func:`build_losses` turns that mapping into an ordered `nn.ModuleDict`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from rankexp.errors import ConfigError, unknown_name
from rankexp.losses.perm_kl import PermutationKLLoss, permutation_kl, reindex_by_item
from rankexp.losses.rating_ce import RatingCELoss, rating_cross_entropy
from rankexp.losses.sft import SFTLoss, sft_loss
from rankexp.losses.soft_lambda import SoftLambdaLoss, soft_lambda_loss

LOSSES: dict[str, type[nn.Module]] = {
    "sft": SFTLoss,
    "soft_lambda": SoftLambdaLoss,
    "perm_kl": PermutationKLLoss,
    "rating_ce": RatingCELoss,
}

__all__ = [
    "LOSSES",
    "PermutationKLLoss",
    "RatingCELoss",
    "SFTLoss",
    "SoftLambdaLoss",
    "build_loss",
    "build_losses",
    "permutation_kl",
    "rating_cross_entropy",
    "reindex_by_item",
    "sft_loss",
    "soft_lambda_loss",
]


def build_loss(name: str, params: Mapping[str, Any] | None = None) -> nn.Module:
    """One loss term by registry name; `params` may carry Hydra's `_target_` (checked, then dropped)."""
    if name not in LOSSES:
        raise unknown_name("loss", name, tuple(LOSSES), "loss")
    cls = LOSSES[name]
    kwargs = dict(params or {})
    target = kwargs.pop("_target_", None)
    expected = f"{cls.__module__}.{cls.__qualname__}"
    if target is not None and target != expected:
        raise ConfigError(f"`loss.{name}._target_` is {target!r}, expected {expected!r}")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    extra = sorted(set(kwargs) - accepted)
    if extra:
        raise ConfigError(f"unknown key(s) {', '.join(f'`loss.{name}.{k}`' for k in extra)}; known: {sorted(accepted)}")
    return cls(**kwargs)


def build_losses(cfg: Mapping[str, Any] | Iterable[Any] | None) -> nn.ModuleDict:
    """Build every configured loss term, in config order.

    Accepts the composed Hydra mapping `{name: {weight: ..., ...}}` (a
    DictConfig works), a list of names, or a list of `{"name": ..., **params}`
    dicts. Weights of 0 are kept (the term is built, its contribution is 0;
    callers may skip its computation, e.g. perm_kl's second prompt).
    """
    if cfg is None:
        return nn.ModuleDict()
    if isinstance(cfg, Mapping) or hasattr(cfg, "items"):
        items = [(str(name), params) for name, params in cfg.items()]
    else:
        items = []
        for entry in cfg:
            if isinstance(entry, str):
                items.append((entry, None))
            else:
                params = dict(entry)
                if "name" not in params:
                    raise ConfigError(f"a `loss` list entry needs a `name` key, got {sorted(params)}")
                items.append((str(params.pop("name")), params))
    losses = nn.ModuleDict()
    for name, params in items:
        if name in losses:
            raise ConfigError(f"loss {name!r} is configured twice under `loss`")
        losses[name] = build_loss(name, params)
    return losses
