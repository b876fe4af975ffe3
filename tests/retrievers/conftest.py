"""Small planted data for retriever tests (fast: every fit here takes well under a second or two)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from rankexp.data import encode
from rankexp.data.splits import leave_one_out
from rankexp.data.synthetic import generate_synthetic


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These tensors are tiny: on a shared 2-core runner, intra-op threads only add sync overhead."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def planted():
    """300 users x 100 items with genre tastes: a collaborative model should clearly beat popularity.

    Exposure is uniform here (every user rates random items), so only likes carry taste: the
    models train on `positives: liked` in these tests.
    """
    ratings, items = generate_synthetic(n_users=300, n_items=100, n_genres=4, ratings_per_user=50, seed=0)
    data = encode("synthetic", ratings, items, 4.0, (1.0, 5.0))
    return data, leave_one_out(data.ratings, data.like_threshold)


@pytest.fixture
def tiny():
    """3 users x 6 items, hand-made: (train, val, test) with one val and one test row for users 0 and 1."""
    train = pd.DataFrame(
        {
            "user": [0, 0, 0, 1, 1, 2, 2],
            "item": [5, 4, 0, 5, 1, 5, 3],
            "rating": [5.0, 2.0, 4.0, 4.0, 5.0, 4.0, 3.0],
            "timestamp": [1, 2, 3, 1, 2, 1, 2],
        }
    ).astype({"rating": "float32"})
    val = pd.DataFrame({"user": [0, 1], "item": [3, 4], "rating": [5.0, 4.0], "timestamp": [4, 3]})
    test = pd.DataFrame({"user": [0, 1], "item": [2, 3], "rating": [4.0, 5.0], "timestamp": [5, 4]})
    return train, val.astype({"rating": "float32"}), test.astype({"rating": "float32"})
