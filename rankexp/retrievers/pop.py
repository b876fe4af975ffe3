"""Pop: rank items by how many train users liked them (the floor every model must beat)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from torch import nn

from rankexp.retrievers.base import Params as BaseParams
from rankexp.retrievers.base import Retriever


class _PopTable(nn.Module):
    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.register_buffer("item_scores", torch.zeros(n_items))
        self.register_buffer("user_features", torch.zeros(n_users, 2))


class Pop(Retriever):
    """Score = number of train likes of the item, ties broken by its number of train ratings.

    The tie-break keeps the order deterministic and sensible among the many
    items with equal like counts (a sort by index would be arbitrary).
    `predict_rating` uses the biased baseline mu + b_u + b_i (`rating_dim: 0`):
    a shrunk item mean, fit on train only.
    """

    name = "pop"

    @dataclasses.dataclass
    class Params(BaseParams):
        rating_dim: int = 0

    def build(self, n_users: int, n_items: int) -> nn.Module:
        return _PopTable(n_users, n_items)

    def train_model(self, train: pd.DataFrame, val: pd.DataFrame | None, like_threshold: float, seed: int) -> None:
        items = train["item"].to_numpy(np.int64)
        liked = np.bincount(items[train["rating"].to_numpy() >= like_threshold], minlength=self.n_items)
        rated = np.bincount(items, minlength=self.n_items)
        scores = liked + rated / (rated.max() + 1.0) if len(items) else liked.astype(float)
        self.model.item_scores.copy_(torch.as_tensor(scores, dtype=torch.float32))
        # User features for K-means sampling: activity and mainstreamness (mean log-popularity consumed).
        users = train["user"].to_numpy(np.int64)
        count = np.bincount(users, minlength=self.n_users).astype(np.float64)
        pop_sum = np.bincount(users, weights=np.log1p(rated[items]), minlength=self.n_users)
        feats = np.stack([np.log1p(count), pop_sum / np.maximum(count, 1)], axis=1)
        self.model.user_features.copy_(torch.as_tensor(feats, dtype=torch.float32))

    def score_batch(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        return self.model.item_scores.repeat(len(users), 1)  # a real tensor: callers may write into it

    def user_embeddings(self) -> np.ndarray:
        """[n_users, 2]: log(1 + #train ratings), mean log(1 + popularity) of the rated items."""
        return self._require_fitted().user_features.numpy().copy()
