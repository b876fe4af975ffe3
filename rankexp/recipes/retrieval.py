"""The retriever stage: fit (or load) a conventional recommender on train, top-K for val/test.

Artifacts are cached under `${paths.cache_dir}/retrievers`, keyed by a hash of
the data, split, retriever config and seed (rankexp.retrievers.cache): a
changed setting never silently reuses an old model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from rankexp.data import RatingData
from rankexp.data.hints import CROSS_FITTED
from rankexp.data.splits import Split
from rankexp.retrievers.build import upgrade_config
from rankexp.retrievers.cache import candidates_or_load, fit_or_load, frame_fingerprint
from rankexp.retrievers.cross_fit import cross_fit
from rankexp.retrievers.evaluate import check_topk

log = logging.getLogger(__name__)


@dataclass
class Retrieved:
    """Top-m candidates aligned row by row with `split.val` / `split.test`, plus scores and metrics."""

    retriever: Any
    val_candidates: np.ndarray
    val_scores: np.ndarray
    test_candidates: np.ndarray
    test_scores: np.ndarray
    metrics: dict[str, float]
    cross_fit: Any = None  # CrossFittedHints under `task.hint_source=retriever_cv`


def _aligned(users, items, scores, targets) -> tuple[np.ndarray, np.ndarray]:
    row_of = {int(u): r for r, u in enumerate(users.tolist())}
    rows = [row_of[int(u)] for u in targets["user"]]
    return items.numpy()[rows], scores.numpy()[rows]


def retrieve(cfg: DictConfig, data: RatingData, split: Split, k: int) -> Retrieved:
    check_topk(k, data.n_items)  # before any fitting: a list holds the retriever's top `protocol.m`
    retriever_cfg = upgrade_config(cfg.retriever)  # older `name`/`topk` keys: one deprecation line, here
    cache_dir = Path(cfg.paths.cache_dir) / "retrievers"
    fingerprint = f"{data.name}-{frame_fingerprint(data.ratings)}"
    retriever = fit_or_load(retriever_cfg, split.train, split.val, data.n_users, data.n_items, data.like_threshold,
                            cfg.seed, cache_dir, fingerprint)
    cross_fitted, cv_metrics = None, {}
    if uses_cross_fitted_hints(cfg.task):
        cross_fitted, cv_metrics = cross_fit(retriever_cfg, retriever, split.train, split.val, data.n_users,
                                             data.n_items, data.like_threshold, cfg.seed, cache_dir, fingerprint,
                                             int(cfg.task.hint_folds))
    artifacts = candidates_or_load(retriever, split.train, split.val, split.test, k, cache_dir)
    val_items, val_scores = _aligned(artifacts.val_users, artifacts.val_items, artifacts.val_scores, split.val)
    test_items, test_scores = _aligned(artifacts.test_users, artifacts.test_items, artifacts.test_scores, split.test)
    metrics = {f"retriever/{key}": float(value) for key, value in artifacts.metrics.items()} | cv_metrics
    log.info("retriever %s: test target recall@%d = %.4f", retriever.name, k, artifacts.test_recall)
    return Retrieved(retriever, val_items, val_scores, test_items, test_scores, metrics, cross_fitted)


def uses_cross_fitted_hints(task: DictConfig) -> bool:
    """`task.hints` with `retriever_cv` as the hint source of any task: the fold copies are needed."""
    if not task.get("hints"):  # the sources are not read without hints (rankexp.config.idle)
        return False
    return CROSS_FITTED in (task.get("hint_source"), task.get("pointwise_hint_source"))
