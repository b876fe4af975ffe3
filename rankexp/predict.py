"""Rank candidates for one user with a (fine-tuned) LLM ranker.

    python -m rankexp.predict --input request.json                      # zero-shot SmolLM2-135M
    python -m rankexp.predict --input request.json --adapter outputs/2026-01-01/12-00-00/adapter
    python -m rankexp.predict --input request.json --model tiny_random --json

request.json:
    {"history": [{"title": "Toy Story (1995)", "rating": 5}, ...],   # oldest first; may be []
     "candidates": ["Heat (1995)", "Babe (1995)", ...]}              # 1..20, one label each

Scores are the single-pass verbalizer of `ListwiseRanker.score`: the probability of each
candidate's label as the first answer token of the listwise prompt. With `--adapter` taken
from a run dir (`<run>/adapter`), the prompt settings (labels, title length, item noun,
rating scale) and the model come from that run's `.hydra/config.yaml`, so the prompt matches
training; `--model` names a `conf/model/*.yaml` otherwise (default smollm2_135m).

`make_score_fn(ranker, encoder)` is the same scoring as a `score(examples) -> [B, m]`
callable for `rankexp.report.media` (example tables, position bias).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rankexp.conf_dir import CONF_DIR
from rankexp.data.examples import ListwiseExample
from rankexp.errors import ConfigError, RankexpError, exit_on_user_error
from rankexp.models.list_scores import make_score_fn
from rankexp.prompts.style import PromptStyle, labels_for

log = logging.getLogger(__name__)
DEFAULT_MODEL = "smollm2_135m"
REQUEST_KEYS = ("history", "candidates")


class RequestError(RankexpError):
    """The request file is missing, not JSON, or a field has the wrong shape."""


@dataclass
class Request:
    history_titles: list[str]
    history_ratings: list[float]
    candidates: list[str]


@dataclass
class Settings:
    """Everything besides the request that decides the prompt and the model."""

    model: dict[str, Any]  # ModelSpec keyword arguments
    labels: str = "ABCDEFGHIJKLMNOPQRST"
    style: PromptStyle = field(default_factory=PromptStyle)
    rating_scale: tuple[float, float] = (1.0, 5.0)
    source: str = "defaults"


# ------------------------------------------------------------------------------------------ request


def parse_request(data: Any, max_candidates: int, rating_scale: tuple[float, float] = (1.0, 5.0),
                  where: str = "request") -> Request:
    """Validate a decoded request; every error names the offending field."""
    if not isinstance(data, dict):
        raise RequestError(f"{where}: the top level must be a JSON object with keys {list(REQUEST_KEYS)}, "
                           f"got {type(data).__name__}")
    unknown = sorted(set(data) - set(REQUEST_KEYS))
    if unknown:
        raise RequestError(f"{where}: unknown field(s) {unknown}; a request has only {list(REQUEST_KEYS)}")
    history = data.get("history", [])
    if not isinstance(history, list):
        raise RequestError(f"{where}: `history` must be a list of {{\"title\": ..., \"rating\": ...}} objects")
    titles, ratings = [], []
    low, high = rating_scale
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise RequestError(f"{where}: `history[{i}]` must be an object like {{\"title\": \"...\", \"rating\": 5}}, "
                               f"got {entry!r}")
        title = entry.get("title")
        if not isinstance(title, str) or not title.strip():
            raise RequestError(f"{where}: `history[{i}].title` must be a non-empty string, got {title!r}")
        rating = entry.get("rating")
        if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not math.isfinite(rating):
            raise RequestError(f"{where}: `history[{i}].rating` must be a number, got {rating!r}")
        if not low <= rating <= high:
            raise RequestError(f"{where}: `history[{i}].rating`={rating} is outside the rating scale {low:g}-{high:g}")
        extra = sorted(set(entry) - {"title", "rating"})
        if extra:
            raise RequestError(f"{where}: `history[{i}]` has unknown field(s) {extra}; use only title, rating")
        titles.append(title.strip())
        ratings.append(float(rating))
    if "candidates" not in data:
        raise RequestError(f"{where}: `candidates` is missing (a list of titles to rank)")
    candidates = data["candidates"]
    if not isinstance(candidates, list) or not candidates:
        raise RequestError(f"{where}: `candidates` must be a non-empty list of titles, got {candidates!r}")
    for i, title in enumerate(candidates):
        if not isinstance(title, str) or not title.strip():
            raise RequestError(f"{where}: `candidates[{i}]` must be a non-empty string, got {title!r}")
    if len(candidates) > max_candidates:
        raise RequestError(f"{where}: {len(candidates)} candidates, but the ranker has only {max_candidates} labels "
                           f"(one per candidate); send at most {max_candidates}")
    stripped = [c.strip() for c in candidates]
    duplicates = sorted({c for c in stripped if stripped.count(c) > 1})
    if duplicates:
        raise RequestError(f"{where}: `candidates` lists {duplicates} more than once; each candidate once")
    return Request(titles, ratings, stripped)


def load_request(path: str, max_candidates: int, rating_scale: tuple[float, float] = (1.0, 5.0)) -> Request:
    """Read and validate `path` (`-` = stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RequestError(f"cannot read request file {path}: {error.strerror or error}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") \
            from error
    return parse_request(data, max_candidates, rating_scale, where=str(path))


def as_example(request: Request) -> tuple[ListwiseExample, np.ndarray]:
    """The request as a ListwiseExample over local item ids, plus the title of each id."""
    titles = np.array(request.history_titles + request.candidates, dtype=object)
    h, m = len(request.history_titles), len(request.candidates)
    example = ListwiseExample(user=0, history=np.arange(h), history_ratings=np.array(request.history_ratings),
                              candidates=np.arange(h, h + m), gains=np.zeros(m, dtype=np.float32),
                              target_slots=np.arange(m))
    return example, titles


# ------------------------------------------------------------------------------------------ settings


def _load_yaml(path: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def model_config(name: str) -> dict[str, Any]:
    path = CONF_DIR / "model" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
        raise ConfigError(f"unknown model {name!r} (`--model`); known: {', '.join(known)}")
    return _load_yaml(path)


def run_config(adapter: Path | None) -> dict[str, Any] | None:
    """The `.hydra/config.yaml` of the run an adapter was saved by (`<run>/adapter`), if any."""
    if adapter is None:
        return None
    for candidate in (adapter.parent / ".hydra" / "config.yaml", adapter / ".hydra" / "config.yaml"):
        if candidate.is_file():
            return _load_yaml(candidate)
    return None


def resolve_settings(model: str | None, adapter: Path | None, item_noun: str | None = None) -> Settings:
    run = run_config(adapter)
    task = (run or {}).get("task") or _load_yaml(CONF_DIR / "task" / "listwise.yaml")
    data = (run or {}).get("data") or {}
    if model is not None:
        spec, source = model_config(model), f"conf/model/{model}.yaml"
    elif run is not None and run.get("model"):
        spec, source = dict(run["model"]), f"{adapter.parent}/.hydra/config.yaml"
    else:
        spec, source = model_config(DEFAULT_MODEL), f"conf/model/{DEFAULT_MODEL}.yaml"
    spec.pop("_target_", None)
    scale = tuple(float(x) for x in data.get("rating_scale", (1.0, 5.0)))
    style = PromptStyle(item_noun=item_noun or data.get("item_noun", "movie"),
                        title_max_chars=int(task.get("title_max_chars", 40)),
                        history_with_ratings=bool(task.get("history_with_ratings", True)),
                        rating_max=int(scale[1]), hints=False)
    if task.get("hints"):
        log.warning("the adapter was trained with candidate hints; a request carries none, so prompts have no hints")
    return Settings(spec, str(task.get("labels", "ABCDEFGHIJKLMNOPQRST")), style, scale, source)


def load_model(settings: Settings, adapter: Path | None):
    """(model, tokenizer, max_length): the base model of `settings`, with the adapter if given."""
    from rankexp.models.adapters import load_adapter
    from rankexp.models.loading import ModelSpec

    spec = ModelSpec(**{**settings.model, "lora": None})  # the adapter brings its own LoRA config
    model, tokenizer = spec.load()
    if adapter is not None:
        model = load_adapter(model, adapter)
    return model.eval(), tokenizer, spec.max_length


def rank(request: Request, settings: Settings, adapter: Path | None = None, loaded=None) -> list[dict[str, Any]]:
    """Candidates best first: [{rank, label, title, score, share}]; score = P(label is the first answer).

    `loaded`: the `load_model(...)` triple, to rank many requests with one model.
    """
    from torch import nn

    from rankexp.models.ranker import ListwiseRanker
    from rankexp.prompts.listwise import ListwiseEncoder

    model, tokenizer, max_length = loaded or load_model(settings, adapter)
    example, titles = as_example(request)
    labels = labels_for(len(request.candidates), settings.labels)
    encoder = ListwiseEncoder(tokenizer, titles, labels, settings.style, max_length)
    ranker = ListwiseRanker(model, encoder.label_ids, nn.ModuleDict())
    scores = make_score_fn(ranker, encoder)([example])[0]
    if encoder.truncations:
        log.warning("the prompt was over model.max_length=%d tokens: the oldest history items were dropped", max_length)
    total = float(scores.sum()) or 1.0
    order = np.argsort(-scores, kind="stable")
    return [{"rank": r + 1, "label": labels[slot], "title": request.candidates[slot], "score": float(scores[slot]),
             "share": float(scores[slot]) / total} for r, slot in enumerate(order)]


def format_ranking(ranking: list[dict[str, Any]]) -> str:
    width = max(len(r["title"]) for r in ranking)
    lines = [f"{'rank':>4}  {'label':5}  {'title':{width}}  {'score':>9}  {'share':>6}"]
    lines += [f"{r['rank']:>4}  {r['label']:5}  {r['title']:{width}}  {r['score']:9.3e}  {r['share']:6.1%}"
              for r in ranking]
    return "\n".join(lines)


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rankexp.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="request JSON file ('-' = stdin)")
    parser.add_argument("--adapter", default=None, help="LoRA adapter dir saved by a run (<run dir>/adapter)")
    parser.add_argument("--model", default=None,
                        help=f"conf/model/<name>.yaml (default: the adapter's run's model, else {DEFAULT_MODEL})")
    parser.add_argument("--item-noun", default=None, help="word for items in the prompt (default: the run's, or movie)")
    parser.add_argument("--json", action="store_true", help="print the ranking as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    adapter = Path(args.adapter) if args.adapter else None
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"`--adapter` {adapter} holds no adapter_config.json; pass the `adapter` dir of a run")
    settings = resolve_settings(args.model, adapter, args.item_noun)
    request = load_request(args.input, len(settings.labels), settings.rating_scale)
    ranking = rank(request, settings, adapter)
    sys.stdout.write((json.dumps(ranking, indent=1) if args.json else format_ranking(ranking)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
