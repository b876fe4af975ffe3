"""Fixtures for RecRanker tests: the tiny random Llama (LoRA), synthetic data, composed configs.

Everything runs on the tiny random 2-layer Llama with SmolLM2's real tokenizer, so prompts and
answer tokens are the real ones while a forward takes milliseconds.
"""

from __future__ import annotations

import pytest
import torch
from recranker_helpers import LORA, SMOL, rerank_cfg


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine OpenMP spin-waits made these tiny forwards ~50x
    slower with 2 threads (3.8 s vs 0.07 s per user); the previous count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



@pytest.fixture(scope="module")
def tiny():
    """(model, tokenizer): tiny random Llama + LoRA, eval mode, loaded once per module."""
    from rankexp.models.loading import load_model

    model, tokenizer = load_model("tiny_random", **SMOL, lora=LORA)
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def rerank(synthetic):
    """(cfg, lists) of the rerank protocol on the synthetic data, with item-mean hints."""
    from rankexp.recipes.lists import build_lists

    cfg = rerank_cfg("task.hints=true", "task.hint_source=item_mean", "task.pointwise_hint_source=item_mean")
    return cfg, build_lists(cfg, synthetic)
