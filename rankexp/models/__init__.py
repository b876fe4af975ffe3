"""LLM loading (GGUF package, hub, tiny random; LoRA; 4-bit) and single-pass label scoring."""

from rankexp.models.adapters import add_lora, load_adapter, save_adapter
from rankexp.models.gguf_cache import ensure_gguf_cache
from rankexp.models.loading import ModelSpec, format_prompt, load_model
from rankexp.models.scoring import (
    label_token_ids,
    lm_logits,
)

__all__ = [
    "ModelSpec",
    "add_lora",
    "ensure_gguf_cache",
    "format_prompt",
    "label_token_ids",
    "lm_logits",
    "load_adapter",
    "load_model",
    "save_adapter",
]
