"""Keys a run composes but does not read, declared once: another recipe's keys, and the settings of a switch
that is off.

Every run composes the same groups (conf/run.yaml's defaults), whichever recipe it runs, so its config
holds keys that change nothing in it: RecRanker's user sampler under `recipe=alro`, ALRO's loss terms under
`recipe=recranker`, the hint settings while `task.hints=false`, the wording of the prompt shapes its
readout does not use. `IDLE` lists each with the condition that makes it idle and why.

What uses it:
- a key typed on the command line while it is idle gets one warning line at the start of the run, naming
  the key and why it changes nothing (a sweep across recipes may share overrides, so it is not refused);
- tests/e2e/test_experiments.py runs every shipped experiment with a read recorder and checks this
  declaration both ways: every key the run set and never read is declared here, and every key declared
  idle was indeed not read.

The declaration covers training runs (`mode=train`, what the test runs). `mode=eval` and `mode=data` leave more
keys idle (the training settings; under `mode=data` the model too), and those are not declared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatch

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Idle:
    """Keys (fnmatch patterns on full keys, less those in `but`) that no code reads while `when(cfg)` holds,
    and why."""

    keys: tuple[str, ...]
    when: Callable[[DictConfig], bool]
    why: str
    but: tuple[str, ...] = ()

    def covers(self, key: str) -> bool:
        return key not in self.but and any(fnmatch(key, pattern) for pattern in self.keys)


def _recipe(cfg: DictConfig) -> str | None:
    return cfg.get("recipe")


def _task(cfg: DictConfig, key: str, default=None):
    task = cfg.get("task")
    return task.get(key, default) if isinstance(task, DictConfig) else default


def _prompt_shape(cfg: DictConfig) -> str | None:
    """The prompt shape the run's readout reads (conf/prompt/<shape>.yaml); None without a readout."""
    from rankexp.models.readouts import readout_class, readout_spec

    spec = readout_spec(cfg) if _recipe(cfg) in ("alro", "recranker") else None
    return readout_class(spec).prompt_shape if spec is not None else None


def _readout_interpolates(cfg: DictConfig, key: str) -> bool:
    """The readout node's yaml hands `key` to the readout (`labels: ${task.labels}`)."""
    node = cfg.get("readout")
    if not isinstance(node, DictConfig):
        return False
    raw = OmegaConf.to_container(node, resolve=False)
    return any(isinstance(value, str) and "${" + key + "}" in value for value in raw.values())


def _hint_cross_fitted(cfg: DictConfig) -> bool:
    return bool(_task(cfg, "hints")) and "retriever_cv" in (_task(cfg, "hint_source"),
                                                            _task(cfg, "pointwise_hint_source"))


RECRANKER_TASK_KEYS = ("task.dislike_threshold", "task.listwise_top", "task.mix_mode", "task.form", "task.weights",
                       "task.pairs", "task.both_orders", "task.candidates_in_prefix", "task.pointwise_hint_source")
RECRANKER_EVAL_KEYS = ("eval.share_prefix", "eval.chunk_size", "eval.pad_waste", "eval.score_misses")
ALRO_EVAL_KEYS = ("eval.methods", "eval.fusion", "eval.test_orders", "eval.position_bias_lists")
LLM_KEYS = ("model.*", "loss.*", "prompt.*", "readout.*", "optim.*", "trainer.*", "callbacks.*", "logger.*",
            "train.*", "task.*", "sampler.*", "eval.*", "ckpt_path", "adapter")
# what `recipe=retrieval` reads of them: the lists it ranks and the baselines it reports beside the retriever
RETRIEVAL_READS = ("task.hints", "task.shuffle", "task.tie_break", "train.max_val_lists", "train.max_test_lists",
                   "eval.baselines", "eval.ks")

IDLE: tuple[Idle, ...] = (
    Idle(LLM_KEYS, lambda cfg: _recipe(cfg) == "retrieval", "`recipe=retrieval` ranks with the retriever alone",
         but=RETRIEVAL_READS),
    Idle(("sampler.*",), lambda cfg: _recipe(cfg) == "alro", "RecRanker's user sampling: `recipe=alro` trains on "
                                                            "every train user"),
    Idle(RECRANKER_TASK_KEYS, lambda cfg: _recipe(cfg) == "alro", "RecRanker's instruction settings "
                                                                  "(`recipe=recranker`)"),
    Idle(RECRANKER_EVAL_KEYS, lambda cfg: _recipe(cfg) == "alro", "RecRanker's hybrid evaluation "
                                                                  "(`recipe=recranker`)"),
    Idle(("task.name",), lambda cfg: _recipe(cfg) == "alro", "`recipe=alro` always asks the listwise question"),
    *(Idle((key,), lambda cfg, key=key: _recipe(cfg) == "alro" and not _readout_interpolates(cfg, key),
           "read through the readout's yaml, and this run's readout does not take it")
      for key in ("task.labels", "task.chat_template")),
    Idle(("loss.*", "train.grad_norm_every", "train.eval_batch_size", "eval.max_decode_lists", *ALRO_EVAL_KEYS),
         lambda cfg: _recipe(cfg) == "recranker", "ALRO's loss terms and evaluation: `recipe=recranker` trains "
                                                  "with SFT and evaluates with its hybrid"),
    Idle(("train.draws_per_epoch",),
         lambda cfg: _recipe(cfg) == "recranker" and (cfg.get("sampler") or {}).get("budget") is not None,
         "ALRO's draws per epoch: under `recipe=recranker` it is Γ only while `sampler.budget` is null"),
    Idle(("eval.max_decode_lists",),
         lambda cfg: _recipe(cfg) == "alro" and all(m == "verbalizer" for m in cfg.eval.methods),
         "caps the decoding evaluations, and `eval.methods` holds none"),
    Idle(("task.hint_source", "task.pointwise_hint_source", "task.hint_format", "task.hint_signal"),
         lambda cfg: not _task(cfg, "hints"),
         "a hint setting, and `task.hints=false`"),
    Idle(("task.hint_folds",), lambda cfg: not _hint_cross_fitted(cfg),
         "the fold count of `retriever_cv` hints, and no hint source is `retriever_cv`"),
    Idle(("paths.cache_dir",), lambda cfg: (cfg.get("protocol") or {}).get("name") != "rerank_topk",
         "the retriever's cache, and `protocol` has no retriever"),
)


def _prompt_idle(cfg: DictConfig, key: str, shape: str | None) -> str | None:
    """`prompt.<shape>.*` is idle unless the run's readout reads that shape."""
    parts = key.split(".")
    if parts[0] != "prompt" or len(parts) < 2 or _recipe(cfg) == "retrieval" or parts[1] == shape:
        return None
    return f"the wording of the `{parts[1]}` prompt shape, and this run's readout reads `prompt.{shape}`"


def idle_keys(cfg: DictConfig, keys: Iterable[str]) -> dict[str, str]:
    """The keys among `keys` (full keys) that change nothing in the run `cfg` describes, each with why."""
    shape = _prompt_shape(cfg)
    out = {}
    for key in keys:
        why = next((idle.why for idle in IDLE if idle.covers(key) and idle.when(cfg)), None)
        why = why or _prompt_idle(cfg, key, shape)
        if why is not None:
            out[key] = why
    return out


def _leaves(node, prefix: str) -> list[str]:
    if not isinstance(node, DictConfig) or node._is_none():
        return [prefix]
    return [leaf for key in node for leaf in _leaves(node._get_node(key), f"{prefix}.{key}")]


def command_line_overrides() -> list[str]:
    """The overrides typed for this run (Hydra's `overrides.task`); none outside a Hydra app."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


_ABSENT = object()


def warn_idle_overrides(cfg: DictConfig, overrides: Iterable[str]) -> list[str]:
    """One warning line for each override that sets only idle keys; returns those overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    warned = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.is_delete() or override.is_hydra_override():
            continue
        path = override.package or override.key_or_group.replace("/", ".")
        node = OmegaConf.select(cfg, path, default=_ABSENT, throw_on_resolution_failure=False)
        if node is _ABSENT:  # +experiment=..., default_experiment=...: groups that leave no key of that name
            continue
        leaves = _leaves(node, path) if isinstance(node, DictConfig) else [path]
        reasons = idle_keys(cfg, leaves)
        if leaves and len(reasons) == len(leaves):
            log.warning("`%s` changes nothing in this run: %s", override.input_line, reasons[leaves[0]])
            warned.append(override.input_line)
    return warned
