"""rankexp as a library: load a trained adapter and rank candidates for one user.

    from rankexp import Ranker
    ranker = Ranker.from_pretrained("outputs/2026-12-02/06-00-00/adapter")
    ranker.rank(history=[("Toy Story (1995)", 5), ("Heat (1995)", 3)],
                candidates=["Babe (1995)", "Casino (1995)", "Jumanji (1995)"],
                hints={"Babe (1995)": 3.9, ...})        # only if the adapter was trained with hints
    # -> [Ranked(rank=1, title='Babe (1995)', score=..., share=...), ...]  best first

The adapter folder's `rankexp.json` (rankexp.models.manifest) says how it scores (ALRO's slot
verbalizer or the candidate readout), the prompt it was trained on and its base model, so the
prompt here is the training prompt. An adapter trained by the RecRanker recipe (instruction
prompts, hybrid ranking) is refused: its three prompts and hybrid need the retriever's lists.
`python -m rankexp.predict` is the command line over this class.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rankexp.conf_dir import CONF_DIR
from rankexp.data.examples import ListwiseExample
from rankexp.errors import ConfigError, RankexpError
from rankexp.models.manifest import manifest_from_config, read_manifest

log = logging.getLogger(__name__)
DEFAULT_MODEL = "smollm2_135m"
SCORINGS = ("slot", "candidate")


class RequestError(RankexpError):
    """A ranking request is malformed: the message names the field."""


@dataclass(frozen=True)
class Ranked:
    """One candidate in the returned order. `score`: the ranker's own score (slot: the probability of
    the label as first answer; candidate: the expected rating); `share`: score over the list's total."""

    rank: int
    title: str
    score: float
    share: float
    label: str | None = None


# ------------------------------------------------------------------------------------------ request


@dataclass
class Request:
    history_titles: list[str]
    history_ratings: list[float]
    candidates: list[str]


def parse_request(history: Sequence[Any], candidates: Sequence[Any], max_candidates: int | None,
                  rating_scale: tuple[float, float] = (1.0, 5.0), where: str = "request") -> Request:
    """Validate a request; `history` holds (title, rating) pairs or {"title", "rating"} objects."""
    if not isinstance(history, (list, tuple)):
        raise RequestError(f"{where}: `history` must be a list of (title, rating) pairs, got {type(history).__name__}")
    titles, ratings = [], []
    low, high = rating_scale
    for i, entry in enumerate(history):
        if isinstance(entry, dict):
            extra = sorted(set(entry) - {"title", "rating"})
            if extra:
                raise RequestError(f"{where}: `history[{i}]` has unknown field(s) {extra}; use only title, rating")
            title, rating = entry.get("title"), entry.get("rating")
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            title, rating = entry
        else:
            raise RequestError(f"{where}: `history[{i}]` must be a (title, rating) pair or "
                               f"{{\"title\": \"...\", \"rating\": 5}}, got {entry!r}")
        if not isinstance(title, str) or not title.strip():
            raise RequestError(f"{where}: `history[{i}].title` must be a non-empty string, got {title!r}")
        if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not math.isfinite(rating):
            raise RequestError(f"{where}: `history[{i}].rating` must be a number, got {rating!r}")
        if not low <= rating <= high:
            raise RequestError(f"{where}: `history[{i}].rating`={rating} is outside the rating scale {low:g}-{high:g}")
        titles.append(title.strip())
        ratings.append(float(rating))
    if not isinstance(candidates, (list, tuple)) or not candidates:
        raise RequestError(f"{where}: `candidates` must be a non-empty list of titles, got {candidates!r}")
    for i, title in enumerate(candidates):
        if not isinstance(title, str) or not title.strip():
            raise RequestError(f"{where}: `candidates[{i}]` must be a non-empty string, got {title!r}")
    if max_candidates is not None and len(candidates) > max_candidates:
        raise RequestError(f"{where}: {len(candidates)} candidates, but the ranker has only {max_candidates} labels "
                           f"(one per candidate); send at most {max_candidates}")
    stripped = [c.strip() for c in candidates]
    duplicates = sorted({c for c in stripped if stripped.count(c) > 1})
    if duplicates:
        raise RequestError(f"{where}: `candidates` lists {duplicates} more than once; each candidate once")
    return Request(titles, ratings, stripped)


# ------------------------------------------------------------------------------------------ ranker


class Ranker:
    """A base model + LoRA adapter + the prompt it was trained on; `rank` orders candidates best first."""

    def __init__(self, model, tokenizer, manifest: dict[str, Any], source: str) -> None:
        check_recipe(manifest, source)
        self.model, self.tokenizer, self.manifest, self.source = model.eval(), tokenizer, manifest, source
        self._warned_hints = False

    @classmethod
    def from_pretrained(cls, adapter: str | Path | None = None, *, model: str | None = None,
                        scoring: str | None = None, item_noun: str | None = None) -> Ranker:
        """Load `adapter` (a run's `adapter` folder) onto its base model; None = the zero-shot default.

        `model`: a conf/model/<name>.yaml to use as the base instead of the adapter's (or the default).
        `scoring`: refuse an adapter whose readout is not this one (slot | candidate).
        """
        from rankexp.models.loading import ModelSpec

        path = Path(adapter) if adapter is not None else None
        if path is not None and not (path / "adapter_config.json").is_file():
            raise ConfigError(f"adapter {path} holds no adapter_config.json; pass the `adapter` folder of a run")
        manifest = read_manifest(path) if path is not None else default_manifest()
        source = str(path) if path is not None else f"the zero-shot {DEFAULT_MODEL}"
        if scoring is not None and manifest["scoring"] != scoring:
            raise ConfigError(f"{source} scores with {manifest['scoring']!r} (recipe {manifest['recipe']}, task "
                              f"{manifest['task']!r}), not the asked {scoring!r}")
        check_recipe(manifest, source)  # before loading gigabytes
        if model is not None:
            manifest = {**manifest, "model": {k: v for k, v in model_config(model).items() if k not in ("_target_", "lora")}}
        if item_noun is not None:
            manifest = {**manifest, "item_noun": item_noun}
        spec = ModelSpec(**{**manifest["model"], "lora": None})  # the adapter brings its own LoRA config
        base, tokenizer = spec.load()
        if path is not None:
            from rankexp.models.adapters import load_adapter

            base = load_adapter(base, path)
            if (path / "tokenizer_config.json").is_file():
                from rankexp.models.loading import load_tokenizer

                tokenizer = load_tokenizer(str(path))  # the one pad-token / padding-side setup
        return cls(base, tokenizer, manifest, source)

    @property
    def scoring(self) -> str:
        return str(self.manifest["scoring"])

    @property
    def max_candidates(self) -> int | None:
        return len(self.manifest["labels"]) if self.scoring == "slot" else None

    def rank(self, history: Sequence[Any], candidates: Sequence[str],
             hints: Mapping[str, float] | None = None) -> list[Ranked]:
        """The candidates best first with their scores. `history`: (title, rating) pairs, oldest first.

        `hints`: title -> the value the adapter was trained to see next to each title (its
        `rankexp.json` `hint_source`, e.g. the item's mean rating); needed for every candidate and
        history title when given. Without it, an adapter trained with hints ranks from prompts with none.
        """
        request = parse_request(list(history), list(candidates), self.max_candidates,
                                tuple(self.manifest["rating_scale"]))
        example, titles = self._example(request, hints)
        encoder, ranker, labels = self._scorer(titles, len(request.candidates), with_hints=bool(example.hints))
        from rankexp.models.list_scores import make_score_fn

        scores = make_score_fn(ranker, encoder)([example])[0]
        if encoder.truncations:
            log.warning("the prompt was over %d tokens: the oldest history items were dropped",
                        self.manifest["max_length"])
        total = float(np.abs(scores).sum()) or 1.0
        order = np.argsort(-scores, kind="stable")
        return [Ranked(rank=r + 1, title=request.candidates[j], score=float(scores[j]), share=float(scores[j]) / total,
                       label=labels[j] if labels else None) for r, j in enumerate(order)]

    # ---- pieces ------------------------------------------------------------------------------
    def _example(self, request: Request, hints: Mapping[str, float] | None) -> tuple[ListwiseExample, np.ndarray]:
        titles = np.array(request.history_titles + request.candidates, dtype=object)
        h, m = len(request.history_titles), len(request.candidates)
        example = ListwiseExample(user=0, history=np.arange(h), history_ratings=np.array(request.history_ratings),
                                  candidates=np.arange(h, h + m), gains=np.zeros(m, dtype=np.float32),
                                  target_slots=np.arange(m))
        trained_with = self.manifest["style"]["hints"]
        if hints is None:
            if trained_with and not self._warned_hints:
                log.warning("the adapter was trained with %s hints next to each title; none were given, so the "
                            "prompts have none (pass hints={title: value})", self.manifest["hint_source"])
                self._warned_hints = True
            return example, titles
        if not trained_with:
            raise RequestError("`hints` given, but this adapter was trained without hints (rankexp.json style.hints)")
        missing = [t for t in request.history_titles + request.candidates if t not in hints]
        if missing:
            raise RequestError(f"`hints` has no value for {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
                               "give one for every history and candidate title")
        label = self.manifest["hint_label"] or "avg"
        text = [f"{label} {float(hints[t]):.1f}" for t in titles]
        example.history_hints, example.hints = text[:h], text[h:]
        return example, titles

    def _scorer(self, titles: np.ndarray, m: int, with_hints: bool):
        from torch import nn

        from rankexp.prompts.style import PromptStyle, labels_for, strip_years

        man = self.manifest
        style = PromptStyle(item_noun=man["item_noun"], **{**man["style"], "hints": with_hints})
        shown = strip_years(titles) if man["strip_year"] else titles
        template = man["prompt"] or None
        if self.scoring == "candidate":
            from rankexp.models.candidate_ranker import CandidateRanker
            from rankexp.prompts.candidate import CandidateEncoder

            encoder = CandidateEncoder(self.tokenizer, shown, style, man["max_length"], man["rating_values"], template)
            return encoder, CandidateRanker(self.model, encoder.rating_ids, encoder.rating_values, nn.ModuleDict()), None
        from rankexp.models.ranker import ListwiseRanker
        from rankexp.prompts.listwise import ListwiseEncoder

        labels = labels_for(m, man["labels"])
        encoder = ListwiseEncoder(self.tokenizer, shown, labels, style, man["max_length"], man["chat_template"],
                                  template)
        return encoder, ListwiseRanker(self.model, encoder.label_ids, nn.ModuleDict()), labels


def check_recipe(manifest: Mapping[str, Any], source: str) -> None:
    """Refuse an adapter of another recipe or readout, naming what it is and what Ranker ranks."""
    if manifest["recipe"] != "alro" or manifest["scoring"] not in SCORINGS:
        raise ConfigError(
            f"{source} was trained by the {manifest['recipe']} recipe (task {manifest['task']!r}, scoring "
            f"{manifest['scoring']!r}); rankexp.Ranker ranks adapters of the ALRO listwise recipe "
            f"(task 'listwise', scoring {' or '.join(SCORINGS)}). Evaluate a RecRanker adapter with "
            "`python -m rankexp.run +experiment=recranker_ml100k mode=eval ckpt_path=...`")


def model_config(name: str) -> dict[str, Any]:
    from omegaconf import OmegaConf

    path = CONF_DIR / "model" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(known)}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def default_manifest() -> dict[str, Any]:
    """The zero-shot ranker: the shipped listwise task and prompt on the default model (ALRO's slot verbalizer)."""
    from omegaconf import OmegaConf

    def load(group: str, name: str) -> dict:
        return OmegaConf.to_container(OmegaConf.load(CONF_DIR / group / f"{name}.yaml"), resolve=False)

    task = load("task", "listwise")
    cfg = {"task": {**task, "hints": False}, "data": {"rating_scale": [1.0, 5.0], "item_noun": "movie"},
           "model": model_config(DEFAULT_MODEL), "prompt": {"listwise": load("prompt", "listwise")},
           "protocol": {"m": len(task.get("labels", ""))}}
    return manifest_from_config(cfg)
