"""`validate_config`: every key's own rule (`rankexp.config.schema`), no unknown key in the closed groups,
then the rules between keys.

Runs first in every experiment, before any data, model or Lightning work.
"""

from __future__ import annotations

import logging
from dataclasses import fields

from omegaconf import DictConfig, ListConfig, OmegaConf

from rankexp.config.schema import (
    GROUPS,
    EvalSchema,
    OptimSchema,
    ProtocolSchema,
    TrainSchema,
    check_group,
    node_at,
    number,
)
from rankexp.data.recranker import RECRANKER_TASKS, default_recipe
from rankexp.errors import ConfigError

log = logging.getLogger(__name__)


def _labels(task: DictConfig) -> list[str]:
    labels = task.get("labels")
    if isinstance(labels, str):
        return list(labels)
    return list(labels) if isinstance(labels, ListConfig) else []


def upgrade_deprecated_keys(cfg: DictConfig) -> None:
    """Map the keys older configs and commands used onto today's, with one warning line each, so they mean
    what they meant: `recranker=true` is `recipe=recranker`; `mode=retrieval` is `recipe=retrieval`;
    `task.scoring=X` is `readout=X`. A config stored before `recipe` existed gets the recipe it ran."""
    flag = cfg.get("recranker")
    if "recipe" not in cfg:  # a config stored before the key existed: the rule run.yaml's resolver applies
        cfg.recipe = "recranker" if flag else default_recipe(OmegaConf.select(cfg, "task.name"))
    if flag is not None:
        if not isinstance(flag, bool):
            raise ConfigError(f"`recranker` must be true or false (deprecated: use recipe=recranker), got {flag!r}")
        log.warning("`recranker=%s` is deprecated: %s", str(flag).lower(),
                    "use `recipe=recranker`" if flag else "remove it (the recipe follows `task`, or set `recipe`)")
        if flag:
            cfg.recipe = "recranker"
        cfg.recranker = None
    if cfg.get("mode") == "retrieval":
        log.warning("`mode=retrieval` is deprecated: use `recipe=retrieval`")
        cfg.recipe, cfg.mode = "retrieval", "train"
    scoring = cfg.task.get("scoring") if cfg.get("task") is not None else None
    if scoring is not None:  # rankexp.models.readouts.readout_spec maps it
        log.warning("`task.scoring=%s` is deprecated: use `readout=%s`", scoring, scoring)
    if cfg.get("y_over") is not None:  # readout_spec carries it into the readout
        log.warning("`y_over=%s` is deprecated: use `readout.y_over=%s`", cfg.y_over, cfg.y_over)


def _fill_readout(cfg: DictConfig) -> None:
    """An unset `readout` becomes the one `readout_spec` picks (the recipe's own, or the deprecated
    `task.scoring`'s), so the run's config, results.json and W&B show the readout it used; the deprecated
    `task.scoring` and root `y_over` are then cleared, their meaning carried by `readout`."""
    from omegaconf import open_dict

    from rankexp.models.readouts import readout_class, readout_node, readout_spec

    spec = readout_spec(cfg)  # a `task.scoring` that disagrees with `readout` is refused here
    if spec is None:
        return
    with open_dict(cfg):
        if cfg.get("readout") is None:
            cfg.readout = readout_node(readout_class(spec).name)
        if cfg.get("task") is not None and "scoring" in cfg.task:
            cfg.task.scoring = None
        if cfg.get("y_over") is not None:
            if "y_over" in spec:
                cfg.readout.y_over = spec["y_over"]
            cfg.y_over = None


def _check_readout(cfg: DictConfig, recipe: str | None) -> None:
    """The run's readout (`rankexp.models.readouts.readout_spec`) belongs to its recipe, and `eval.methods`
    decodes only a readout whose answers can be decoded."""
    from rankexp.models.readouts import readout_class, readout_spec

    spec = readout_spec(cfg) if recipe in ("alro", "recranker") else None
    if spec is None:
        return
    readout = readout_class(spec)
    if readout.recipe != recipe:
        raise ConfigError(f"`readout={readout.name}` is read by the {readout.recipe} recipe, and this run's is "
                          f"`recipe={recipe}` (task={cfg.task.get('name')}): drop `readout` (the recipe then uses "
                          "its own) or pick a readout of this recipe")
    methods = [m for m in (cfg.eval.methods if cfg.get("eval") is not None else []) if m != "verbalizer"]
    if methods and not readout.decodes:
        raise ConfigError(f"`eval.methods` {methods} decode the slot answer that `readout={readout.name}` does "
                          "not write; use eval.methods=[verbalizer]")


def check_cross_keys(cfg: DictConfig) -> None:
    """Rules between keys, checked before the model loads."""
    task, protocol = cfg.get("task"), cfg.get("protocol")
    recipe = cfg.get("recipe")
    if task is not None and task.get("name") in RECRANKER_TASKS and recipe == "alro":
        raise ConfigError(f"`task={task.get('name')}` is one of RecRanker's tasks: it needs `recipe=recranker` (its "
                          "default), not `recipe=alro`")
    _check_readout(cfg, recipe)
    if task is not None and protocol is not None and task.get("name") in ("listwise", "hybrid"):
        labels = _labels(task)
        if labels and int(protocol.m) > len(labels):
            raise ConfigError(f"`protocol.m`={protocol.m} candidates need as many labels, but `task.labels` has "
                              f"{len(labels)}; lower `protocol.m` or give more labels")
        recranker_list = task.get("name") == "hybrid" or (recipe == "recranker" and task.get("name") == "listwise")
        if recranker_list and int(protocol.m) < 10:  # training lists: 3 + 2 rated and 5 unrated candidates
            raise ConfigError(f"`protocol.m`={protocol.m}: RecRanker's listwise instructions show 10 candidates, "
                              "so its listwise and hybrid tasks need `protocol.m` >= 10")
    _check_run_keys(cfg)
    evaluation = cfg.get("eval")
    if evaluation is not None and evaluation.get("fusion") == "retriever" and protocol is not None \
            and protocol.get("name") != "rerank_topk":
        raise ConfigError(f"`eval.fusion=retriever` fuses the retriever's scores of each list, and "
                          f"`protocol.name={protocol.get('name')}` has no retriever: use `protocol=rerank_topk "
                          "retriever=lightgcn` or `eval.fusion=item_mean`")
    if task is not None and task.get("hints"):
        _check_cross_fitted(task, protocol)
    recranker = task is not None and recipe == "recranker"
    if recranker and task.hint_format != "value":
        raise ConfigError(f"`task.hint_format={task.hint_format}` is for the listwise prompts (rankexp.recipes.alro); "
                          "RecRanker's tasks show the hint values: use `task.hint_format=value`")
    if recranker and task.hint_signal != "rating":
        raise ConfigError(f"`task.hint_signal={task.hint_signal}` is for the listwise prompts (rankexp.recipes.alro); "
                          "RecRanker's tasks show predicted ratings: use `task.hint_signal=rating`")
    if evaluation is not None and recranker and int(evaluation.test_orders) > 1:
        raise ConfigError("`eval.test_orders` averages the listwise ranker's scores over candidate orders; the "
                          "RecRanker recipe's hybrid does not use it: set `eval.test_orders=1`")
    losses = cfg.get("loss")
    if isinstance(losses, DictConfig):
        for name, spec in losses.items():
            weight = spec.get("weight") if isinstance(spec, DictConfig) else None
            if weight is not None and not number(0).accepts(weight):
                raise ConfigError(f"`loss.{name}.weight` must be {number(0).describe()}, got {weight!r}")


# Groups whose every key is known: a key outside its schema (and the few unschema'd keys named here) is
# a typo or a key put under the wrong group, which would otherwise be ignored without a word.
CLOSED_GROUPS: dict[str, tuple[type, tuple[str, ...]]] = {
    "optim": (OptimSchema, ()), "train": (TrainSchema, ()), "protocol": (ProtocolSchema, ()),
    "eval": (EvalSchema, ("ks", "selection_metric", "methods")),
}


def _check_run_keys(cfg: DictConfig) -> None:
    """A run that could never end, and the weights `mode=eval` tests."""
    trainer = cfg.get("trainer")
    if trainer is not None and trainer.get("max_steps") == -1 and trainer.get("max_epochs") in (-1, None):
        raise ConfigError(f"`trainer.max_steps=-1` trains until `trainer.max_epochs`, and `trainer.max_epochs="
                          f"{trainer.get('max_epochs')}` never ends: set one of them to a positive number")
    if cfg.get("adapter") is not None:
        if cfg.get("mode") != "eval":
            raise ConfigError(f"`adapter` is tested by `mode=eval`; with `mode={cfg.get('mode')}` it would be ignored "
                              "(resume training with `ckpt_path=`)")
        if cfg.get("ckpt_path") is not None:
            raise ConfigError("`adapter` and `ckpt_path` both name weights to test; set one of them")


def unknown_key_error(path: str, key: str, known: list[str] | None = None) -> str:
    """The message for `path.key` that no code reads: where the key does live, or the closest names
    (edit distance, `difflib`), or every key the group takes."""
    import difflib

    homes = [group for group, (schema, extra) in CLOSED_GROUPS.items()
             if group != path and key in {f.name for f in fields(schema)} | set(extra)]
    if known is None:
        schema, extra = CLOSED_GROUPS[path]
        known = sorted({f.name for f in fields(schema)} | set(extra))
    if homes:
        hint = f"it belongs under `{homes[0]}`: `{homes[0]}.{key}`"
    else:
        close = difflib.get_close_matches(key, known, n=3)
        hint = (f"did you mean {', '.join(f'`{path}.{c}`' for c in close)}?" if close
                else f"{path}.* takes {[k for k in known if not k.startswith('_')]}")
    return f"`{path}.{key}` is not a config key, so nothing would read it; {hint}"


# Groups built by `_target_`: their keys are the target's parameters (torchtune checks configs the same way).
TARGET_GROUPS = ("data", "model", "trainer", "sampler", "readout")
HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")


def target_parameters(target: str) -> list[str] | None:
    """The keyword parameters of a `_target_` (a class's `__init__`); None when it takes **kwargs."""
    import inspect

    from hydra._internal.utils import _locate

    try:
        parameters = inspect.signature(_locate(target)).parameters.values()
    except (ImportError, ValueError, TypeError):
        return None  # instantiate reports an unknown target itself
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return sorted(p.name for p in parameters) + list(HYDRA_KEYS)


def task_keys() -> list[str]:
    """Every key some shipped `conf/task/*.yaml` sets: the task group has no `_target_`, its recipes read these."""
    from omegaconf import OmegaConf

    from rankexp.config.conf_dir import CONF_DIR

    return sorted({str(k) for path in (CONF_DIR / "task").glob("*.yaml") for k in OmegaConf.load(path)})


def check_closed_groups(cfg: DictConfig) -> None:
    """Raise ConfigError for the first key of a group that no code reads: the schema'd groups, the groups
    built by `_target_` (against its signature), each callback, and `task` (against the shipped tasks)."""
    for path, (schema, extra) in CLOSED_GROUPS.items():
        node = node_at(cfg, path)
        if node is None:
            continue
        for key in node:
            if key not in {f.name for f in fields(schema)} | set(extra):
                raise ConfigError(unknown_key_error(path, str(key)))
    callbacks = node_at(cfg, "callbacks")
    targets = [*TARGET_GROUPS, *(f"callbacks.{k}" for k in (callbacks or {}))]
    for path in targets:
        node = node_at(cfg, path)
        known = target_parameters(str(node["_target_"])) if node is not None and "_target_" in node else None
        _refuse_unknown(node, path, known)
    _refuse_unknown(node_at(cfg, "task"), "task", task_keys())


def _refuse_unknown(node: DictConfig | None, path: str, known: list[str] | None) -> None:
    if node is None or known is None:
        return
    for key in node:
        if key not in known:
            raise ConfigError(unknown_key_error(path, str(key), known))


def validate_config(cfg: DictConfig) -> None:
    """Check every schema'd key of `cfg`, and that the closed groups hold no unknown key; the first bad
    one raises a ConfigError naming it. Deprecated keys are mapped onto their replacements first."""
    upgrade_deprecated_keys(cfg)
    for path, schema in GROUPS:
        node = node_at(cfg, path)
        if node is not None:
            check_group(node, schema, path)
    _fill_readout(cfg)
    check_closed_groups(cfg)
    check_cross_keys(cfg)


def _check_cross_fitted(task: DictConfig, protocol: DictConfig | None) -> None:
    """`retriever_cv` hints need the rerank protocol's retriever, and a prefix block would show the full
    retriever's ratings on training prompts (the block's hint function is the evaluation one)."""
    sources = {key: task.get(key) for key in ("hint_source", "pointwise_hint_source")}
    cv_keys = [key for key, source in sources.items() if source == "retriever_cv"]
    if not cv_keys:
        return
    if protocol is not None and protocol.get("name") != "rerank_topk":
        raise ConfigError(f"`task.{cv_keys[0]}=retriever_cv` cross-fits the retriever, and "
                          f"`protocol.name={protocol.get('name')}` has none: use `protocol=rerank_topk "
                          "retriever=lightgcn` or `task.hint_source=item_mean`")
    point_cv = (sources["pointwise_hint_source"] or sources["hint_source"]) == "retriever_cv"
    if point_cv and task.get("candidates_in_prefix"):
        raise ConfigError("`task.candidates_in_prefix=true` shows every block item's rating from the retriever fit "
                          "on all of train, also on training prompts, which `task.pointwise_hint_source=retriever_cv` "
                          "forbids: set `task.candidates_in_prefix=false` or `task.pointwise_hint_source=item_mean`")
