"""Readouts: how a ranker turns one prompt into candidate scores (the `readout` config group, conf/readout/).

A readout owns everything that changes with the way scores are read:
- its prompt wording (`template`, the `prompt.<prompt_shape>` group) and its encoder, which follows
  `rankexp.prompts.core.ListEncoder` (encode, collate, truncation count);
- its LightningModule (`ranker`): the forward outputs the losses read (`outputs.provides`, matched against each
  loss's `needs`) and `score`, the candidate scores every evaluation reads;
- what an adapter keeps of it: `rankexp.json` stores the resolved readout config, `_target_` included, so
  `rankexp.Ranker` and `mode=eval` rebuild the very prompt and readout later;
- its fields in `python -m rankexp.export`'s list records (`record`, documented by `record_fields`).

The recipes, `rankexp.Ranker` and the manifest ask the readout; none of them branches on its name. A new
readout is a `Readout` subclass plus `conf/readout/<name>.yaml` (its `_target_` and settings), selected by
`readout=<name>`; tests/models/test_new_readout_from_config.py trains and ranks one from a temporary folder.

`readout_spec(cfg)` is the one place that decides which readout a config runs: the `readout` node when set,
else the deprecated `task.scoring`, else the recipe's own (`DEFAULT_READOUT`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from rankexp.config.conf_dir import CONF_DIR
from rankexp.errors import ConfigError
from rankexp.prompts.core import ListEncoder
from rankexp.prompts.style import LABELS, labels_for

DEFAULT_READOUT = {"alro": "slot", "recranker": "instruction"}  # the recipe's readout when `readout` is unset


class Readout(ABC):
    """The contract a readout class keeps; its yaml's keys are its constructor's parameters. A subclass that
    leaves out `encoder` or `ranker` cannot be built (`build_readout` says so in one line)."""

    name: ClassVar[str] = ""  # what results, `rankexp.json` ("scoring") and messages call it
    prompt_shape: ClassVar[str] = ""  # conf/prompt/<shape>.yaml: the wording `template` holds
    recipe: ClassVar[str] = "alro"  # the recipe that trains and evaluates it
    decodes: ClassVar[bool] = False  # eval.methods constrained / generate can decode its answers
    # (manifest key, config key) an adapter must match; `readout.<key>` is a setting of the readout itself
    fit_keys: ClassVar[tuple[tuple[str, str], ...]] = ()
    # `python -m rankexp.export`: the fields `record` writes next to `prompt_ids`, each with its meaning
    # (empty: the readout has no list record format), and those written for training lists only
    record_fields: ClassVar[Mapping[str, str]] = {}
    record_train_only: ClassVar[tuple[str, ...]] = ()

    def __init__(self, template: Mapping[str, Any] | None = None) -> None:
        self.template = dict(template) if template else None

    @abstractmethod
    def encoder(self, tokenizer, titles, style, max_length: int, *, m: int,
                rating_scale: tuple[float, float]) -> ListEncoder:
        """The encoder of this readout's prompts over `titles`, for lists of `m` candidates."""

    @abstractmethod
    def ranker(self, model, encoder: ListEncoder, losses, **settings):
        """The LightningModule; `settings` are `RankerBase`'s and the evaluation's keyword arguments."""

    def max_candidates(self) -> int | None:
        """The most candidates one prompt can show (None: no limit of the readout's own)."""
        return None

    def shown_labels(self, encoder: ListEncoder) -> list[str] | None:
        """The labels the prompt shows next to the candidates (`Ranked.label`), if it shows any."""
        return None

    def record(self, encoder: ListEncoder, encoded, example, train: bool) -> dict[str, Any]:
        """This readout's fields of one exported list: `prompt_ids` (what the model reads) and `record_fields`
        (token ids as ids; the export writes their text). Only a readout with `record_fields` is exported."""
        raise ConfigError(f"`python -m rankexp.export` has no list record format for `readout={self.name}`")


def rating_values(rating_scale) -> list[int]:
    """The whole ratings of a scale (0 is never one: ratings start at 1)."""
    low, high = (int(v) for v in rating_scale)
    return list(range(max(low, 1), high + 1))


class SlotReadout(Readout):
    """ALRO's slot verbalizer: candidates carry labels, the answer lists them best first, and a list is scored
    by the label probabilities at the first answer slot (one forward)."""

    name, prompt_shape, decodes = "slot", "listwise", True
    fit_keys = (("readout.labels", "readout.labels (from task.labels)"),
                ("readout.chat_template", "readout.chat_template (from task.chat_template)"))

    def __init__(self, template: Mapping[str, Any] | None = None, labels: str = LABELS, chat_template: bool = False,
                 y_over: str = "vocab") -> None:
        # chat_template defaults to off as in runs saved before `task.chat_template` existed (the yaml sets it)
        super().__init__(template)
        self.labels, self.chat_template, self.y_over = str(labels), bool(chat_template), str(y_over)

    def encoder(self, tokenizer, titles, style, max_length, *, m, rating_scale):
        from rankexp.prompts.listwise import ListwiseEncoder

        return ListwiseEncoder(tokenizer, titles, labels_for(m, self.labels), style, max_length, self.chat_template,
                               self.template)

    def ranker(self, model, encoder, losses, **settings):
        from rankexp.models.ranker import ListwiseRanker

        return ListwiseRanker(model, encoder.label_ids, losses, y_over=self.y_over, **settings)

    def max_candidates(self) -> int:
        return len(self.labels)

    def shown_labels(self, encoder):
        return list(encoder.labels)

    record_fields: ClassVar[Mapping[str, str]] = {
        "target_ids": "the answer's token ids (labels best first, one per line), appended to prompt_ids in "
                      "training; val/test: the reference, not shown"}

    def record(self, encoder, encoded, example, train):
        target = encoded.target_ids if train else encoder.target_ids(example)
        return {"prompt_ids": list(encoded.prompt_ids), "target_ids": list(target)}


class CandidateReadout(Readout):
    """Each candidate's rating is read at the end of its own prompt line; the expected rating is its score."""

    name, prompt_shape = "candidate", "candidate"
    fit_keys = (("rating_values", "data.rating_scale"),)

    def encoder(self, tokenizer, titles, style, max_length, *, m, rating_scale):
        from rankexp.prompts.candidate import CandidateEncoder

        return CandidateEncoder(tokenizer, titles, style, max_length, rating_values(rating_scale), self.template)

    def ranker(self, model, encoder, losses, **settings):
        from rankexp.models.candidate_ranker import CandidateRanker

        return CandidateRanker(model, encoder.rating_ids, encoder.rating_values, losses, **settings)

    record_fields: ClassVar[Mapping[str, str]] = {
        "readout_positions": "index in prompt_ids whose next token is each candidate's rating",
        "history_readout": "the same for each history line (its rating follows in the prompt)",
        "history_targets": "the rating of each history line",
        "rating_targets": "train: the rating each candidate is trained to (its gain)"}
    record_train_only = ("rating_targets",)

    def record(self, encoder, encoded, example, train):
        out = {"prompt_ids": list(encoded.input_ids), "readout_positions": list(encoded.readout),
               "history_readout": list(encoded.history_readout),
               "history_targets": [encoder.rating_values[i] for i in encoded.history_targets]}
        if train:
            out["rating_targets"] = [encoder.rating_values[i] for i in encoder.rating_targets(example.gains)]
        return out


class InstructionReadout(Readout):
    """RecRanker's instruction answers (pointwise rating, pairwise yes/no, listwise labels), combined by the
    hybrid (`rankexp.models.hybrid`); trained and evaluated by `recipe=recranker` only, which passes the task's
    answers as encoder options and the hybrid evaluator to the ranker."""

    name, prompt_shape, recipe = "instruction", "recranker", "recranker"
    fit_keys = (("readout.chat_template", "readout.chat_template (from task.chat_template)"),)

    def __init__(self, template: Mapping[str, Any] | None = None, chat_template: bool = True) -> None:
        super().__init__(template)
        self.chat_template = bool(chat_template)

    def encoder(self, tokenizer, titles, style, max_length, *, m, rating_scale, labels=LABELS, **options):
        from rankexp.prompts.instructions import InstructionEncoder

        return InstructionEncoder(tokenizer, titles, style, labels_for(m, labels), rating_scale=rating_scale,
                                  max_length=max_length, chat_template=self.chat_template, template=self.template,
                                  **options)

    def ranker(self, model, encoder, losses, *, evaluator=None, **settings):
        from rankexp.models.instruction import InstructionRanker

        return InstructionRanker(model, evaluator, **settings)


# ---- which readout a config runs -----------------------------------------------------------------------
def readout_spec(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's readout config, resolved and plain (`_target_` plus its settings); None for `recipe=retrieval`.

    `readout` when set; else `task.scoring` (deprecated: older configs and commands); else
    the recipe's own readout (`DEFAULT_READOUT`) from conf/readout, resolved against this config.
    """
    from omegaconf import DictConfig, OmegaConf

    recipe = cfg.get("recipe")  # resolved: a composed run config, or a stored one read by rankexp.config.stored
    if not isinstance(recipe, str) or recipe.startswith("${"):
        raise ConfigError(f"the config's `recipe` is {recipe!r}: read a stored run config with "
                          "rankexp.config.stored.read_run_config, which resolves it")
    if recipe not in DEFAULT_READOUT:
        return None
    node = cfg.get("readout")
    scoring = (cfg.get("task") or {}).get("scoring")
    if recipe == "recranker" and scoring == "slot":
        scoring = None  # what task/listwise.yaml said by default before `readout` existed: RecRanker ignored it
    if node is not None:
        spec = _plain(node) if isinstance(node, DictConfig) else dict(node)
        if scoring is not None and scoring != readout_class(spec).name:
            raise ConfigError(f"`task.scoring={scoring}` (deprecated) and `readout` "
                              f"({readout_class(spec).name}) disagree: drop `task.scoring`")
        return with_root_y_over(spec, cfg.get("y_over"))
    root = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else dict(cfg))
    root.readout = readout_node(str(scoring) if scoring is not None else DEFAULT_READOUT[recipe])
    spec = {key: value for key, value in ((key, _resolved(root.readout, key)) for key in root.readout)
            if value is not _MISSING}
    return with_root_y_over(spec, cfg.get("y_over"))


def with_root_y_over(spec: dict[str, Any], y_over: str | None) -> dict[str, Any]:
    """The deprecated root `y_over` (older configs and commands) is the readout's `y_over`, where it has one;
    `y_over=labels` for a readout without ALRO's Y is refused rather than ignored."""
    if y_over is None:
        return spec
    import inspect

    if "y_over" in inspect.signature(readout_class(spec)).parameters:
        return {**spec, "y_over": y_over}
    if y_over != "vocab":  # "vocab" was every older config's value: nothing to carry over
        raise ConfigError(f"`y_over={y_over}` sets ALRO's Y of the slot readout; `readout={readout_class(spec).name}` "
                          "has none: drop `y_over`")
    return spec


def readout_node(name: str):
    """conf/readout/<name>.yaml as written (its interpolations resolve against the config it is put in)."""
    from omegaconf import OmegaConf

    path = CONF_DIR / "readout" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONF_DIR / "readout").glob("*.yaml"))
        raise ConfigError(f"`task.scoring={name}` names no readout in conf/readout/ ({', '.join(known)})")
    return OmegaConf.load(path)


_MISSING = object()


def _plain(node) -> dict[str, Any]:
    """The `readout` node resolved; an interpolation to a key this config lacks is one ConfigError line."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException as error:
        raise ConfigError(f"`readout` cannot be resolved: {str(error).splitlines()[0]}") from error


def _resolved(node, key: str) -> Any:
    """`node[key]` resolved and plain; _MISSING when it points at a key this config lacks (a run saved before
    that key existed: the readout's own default then applies)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationKeyError

    try:
        value = node[key]
    except InterpolationKeyError:
        return _MISSING
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def readout_class(spec: Mapping[str, Any]) -> type[Readout]:
    """The `Readout` subclass `spec["_target_"]` names; a ConfigError naming `readout._target_` otherwise."""
    from hydra._internal.utils import _locate

    target = spec.get("_target_")
    try:
        cls = _locate(str(target))
    except ImportError as error:
        raise ConfigError(f"`readout._target_` {target!r} cannot be imported ({error})") from error
    if not (isinstance(cls, type) and issubclass(cls, Readout) and cls.name):
        raise ConfigError(f"`readout._target_` {target!r} is not a readout: a rankexp.models.readouts.Readout "
                          "subclass that sets `name`")
    return cls


def build_readout(spec: Mapping[str, Any]) -> Readout:
    """The readout `spec` (`readout_spec`, or an adapter's `rankexp.json` "readout") describes."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    cls = readout_class(spec)
    try:
        return instantiate(dict(spec))
    except InstantiationException as error:
        raise ConfigError(f"`readout` ({cls.name}) cannot be built from {sorted(k for k in spec if k != '_target_')}: "
                          f"{error.__cause__ or error}") from error


def readout_of(cfg: Mapping[str, Any]) -> Readout:
    spec = readout_spec(cfg)
    if spec is None:
        raise ConfigError("`recipe=retrieval` ranks with the retriever alone: it has no readout")
    return build_readout(spec)
