"""Conventional recommenders (retrievers): candidates and hint signals for the LLM ranker.

    retriever = from_config(cfg.retriever)  # or build_retriever("lightgcn", dim=64, n_layers=3)
    retriever.fit(split.train, data.n_users, data.n_items, val=split.val, like_threshold=4, seed=0)
    metrics = full_sort_metrics(retriever, eval_context(split.test, seen, data.n_users))

`cache.fit_or_load` / `cache.candidates_or_load` do the same behind a content-hash cache.
"""

from __future__ import annotations

from rankexp.retrievers.base import Retriever
from rankexp.retrievers.build import BUILT_IN, build_retriever, from_config
from rankexp.retrievers.evaluate import (
    KS,
    EvalContext,
    eval_context,
    full_sort_metrics,
    rank_metrics,
    target_recall,
    topk_candidates,
)
from rankexp.retrievers.lightgcn import LightGCN
from rankexp.retrievers.mf import MF
from rankexp.retrievers.pop import Pop
from rankexp.retrievers.sasrec import SASRec

__all__ = [
    "BUILT_IN",
    "KS",
    "MF",
    "EvalContext",
    "LightGCN",
    "Pop",
    "Retriever",
    "SASRec",
    "build_retriever",
    "eval_context",
    "from_config",
    "full_sort_metrics",
    "rank_metrics",
    "target_recall",
    "topk_candidates",
]
