"""Training-loop pieces shared by the learned retrievers: val-NDCG early stopping and BPR.

Early stopping reads only the val targets (never test) and restores the best
epoch's weights, so `fit` returns the model a val-selected run would report.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from rankexp.evaluation.metrics import ranked_list_metrics
from rankexp.retrievers.evaluate import EvalContext, eval_context, history_len, ranked
from rankexp.retrievers.interactions import NegativeSampler

log = logging.getLogger(__name__)


def ndcg_at(items: torch.Tensor, targets: torch.Tensor, k: int = 10) -> float:
    """Mean NDCG@k with one target per row (`rankexp.evaluation.metrics`), cheap enough for every epoch."""
    return float(ranked_list_metrics(items, targets, (k,))[f"ndcg@{k}"].mean()) if len(targets) else 0.0


class EarlyStopping:
    """Track val NDCG@10; keep a copy of the best weights; stop after `patience` evaluations without gain."""

    def __init__(self, retriever, val: pd.DataFrame | None, train: pd.DataFrame, patience: int, k: int = 10) -> None:
        self.retriever = retriever
        self.k = k
        self.patience = patience
        self.ctx: EvalContext | None = None
        if val is not None:
            self.ctx = eval_context(val, train, retriever.n_users, history_len(retriever))
        self.best = -math.inf
        self.best_epoch = -1
        self.best_state: dict | None = None
        self.bad = 0

    @property
    def active(self) -> bool:
        return self.ctx is not None

    def step(self, epoch: int, module: nn.Module) -> bool:
        """Evaluate on val; return True when training should stop."""
        if self.ctx is None:
            return False
        items, _ = ranked(self.retriever, self.ctx.users, self.ctx.exclude, self.k, self.ctx.history)
        value = ndcg_at(items, self.ctx.targets, self.k)
        log.debug("%s epoch %d: val ndcg@%d %.4f", self.retriever.name, epoch, self.k, value)
        if value > self.best:
            self.best, self.best_epoch, self.bad = value, epoch, 0
            self.best_state = copy.deepcopy(module.state_dict())
        else:
            self.bad += 1
        return self.bad >= self.patience

    def restore(self, module: nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
            log.info("%s: restored epoch %d (val ndcg@%d %.4f)", self.retriever.name, self.best_epoch, self.k, self.best)


def progress(iterable, desc: str, total: int | None = None):
    """tqdm bar that hides itself when stderr is not a terminal (CI logs stay readable)."""
    return tqdm(iterable, desc=desc, total=total, disable=None, leave=False, dynamic_ncols=True)


def train_bpr(
    retriever,
    module: nn.Module,
    pairs: np.ndarray,
    train: pd.DataFrame,
    val: pd.DataFrame | None,
    seed: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    reg: float,
    patience: int,
    eval_every: int,
    on_eval: Callable[[], None] = lambda: None,
) -> None:
    """BPR (Rendle et al. 2009): -log sigmoid(s_ui - s_uj) over (user, liked item, unseen item).

    `module(users, pos, neg)` returns (pos_scores, neg_scores, l2_term); `on_eval` refreshes any
    cached embeddings before scoring (LightGCN's propagated tables).
    """
    rng = np.random.default_rng(seed)
    sampler = NegativeSampler(train, retriever.n_items, rng)
    optim = torch.optim.Adam(module.parameters(), lr=lr)
    stopper = EarlyStopping(retriever, val, train, patience)
    bar = progress(range(epochs), desc=f"{retriever.name} (BPR)")
    for epoch in bar:
        module.train()
        order = rng.permutation(len(pairs))
        negatives = sampler.sample(pairs[order, 0])
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            users = torch.from_numpy(pairs[idx, 0])
            pos = torch.from_numpy(pairs[idx, 1])
            neg = torch.from_numpy(negatives[start : start + batch_size])
            pos_s, neg_s, l2 = module(users, pos, neg)
            loss = -F.logsigmoid(pos_s - neg_s).mean() + reg * l2
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(idx)
        if (epoch + 1) % eval_every == 0 or epoch + 1 == epochs:
            module.eval()
            on_eval()
            if stopper.step(epoch, module):
                break
            bar.set_postfix(loss=total / len(order), val_ndcg10=stopper.best)
    stopper.restore(module)
    module.eval()
    on_eval()
