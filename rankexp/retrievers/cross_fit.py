"""The K fold copies of a retriever behind cross-fitted hints (`rankexp.data.cross_fit`).

Copy f is the configured retriever fit on the train rows outside fold f, with the same
hyperparameters, seed and validation rows (early stopping reads validation only, as for the full
fit). Each copy goes through `fit_or_load`, so it is cached under a content hash of its own
training rows: a second run, or a sweep over LLM settings, loads the copies instead of fitting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rankexp.data.cross_fit import CrossFittedHints, assign_folds
from rankexp.errors import ConfigError
from rankexp.retrievers.cache import fit_or_load

log = logging.getLogger(__name__)


def cross_fit(retriever_cfg: Mapping[str, Any], full, train: pd.DataFrame, val: pd.DataFrame | None, n_users: int,
              n_items: int, like_threshold: float, seed: int, cache_dir: str | Path, data_fingerprint: str,
              k: int) -> tuple[CrossFittedHints, dict[str, float]]:
    """(hints, metrics): `full` (the retriever fit on all of train) plus K copies, each fit without one fold.

    Metrics: `hints/cv_folds`, `hints/cv_fit_s` (wall seconds to fit or load the K copies) and
    `hints/cv_held_out_rows` (train rows per fold, mean).
    """
    if getattr(full, "uses_history", False):
        raise ConfigError(f"`task.hint_source=retriever_cv` needs scores without a history; {full.name} reads one: "
                          "use retriever=lightgcn (or mf, pop)")
    folds = assign_folds(train, k, seed)
    start, copies = time.perf_counter(), []
    for fold in range(int(k)):
        kept = train.loc[folds != fold].reset_index(drop=True)
        log.info("cross-fitted hints: copy %d/%d of %s on %d of %d train rows", fold + 1, k, full.name, len(kept),
                 len(train))
        copies.append(fit_or_load(retriever_cfg, kept, val, n_users, n_items, like_threshold, seed, cache_dir,
                                  data_fingerprint))
    seconds = time.perf_counter() - start
    log.info("cross-fitted hints: %d copies in %.1f s", k, seconds)
    metrics = {"hints/cv_folds": float(k), "hints/cv_fit_s": seconds,
               "hints/cv_held_out_rows": float(np.bincount(folds, minlength=k).mean())}
    return CrossFittedHints(full, copies, train, folds), metrics
