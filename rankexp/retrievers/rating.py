"""Explicit-rating predictor behind `Retriever.predict_rating` (the pointwise prompt hint).

RecRanker's hint must come from a model fit on train only: a predictor that saw
the target rating leaks the label. Ranking retrievers are trained on implicit
likes and carry no rating scale, so every retriever owns this small model:

    r(u, i) = mu + b_u + b_i + p_u . q_i          (Koren 2009, eq. 1 + 5)

Biases are the closed-form shrunk means (b_i = sum(r - mu) / (n_i + shrinkage),
then b_u on what is left), so `dim=0` is "item mean with shrinkage". Factors
are fit to the residuals by ALS with weighted-lambda regularisation (Zhou et
al. 2008): no learning rate to tune, deterministic, a few ms per sweep. The
number of sweeps is chosen on a random 5% slice *of train*, never on val/test.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

log = logging.getLogger(__name__)


class RatingModel(nn.Module):
    """Biased matrix factorisation; predictions are clipped to the train rating range."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("mu", torch.zeros(()))
        self.register_buffer("bounds", torch.tensor([1.0, 5.0]))
        self.register_buffer("user_bias", torch.zeros(n_users))
        self.register_buffer("item_bias", torch.zeros(n_items))
        self.register_buffer("user_factors", torch.zeros(n_users, dim))
        self.register_buffer("item_factors", torch.zeros(n_items, dim))

    def baseline(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.mu + self.user_bias[users] + self.item_bias[items]

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (self.user_factors[users] * self.item_factors[items]).sum(-1)
        return (self.baseline(users, items) + dot).clamp(self.bounds[0], self.bounds[1])


def _shrunk_mean(index: torch.Tensor, values: torch.Tensor, n: int, shrinkage: float) -> torch.Tensor:
    total = torch.zeros(n).index_add_(0, index, values)
    count = torch.zeros(n).index_add_(0, index, torch.ones_like(values))
    return total / (count + shrinkage)


class _Side:
    """The interactions seen from one side (users or items), as sparse matrices built once per fit."""

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor, residual: torch.Tensor, n_rows: int, n_cols: int):
        index = torch.stack([rows, cols])
        shape = (n_rows, n_cols)
        self.ones = torch.sparse_coo_tensor(index, torch.ones_like(residual), shape, check_invariants=True).coalesce()
        self.errors = torch.sparse_coo_tensor(index, residual, shape, check_invariants=True).coalesce()
        self.count = torch.zeros(n_rows).index_add_(0, rows, torch.ones_like(residual)).clamp(min=1)

    def solve(self, fixed: torch.Tensor, reg: float) -> torch.Tensor:
        """min_x sum_c (e_rc - x_r . f_c)^2 + reg * n_r * |x_r|^2 for every row r at once.

        The normal equations come from two sparse products: G_r = sum_c f_c f_c^T is the
        0/1 interaction matrix times the flattened outer products, rhs_r = E @ F.
        """
        n_cols, dim = fixed.shape
        outer = (fixed[:, :, None] * fixed[:, None, :]).reshape(n_cols, dim * dim)
        gram = torch.sparse.mm(self.ones, outer).reshape(-1, dim, dim)
        gram += (reg * self.count)[:, None, None] * torch.eye(dim)
        return torch.linalg.solve(gram, torch.sparse.mm(self.errors, fixed))


@torch.no_grad()
def fit_rating_model(train: pd.DataFrame, n_users: int, n_items: int, dim: int, sweeps: int, reg: float,
                     shrinkage: float, seed: int) -> RatingModel:
    """Shrunk biases + ALS factors on train ratings; keep the sweep with the best RMSE on a 5% train slice."""
    model = RatingModel(n_users, n_items, dim)
    if len(train) == 0:
        return model
    gen = torch.Generator().manual_seed(seed)
    users = torch.tensor(train["user"].to_numpy(np.int64))
    items = torch.tensor(train["item"].to_numpy(np.int64))
    ratings = torch.tensor(train["rating"].to_numpy(np.float32))
    # With factors to fit, hold out 5% of train to choose the number of sweeps; biases skip it too,
    # so the held-out RMSE of sweep 0 is honest.
    held = torch.zeros(len(ratings), dtype=torch.bool)
    if dim > 0 and sweeps > 0:
        held = torch.rand(len(ratings), generator=gen) < 0.05
        if int(held.sum()) in (0, len(held)):
            held[:] = False
    fit = ~held
    u, i, r = users[fit], items[fit], ratings[fit]
    model.mu.fill_(float(r.mean()))
    model.bounds.copy_(torch.tensor([float(ratings.min()), float(ratings.max())]))
    model.item_bias.copy_(_shrunk_mean(i, r - model.mu, n_items, shrinkage))
    model.user_bias.copy_(_shrunk_mean(u, r - model.mu - model.item_bias[i], n_users, shrinkage))
    if dim == 0 or sweeps == 0:
        return model
    residual = r - model.baseline(u, i)

    def held_rmse() -> float:
        return float(((model(users[held], items[held]) - ratings[held]) ** 2).mean().sqrt())

    select = bool(held.any())  # too few ratings to hold any out: keep the last sweep
    best, best_sweep = (held_rmse() if select else float("inf")), 0  # sweep 0 = biases only
    best_factors = (model.user_factors.clone(), model.item_factors.clone())
    model.item_factors.normal_(0, 0.1, generator=gen)
    by_user, by_item = _Side(u, i, residual, n_users, n_items), _Side(i, u, residual, n_items, n_users)
    for sweep in range(1, sweeps + 1):
        model.user_factors.copy_(by_user.solve(model.item_factors, reg))
        model.item_factors.copy_(by_item.solve(model.user_factors, reg))
        rmse = held_rmse() if select else -float(sweep)
        if rmse < best:
            best, best_sweep = rmse, sweep
            best_factors = (model.user_factors.clone(), model.item_factors.clone())
    model.user_factors.copy_(best_factors[0])
    model.item_factors.copy_(best_factors[1])
    if select:
        log.info("rating model: dim=%d, sweep %d, held-out-train RMSE %.4f", dim, best_sweep, best)
    return model
