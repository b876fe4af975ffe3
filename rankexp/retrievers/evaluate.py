"""RecBole-style full-sort evaluation and top-K candidate lists.

Each evaluated user ranks *all* items except those they already interacted with
(train, plus the val target when scoring test). HR/NDCG/MRR@k for k <= K depend
only on the top-K list, so we take the top-K once and score it with the LLM
stage's metrics (`rankexp.evaluation.metrics.ranked_list_metrics`): a user whose
target is outside the top-K has no positive and scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rankexp.data.splits import History
from rankexp.errors import ConfigError
from rankexp.evaluation.metrics import ranked_list_metrics
from rankexp.retrievers.interactions import Exclusion, left_pad

KS = (1, 3, 5, 10, 20)
BATCH = 512


@dataclass(frozen=True)
class EvalContext:
    """Everything needed to evaluate one target set: who, which item, what to exclude, what they saw."""

    users: torch.Tensor  # [n] long
    targets: torch.Tensor  # [n] long
    exclude: Exclusion
    history: torch.Tensor | None  # [n, L] visible items strictly before the target, left-padded with -1


def eval_context(targets: pd.DataFrame, seen: pd.DataFrame, n_users: int, max_history: int = 0) -> EvalContext:
    """`seen` is what the user interacted with before scoring: train for val, train + val for test.

    All of `seen` is excluded from the ranking; a sequential model (`max_history` > 0) reads only
    the `max_history` most recent seen items strictly before each target (the history rule of docs/protocols.md).
    """
    history = None
    if max_history > 0:
        visible = History(seen)
        rows = targets[["user", "timestamp", "item"]].itertuples(index=False)
        history = left_pad([visible.before(int(u), int(t), int(i), max_history)[0] for u, t, i in rows], max_history)
    return EvalContext(
        users=torch.tensor(targets["user"].to_numpy(np.int64)),
        targets=torch.tensor(targets["item"].to_numpy(np.int64)),
        exclude=Exclusion.from_frame(seen, n_users),
        history=history,
    )


def history_len(retriever) -> int:
    """How many history items `retriever.score` reads (0 for non-sequential models)."""
    return int(getattr(retriever.params, "max_len", 0)) if retriever.uses_history else 0


def check_topk(k: int, n_items: int, max_excluded: int = 0, key: str = "protocol.m") -> None:
    """k candidates per user must exist among the unseen items; the error names `key`, the setting k came
    from (the pipeline keeps each user's top `protocol.m`)."""
    if k < 1 or k > n_items - max_excluded:
        raise ConfigError(
            f"`{key}`={k} but the catalogue has {n_items} items and a user has {max_excluded} excluded "
            f"ones; choose 1 <= {key} <= {n_items - max_excluded}"
        )


@torch.no_grad()
def ranked(
    retriever,
    users: torch.Tensor,
    exclude: Exclusion,
    k: int,
    history: torch.Tensor | None = None,
    batch_size: int = BATCH,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k per user without the size check; slots past a user's unseen items hold item -1."""
    users = users.long()
    k = min(k, retriever.n_items)
    items, scores = [], []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        hist = history[start : start + batch_size] if history is not None else None
        full = retriever.score(batch, hist).float().clone()
        exclude.mask_(full, batch)
        top = torch.topk(full, k, dim=1)  # sorted, best first
        items.append(top.indices.masked_fill(top.values == float("-inf"), -1))
        scores.append(top.values)
    if not items:
        return torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k)
    return torch.cat(items), torch.cat(scores)


def topk_candidates(
    retriever,
    users: torch.Tensor,
    exclude: Exclusion | pd.DataFrame,
    k: int,
    history: torch.Tensor | None = None,
    batch_size: int = BATCH,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k unseen items per user: (items LongTensor[B, k], scores FloatTensor[B, k]), best first.

    Scores one batch of users at a time, so at most [batch_size, n_items] is ever held.
    Raises ConfigError when some user has fewer than k unseen items.
    """
    if isinstance(exclude, pd.DataFrame):
        exclude = Exclusion.from_frame(exclude, retriever.n_users)
    counts = exclude.counts(users.long().numpy())
    check_topk(k, retriever.n_items, int(counts.max()) if len(counts) else 0)
    return ranked(retriever, users, exclude, k, history, batch_size)


def target_recall(items: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of targets found in the candidate lists: the ceiling of any reranker's HR."""
    if len(targets) == 0:
        return float("nan")
    return float((items == targets[:, None]).any(dim=1).float().mean())


def rank_metrics(items: torch.Tensor, targets: torch.Tensor, ks=KS, prefix: str = "test") -> dict[str, float]:
    """HR/NDCG/MRR@k from ranked lists `items` [n, K] (best first) and one target per row.

    Rows whose target is not in the list count 0 (overall metrics, not a subset).
    """
    n = items.shape[0]  # metrics@k with k > the list's width treat the list as the whole ranking
    values = ranked_list_metrics(items, targets, ks)
    return {f"{prefix}/{key}": float(value.mean()) if n else float("nan")
            for key, value in sorted(values.items(), key=lambda kv: (int(kv[0].split("@")[1]), kv[0]))}


def full_sort_metrics(retriever, ctx: EvalContext, prefix: str = "test", ks=KS) -> dict[str, float]:
    """Full-sort HR/NDCG/MRR@k over all evaluated users in `ctx`."""
    items, _ = ranked(retriever, ctx.users, ctx.exclude, max(ks), ctx.history)
    return rank_metrics(items, ctx.targets, ks, prefix)
