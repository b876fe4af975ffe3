"""LoRA adapters: wrap a model with peft, save an adapter atomically, load one back safely.

A saved adapter carries a fingerprint of its base model (`rankexp_base.json`), so loading it
onto another model or another `model.lora` is a ConfigError naming the checkpoint, not a
silently wrong model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from rankexp.errors import ConfigError
from rankexp.models.dropout import use_fast_lora_dropout
from rankexp.models.integrity import SafetensorError, safetensors_damage

log = logging.getLogger(__name__)

BASE_FILE = "rankexp_base.json"  # next to a saved adapter: which base model it was trained on
WEIGHTS_FILE = "adapter_model.safetensors"  # peft's name for the adapter's weights


LORA_KEYS = ("r", "alpha", "dropout", "target_modules", "bias")  # every `model.lora` sets these
OPTIONAL_LORA_KEYS = ("top_layers",)  # absent = null, so configs and run dirs from before them still load


def lora_config(lora: dict, num_layers: int | None = None):
    """peft's LoraConfig from `model.lora` (the required keys are set in conf/model/*.yaml; none defaulted here).

    `top_layers: K` adapts only the top K of the model's `num_layers` decoder layers (peft's
    `layers_to_transform`). The layers below then hold no trainable weight, so autograd records nothing
    there and a training step's backward stops at the lowest adapted layer: a step costs about
    2N (forward) + 2N x K / layers (backward to the inputs) instead of 4N FLOPs per token.
    """
    from peft import LoraConfig, TaskType

    missing = [k for k in LORA_KEYS if k not in lora]
    if missing:
        raise ConfigError(f"`model.lora` lacks {', '.join(f'`{k}`' for k in missing)}; it needs {', '.join(LORA_KEYS)} "
                          "(see conf/model/smollm2_135m.yaml)")
    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=int(lora["r"]), lora_alpha=int(lora["alpha"]),
                      lora_dropout=float(lora["dropout"]),
                      target_modules=list(lora["target_modules"]),
                      bias=lora["bias"], layers_to_transform=adapted_layers(lora, num_layers))


def adapted_layer_count(lora: dict | None, num_layers: int) -> int:
    """How many decoder layers LoRA adapts, and a training step runs its backward through: `model.lora.top_layers`
    of them, at most all (None or no key: all). The planner and the speed benchmark count with it too."""
    top = lora.get("top_layers") if lora is not None else None
    return num_layers if top is None else min(int(top), num_layers)


def adapted_layers(lora: dict, num_layers: int | None) -> list[int] | None:
    """The decoder layers `model.lora.top_layers` adapts (None: all of them).

    A model with no more than K layers adapts all of them, so an experiment that sets K for its model still runs
    on a smaller one (the tests' 2-layer random Llama); the run's log says so.
    """
    top = lora.get("top_layers")
    if top is None:
        return None
    if num_layers is None:
        raise ConfigError("`model.lora.top_layers` needs the model's layer count; this model's config has none")
    if int(top) < 1:
        raise ConfigError(f"`model.lora.top_layers` must be >= 1 (or null: every layer), got {top}")
    count = adapted_layer_count(lora, num_layers)
    if count == num_layers:
        log.info("model.lora.top_layers=%s: the model has %d decoder layers, LoRA adapts all of them", top, num_layers)
        return None
    return list(range(num_layers - count, num_layers))


def add_lora(model, lora: dict):
    """Wrap with peft LoRA: the base is frozen, only the adapter's parameters require grad.

    The adapter's input dropout draws its CPU masks ~3x faster than peft's `nn.Dropout` (`models.dropout`).
    """
    from peft import get_peft_model

    num_layers = getattr(model.config, "num_hidden_layers", None)
    try:
        model = get_peft_model(model, lora_config(lora, num_layers))
    except ValueError as error:  # e.g. target modules that the model lacks
        raise ConfigError(f"`model.lora` does not fit this model: {error}") from error
    use_fast_lora_dropout(model)
    return model


def base_fingerprint(model) -> dict:
    """What identifies a base model: its shape and a hash of a corner of its embedding table."""
    from peft import PeftModel

    base = model.get_base_model() if isinstance(model, PeftModel) else model
    config = base.config
    corner = base.get_input_embeddings().weight[:8, :32].detach().to("cpu", torch.bfloat16).float()
    return {"model_type": config.model_type, "hidden_size": config.hidden_size,
            "num_hidden_layers": config.num_hidden_layers, "vocab_size": config.vocab_size,
            "embedding_sha1": hashlib.sha1(corner.numpy().tobytes()).hexdigest()[:16]}


def save_adapter(model, path: str | os.PathLike, tokenizer=None, manifest: dict | None = None) -> None:
    """Save the LoRA adapter only (peft format), atomically: temp dir, then rename over `path`.

    With `tokenizer` and `manifest` (rankexp.models.manifest) the folder travels: the tokenizer,
    `rankexp.json`, and `base_model_name_or_path` saying which base to load (hub id, or package:gguf).
    """
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        raise TypeError("save_adapter needs a peft model (load_model with `model.lora` set)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        model.save_pretrained(tmp)
        (tmp / BASE_FILE).write_text(json.dumps(base_fingerprint(model), indent=1))
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if manifest is not None:
            from rankexp.models.manifest import MANIFEST_FILE, base_model_id

            (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
            config_file = tmp / "adapter_config.json"
            config = json.loads(config_file.read_text())
            config["base_model_name_or_path"] = base_model_id(manifest["base"])
            config_file.write_text(json.dumps(config, indent=2))
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_adapter(base_model, path: str | os.PathLike, *, is_trainable: bool = False, strict: bool = True):
    """Load a LoRA adapter saved by `save_adapter`.

    `base_model` is either a plain model (the adapter is injected, as peft does) or a peft model
    built with LoRA from the config (its weights are replaced: the resume case, and then the
    LoRA config must match). A mismatch of base model (shape or, with `strict`, weights) or of
    LoRA config raises `ConfigError` naming the checkpoint; a damaged file (weights cut short, an
    unreadable fingerprint) raises one naming the file and what to do.
    """
    from peft import PeftConfig, PeftModel, load_peft_weights, set_peft_model_state_dict

    path = Path(path)
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(f"no LoRA adapter at checkpoint {path} (adapter_config.json missing)")
    try:
        saved = PeftConfig.from_pretrained(str(path))
    except (OSError, ValueError) as error:
        raise ConfigError(f"adapter checkpoint {path} has an unreadable adapter_config.json: {error}") from error
    _check_weights(path)
    fingerprint_file = path / BASE_FILE
    if fingerprint_file.is_file():
        try:
            saved_base = json.loads(fingerprint_file.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(damaged(fingerprint_file, str(error), path)) from error
        current = base_fingerprint(base_model)
        keys = [k for k in saved_base if k != "embedding_sha1" or strict]
        diff = {k: (saved_base[k], current.get(k)) for k in keys if saved_base[k] != current.get(k)}
        if diff:
            raise ConfigError(f"adapter checkpoint {path} was trained on another base model "
                              f"(saved vs current: {diff}); load it onto the model it was made for")
    try:
        if not isinstance(base_model, PeftModel):
            return PeftModel.from_pretrained(base_model, str(path), is_trainable=is_trainable)
        current = base_model.peft_config["default"]
        fields = ("r", "lora_alpha", "bias")
        diff = {f: (getattr(saved, f), getattr(current, f)) for f in fields if getattr(saved, f) != getattr(current, f)}
        if set(saved.target_modules or ()) != set(current.target_modules or ()):
            diff["target_modules"] = (sorted(saved.target_modules), sorted(current.target_modules))
        hint = ""
        if _layers(saved) != _layers(current):
            diff["adapted layers (model.lora.top_layers)"] = (_layers(saved), _layers(current))
            layers = saved.layers_to_transform
            hint = f" (`model.lora.top_layers={'null' if layers is None else len(_as_list(layers))}`)"
        if diff:
            raise ConfigError(f"adapter checkpoint {path} has another LoRA config than `model.lora` "
                              f"(saved vs current: {diff}); set `model.lora` to match it{hint}")
        result = set_peft_model_state_dict(base_model, load_peft_weights(str(path), device="cpu"))
        if result.unexpected_keys:
            raise ConfigError(f"adapter checkpoint {path} has weights this model lacks: {result.unexpected_keys[:3]}")
        return base_model
    except SafetensorError as error:  # damage the structural check cannot see (e.g. a bad dtype in the header)
        raise ConfigError(damaged(path / WEIGHTS_FILE, str(error), path)) from error
    except (RuntimeError, ValueError, KeyError) as error:  # size mismatch, missing target modules
        raise ConfigError(f"adapter checkpoint {path} does not fit this base model / LoRA config: {error}") from error


def _as_list(layers: int | list[int]) -> list[int]:
    return sorted([layers] if isinstance(layers, int) else layers)


def _layers(config) -> str:
    """The layers a peft LoraConfig adapts, as text: "all", or the first to the last index."""
    layers = getattr(config, "layers_to_transform", None)
    if layers is None:
        return "all"
    layers = _as_list(layers)
    return f"{layers[0]}-{layers[-1]}" if layers == list(range(layers[0], layers[-1] + 1)) else str(layers)


def damaged(file: Path, why: str, folder: Path) -> str:
    """The one line for an adapter file that is not whole: which file, why, and what to do."""
    return (f"adapter file {file} is damaged ({why}); save or train the adapter again, or delete the folder {folder} "
            "if it is not needed")


def _check_weights(path: Path) -> None:
    """The adapter's weights file is there and whole (its safetensors header and length; microseconds)."""
    weights = path / WEIGHTS_FILE
    if weights.is_file():
        why = safetensors_damage(weights)
        if why is not None:
            raise ConfigError(damaged(weights, why, path))
    elif not (path / "adapter_model.bin").is_file():
        raise ConfigError(f"adapter checkpoint {path} has no {WEIGHTS_FILE} (its weights); save or train the adapter "
                          "again, or pass the folder of a run's whole adapter")


def resolve_adapter(adapter: str | Path) -> Path:
    """A local adapter folder, or a hub repo id (`owner/name`) downloaded (or, offline, read) from the HF cache."""
    path = Path(adapter).expanduser()
    if (path / "adapter_config.json").is_file():
        return path
    text = str(adapter)
    if not path.exists() and text.count("/") == 1 and not text.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

        try:
            path = Path(snapshot_download(repo_id=text))
        except LocalEntryNotFoundError as error:
            raise ConfigError(f"adapter {text!r} is neither a folder nor in the Hugging Face cache, and the hub cannot "
                              f"be reached ({type(error).__name__}); download it once online") from error
        except (HFValidationError, OSError) as error:
            raise ConfigError(f"adapter {text!r}: not a folder, and the hub refused it as a repo id ({error})") from error
        if (path / "adapter_config.json").is_file():
            return path
    raise ConfigError(f"adapter {adapter} holds no adapter_config.json; pass the `adapter` folder of a run "
                      "or a hub repo id holding one")
