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
