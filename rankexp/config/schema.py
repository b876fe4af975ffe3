"""The config schema: every numeric and enumerated key of the shipped groups, checked before any work.

A bad value must fail in the first second with the key and the allowed range, not
after the data and the model have loaded (or, worse, as a traceback deep in torch).
Each group is a dataclass whose fields carry the rule and a help text, so the schema
documents the group too (`python -m rankexp.config` prints it). `rankexp.config.check.validate_config` applies it.

Why not Hydra structured configs as the groups' bases: OmegaConf checks types but not
ranges, its type errors are not `ConfigError`s, and the yaml files also hold
`_target_` and group-specific keys that a closed schema would reject. Here only the
keys a schema lists are checked; everything else passes through to its `_target_`.

A rule's bound or choices that the code depends on (`protocol.m >= 2`, `task.pairs`, `model.source`, ...) is a
constant declared next to that code and imported here, so a function called from Python without this schema
guards with the same value and the two cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rankexp.data.cross_fit import MIN_FOLDS
from rankexp.data.recranker import (  # noqa: F401  (RECRANKER_TASKS, default_recipe: the rule `recipe` defaults by)
    HYBRID_FORMS,
    MIX_MODES,
    PAIR_SETS,
    RECRANKER_TASKS,
    default_recipe,
)
from rankexp.data.splits import MIN_CANDIDATES
from rankexp.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """What one key accepts: a kind (int, float, bool, choice, str) and bounds or choices."""

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    extra: tuple[Any, ...] = ()  # values accepted besides the range (e.g. max_steps = -1)

    def describe(self) -> str:
        if self.kind == "choice":
            text = "one of " + ", ".join([*self.choices, *(str(v).lower() for v in self.extra)])
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "str":
            text = "a string"
        else:
            noun = "an integer" if self.kind == "int" else "a finite number"
            text = noun + self._bounds()
        if self.extra and self.kind != "choice":
            text += " (or " + ", ".join(str(v) for v in self.extra) + ")"
        return text + (" or null" if self.nullable else "")

    def _bounds(self) -> str:
        if self.low is not None and self.high is not None:
            return f" in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f" {'<' if self.high_open else '<='} {self.high:g}"
        return ""

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if value in self.extra and not isinstance(value, bool):
            return True
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str)
        if self.kind == "choice":
            return (isinstance(value, str) and value in self.choices) or (isinstance(value, bool) and value in self.extra)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return math.isfinite(value) and self._in_bounds(float(value))

    def _in_bounds(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))


def key(rule: Rule, help: str) -> Any:
    """A schema field: its rule and help text live in the dataclass metadata."""
    return field(default=None, metadata={"rule": rule, "help": help})


def count(low: int = 1, **kw: Any) -> Rule:
    return Rule("int", low=low, **kw)


def number(low: float | None = None, high: float | None = None, **kw: Any) -> Rule:
    return Rule("float", low=low, high=high, **kw)


def choice(*choices: str, **kw: Any) -> Rule:
    return Rule("choice", choices=choices, **kw)


FLAG = Rule("bool")
MODES = ("train", "eval", "data")
RECIPES = ("alro", "recranker", "retrieval")


@dataclass
class RunSchema:
    """Root keys of `run.yaml`."""

    seed: int = key(count(0), "seed for every draw (training windows, shuffles, LoRA init)")
    recipe: str = key(choice(*RECIPES), "which recipe runs: ALRO's listwise ranker, RecRanker's instruction tuning + "
                                        "hybrid, or the retriever alone (default: recranker for RecRanker's tasks)")
    mode: str = key(choice(*MODES), "what the recipe does: fit + test, test an adapter or checkpoint, or data stats")
    y_over: str = key(choice("vocab", "labels", nullable=True), "deprecated: readout.y_over (the slot readout's Y)")


@dataclass
class OptimSchema:
    """`optim.*`: AdamW on the LoRA weights."""

    lr: float = key(number(0, 1, low_open=True), "peak learning rate")
    weight_decay: float = key(number(0), "AdamW weight decay")
    warmup_steps: int = key(count(0), "linear warmup steps")
    schedule: str = key(choice("constant", "linear", "cosine"), "LR after warmup")
    min_lr_ratio: float = key(number(0, 1), "final LR / peak LR of a decaying schedule")


@dataclass
class TrainSchema:
    """`train.*`: draws, batches and how many lists validation and test read."""

    draws_per_epoch: int = key(count(1), "training instances drawn per epoch")
    batch_size: int = key(count(1), "training lists per step")
    eval_batch_size: int = key(count(1), "lists per scoring forward")
    max_val_lists: int = key(count(1, nullable=True), "cap on validation lists (null = all)")
    max_test_lists: int = key(count(1, nullable=True), "cap on test lists (null = all)")
    validate_before_fit: bool = key(FLAG, "score the untrained model on val first")
    grad_norm_every: int = key(count(0), "log each loss term's LoRA gradient norm every N steps (0 = off)")


@dataclass
class EvalSchema:
    """`eval.*`: what the test stage reports."""

    max_decode_lists: int = key(count(0), "test lists ranked by constrained / generate decoding")
    baselines: bool = key(FLAG, "score the non-LLM baselines on the same lists")
    fusion: str = key(choice("none", "item_mean", "retriever"),
                      "its own row: z(LLM) + w z(item mean | retriever score), w picked on val")
    test_orders: int = key(count(1), "LLM scores averaged over this many candidate orders: its own row")
    example_rankings: int = key(count(0), "rows of the example-rankings table")
    position_bias_lists: int = key(count(0), "test lists of the position-bias probe (0 = off)")
    share_prefix: bool = key(FLAG, "RecRanker hybrid: run a user's shared history prefix once (KV cache)")
    chunk_size: int = key(count(1), "RecRanker hybrid: rows per forward at most")
    pad_waste: float = key(number(0), "RecRanker hybrid: padding allowed per forward, as a share of real tokens")
    score_misses: bool = key(FLAG, "RecRanker: run users whose target is not in the top-m (false: exact 0, skipped)")


@dataclass
class ProtocolSchema:
    """`protocol.*`: which lists are ranked and how much history a prompt shows."""

    name: str = key(choice("explicit_listwise", "rerank_topk"), "the evaluation protocol")
    m: int = key(count(MIN_CANDIDATES), "candidates per list")
    history_len: int = key(count(1), "history items shown per prompt")
    min_history: int = key(count(0), "ratings a user needs before the held-out lists")
    min_distinct_ratings: int = key(count(1), "distinct ratings a list needs to be ranked")


@dataclass
class TaskSchema:
    """`task.*`: prompt shape and, for RecRanker, the task mix and the hybrid."""

    name: str = key(choice("listwise", "pointwise", "pairwise", "hybrid"), "the ranking task")
    scoring: str = key(choice("slot", "candidate", nullable=True), "deprecated: use readout=slot|candidate")
    tie_break: str = key(choice("random", "time"), "order of equal ratings in the target")
    history_with_ratings: bool = key(FLAG, "show the user's rating next to each history item")
    title_max_chars: int = key(count(4), "titles are cut to this many characters")
    shuffle: bool = key(FLAG, "shuffle candidates (position shifting)")
    hints: bool = key(FLAG, "show a hint signal next to each item")
    strip_year: bool = key(FLAG, "drop a trailing (YYYY) from titles")
    hint_source: str = key(choice("item_mean", "retriever_cv", "retriever"), "where the hints come from")
    hint_folds: int = key(count(MIN_FOLDS), "retriever_cv: folds of the train rows, one retriever copy per held-out fold")
    hint_signal: str = key(choice("rating", "score"),
                           "listwise prompts: a predicted rating, or the retriever's own score (hint_format=rank)")
    hint_format: str = key(choice("value", "value_rank", "rank"),
                           "listwise prompts: the hint's value, value and rank within the block, or rank only")
    pointwise_hint_source: str = key(choice("item_mean", "retriever_cv", "retriever", nullable=True),
                                     "hints of the pointwise task (null = hint_source)")
    dislike_threshold: float = key(number(), "ratings at or below this count as disliked")
    mix_mode: str = key(choice(*MIX_MODES), "draw one task per instruction, or all tasks")
    listwise_top: int = key(count(1), "items the listwise task returns")
    form: str = key(choice(*HYBRID_FORMS), "the hybrid's formula")
    pairs: str = key(choice(*PAIR_SETS), "pairwise prompts at test time")
    both_orders: bool = key(FLAG, "ask every pair in both orders")
    candidates_in_prefix: bool = key(FLAG, "list the candidates once in the shared prefix")


@dataclass
class LoraSchema:
    """`model.lora.*`: the peft LoRA adapter."""

    r: int = key(count(1), "LoRA rank")
    alpha: float = key(number(0, low_open=True), "LoRA scaling alpha")
    dropout: float = key(number(0, 1, high_open=True), "LoRA dropout")
    top_layers: int = key(count(1, nullable=True), "adapt only the top K decoder layers (null = all)")


@dataclass
class ModelSchema:
    """`model.*` (besides `lora`): which base model, in which precision."""

    # The model rules are written out (not imported from rankexp.models.loading) so that `import rankexp`, which
    # reads this schema, stays free of torch; tests/config/test_schema.py checks they equal loading's constants.
    source: str = key(choice("gguf_package", "hub", "tiny_random"), "where the base model comes from")
    attn_implementation: str = key(choice("sdpa", "eager", "flash_attention_2"), "transformers' attention kernel")
    dtype: str = key(choice("float32", "bfloat16", "float16"), "weight dtype")
    load_in_4bit: bool = key(FLAG, "NF4 quantisation (CUDA only)")
    gradient_checkpointing: bool = key(FLAG, "recompute activations in backward")
    max_length: int = key(count(16), "token budget of one prompt")


@dataclass
class DataSchema:
    """`data.*`: the dataset and what counts as liked."""

    like_threshold: float = key(number(), "ratings at or above this are liked")
    kcore_k: int = key(count(0), "k-core filter (0 = off)")
    fetch: str = key(Rule("choice", choices=("auto",), extra=(True, False)),
                    "auto: local copy else download | true: download if data.root lacks it | false: never")
    unknown_items: str = key(choice("error", "drop"), "ratings of items missing from the item file")


@dataclass
class TrainerSchema:
    """`trainer.*` keys rankexp relies on (the rest goes to `lightning.Trainer` as is)."""

    max_steps: int = key(count(1, extra=(-1,)), "optimizer steps (-1 = use max_epochs)")
    accumulate_grad_batches: int = key(count(1), "batches per optimizer step")
    gradient_clip_val: float = key(number(0, nullable=True), "gradient-norm clip (null = off)")
    log_every_n_steps: int = key(count(1), "logging interval")


# (config path, schema). "" is the root; groups missing from a config are skipped.
GROUPS: tuple[tuple[str, type], ...] = (
    ("", RunSchema), ("optim", OptimSchema), ("train", TrainSchema), ("eval", EvalSchema),
    ("protocol", ProtocolSchema), ("task", TaskSchema), ("model", ModelSchema), ("model.lora", LoraSchema),
    ("data", DataSchema), ("trainer", TrainerSchema),
)


def node_at(cfg: DictConfig, path: str) -> DictConfig | None:
    node = OmegaConf.select(cfg, path) if path else cfg
    return node if isinstance(node, DictConfig) else None


def check_group(node: DictConfig, schema: type, prefix: str) -> None:
    """Raise ConfigError for the first key of `node` that breaks its schema rule."""
    for spec in fields(schema):
        if spec.name not in node:
            continue
        value = node[spec.name]  # resolves interpolations: the value the run will see
        rule: Rule = spec.metadata["rule"]
        if not rule.accepts(value):
            name = f"{prefix}.{spec.name}" if prefix else spec.name
            raise ConfigError(f"`{name}` must be {rule.describe()}, got {value!r}")


def schema_table() -> str:
    """The schema as a markdown table: key, allowed values, meaning."""
    rows = ["| key | allowed | meaning |", "|---|---|---|"]
    for path, schema in GROUPS:
        for spec in fields(schema):
            name = f"{path}.{spec.name}" if path else spec.name
            rows.append(f"| `{name}` | {spec.metadata['rule'].describe()} | {spec.metadata['help']} |")
    return "\n".join(rows)
