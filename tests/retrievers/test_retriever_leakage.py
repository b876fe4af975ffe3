"""No val/test interaction reaches any retriever's training signal (spies on the builders)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rankexp.retrievers import base, build_retriever, interactions, training

FAST = {
    "pop": {},
    "mf": {"dim": 8, "epochs": 2},
    "lightgcn": {"dim": 8, "epochs": 2, "eval_every": 1},
    "sasrec": {"dim": 8, "n_layers": 1, "n_heads": 1, "max_len": 10, "epochs": 2, "eval_every": 1},
}


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user"].tolist(), frame["item"].tolist()))


@pytest.mark.parametrize("name", sorted(FAST))
def test_fit_sees_train_pairs_only(name, planted, monkeypatch):
    data, split = planted
    held_out = _pairs(split.val) | _pairs(split.test)
    seen: list[tuple[str, set]] = []

    def spy_frame(label, fn):
        def wrapper(frame, *args, **kwargs):
            seen.append((label, _pairs(frame)))
            return fn(frame, *args, **kwargs)
        return wrapper

    def spy_positives(train, *args, **kwargs):
        out = original_positives(train, *args, **kwargs)
        seen.append(("bpr_positives", set(map(tuple, out.tolist()))))
        return out

    original_positives = interactions.bpr_positives
    monkeypatch.setattr(interactions, "bpr_positives", spy_positives)
    monkeypatch.setattr(interactions, "user_sequences", spy_frame("user_sequences", interactions.user_sequences))
    monkeypatch.setattr(base, "fit_rating_model", spy_frame("rating_model", base.fit_rating_model))
    sampler_init = interactions.NegativeSampler.__init__

    def spy_sampler(self, train, *args, **kwargs):
        seen.append(("negative_sampler", _pairs(train)))
        sampler_init(self, train, *args, **kwargs)

    monkeypatch.setattr(interactions.NegativeSampler, "__init__", spy_sampler)
    contexts = []
    original_context = training.eval_context
    monkeypatch.setattr(training, "eval_context", lambda targets, *a, **k: contexts.append(targets) or
                        original_context(targets, *a, **k))

    build_retriever(name, **FAST[name]).fit(split.train, data.n_users, data.n_items, val=split.val, seed=0)

    assert seen, "the spies must observe the training inputs"
    for label, pairs in seen:
        assert pairs, label
        assert not pairs & held_out, f"{label} saw {len(pairs & held_out)} val/test pairs"
    for targets in contexts:  # early stopping reads the val targets, never the test targets
        assert _pairs(targets) == _pairs(split.val)


def test_lightgcn_graph_holds_train_edges_only(planted):
    from rankexp.retrievers.lightgcn import normalized_adjacency

    data, split = planted
    pairs = interactions.bpr_positives(split.train, 4.0, "all")
    adjacency = normalized_adjacency(pairs, data.n_users, data.n_items).to_sparse_coo().coalesce()
    rows, cols = adjacency.indices().numpy()
    edges = {(int(r), int(c) - data.n_users) for r, c in zip(rows, cols) if r < data.n_users}
    assert edges == _pairs(split.train)
    assert np.allclose(adjacency.to_dense().sum(), adjacency.to_dense().T.sum())
    assert torch.equal(adjacency.to_dense(), adjacency.to_dense().T)
