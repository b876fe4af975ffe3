"""Training objectives, each found from its config alone (ALRO: L = L_sft + alpha L_rank + beta L_perm).

A loss is one file of the Hydra group `conf/loss/`, whose `_target_` names its class
(`loss=[sft,soft_lambda,perm_kl]` composes to `loss: {sft: {...}, soft_lambda: {...}, ...}`).
:func:`build_losses` instantiates every entry; the ranker sums `term(out)` over them, with no
list of names to edit: a new loss is a class and a yaml file.

The contract a loss class meets (an `nn.Module`):
- `weight`: its factor in the sum, applied by the loss itself inside `term`;
- `needs`: the forward outputs it reads, as alternatives: `(("y", "gains"), ("scores", "gains"))` trains on
  ALRO's Y where the ranker's forward gives it, else on candidate scores. The ranker refuses a loss none of
  whose groups its outputs `provides` (older losses may declare `scorings`, the readout names, instead);
- `needs_permuted`: True if it compares each list with a shuffled copy (the datamodule then adds one);
- `term(out) -> Tensor`: the weighted scalar, read from the ranker's forward `out`. `out` offers
  `provides` (the names below), `scoring`, `batch`, `n` (original lists in the batch), `hidden` and `gains` for every ranker;
  slot scoring adds `answer_logits` ((logits [N, V], labels [N])), `y` and `y_permuted`
  (ALRO's Y [n, m, m], the shuffled copy's re-indexed by item); candidate readout adds `scores`,
  `scores_permuted` [n, m], `rating_logits` [n, m, R], `rating_targets`, `history_logits`,
  `history_targets` and `history_mask`. Each is computed on first use only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from rankexp.config.conf_dir import CONF_DIR
from rankexp.errors import ConfigError
from rankexp.losses.common import needs_text, usable_needs
from rankexp.losses.perm_kl import PermutationKLLoss, permutation_kl, reindex_by_item
from rankexp.losses.rating_ce import RatingCELoss, rating_cross_entropy
from rankexp.losses.sft import SFTLoss, sft_loss
from rankexp.losses.soft_lambda import SoftLambdaLoss, soft_lambda_loss

SHIPPED = CONF_DIR / "loss"

__all__ = [
    "PermutationKLLoss",
    "RatingCELoss",
    "SFTLoss",
    "SoftLambdaLoss",
    "build_loss",
    "build_losses",
    "needs_text",
    "permutation_kl",
    "rating_cross_entropy",
    "reindex_by_item",
    "sft_loss",
    "soft_lambda_loss",
    "usable_needs",
]


def _shipped_params(name: str) -> dict[str, Any]:
    """The shipped `conf/loss/<name>.yaml` (for callers that give a bare name, e.g. `build_losses(["sft"])`)."""
    from omegaconf import OmegaConf

    path = SHIPPED / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in SHIPPED.glob("*.yaml"))
        raise ConfigError(f"unknown loss {name!r}: no `_target_` given and no conf/loss/{name}.yaml; shipped: {known}")
    return dict(OmegaConf.to_container(OmegaConf.load(path), resolve=True))


def build_loss(name: str, params: Mapping[str, Any] | None = None) -> nn.Module:
    """One loss term from its config: `params["_target_"]` names the class (else the shipped yaml's)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    params = dict(params or {})
    if "_target_" not in params:
        params = {**_shipped_params(name), **params}
    _check_keys(name, params)
    try:
        loss = instantiate(params, _convert_="all")
    except InstantiationException as err:
        cause = err.__cause__ if isinstance(err.__cause__, ConfigError) else None
        if cause is not None:
            raise cause from err
        raise ConfigError(f"`loss.{name}`: cannot build {params.get('_target_')!r} ({err})") from err
    missing = [attr for attr in ("weight", "term") if not hasattr(loss, attr)]
    missing += [] if hasattr(loss, "needs") or hasattr(loss, "scorings") else ["needs"]
    if not isinstance(loss, nn.Module) or missing:
        raise ConfigError(f"`loss.{name}._target_` {params['_target_']!r} is not a loss: it needs to be an nn.Module "
                          f"with {missing or ['weight', 'needs', 'term']} (see rankexp.losses)")
    return loss


def _check_keys(name: str, params: Mapping[str, Any]) -> None:
    """Unknown keys name `loss.<name>.<key>` (instantiate would only say "unexpected keyword")."""
    import inspect

    from hydra.utils import get_class

    try:
        cls = get_class(str(params["_target_"]))
    except Exception as err:
        raise ConfigError(f"`loss.{name}._target_`: no class {params['_target_']!r} ({err})") from err
    signature = inspect.signature(cls.__init__)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = set(signature.parameters) - {"self"}
    extra = sorted(set(params) - accepted - {"_target_"})
    if extra:
        raise ConfigError(f"unknown key(s) {', '.join(f'`loss.{name}.{k}`' for k in extra)}; known: {sorted(accepted)}")


def build_losses(cfg: Mapping[str, Any] | Iterable[Any] | None) -> nn.ModuleDict:
    """Build every configured loss term, in config order.

    Accepts the composed Hydra mapping `{name: {_target_: ..., weight: ..., ...}}` (a
    DictConfig works), a list of names, or a list of `{"name": ..., **params}` dicts.
    Weights of 0 are kept (callers may skip the term, e.g. perm_kl's second prompt).
    """
    if cfg is None:
        return nn.ModuleDict()
    if isinstance(cfg, Mapping):  # a dict or a DictConfig (a MutableMapping)
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
