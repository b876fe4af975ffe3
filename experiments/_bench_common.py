"""Shared set-up for the benchmarks: SmolLM2 + ML-100K explicit lists, as `alro_ml100k` builds them."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from rankexp.data import load_dataset
from rankexp.io import atomic_write_text
from rankexp.recipes.alro import build_encoder
from rankexp.recipes.lists import build_lists
from rankexp.run import CONF_DIR

RESULTS = Path(__file__).resolve().parent / "results"


def setup(*overrides: str, experiment: str | None = "alro_ml100k"):
    """(cfg, data, lists, model, tokenizer, encoder) for `+experiment=<experiment>` (None: the default run)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    chosen = [f"+experiment={experiment}"] if experiment else []
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=[*chosen, *overrides])
    data = load_dataset("ml100k", cfg.data.root, item_noun="movie")
    lists = build_lists(cfg, data)
    from hydra.utils import instantiate

    model, tokenizer = instantiate(cfg.model).load()
    encoder = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length))
    return cfg, data, lists, model, tokenizer, encoder


def timed(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def save(name: str, payload: dict) -> Path:
    payload = {"machine": f"{platform.machine()} {os.cpu_count()} cpus", "torch_threads": torch.get_num_threads(),
               **payload}
    path = RESULTS / f"{name}.json"
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return path
