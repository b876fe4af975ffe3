"""`eval.test_orders=K`: a list's score as the mean of the ranker's scores under K candidate orders.

The position-bias probe shows that a trained ranker's scores move when the same candidates are
shown in another order. Where that movement is noise, averaging K orders is a better ranking from
the same model and the same prompt contents, at K times the inference cost (the idea of
permutation self-consistency for listwise LLM rankers). Order 0 is the order the list was shown in;
the other K-1 are seeded random permutations. Model-free: it takes any `score(examples) -> [B, m]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rankexp.data.examples import ListwiseExample, permuted_copy
from rankexp.evaluation.position_bias import as_numpy

ScoreFn = Callable[[Sequence[ListwiseExample]], object]


def order_averaged_scores(score: ScoreFn, examples: Sequence[ListwiseExample], n_orders: int, seed: int,
                          shown_scores: np.ndarray | None = None) -> np.ndarray:
    """[B, m] mean over `n_orders` orders, column j = the candidate in slot j of `examples`.

    `shown_scores`: the scores of the lists as shown, when already computed (saves one pass).
    """
    examples = list(examples)
    if n_orders < 1:
        raise ValueError(f"n_orders must be >= 1, got {n_orders}")
    m = len(examples[0].candidates)
    total = as_numpy(score(examples) if shown_scores is None else shown_scores, len(examples), m).copy()
    rng = np.random.default_rng([seed, 7919])
    for _ in range(n_orders - 1):
        perms = [rng.permutation(m) for _ in examples]
        scores = as_numpy(score([permuted_copy(e, p) for e, p in zip(examples, perms)]), len(examples), m)
        for row, perm in enumerate(perms):
            total[row, perm] += scores[row]  # new slot j showed old slot perm[j]
    return total / n_orders
