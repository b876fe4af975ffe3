"""Prompt-enhancement signals (RecRanker's hints; ALRO + hints is our lever).

A hint must come from train interactions only. For training windows the
user's own rating of the very item is removed from the item mean (leave-one-
out), otherwise the hint would carry the training label and the model would
learn to trust a signal that evaluation prompts never have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class ItemMeanHints:
    """Shrunk mean train rating per item, excluding the asking user's own rating."""

    def __init__(self, train: pd.DataFrame, shrinkage: float = 5.0) -> None:
        self.mu = float(train["rating"].mean())
        self.shrinkage = shrinkage
        stats = train.groupby("item")["rating"].agg(["sum", "count"])
        self._sum = stats["sum"].to_dict()
        self._count = stats["count"].to_dict()
        self._own = {(int(u), int(i)): float(r) for u, i, r in train[["user", "item", "rating"]].itertuples(index=False)}

    def value(self, user: int, item: int) -> float:
        total, count = self._sum.get(item, 0.0), self._count.get(item, 0)
        own = self._own.get((user, item))
        if own is not None:
            total, count = total - own, count - 1
        return (total + self.shrinkage * self.mu) / (count + self.shrinkage)

    def __call__(self, user: int, items: np.ndarray) -> list[str]:
        return [f"avg {self.value(user, int(i)):.1f}" for i in items]


class PredictedRatingHints:
    """A retriever's predicted rating (fit on train only) for each candidate."""

    def __init__(self, retriever) -> None:
        self.retriever = retriever

    def __call__(self, user: int, items: np.ndarray) -> list[str]:
        import torch

        users = torch.full((len(items),), int(user), dtype=torch.long)
        predicted = self.retriever.predict_rating(users, torch.as_tensor(np.asarray(items), dtype=torch.long))
        return [f"predicted {float(r):.1f}" for r in predicted]
