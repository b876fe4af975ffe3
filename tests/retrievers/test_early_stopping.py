"""Val early stopping keeps the best epoch's weights; SASRec reads order where popularity cannot.

The best epoch is found here from snapshots of the weights at every evaluation and a val NDCG@10
computed by hand (rank of the target among the user's unseen items), not from the stopper's numbers.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rankexp.retrievers import build_retriever, eval_context, full_sort_metrics
from rankexp.retrievers.evaluate import history_len
from rankexp.retrievers.training import EarlyStopping


def hand_ndcg10(scores: torch.Tensor, users: list[int], targets: list[int], seen: dict[int, set]) -> float:
    """Mean NDCG@10, one target per user: 1 / log2(rank + 2) when fewer than 10 unseen items score higher."""
    total = 0.0
    for row, (user, target) in enumerate(zip(users, targets)):
        s = scores[row].tolist()
        rank = sum(1 for item, v in enumerate(s) if item not in seen[user] and item != target and v > s[target])
        total += 1 / math.log2(rank + 2) if rank < 10 else 0.0
    return total / len(users)


def _seen(train: pd.DataFrame) -> dict[int, set]:
    out: dict[int, set] = {}
    for user, item in zip(train["user"].tolist(), train["item"].tolist()):
        out.setdefault(int(user), set()).add(int(item))
    return out


def _record_evaluations(monkeypatch, val: pd.DataFrame, seen: dict[int, set], history=None):
    """Spy on EarlyStopping.step: (hand val NDCG@10, weights) at every evaluation, before the stopper sees it."""
    records: list[tuple[float, dict]] = []
    original = EarlyStopping.step
    users, targets = val["user"].tolist(), val["item"].tolist()

    def step(self, epoch, module):
        scores = self.retriever.score(torch.tensor(users), history)
        records.append((hand_ndcg10(scores, users, targets, seen), copy.deepcopy(module.state_dict())))
        return original(self, epoch, module)

    monkeypatch.setattr(EarlyStopping, "step", step)
    return records


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_mf_keeps_the_weights_of_its_best_val_epoch(planted, monkeypatch):
    data, split = planted
    seen = _seen(split.train)
    records = _record_evaluations(monkeypatch, split.val, seen)
    epochs = 60
    mf = build_retriever("mf", dim=32, epochs=epochs, batch_size=1024, lr=5e-2, patience=3, positives="liked")
    mf.fit(split.train, data.n_users, data.n_items, val=split.val, like_threshold=4.0, seed=0)
    values = [round(v, 9) for v, _ in records]
    best = values.index(max(values))  # the first maximum: a later tie is no gain
    assert len(records) < epochs, "the planted run should stop early (else there is nothing to restore)"
    assert best == len(records) - 1 - 3, values  # stopped after `patience` evaluations without gain
    final = mf.model.state_dict()
    assert _same(final, records[best][1]), "the kept weights are not the best epoch's"
    assert not _same(final, records[-1][1])  # ... and they differ from where training stopped
    users = split.val["user"].tolist()
    assert hand_ndcg10(mf.score(torch.tensor(users)), users, split.val["item"].tolist(), seen) == \
        pytest.approx(max(values), abs=1e-9)


def sequential_data(n_users: int = 200, n_items: int = 60, length: int = 20, seed: int = 0):
    """Each user walks the item ring i -> i + 1 (mod n_items) from a random start, one step per timestamp.

    Every item is about equally popular, so counting likes says nothing; the last item says everything.
    Leave-one-out by hand: the last step is test, the one before val, the rest train.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        start = int(rng.integers(n_items))
        rows += [(user, (start + t) % n_items, 5.0, 1000 * user + t) for t in range(length)]
    frame = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"]).astype({"rating": "float32"})
    last = frame.groupby("user")["timestamp"].transform("max")
    return frame[frame.timestamp < last - 1], frame[frame.timestamp == last - 1], frame[frame.timestamp == last]


def test_sasrec_beats_pop_on_planted_sequences_and_keeps_its_best_epoch(monkeypatch):
    train, val, test = sequential_data()
    n_users, n_items = 200, 60
    seen_val = _seen(train)
    sasrec = build_retriever("sasrec", dim=16, n_layers=1, n_heads=1, max_len=10, epochs=30, batch_size=64,
                             lr=1e-2, dropout=0.1, eval_every=1, patience=3, rating_dim=0, rating_sweeps=0)
    ctx_val = eval_context(val, train, n_users, history_len(sasrec))
    records = _record_evaluations(monkeypatch, val, seen_val, history=ctx_val.history)
    sasrec.fit(train, n_users, n_items, val=val, seed=0)
    pop = build_retriever("pop").fit(train, n_users, n_items, val=val)

    # test NDCG@10 by hand: the history SASRec reads is the visible items before the target (train + val)
    seen_test = _seen(pd.concat([train, val]))
    users, targets = test["user"].tolist(), test["item"].tolist()
    ctx_test = eval_context(test, pd.concat([train, val]), n_users, history_len(sasrec))
    sasrec_ndcg = hand_ndcg10(sasrec.score(torch.tensor(users), ctx_test.history), users, targets, seen_test)
    pop_ndcg = hand_ndcg10(pop.score(torch.tensor(users)), users, targets, seen_test)
    assert sasrec_ndcg > 0.8 and pop_ndcg < 0.3 and sasrec_ndcg > pop_ndcg + 0.5, (sasrec_ndcg, pop_ndcg)
    # the pipeline's own evaluation agrees with the hand count
    assert full_sort_metrics(sasrec, ctx_test, "test", ks=(10,))["test/ndcg@10"] == pytest.approx(sasrec_ndcg,
                                                                                                  abs=1e-6)
    # and the kept weights are the best val epoch's
    values = [round(v, 9) for v, _ in records]
    best = values.index(max(values))
    assert best < len(records) - 1, values  # stopped after non-improving evaluations: the restore matters
    assert _same(sasrec.model.state_dict(), records[best][1]), values
    assert not _same(sasrec.model.state_dict(), records[-1][1])
