"""Full-sort evaluation: exclusion of seen items, metric values, top-K bounds."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torchmetrics.retrieval import RetrievalNormalizedDCG

from rankexp.errors import ConfigError
from rankexp.retrievers import eval_context, full_sort_metrics, rank_metrics, target_recall, topk_candidates
from rankexp.retrievers.training import ndcg_at


class ByIndex:
    """Stub retriever: item i scores i, so the highest ids rank first for everyone."""

    uses_history = False

    def __init__(self, n_users: int, n_items: int) -> None:
        self.n_users, self.n_items = n_users, n_items

    def score(self, users, history=None):
        return torch.arange(self.n_items, dtype=torch.float32).expand(len(users), -1)


def test_topk_excludes_train_items_and_val_target_on_test(tiny):
    train, val, test = tiny
    model = ByIndex(3, 6)
    seen = pd.concat([train, val])
    items, scores = topk_candidates(model, torch.tensor([0, 1]), seen, k=2)
    assert items.tolist() == [[2, 1], [3, 2]]  # user 0 saw 5, 4, 0, 3; user 1 saw 5, 1, 4
    assert scores.tolist() == [[2.0, 1.0], [3.0, 2.0]]
    # With the val item excluded, each test target is the best unseen item: HR@1 = 1.
    metrics = full_sort_metrics(model, eval_context(test, seen, 3), "test", ks=(1, 3))
    assert metrics["test/hr@1"] == 1.0 and metrics["test/ndcg@3"] == 1.0
    # Forgetting to exclude val leaves each val item ranked above its user's test target (rank 2).
    leaky = full_sort_metrics(model, eval_context(test, train, 3), "test", ks=(1, 3))
    assert leaky["test/hr@1"] == 0.0
    assert leaky["test/ndcg@3"] == pytest.approx(1 / math.log2(3))


def test_rank_metrics_on_a_hand_computed_example():
    items = torch.tensor([[3, 1, 2], [0, 2, 1], [1, 2, 3]])
    targets = torch.tensor([1, 9, 1])  # rank 2, missing (counts 0), rank 1
    got = rank_metrics(items, targets, ks=(1, 3), prefix="val")
    assert got["val/hr@1"] == pytest.approx(1 / 3)
    assert got["val/hr@3"] == pytest.approx(2 / 3)
    assert got["val/ndcg@1"] == pytest.approx(1 / 3)
    assert got["val/ndcg@3"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)
    assert got["val/mrr@1"] == pytest.approx(1 / 3)
    assert got["val/mrr@3"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert target_recall(items, targets) == pytest.approx(2 / 3)
    assert target_recall(items[:, :1], targets) == pytest.approx(1 / 3)


def test_fast_ndcg_matches_torchmetrics():
    gen = torch.Generator().manual_seed(0)
    items = torch.stack([torch.randperm(30, generator=gen)[:20] for _ in range(50)])
    targets = torch.randint(0, 30, (50,), generator=gen)
    width = items.shape[1]
    preds = (1.0 / torch.arange(1, width + 1)).expand(50, width).reshape(-1)
    reference = RetrievalNormalizedDCG(top_k=10, empty_target_action="neg")(
        preds, (items == targets[:, None]).reshape(-1), indexes=torch.arange(50).repeat_interleave(width)
    )
    assert ndcg_at(items, targets, 10) == pytest.approx(float(reference), abs=1e-6)


def test_k_larger_than_catalogue_is_a_config_error(tiny):
    train, _, _ = tiny
    with pytest.raises(ConfigError, match=r"`protocol\.m`=7"):
        topk_candidates(ByIndex(3, 6), torch.tensor([0, 1]), train, k=7)
    with pytest.raises(ConfigError, match=r"`protocol\.m`=4"):  # user 0 has only 3 unseen items
        topk_candidates(ByIndex(3, 6), torch.tensor([0]), train, k=4)


def test_scoring_is_batched(tiny):
    train, _, _ = tiny
    seen_batches = []

    class Spy(ByIndex):
        def score(self, users, history=None):
            seen_batches.append(len(users))
            return super().score(users, history)

    topk_candidates(Spy(3, 6), torch.tensor([0, 1, 2]), train, k=2, batch_size=2)
    assert seen_batches == [2, 1]


def test_history_is_what_came_strictly_before_the_target(tiny):
    train, val, test = tiny
    late = pd.DataFrame({"user": [0], "item": [1], "rating": [2.0], "timestamp": [9]})  # rated after the test target
    seen = pd.concat([train, late, val], ignore_index=True)
    ctx = eval_context(test, seen, 3, max_history=5)
    assert ctx.history[0].tolist() == [-1, 5, 4, 0, 3]  # val item included, the later rating not
    assert ctx.history[1].tolist() == [-1, -1, 5, 1, 4]
    assert sorted(ctx.exclude.indices[ctx.exclude.indptr[0] : ctx.exclude.indptr[1]].tolist()) == [0, 1, 3, 4, 5]
    val_ctx = eval_context(val, train, 3, max_history=2)
    assert val_ctx.history.tolist() == [[4, 0], [5, 1]]
