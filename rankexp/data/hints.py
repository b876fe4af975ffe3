"""Prompt-enhancement signals (RecRanker's hints; ALRO + hints is our lever), resolved in one place.

A hint must come from train interactions only. For training windows the
user's own rating of the very item is removed from the item mean (leave-one-
out), otherwise the hint would carry the training label and the model would
learn to trust a signal that evaluation prompts never have.

`hint_values(source, ...)` is the one resolver of `task.hint_source` /
`task.pointwise_hint_source`: it returns `values(user, items) -> np.ndarray`. The listwise
prompts show them as text (`HintText`), RecRanker's tasks use the numbers.

Sources: `item_mean` (leave-one-out, above); `retriever_cv`, the retriever's own signal
cross-fitted (`rankexp.data.cross_fit`: training prompts take a copy fit without the asked
rows, evaluation prompts the retriever fit on all of train); `retriever`, the in-sample
retriever everywhere, kept as the leaking control.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from rankexp.errors import ConfigError, unknown_name

HINT_SOURCES = ("item_mean", "retriever_cv", "retriever")
CROSS_FITTED = "retriever_cv"
HINT_FORMATS = ("value", "value_rank", "rank")
HintValues = Callable[[int, np.ndarray], np.ndarray]


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

    def values(self, user: int, items: np.ndarray) -> np.ndarray:
        return np.array([self.value(int(user), int(i)) for i in np.asarray(items)])

    def __call__(self, user: int, items: np.ndarray) -> list[str]:
        return HintText(self.values, "avg")(user, items)


def ranks_within(values: np.ndarray) -> np.ndarray:
    """1 + how many of the block's values are strictly larger: the best is 1, exact ties share a rank."""
    values = np.asarray(values, dtype=np.float64)
    return 1 + (values[None, :] > values[:, None]).sum(axis=1)


class HintText:
    """Hint values as prompt text: "avg 3.9" (`value`), "avg 3.9, #2" (`value_rank`) or "#2" (`rank`).

    The rank is the item's place by the unrounded hint among the items it is shown with (the
    candidates of one list, or the history lines of one prompt). Why: a 135M model reads a
    one-token rank more reliably than a decimal, and the rank also orders values that round to
    the same one-decimal text. It adds no signal beyond the hint's own values.
    """

    def __init__(self, values: HintValues, label: str, fmt: str = "value") -> None:
        if fmt not in HINT_FORMATS:
            raise unknown_name("hint format", fmt, HINT_FORMATS, "task.hint_format")
        self.values, self.label, self.fmt = values, label, fmt

    def __call__(self, user: int, items: np.ndarray) -> list[str]:
        values = np.asarray(self.values(user, items), dtype=np.float64)
        shown = [f"{self.label} {float(v):.1f}" for v in values]
        if self.fmt == "value":
            return shown
        ranks = [f"#{int(r)}" for r in ranks_within(values)] if len(values) else []
        return ranks if self.fmt == "rank" else [f"{v}, {r}" for v, r in zip(shown, ranks)]


def hint_values(source: str, train: pd.DataFrame, retriever=None, kind: str = "rating",
                key: str = "task.hint_source", cross_fit=None) -> HintValues:
    """`values(user, items)` of a hint source on EVALUATION prompts; kind = rating (a predicted rating)
    or score (an order).

    item_mean: the leave-one-out item mean (both kinds). retriever_cv: the retriever fit on all of
    train (`cross_fit`, a `CrossFittedHints`; training prompts ask its fold copies instead).
    retriever: its predicted rating, or its ranking score; fit on train, it saw the training
    targets, so its hints on training instances are optimistic (the recipes warn).
    """
    if source not in HINT_SOURCES:
        raise unknown_name("hint source", source, HINT_SOURCES, key)
    if source == "item_mean":
        return ItemMeanHints(train).values
    if source == CROSS_FITTED:
        if cross_fit is None:
            raise ConfigError(f"`{key}={CROSS_FITTED}` needs `protocol=rerank_topk` with a retriever (its fold copies)")
        return cross_fit.values(None, kind)
    if retriever is None:
        raise ConfigError(f"`{key}=retriever` needs `protocol=rerank_topk` with a retriever")
    from rankexp.data.cross_fit import values_of

    return values_of(retriever, kind)


def hint_label(source: str) -> str:
    """The word before a hint value in prompts: "avg" (item mean) or "predicted" (a retriever's rating)."""
    return "avg" if source == "item_mean" else "predicted"


HINT_SIGNALS = ("rating", "score")


def hint_text(source: str, train: pd.DataFrame, retriever=None, key: str = "task.hint_source",
              fmt: str = "value", cross_fit=None, training: bool = False, signal: str = "rating") -> HintText:
    """The listwise prompts' hint text of `source`: "avg x.x" (item mean) or "predicted x.x" (retriever),
    with the rank within the shown block when `fmt` (`task.hint_format`) asks for it.

    `signal` (`task.hint_signal`): `rating`, a predicted rating; `score`, the retriever's own ranking
    score (as its percentile among all items, `rankexp.data.cross_fit`), shown as a rank only.
    `training=True` under `retriever_cv`: each line's value comes from the fold copy that held out
    the user's train row of that item (`CrossFittedHints.out_of_fold`), never from a model that saw it.
    """
    if signal not in HINT_SIGNALS:
        raise unknown_name("hint signal", signal, HINT_SIGNALS, "task.hint_signal")
    if signal == "score" and (source == "item_mean" or fmt != "rank"):
        raise ConfigError(f"`task.hint_signal=score` writes the retriever's rank among the shown items: it needs "
                          f"`task.hint_source=retriever_cv` (or retriever) and `task.hint_format=rank`, got "
                          f"`task.hint_source={source}`, `task.hint_format={fmt}`")
    kind = "rating" if signal == "rating" else "percentile"
    values = hint_values(source, train, retriever, kind, key, cross_fit)
    if training and source == CROSS_FITTED:
        values = cross_fit.out_of_fold(kind)
    return HintText(values, hint_label(source), fmt)
