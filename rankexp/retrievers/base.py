"""The contract every conventional recommender (retriever) meets.

A retriever is fit on the train split only (val targets may select the epoch),
then scores all items for a batch of users. Hyperparameters live in a small
dataclass per class (`Params`), so a typo in `retriever.*` is a clear
ConfigError, and the state is plain tensors that `cache.py` stores as
safetensors. `fit` runs inside `torch.random.fork_rng`, so seeding a fit does
not disturb the caller's random stream.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import safetensors
import safetensors.torch
import torch
from torch import nn

from rankexp.errors import ConfigError, DataError
from rankexp.io import atomic_write_bytes
from rankexp.retrievers.interactions import check_frame
from rankexp.retrievers.rating import RatingModel, fit_rating_model

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Params:
    """Hyperparameters shared by all retrievers: the rating head behind `predict_rating`."""

    rating_dim: int = 16  # factors of the biased-MF rating predictor (0 = shrunk biases only)
    rating_sweeps: int = 10  # ALS sweeps; the best on a 5% slice of train is kept
    rating_reg: float = 0.1  # ALS weighted-lambda regularisation
    rating_shrinkage: float = 10.0  # pseudo-count pulling item/user biases towards the global mean

    def __post_init__(self) -> None:
        if self.rating_dim < 0 or self.rating_sweeps < 0 or self.rating_reg < 0 or self.rating_shrinkage < 0:
            raise ConfigError("`retriever.rating_*` hyperparameters must be >= 0")


class Retriever(ABC):
    """Fit on train, score all items, predict ratings, expose user embeddings, save/load."""

    name: ClassVar[str] = ""  # the short name in cache files and logs; a config names the class by `_target_`
    Params: ClassVar[type[Params]] = Params
    uses_history: ClassVar[bool] = False  # True: `score` reads the visible item sequence (SASRec)

    def __init__(self, **hparams: Any) -> None:
        fields = {f.name for f in dataclasses.fields(self.Params)}
        unknown = sorted(set(hparams) - fields)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} for retriever {self.name!r}; known: {sorted(fields)}")
        self.params = self.Params(**hparams)
        self.n_users = 0
        self.n_items = 0
        self.model: nn.Module | None = None
        self.rating: RatingModel | None = None
        self.cache_key: str | None = None  # set by cache.fit_or_load

    # ---- subclass hooks -------------------------------------------------------------------------
    @abstractmethod
    def build(self, n_users: int, n_items: int) -> nn.Module:
        """A fresh module whose state_dict holds everything `score` needs."""

    @abstractmethod
    def train_model(self, train: pd.DataFrame, val: pd.DataFrame | None, like_threshold: float, seed: int) -> None:
        """Train `self.model` on train; `val` may only select the epoch."""

    @abstractmethod
    def score_batch(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        """[B, n_items] scores, higher = better; called under no_grad in eval mode."""

    @abstractmethod
    def user_embeddings(self) -> np.ndarray:
        """[n_users, d] float array, e.g. for K-means user sampling."""

    # ---- public API -----------------------------------------------------------------------------
    def hparams(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)

    def fit(
        self,
        train: pd.DataFrame,
        n_users: int,
        n_items: int,
        val: pd.DataFrame | None = None,
        like_threshold: float = 4.0,
        seed: int = 0,
    ) -> Retriever:
        """Fit on `train` only; `val` (one target row per user) is used for early stopping only."""
        check_frame(train, n_users, n_items, "train")
        if val is not None:
            check_frame(val, n_users, n_items, "val")
        self.n_users, self.n_items = int(n_users), int(n_items)
        p = self.params
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.rating = fit_rating_model(
                train, n_users, n_items, p.rating_dim, p.rating_sweeps, p.rating_reg, p.rating_shrinkage, seed
            )
            self.model = self.build(n_users, n_items)
            self.train_model(train, val if val is not None and len(val) else None, like_threshold, seed)
        self.model.eval()
        return self

    def _require_fitted(self) -> nn.Module:
        if self.model is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")
        return self.model

    @torch.no_grad()
    def score(self, users: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [B, n_items] for `users` [B]. `history` [B, L] (left-padded with -1) is the
        visible item sequence; only `uses_history` models read it, others ignore it."""
        model = self._require_fitted()
        was_training = model.training
        model.eval()
        try:
            return self.score_batch(users.long(), history)
        finally:
            model.train(was_training)

    @torch.no_grad()
    def predict_rating(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Predicted explicit rating [N] on the train rating scale, from a model fit on train only."""
        self._require_fitted()
        return self.rating(users.long(), items.long())

    def state_dict(self) -> dict[str, torch.Tensor]:
        model = self._require_fitted()
        state = {f"model.{k}": v for k, v in model.state_dict().items()}
        state.update({f"rating.{k}": v for k, v in self.rating.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], n_users: int, n_items: int) -> Retriever:
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.model = self.build(n_users, n_items)
        self.rating = RatingModel(n_users, n_items, self.params.rating_dim)
        self.model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
        self.rating.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("rating.")})
        self.model.eval()
        return self

    def save(self, path: str | Path, metadata: dict[str, str] | None = None) -> None:
        """Write a safetensors file atomically (temp file + os.replace): never a half file."""
        meta = {
            "name": self.name,
            "params": json.dumps(self.hparams(), sort_keys=True),
            "n_users": str(self.n_users),
            "n_items": str(self.n_items),
            **(metadata or {}),
        }
        tensors = {k: v.detach().contiguous().clone() for k, v in self.state_dict().items()}
        atomic_write_bytes(Path(path), safetensors.torch.save(tensors, metadata=meta))

    @classmethod
    def load(cls, path: str | Path) -> Retriever:
        meta = read_metadata(path)
        if meta.get("name") != cls.name:
            raise DataError(f"{path} holds a {meta.get('name')!r} retriever, not {cls.name!r}")
        state = safetensors.torch.load_file(str(path))
        retriever = cls(**json.loads(meta["params"]))
        return retriever.load_state_dict(state, int(meta["n_users"]), int(meta["n_items"]))


def read_metadata(path: str | Path) -> dict[str, str]:
    with safetensors.safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})
