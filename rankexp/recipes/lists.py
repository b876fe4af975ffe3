"""Evaluation protocols: which lists are ranked, with what history and gains.

- explicit_listwise (ALRO): held-out rated lists, graded gains.
- rerank_topk (LlamaRec / RecRanker): a retriever's top-m for a held-out liked item.
Both train on windows of the train split only (see rankexp.data.listwise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from rankexp.data import RatingData
from rankexp.data.examples import ListwiseExample
from rankexp.data.hints import CROSS_FITTED, hint_text
from rankexp.data.listwise import TrainWindows, explicit_eval_lists, rerank_eval_lists
from rankexp.data.splits import explicit_listwise, leave_one_out
from rankexp.errors import ConfigError, unknown_name

log = logging.getLogger(__name__)
PROTOCOLS = ("explicit_listwise", "rerank_topk")


@dataclass
class RankingLists:
    """Everything the ranker stage needs from a protocol."""

    train: pd.DataFrame
    train_source: TrainWindows
    val: list[ListwiseExample]
    test: list[ListwiseExample]
    retriever: Any = None
    cross_fit: Any = None  # CrossFittedHints (`task.hint_source=retriever_cv`)
    metrics: dict[str, float] = field(default_factory=dict)


def build_lists(cfg: DictConfig, data: RatingData) -> RankingLists:
    protocol = cfg.protocol
    if protocol.name not in PROTOCOLS:
        raise unknown_name("protocol", protocol.name, PROTOCOLS, "protocol.name")
    builder = _explicit if protocol.name == "explicit_listwise" else _rerank
    lists = builder(cfg, data)
    if cfg.task.get("hints"):
        lists = _with_hints(cfg, lists)
    caps = cfg.get("train") or {}
    lists = cap_lists(lists, caps.get("max_val_lists"), caps.get("max_test_lists"))
    log.info("protocol %s: %d val lists, %d test lists, %d train users", protocol.name, len(lists.val),
             len(lists.test), len(lists.train_source.users))
    return lists


def cap_lists(lists: RankingLists, max_val: int | None, max_test: int | None) -> RankingLists:
    """Keep the first `train.max_val_lists` / `train.max_test_lists` lists (users in id order).

    Applied once, here, so the LLM, the non-LLM baselines and the retriever are all scored on the
    very same lists; the uncapped counts are recorded so a capped test is never mistaken for a full one.
    """
    for split, cap in (("val", max_val), ("test", max_test)):
        examples = getattr(lists, split)
        lists.metrics[f"lists/{split}_available"] = len(examples)
        if cap is not None and int(cap) < len(examples):
            setattr(lists, split, examples[: int(cap)])
        lists.metrics[f"lists/{split}_evaluated"] = len(getattr(lists, split))
    return lists


def _train_source(cfg: DictConfig, train: pd.DataFrame) -> TrainWindows:
    p, task = cfg.protocol, cfg.task
    return TrainWindows(train, p.m, p.history_len, p.min_history, task.tie_break, task.shuffle)


def _explicit(cfg: DictConfig, data: RatingData) -> RankingLists:
    p = cfg.protocol
    split = explicit_listwise(data.ratings, p.m, p.min_history, p.min_distinct_ratings)
    seen_by_test = pd.concat([split.train, split.val])
    return RankingLists(
        train=split.train,
        train_source=_train_source(cfg, split.train),
        val=explicit_eval_lists(split.val, split.train, p.history_len, cfg.seed, 1),
        test=explicit_eval_lists(split.test, seen_by_test, p.history_len, cfg.seed, 2),
        metrics={"data/skipped_flat_lists": float(split.skipped_users)},
    )


def _rerank(cfg: DictConfig, data: RatingData) -> RankingLists:
    from rankexp.recipes.retrieval import retrieve  # the retriever stage is only needed here

    if cfg.get("retriever") is None:
        raise ConfigError("`protocol=rerank_topk` needs a retriever: add `retriever=lightgcn` (or pop, mf, sasrec)")
    p = cfg.protocol
    split = leave_one_out(data.ratings, data.like_threshold)
    retrieved = retrieve(cfg, data, split, k=p.m)
    seen_by_test = pd.concat([split.train, split.val])
    return RankingLists(
        train=split.train,
        train_source=_train_source(cfg, split.train),
        val=rerank_eval_lists(split.val, retrieved.val_candidates, split.train, p.history_len, cfg.seed, 1,
                              retrieved.val_scores),
        test=rerank_eval_lists(split.test, retrieved.test_candidates, seen_by_test, p.history_len, cfg.seed, 2,
                               retrieved.test_scores),
        retriever=retrieved.retriever,
        cross_fit=retrieved.cross_fit,
        metrics=retrieved.metrics,
    )


def _with_hints(cfg: DictConfig, lists: RankingLists) -> RankingLists:
    """Evaluation lists take the hints of the source's full model; training windows take the same
    text, except under `retriever_cv`, where each line's value comes from the fold copy that never
    saw that line's rating."""
    task = cfg.task
    options = {"fmt": task.hint_format, "cross_fit": lists.cross_fit, "signal": task.hint_signal}
    hints = hint_text(task.hint_source, lists.train, lists.retriever, **options)
    if task.hint_source == CROSS_FITTED:
        hints_for_training = hint_text(task.hint_source, lists.train, lists.retriever, training=True, **options)
    else:
        hints_for_training = hints
    lists.train_source.hint_fn = hints_for_training
    attach = lambda ex: replace(ex, hints=hints(ex.user, ex.candidates), history_hints=hints(ex.user, ex.history))
    return replace(lists, val=[attach(e) for e in lists.val], test=[attach(e) for e in lists.test])


def candidate_matrix(examples: list[ListwiseExample]) -> tuple[np.ndarray, np.ndarray]:
    """Stack lists into (candidates [B, m], gains [B, m])."""
    return np.stack([e.candidates for e in examples]), np.stack([e.gains for e in examples])
