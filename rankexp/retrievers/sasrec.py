"""SASRec (Kang & McAuley 2018): causal self-attention over the time-ordered history.

Trained on each user's train sequence, ordered by (timestamp, item) like the
split, to predict the next item at every position. The loss is full softmax
cross-entropy over the catalogue instead of the paper's one-negative BCE: it
is cheap at MovieLens scale and a stronger, seed-stable baseline. At scoring
time the model reads the history it is given (the interactions strictly
before the target, see `evaluate.eval_context`); without one it reads the
last `max_len` train items.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from rankexp.errors import ConfigError
from rankexp.retrievers import interactions
from rankexp.retrievers.base import Params as BaseParams
from rankexp.retrievers.base import Retriever
from rankexp.retrievers.training import EarlyStopping, progress


class _SASRecNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, n_layers: int, n_heads: int, max_len: int,
                 dropout: float) -> None:
        super().__init__()
        self.dim, self.max_len = dim, max_len
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)  # row 0 = padding, row i+1 = item i
        self.positions = nn.Embedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, n_heads, 2 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        # Small init (GPT-2 style): nn.Embedding's N(0, 1) makes the initial logits h . e_i large, and
        # the model then sits at a popularity plateau for dozens of epochs before it uses the order.
        nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()
        self.register_buffer("train_history", torch.full((n_users, max_len), -1, dtype=torch.long))
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(max_len), persistent=False)

    def fit_length(self, history: torch.Tensor) -> torch.Tensor:
        """Keep the last `max_len` items, left-padding shorter histories with -1."""
        if history.shape[1] >= self.max_len:
            return history[:, -self.max_len :]
        pad = history.new_full((history.shape[0], self.max_len - history.shape[1]), -1)
        return torch.cat([pad, history], dim=1)

    def hidden(self, history: torch.Tensor) -> torch.Tensor:
        """[B, L] item ids (-1 = pad) -> [B, L, dim]; position t sees items <= t only."""
        seq = self.fit_length(history) + 1
        x = self.items(seq) + self.positions.weight
        x = self.dropout(x) * (seq > 0).unsqueeze(-1)
        return self.norm(self.encoder(x, mask=self.causal, is_causal=True))

    def item_table(self) -> torch.Tensor:
        return self.items.weight[1:]


def training_windows(sequences: list[np.ndarray], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut each sequence into non-overlapping windows from its end: inputs [N, L], next items [N, L]."""
    inputs, targets = [], []
    for seq in sequences:
        for end in range(len(seq), 1, -max_len):
            chunk = seq[max(0, end - max_len - 1) : end]
            inputs.append(chunk[:-1])
            targets.append(chunk[1:])
    return interactions.left_pad(inputs, max_len), interactions.left_pad(targets, max_len)


class SASRec(Retriever):
    """Next-item transformer over the train history; val NDCG@10 early stopping.

    Defaults are the ones chosen on ML-100K val NDCG@10 (conf/retriever/sasrec.yaml).
    """

    name = "sasrec"
    uses_history = True

    @dataclasses.dataclass
    class Params(BaseParams):
        dim: int = 64
        n_layers: int = 2
        n_heads: int = 2
        max_len: int = 50  # history items the model reads
        dropout: float = 0.2
        epochs: int = 200
        batch_size: int = 128
        lr: float = 5e-3
        weight_decay: float = 0.0
        n_negatives: int = 256  # uniform negatives shared by a batch (sampled softmax); 0 = full softmax
        patience: int = 5  # evaluations without val NDCG@10 gain before stopping
        eval_every: int = 3

        def __post_init__(self) -> None:
            super().__post_init__()
            if min(self.dim, self.n_layers, self.n_heads, self.max_len, self.epochs, self.batch_size,
                   self.patience, self.eval_every) < 1:
                raise ConfigError("`retriever.*` sizes, epochs, patience and eval_every must be >= 1")
            if self.dim % self.n_heads:
                raise ConfigError(f"`retriever.dim`={self.dim} must be divisible by `retriever.n_heads`={self.n_heads}")

    def build(self, n_users: int, n_items: int) -> nn.Module:
        p = self.params
        return _SASRecNet(n_users, n_items, p.dim, p.n_layers, p.n_heads, p.max_len, p.dropout)

    def train_model(self, train: pd.DataFrame, val: pd.DataFrame | None, like_threshold: float, seed: int) -> None:
        p, net = self.params, self.model
        sequences = interactions.user_sequences(train, self.n_users)
        net.train_history.copy_(interactions.left_pad(sequences, p.max_len))
        inputs, targets = training_windows(sequences, p.max_len)
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        optim = torch.optim.AdamW(net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        stopper = EarlyStopping(self, val, train, p.patience)
        bar = progress(range(p.epochs), desc="sasrec")
        for epoch in bar:
            net.train()
            order = torch.from_numpy(rng.permutation(len(inputs)))
            for start in range(0, len(order), p.batch_size):
                idx = order[start : start + p.batch_size]
                hidden = net.hidden(inputs[idx])
                target = targets[idx]
                keep = target >= 0
                loss = self._loss(hidden[keep], target[keep], gen)
                optim.zero_grad()
                loss.backward()
                optim.step()
            if (epoch + 1) % p.eval_every == 0 or epoch + 1 == p.epochs:
                net.eval()
                if stopper.step(epoch, net):
                    break
                bar.set_postfix(loss=float(loss.detach()), val_ndcg10=stopper.best)
        stopper.restore(net)

    def _loss(self, hidden: torch.Tensor, target: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Softmax cross-entropy of the next item: over the catalogue, or over the target plus
        `n_negatives` uniform items shared by the batch (a negative that equals the target is masked)."""
        table = self.model.item_table()
        if self.params.n_negatives <= 0 or self.params.n_negatives >= self.n_items:
            return F.cross_entropy(hidden @ table.T, target)
        negatives = torch.randint(0, self.n_items, (self.params.n_negatives,), generator=gen)
        pos = (hidden * table[target]).sum(-1, keepdim=True)
        neg = (hidden @ table[negatives].T).masked_fill(negatives[None, :] == target[:, None], float("-inf"))
        return F.cross_entropy(torch.cat([pos, neg], dim=1), torch.zeros_like(target))

    def score_batch(self, users: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        net = self.model
        history = net.train_history[users] if history is None else history.long()
        return net.hidden(history)[:, -1] @ net.item_table().T

    @torch.no_grad()
    def user_embeddings(self) -> np.ndarray:
        """The transformer's state after each user's last train items, [n_users, dim]."""
        net = self._require_fitted()
        net.eval()
        out = [net.hidden(net.train_history[s : s + 512])[:, -1] for s in range(0, self.n_users, 512)]
        return torch.cat(out).numpy()
