"""The post-test analysis of a listwise run, as functions of (scores, lists): paired differences with the
non-LLM scorers, `eval.test_orders` (order averaging), `eval.fusion`, and the per-list file.

The recipe hands over what the run already scored: the test step's scores, the selected checkpoint's
validation scores (a callable, scored again only when the run kept none), and a `score(examples)` function
for the extra candidate orders. Nothing here loads or runs a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from rankexp.evaluation.baselines import item_mean
from rankexp.evaluation.fusion import check_fusion, choose_weight, fuse, paired_difference, per_list
from rankexp.evaluation.metrics import ndcg_gain, ranking_metrics
from rankexp.evaluation.order_averaging import order_averaged_scores
from rankexp.io import atomic_write_text

ScoreFn = Callable[[Sequence], np.ndarray]


@dataclass(frozen=True)
class Comparison:
    """The `eval.*` keys the analysis reads, plus the run's seed and whether lists are explicit ratings."""

    metric: str  # eval.selection_metric
    ks: tuple[int, ...]  # eval.ks
    test_orders: int  # eval.test_orders
    fusion: str  # eval.fusion: none | item_mean | retriever
    seed: int
    ndcg_only: bool  # explicit lists hold a positive item in every list: HR/MRR rows would be trivially 1


def stack(examples, field: str) -> Tensor:
    return torch.as_tensor(np.stack([getattr(e, field) for e in examples]), dtype=torch.float32)


def signals(train: pd.DataFrame, examples) -> dict[str, Tensor]:
    """The non-LLM scores of these lists: the train item mean, and the retriever's scores where it ranked them."""
    out = {"item_mean": item_mean(train, np.stack([e.candidates for e in examples]))}
    if examples[0].prior_scores is not None:
        out["retriever"] = stack(examples, "prior_scores")
    return out


def compare(spec: Comparison, train: pd.DataFrame, val, test, llm: Tensor, val_llm: Callable[[], np.ndarray],
            score: ScoreFn) -> tuple[dict[str, float], dict[str, Tensor]]:
    """(metrics, per-list columns): `paired_test/llm_minus_<signal>/*`, and the `test_orders/*` and
    `test_fusion/*` rows when asked for. `llm` [n_test, m] are the test step's scores."""
    metric = spec.metric
    gains = ndcg_gain(stack(test, "gains"))
    test_signals = signals(train, test)
    out: dict[str, float] = {}
    rows = {"llm": per_list(llm, gains, metric), "item_mean": per_list(test_signals["item_mean"], gains, metric)}
    for name, scores in test_signals.items():
        out.update(paired_difference(llm, scores, gains, metric).keys(f"paired_test/llm_minus_{name}/{metric}"))
    orders, fusion = spec.test_orders > 1, spec.fusion != "none" and bool(val)
    val_scores = val_llm() if val and (orders or fusion) else None
    if orders:
        averaged, order_metrics = average_orders(spec, score, val, test, llm, val_scores, test_signals)
        out.update(order_metrics)
        rows["orders"] = per_list(averaged, gains, metric)
    if fusion:
        fused, fusion_metrics = fuse_on_test(spec, train, val, test, llm, val_scores, test_signals)
        out.update(fusion_metrics)
        rows["fusion"] = per_list(fused, gains, metric)
    return out, rows


def own_row(spec: Comparison, name: str, scores: Tensor, gains: Tensor,
            references: dict[str, Tensor]) -> dict[str, float]:
    """`test_<name>/*` of a score derived from the LLM's, and `paired_test/<name>_minus_<reference>/*`."""
    values = ranking_metrics(scores, gains, spec.ks)
    out = {f"test_{name}/{k}": float(v.mean()) for k, v in values.items() if k.startswith("ndcg") or not spec.ndcg_only}
    for reference, other in references.items():
        out.update(paired_difference(scores, other, gains, spec.metric).keys(
            f"paired_test/{name}_minus_{reference}/{spec.metric}"))
    return out


def average_orders(spec: Comparison, score: ScoreFn, val, test, llm: Tensor, val_llm: np.ndarray | None,
                   test_signals: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """`eval.test_orders=K`: the LLM's scores averaged over K candidate orders, its own row `test_orders/*`.

    The same K orders are scored on the validation lists (`val_orders/*`, beside the one-order
    `val_orders/one_order_*`), so whether averaging helps is read on validation. Order 0 of the
    test lists is the order the test step scored; order 0 of the validation lists is `val_llm`.
    """
    k, metric = spec.test_orders, spec.metric
    out: dict[str, float] = {"orders/n": float(k)}
    if val_llm is not None:
        val_avg = order_averaged_scores(score, val, k, spec.seed + 1, shown_scores=val_llm)
        val_gains = ndcg_gain(stack(val, "gains"))
        out[f"val_orders/one_order_{metric}"] = float(per_list(torch.as_tensor(val_llm), val_gains, metric).mean())
        out[f"val_orders/{metric}"] = float(per_list(torch.as_tensor(val_avg), val_gains, metric).mean())
    averaged = torch.as_tensor(order_averaged_scores(score, test, k, spec.seed + 2, shown_scores=llm.numpy()),
                               dtype=torch.float32)
    out.update(own_row(spec, "orders", averaged, ndcg_gain(stack(test, "gains")), {"llm": llm, **test_signals}))
    return averaged, out


def fuse_on_test(spec: Comparison, train: pd.DataFrame, val, test, llm: Tensor, val_llm: np.ndarray,
                 test_signals: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """`eval.fusion`: z(LLM) + w z(signal), w chosen on the validation lists, applied once to the test lists."""
    source, metric = spec.fusion, spec.metric
    check_fusion(source, test_signals)
    val_signal = signals(train, val)[source]
    weight, val_value = choose_weight(torch.as_tensor(val_llm, dtype=torch.float32), val_signal,
                                      ndcg_gain(stack(val, "gains")), metric)
    fused = fuse(llm, test_signals[source], weight)
    out = own_row(spec, "fusion", fused, ndcg_gain(stack(test, "gains")), test_signals)
    out["fusion/weight"], out[f"fusion/val_{metric}"] = weight, val_value
    return fused, out


def write_per_list(path: Path, lists, metric: str, columns: dict[str, Tensor]) -> None:
    """One row per test list (user, metric of each scorer): lets `experiments/paired_runs.py` pair two runs."""
    header = ["list", "user"] + [f"{name}_{metric}" for name in columns]
    rows = [",".join(header)]
    for i, example in enumerate(lists):
        values = [f"{float(col[i]):.6f}" for col in columns.values()]
        rows.append(",".join([str(i), str(int(example.user))] + values))
    atomic_write_text(path, "\n".join(rows) + "\n")
