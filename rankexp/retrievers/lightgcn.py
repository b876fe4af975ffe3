"""LightGCN (He et al. 2020): MF embeddings smoothed over the user-item graph.

E^(k+1) = D^-1/2 A D^-1/2 E^(k) on the bipartite graph of train interactions
(`positives`: all rated items, or only liked ones); the final
embedding is the mean of E^(0..K) (eq. 8 of the paper); score = e_u . e_i.
Training propagates the whole graph once per batch (cheap at MovieLens scale
with a sparse CSR matrix); after fit the propagated tables are stored, so
scoring and loading need no graph.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import torch
from torch import nn

from rankexp.errors import ConfigError
from rankexp.retrievers import interactions
from rankexp.retrievers.base import Params as BaseParams
from rankexp.retrievers.base import Retriever
from rankexp.retrievers.training import train_bpr


def normalized_adjacency(pairs: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """Symmetric D^-1/2 A D^-1/2 of the (n_users + n_items) bipartite graph, as sparse CSR."""
    pairs = np.unique(pairs, axis=0)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1] + n_users])
    cols = np.concatenate([pairs[:, 1] + n_users, pairs[:, 0]])
    n = n_users + n_items
    degree = np.bincount(rows, minlength=n).astype(np.float64)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1)), 0.0)
    values = inv_sqrt[rows] * inv_sqrt[cols]
    index = torch.as_tensor(np.stack([rows, cols]))
    coo = torch.sparse_coo_tensor(index, torch.as_tensor(values, dtype=torch.float32), (n, n), check_invariants=True)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": sparse @ dense and its backward are stable
        warnings.simplefilter("ignore", UserWarning)
        return coo.coalesce().to_sparse_csr()  # CSR: ~20% faster sparse @ dense (and its backward) on CPU


class _Graph(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, n_layers: int) -> None:
        super().__init__()
        self.n_users, self.n_layers = n_users, n_layers
        self.ego = nn.Embedding(n_users + n_items, dim)
        nn.init.normal_(self.ego.weight, std=0.1)
        self.adjacency: torch.Tensor | None = None  # set for training only; not part of the state
        self.register_buffer("user_final", torch.zeros(n_users, dim))
        self.register_buffer("item_final", torch.zeros(n_items, dim))

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        layer = self.ego.weight
        total = layer
        for _ in range(self.n_layers):
            layer = torch.sparse.mm(self.adjacency, layer)
            total = total + layer
        final = total / (self.n_layers + 1)
        return final[: self.n_users], final[self.n_users :]

    def forward(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        user_emb, item_emb = self.propagate()
        u = torch.index_select(user_emb, 0, users)
        i, j = torch.index_select(item_emb, 0, torch.cat([pos, neg])).chunk(2)
        # L2 on the ego (layer-0) table, as in the paper, but over the whole table (mean squared norm
        # per node): on CPU every extra gather of a large batch costs more than the propagation itself.
        l2 = self.ego.weight.pow(2).sum(-1).mean()
        return (u * i).sum(-1), (u * j).sum(-1), l2

    @torch.no_grad()
    def refresh(self) -> None:
        user_emb, item_emb = self.propagate()
        self.user_final.copy_(user_emb)
        self.item_final.copy_(item_emb)


class LightGCN(Retriever):
    """LightGCN on the train interaction graph, trained with BPR; val NDCG@10 early stopping.

    Defaults are the ones chosen on ML-100K val NDCG@10 (conf/retriever/lightgcn.yaml).
    """

    name = "lightgcn"

    @dataclasses.dataclass
    class Params(BaseParams):
        dim: int = 64
        n_layers: int = 3
        epochs: int = 400
        # Every step propagates the whole graph (the dominant CPU cost), so big batches are nearly free.
        batch_size: int = 65536
        lr: float = 5e-2
        reg: float = 1e-4  # times the mean squared norm of the ego embeddings
        positives: str = "all"  # which train interactions form the graph and the BPR positives
        patience: int = 5  # evaluations without val NDCG@10 gain before stopping
        eval_every: int = 5

        def __post_init__(self) -> None:
            super().__post_init__()
            if min(self.dim, self.epochs, self.batch_size, self.patience, self.eval_every) < 1 or self.n_layers < 0:
                raise ConfigError("`retriever.dim/epochs/batch_size/patience/eval_every` must be >= 1, n_layers >= 0")

    def build(self, n_users: int, n_items: int) -> nn.Module:
        return _Graph(n_users, n_items, self.params.dim, self.params.n_layers)

    def train_model(self, train: pd.DataFrame, val: pd.DataFrame | None, like_threshold: float, seed: int) -> None:
        p = self.params
        pairs = interactions.bpr_positives(train, like_threshold, p.positives)
        self.model.adjacency = normalized_adjacency(pairs, self.n_users, self.n_items)
        try:
            train_bpr(
                self, self.model, pairs, train, val, seed, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr,
                reg=p.reg, patience=p.patience, eval_every=p.eval_every, on_eval=self.model.refresh,
            )
        finally:
            self.model.adjacency = None  # the graph is train data; keep it out of the fitted object

    def score_batch(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        return self.model.user_final[users] @ self.model.item_final.T

    def user_embeddings(self) -> np.ndarray:
        return self._require_fitted().user_final.numpy().copy()
