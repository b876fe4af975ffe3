"""rankexp as a library: load a trained adapter and rank candidates for one user, or many.

    from rankexp import Ranker
    ranker = Ranker.from_pretrained("outputs/2026-12-02/06-00-00/adapter", data="ml100k")
    ranker.rank(history=[("Toy Story (1995)", 5), ("Heat (1995)", 3)],
                candidates=["Babe (1995)", "Casino (1995)", "Jumanji (1995)"])
    # -> [Ranked(rank=1, title='Babe (1995)', score=..., share=...), ...]  best first
    ranker.rank_batch([{"history": [...], "candidates": [...]}, ...])      # batched forwards

The adapter folder's `rankexp.json` (rankexp.models.manifest) says how it scores (ALRO's slot
verbalizer or the candidate readout), the prompt it was trained on, the protocol its hints came
from and its base model, so the prompt here is the training prompt; `data=` derives the hints
(rankexp.data.hint_lookup). An adapter trained by the RecRanker recipe (instruction prompts,
hybrid ranking) is refused: its three prompts and hybrid need the retriever's lists; test it
with `mode=eval adapter=...`. `python -m rankexp.predict` is the command line over this class.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rankexp.config.conf_dir import CONF_DIR
from rankexp.config.stored import read_manifest
from rankexp.data.examples import ListwiseExample
from rankexp.data.requests import Request, checked_hints, parse_request, request_of  # noqa: F401 - parse_request: re-exported
from rankexp.errors import ConfigError, RequestError, out_of_memory
from rankexp.io.quiet import quiet_loading
from rankexp.models.manifest import manifest_from_config

log = logging.getLogger(__name__)
DEFAULT_MODEL = "smollm2_135m"


@dataclass(frozen=True)
class Ranked:
    """One candidate in the returned order. `score`: the ranker's own score (slot: the probability of
    the label as first answer; candidate: the expected rating); `share`: score over the list's total."""

    rank: int
    title: str
    score: float
    share: float
    label: str | None = None


# ------------------------------------------------------------------------------------------ ranker


class Ranker:
    """A base model + LoRA adapter + the prompt it was trained on; `rank` orders candidates best first."""

    def __init__(self, model, tokenizer, manifest: dict[str, Any], source: str) -> None:
        self.readout = readout_of_manifest(manifest, source)
        self.model, self.tokenizer, self.manifest, self.source = model.eval(), tokenizer, manifest, source
        self.data_hints = None  # rankexp.data.hint_lookup.DataHints, set by with_hints_from
        self._warned_hints = False

    @classmethod
    def from_pretrained(cls, adapter: str | Path | None = None, *, model: str | None = None,
                        scoring: str | None = None, item_noun: str | None = None, data: Any = None) -> Ranker:
        """Load `adapter` onto its base model; None = the zero-shot default.

        `adapter`: a run's `adapter` folder, or a Hugging Face hub repo id holding one (fetched with
        `huggingface_hub.snapshot_download`; `HF_HUB_OFFLINE=1` reads the local HF cache only).
        `model`: a conf/model/<name>.yaml to use as the base instead of the adapter's (or the default).
        `scoring`: refuse an adapter whose readout is not this one (slot | candidate | a readout's `name`).
        `data`: derive the hints the adapter was trained with from this dataset (see `with_hints_from`).
        """
        from rankexp.models.adapters import resolve_adapter
        from rankexp.models.loading import ModelSpec

        path = resolve_adapter(adapter) if adapter is not None else None
        manifest = read_manifest(path) if path is not None else default_manifest()
        source = str(path) if path is not None else f"the zero-shot {DEFAULT_MODEL}"
        if scoring is not None and manifest["scoring"] != scoring:
            raise ConfigError(f"{source} scores with {manifest['scoring']!r} (recipe {manifest['recipe']}, task "
                              f"{manifest['task']!r}), not the asked {scoring!r}")
        readout_of_manifest(manifest, source)  # refused before loading gigabytes
        if model is not None:
            manifest = {**manifest, "model": {k: v for k, v in model_config(model).items() if k not in ("_target_", "lora")}}
        if item_noun is not None:
            manifest = {**manifest, "item_noun": item_noun}
        spec = ModelSpec(**{**manifest["model"], "lora": None})  # the adapter brings its own LoRA config
        with quiet_loading():  # only rankexp's own lines: no dependency notes or deprecation warnings
            import peft  # noqa: F401 - the scorers' imports (peft, Lightning) cost seconds: paid here, not at rank

            from rankexp.models import candidate_ranker, ranker, readouts  # noqa: F401

            with oom_hint(f"Ranker.from_pretrained loading {spec.name_or_path} ({source})"):
                base, tokenizer = spec.load()
                if path is not None:
                    from rankexp.models.adapters import load_adapter

                    base = load_adapter(base, path)
                    if (path / "tokenizer_config.json").is_file():
                        from rankexp.models.loading import load_tokenizer

                        tokenizer = load_tokenizer(str(path))  # the one pad-token / padding-side setup
        ranker = cls(base, tokenizer, manifest, source)
        return ranker.with_hints_from(data) if data is not None else ranker

    def with_hints_from(self, data: Any) -> Ranker:
        """Derive the hints this adapter was trained to read from `data`, exactly as its run did, so
        `rank` needs no `hints=`: the run's train split (its `protocol`, from rankexp.json), the same
        hint code, titles looked up in the data. `data`: a RatingData, a conf/data name ("ml100k") or
        a data config. Returns the ranker."""
        from rankexp.data.hint_lookup import DataHints

        self.data_hints = DataHints(data, self.manifest)
        return self

    @property
    def scoring(self) -> str:
        return str(self.manifest["scoring"])

    @property
    def max_candidates(self) -> int | None:
        return self.readout.max_candidates()

    def rank(self, history: Sequence[Any], candidates: Sequence[str], hints: Mapping[str, float] | None = None,
             user: Any = None) -> list[Ranked]:
        """The candidates best first with their scores. `history`: (title, rating) pairs, oldest first.

        `hints`: title -> the value the adapter was trained to see next to each title (its
        `rankexp.json` `hint_source`, e.g. the item's mean rating), for every candidate and history
        title. Without it, the hints come from `with_hints_from(data)` when set (`user`: the data's
        own id of a known user, whose train ratings are then left out of the item means, as in
        training); else an adapter trained with hints ranks from prompts with none.
        """
        return self.rank_batch([{"history": history, "candidates": candidates, "hints": hints, "user": user}])[0]

    def rank_batch(self, requests: Sequence[Mapping[str, Any]], batch_size: int = 8) -> list[list[Ranked]]:
        """Rank many requests ({"history", "candidates", optional "hints" and "user"}) in batched forwards.

        Requests with the same number of candidates share forwards of `batch_size` prompts; the
        result is one ranking per request, in order."""
        from rankexp.models.list_scores import make_score_fn

        built = []
        for i, item in enumerate(requests):
            where = f"requests[{i}]" if len(requests) > 1 else "request"
            request = request_of(item, self.max_candidates, tuple(self.manifest["rating_scale"]), where)
            built.append((request, *self._example(request, item.get("hints"), item.get("user"), where)))
        out: list[list[Ranked] | None] = [None] * len(built)
        groups: dict[tuple[int, bool], list[int]] = {}
        for i, (request, example, _) in enumerate(built):
            groups.setdefault((len(request.candidates), bool(example.hints)), []).append(i)
        for (m, with_hints), members in groups.items():
            titles, examples = _one_title_table([(built[i][1], built[i][2]) for i in members])
            encoder, ranker, labels = self._scorer(titles, m, with_hints=with_hints)
            with oom_hint(f"Ranker.rank_batch scoring {len(examples)} request(s) of {m} candidates at "
                          f"batch_size={batch_size} (pass a smaller batch_size)"):
                scores = make_score_fn(ranker, encoder, batch_size=batch_size)(examples)
            if encoder.truncations:
                log.warning("%d prompt(s) were over %d tokens: the oldest history items were dropped",
                            encoder.truncations, self.manifest["max_length"])
            for row, i in zip(scores, members):
                out[i] = _ranked(built[i][0].candidates, row, labels)
        return [ranking for ranking in out if ranking is not None]

    # ---- pieces ------------------------------------------------------------------------------
    def _example(self, request: Request, hints: Mapping[str, float] | None, user: Any,
                 where: str) -> tuple[ListwiseExample, np.ndarray]:
        titles = np.array(request.history_titles + request.candidates, dtype=object)
        h, m = len(request.history_titles), len(request.candidates)
        example = ListwiseExample(user=0, history=np.arange(h), history_ratings=np.array(request.history_ratings),
                                  candidates=np.arange(h, h + m), gains=np.zeros(m, dtype=np.float32),
                                  target_slots=np.arange(m))
        trained_with = self.manifest["style"]["hints"]
        if hints is None and self.data_hints is not None:
            from rankexp.data.hint_lookup import HintLookupError

            try:
                example.history_hints, example.hints = self.data_hints.texts(request.history_titles,
                                                                             request.candidates, user)
            except HintLookupError as error:
                raise RequestError(f"{where}: {error}") from error
            return example, titles
        if user is not None:
            raise RequestError(f"{where}: `user` picks a user of the data set by `with_hints_from`; none is set")
        if hints is None:
            if trained_with and not self._warned_hints:
                log.warning("the adapter was trained with %s hints next to each title; none were given, so the "
                            "prompts have none (pass hints={title: value}, or data= to derive them)",
                            self.manifest["hint_source"])
                self._warned_hints = True
            return example, titles
        if not trained_with:
            raise RequestError(f"{where}: `hints` given, but this adapter was trained without hints "
                               "(rankexp.json style.hints)")
        values = checked_hints(hints, request.history_titles + request.candidates, where)
        from rankexp.data.hints import HintText

        text = HintText(lambda _user, items: values[np.asarray(items, dtype=np.int64)],
                        self.manifest["hint_label"] or "avg", self.manifest.get("hint_format") or "value")
        example.history_hints, example.hints = text(0, np.arange(h)), text(0, np.arange(h, h + m))
        return example, titles

    def _scorer(self, titles: np.ndarray, m: int, with_hints: bool):
        """The adapter's readout's encoder and ranker over `titles`, with the prompt it was trained on."""
        from torch import nn

        from rankexp.prompts.style import PromptStyle, strip_years

        man = self.manifest
        style = PromptStyle(item_noun=man["item_noun"], **{**man["style"], "hints": with_hints})
        shown = strip_years(titles) if man["strip_year"] else titles
        encoder = self.readout.encoder(self.tokenizer, shown, style, man["max_length"], m=m,
                                       rating_scale=tuple(man["rating_scale"]))
        return encoder, self.readout.ranker(self.model, encoder, nn.ModuleDict()), self.readout.shown_labels(encoder)


@contextmanager
def oom_hint(stage: str):
    """An accelerator out-of-memory error inside becomes `rankexp.errors.out_of_memory`'s message (what ran
    out, `rankexp.plan`, batch size, gradient checkpointing, 4-bit), as a run's stage does."""
    import torch

    try:
        yield
    except torch.OutOfMemoryError as err:
        raise out_of_memory(err, stage) from err


def _one_title_table(pairs: list[tuple[ListwiseExample, np.ndarray]]) -> tuple[np.ndarray, list[ListwiseExample]]:
    """Several requests' examples over one title array (each example's item indices shifted into it)."""
    from dataclasses import replace

    titles, examples, offset = [], [], 0
    for example, own in pairs:
        examples.append(replace(example, history=example.history + offset, candidates=example.candidates + offset))
        titles.append(own)
        offset += len(own)
    return np.concatenate(titles), examples


def _ranked(candidates: list[str], scores: np.ndarray, labels: list[str] | None) -> list[Ranked]:
    total = float(np.abs(scores).sum()) or 1.0
    order = np.argsort(-scores, kind="stable")
    return [Ranked(rank=r + 1, title=candidates[j], score=float(scores[j]), share=float(scores[j]) / total,
                   label=labels[j] if labels else None) for r, j in enumerate(order)]


def readout_of_manifest(manifest: Mapping[str, Any], source: str):
    """The adapter's readout (`rankexp.models.readouts`); an adapter of another recipe is refused, naming what
    it is and how to test it."""
    from rankexp.models.manifest import manifest_readout
    from rankexp.models.readouts import build_readout, readout_class

    spec = manifest_readout(manifest)
    cls = readout_class(spec)
    if manifest["recipe"] != "alro" or cls.recipe != "alro":
        raise ConfigError(
            f"{source} was trained by the {manifest['recipe']} recipe (task {manifest['task']!r}, readout "
            f"{cls.name!r}); rankexp.Ranker ranks adapters of the ALRO listwise recipe (readout=slot, "
            "readout=candidate, or a readout of your own). Evaluate a RecRanker adapter with "
            "`python -m rankexp.run +experiment=recranker_ml100k mode=eval adapter=<run>/adapter`")
    return build_readout(spec)


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
    cfg = {"recipe": "alro", "task": {**task, "hints": False}, "data": {"rating_scale": [1.0, 5.0], "item_noun": "movie"},
           "model": model_config(DEFAULT_MODEL), "prompt": {"listwise": load("prompt", "listwise")},
           "protocol": {"m": len(task.get("labels", ""))}}
    return manifest_from_config(cfg)
