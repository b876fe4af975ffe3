"""Content-hash cache for fitted retrievers and their top-K candidate lists.

Why: a retriever fit is the slowest non-LLM step and every sweep job of the
same (data, split, retriever config, seed) needs the identical model. The key
hashes all of these (the split by content, so a changed split rule cannot
reuse an old fit); the file stores the full key in its safetensors metadata,
and a file whose stored key does not match (edited, truncated, a prefix
collision, an older CACHE_VERSION) is rebuilt, never reused. Files are written
atomically, so a killed job leaves the old file or none.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import safetensors
import safetensors.torch
import torch

from rankexp.io import atomic_write_bytes
from rankexp.retrievers.base import Retriever, read_metadata
from rankexp.retrievers.build import from_config
from rankexp.retrievers.evaluate import KS, check_topk, eval_context, history_len, rank_metrics, ranked, target_recall
from rankexp.retrievers.interactions import COLUMNS

log = logging.getLogger(__name__)

CACHE_VERSION = "1"  # bump when a code change alters fitted results


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def frame_fingerprint(*frames: pd.DataFrame) -> str:
    """Hash of the rows (user, item, rating, timestamp) of each frame, in order."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(str(len(frame)).encode())
        digest.update(pd.util.hash_pandas_object(frame[list(COLUMNS)], index=False).to_numpy().tobytes())
    return digest.hexdigest()


def retriever_key(name: str, hparams: Mapping[str, Any], seed: int, like_threshold: float,
                  data_fingerprint: str, split_fingerprint: str) -> str:
    return _digest({"version": CACHE_VERSION, "name": name, "hparams": dict(hparams), "seed": int(seed),
                    "like_threshold": float(like_threshold), "data": data_fingerprint, "split": split_fingerprint})


def _stored_key(path: Path) -> str | None:
    try:
        return read_metadata(path).get("key")
    except (OSError, ValueError, safetensors.SafetensorError) as err:  # truncated / foreign file: rebuild
        log.warning("cache file %s is unreadable (%s); rebuilding", path, err)
        return None


def fit_or_load(retriever_cfg: Mapping[str, Any], train: pd.DataFrame, val: pd.DataFrame | None, n_users: int,
                n_items: int, like_threshold: float, seed: int, cache_dir: str | Path,
                data_fingerprint: str) -> Retriever:
    """A fitted retriever: loaded when a file with the same full key exists, else fit and saved."""
    retriever = from_config(retriever_cfg)  # validates hyperparameters before any work
    name, full = retriever.name, retriever.hparams()  # defaults filled in, so an explicit default hits the same file
    val_frame = val if val is not None else train.iloc[:0]
    key = retriever_key(name, full, seed, like_threshold, data_fingerprint, frame_fingerprint(train, val_frame))
    path = Path(cache_dir) / f"{name}-{key[:16]}.safetensors"
    if path.exists():
        if _stored_key(path) == key:
            log.info("retriever cache hit: %s", path)
            loaded = type(retriever).load(path)
            loaded.cache_key = key
            return loaded
        log.warning("retriever cache %s does not match its key; rebuilding", path)
    retriever.fit(train, n_users, n_items, val=val, like_threshold=like_threshold, seed=seed)
    retriever.cache_key = key
    retriever.save(path, {"key": key, "config": json.dumps({"name": name, **full}, sort_keys=True)})
    log.info("retriever fitted and cached: %s", path)
    return retriever


@dataclass
class RetrievalArtifacts:
    """Top-K candidates (best first) of one fitted retriever for the val and test targets.

    Val candidates exclude train items; test candidates exclude train items and
    the val target. `metrics` holds full-sort val/* and test/* HR/NDCG/MRR@k and
    `*/target_recall@K`, the share of targets a reranker can still place.
    """

    k: int
    val_users: torch.Tensor
    val_targets: torch.Tensor
    val_items: torch.Tensor  # [n_val, k]
    val_scores: torch.Tensor
    test_users: torch.Tensor
    test_targets: torch.Tensor
    test_items: torch.Tensor  # [n_test, k]
    test_scores: torch.Tensor
    val_recall: float
    test_recall: float
    metrics: dict[str, float] = field(default_factory=dict)

    TENSORS = ("val_users", "val_targets", "val_items", "val_scores",
               "test_users", "test_targets", "test_items", "test_scores")

    def save(self, path: Path, key: str) -> None:
        tensors = {name: getattr(self, name).contiguous().clone() for name in self.TENSORS}
        meta = {"key": key, "k": str(self.k), "val_recall": repr(self.val_recall),
                "test_recall": repr(self.test_recall), "metrics": json.dumps(self.metrics)}
        atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=meta))

    @classmethod
    def load(cls, path: Path) -> RetrievalArtifacts:
        meta = read_metadata(path)
        tensors = safetensors.torch.load_file(str(path))
        return cls(k=int(meta["k"]), val_recall=float(meta["val_recall"]), test_recall=float(meta["test_recall"]),
                   metrics=json.loads(meta["metrics"]), **tensors)


def compute_candidates(retriever: Retriever, train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame,
                       k: int) -> RetrievalArtifacts:
    """Score all items once per split; keep the top-k and the full-sort metrics."""
    out: dict[str, Any] = {"k": k, "metrics": {}}
    for prefix, targets, seen in (("val", val, train), ("test", test, pd.concat([train, val], ignore_index=True))):
        ctx = eval_context(targets, seen, retriever.n_users, history_len(retriever))
        max_seen = int(ctx.exclude.counts(ctx.users.numpy()).max()) if len(ctx.users) else 0
        check_topk(k, retriever.n_items, max_seen)
        items, scores = ranked(retriever, ctx.users, ctx.exclude, max(k, *KS), ctx.history)
        out["metrics"].update(rank_metrics(items, ctx.targets, KS, prefix))
        recall = target_recall(items[:, :k], ctx.targets)
        out["metrics"][f"{prefix}/target_recall@{k}"] = recall
        out.update({f"{prefix}_users": ctx.users, f"{prefix}_targets": ctx.targets,
                    f"{prefix}_items": items[:, :k].contiguous(), f"{prefix}_scores": scores[:, :k].contiguous(),
                    f"{prefix}_recall": recall})
    return RetrievalArtifacts(**out)


def candidates_or_load(retriever: Retriever, train: pd.DataFrame, val: pd.DataFrame, test: pd.DataFrame, k: int,
                       cache_dir: str | Path, key: str | None = None) -> RetrievalArtifacts:
    """Top-k candidates, cached under (retriever key, k, split content); uncached without a key."""
    check_topk(k, retriever.n_items)
    base_key = key or retriever.cache_key
    if base_key is None:
        log.info("retriever has no cache key (not from fit_or_load); candidates are not cached")
        return compute_candidates(retriever, train, val, test, k)
    full_key = _digest({"version": CACHE_VERSION, "retriever": base_key, "k": int(k),
                        "split": frame_fingerprint(train, val, test)})
    path = Path(cache_dir) / f"{retriever.name}-{full_key[:16]}-top{k}.safetensors"
    if path.exists():
        if _stored_key(path) == full_key:
            log.info("candidate cache hit: %s", path)
            return RetrievalArtifacts.load(path)
        log.warning("candidate cache %s does not match its key; rebuilding", path)
    artifacts = compute_candidates(retriever, train, val, test, k)
    artifacts.save(path, full_key)
    return artifacts
