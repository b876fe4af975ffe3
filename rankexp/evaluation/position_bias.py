"""The position-bias probe: does the ranking follow the items or the slots they are shown in?

Model-free: it takes a `score(examples) -> [B, m]` callable (higher = ranked higher, column j
= the candidate in slot j), so any ranker, baseline or fused score can be probed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rankexp.data.examples import ListwiseExample, permuted_copy

ScoreFn = Callable[[Sequence[ListwiseExample]], Any]


def as_numpy(scores: Any, n: int | None = None, m: int | None = None) -> np.ndarray:
    if hasattr(scores, "detach"):  # a torch tensor
        scores = scores.detach().float().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float64)
    if n is not None and scores.shape != (n, m):
        raise ValueError(f"score function returned shape {scores.shape}, expected [B, m] = ({n}, {m})")
    return scores


def ranked_slots(scores: np.ndarray) -> np.ndarray:
    """Slots best first per row; ties go to the earlier slot (the rule of rankexp.evaluation.metrics)."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")


def position_bias(model_scores_fn: ScoreFn, examples: Sequence[ListwiseExample], n_orders: int = 5,
                  seed: int = 0, presented_scores: Any = None) -> dict[str, Any]:
    """How much the ranking depends on where candidates are shown.

    Every list is scored under `n_orders` seeded random candidate orders. With `presented_scores`
    ([B, m], the lists' scores in the order they are given, e.g. the test step's), the first order is
    the given one and those scores are used instead of a forward: evaluation lists are shuffled per
    user already, so the given order is one more random order, and the probe runs n_orders - 1
    forwards per list instead of n_orders. Returns:
    - `top1_agreement`: mean over lists and pairs of orders of [same item ranked first]
      (1 = order-invariant; a ranker that ignores the items and picks a fixed slot
      scores about `chance_top1_agreement` = 1/m);
    - `top1_all_agree`: fraction of lists whose first item is the same under all orders;
    - `first_slot_probability[k]`: P(the item ranked first was shown in slot k), over all
      (list, order) pairs; uniform = 1/m when there is no position bias, since each item
      visits each slot equally often under random orders;
    - `slot_bias_tv`: total-variation distance of that distribution from uniform (0 = none);
    - `n_lists`, `n_orders`, `m`.
    """
    examples = list(examples)
    if not examples:
        raise ValueError("position_bias needs at least one list")
    if n_orders < 2:
        raise ValueError(f"n_orders must be >= 2 to compare orders, got {n_orders}")
    m = len(examples[0].candidates)
    if any(len(e.candidates) != m for e in examples):
        raise ValueError("position_bias needs lists of one length m")
    rng = np.random.default_rng(seed)
    top_item = np.zeros((n_orders, len(examples)), dtype=np.int64)  # in the original slot numbering
    top_slot = np.zeros_like(top_item)  # the slot it was shown in
    from tqdm.auto import tqdm

    # n_orders x len(examples) forwards (as long as testing on that many lists): worth a bar; hidden off a tty
    for o in tqdm(range(n_orders), desc=f"position-bias probe ({len(examples)} lists)", disable=None, leave=False):
        if o == 0 and presented_scores is not None:
            perms = [np.arange(m) for _ in examples]
            scores = as_numpy(presented_scores, len(examples), m)
        else:
            perms = [rng.permutation(m) for _ in examples]
            shown = [permuted_copy(example, perm) for example, perm in zip(examples, perms)]
            scores = as_numpy(model_scores_fn(shown), len(shown), m)
        first = ranked_slots(scores)[:, 0]
        top_slot[o] = first
        top_item[o] = [perm[slot] for perm, slot in zip(perms, first)]
    pairs = [(a, b) for a in range(n_orders) for b in range(a + 1, n_orders)]
    agreement = np.mean([(top_item[a] == top_item[b]).mean() for a, b in pairs])
    probability = np.bincount(top_slot.ravel(), minlength=m) / top_slot.size
    return {
        "top1_agreement": float(agreement),
        "top1_all_agree": float((top_item == top_item[0]).all(axis=0).mean()),
        "chance_top1_agreement": 1.0 / m,
        "first_slot_probability": [float(p) for p in probability],
        "slot_bias_tv": float(0.5 * np.abs(probability - 1.0 / m).sum()),
        "n_lists": len(examples),
        "n_orders": int(n_orders),
        "m": int(m),
    }


def bias_metrics(stats: Mapping[str, Any], prefix: str = "position_bias") -> dict[str, float]:
    """The scalar entries of `position_bias(...)` as flat results.json keys."""
    keys = ("top1_agreement", "top1_all_agree", "chance_top1_agreement", "slot_bias_tv")
    return {f"{prefix}/{k}": float(stats[k]) for k in keys if k in stats}
