"""One ranking instance (`ListwiseExample`) and the answer order of its candidates.

The protocols (`rankexp.recipes.lists`, `rankexp.data.listwise`) build these; the prompt
encoders (`rankexp.prompts`) render them. Plain data: no tokenizer, no model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class ListwiseExample:
    """One ranking instance: what the prompt shows and what the answer should be."""

    user: int
    history: np.ndarray  # item ids, oldest first
    history_ratings: np.ndarray
    candidates: np.ndarray  # item ids in presented order (slot i gets label i)
    gains: np.ndarray  # relevance per slot: ratings (explicit) or 0/1 (rerank)
    target_slots: np.ndarray  # slots ordered best first (the SFT answer)
    hints: list[str] = field(default_factory=list)
    history_hints: list[str] = field(default_factory=list)  # the same hint for each history item
    prior_scores: np.ndarray | None = None  # the retriever's scores of the candidates (rerank protocol)
    hint_fold: int | None = None  # cross-fitted hints: the fold copy whose hint a training instance shows


def order_by_gain(gains: np.ndarray, tie_key: np.ndarray) -> np.ndarray:
    """Slots best first; equal gains ordered by `tie_key` (smaller first).

    `task.tie_break=random` passes fresh random keys on every draw (docs/alro.md's
    decision), `time` passes the rating timestamps (older first).
    """
    return np.lexsort((tie_key, -gains))


def permuted_copy(example: ListwiseExample, perm: np.ndarray) -> ListwiseExample:
    """The same list with candidates in order `perm` (new slot j shows old slot perm[j]).

    Labels follow slots, so each item gets a new label; the answer ranks the
    same items in the same order: old slot s now sits at slot inverse[s].
    """
    inverse = np.argsort(perm)
    return replace(
        example,
        candidates=example.candidates[perm],
        gains=example.gains[perm],
        target_slots=inverse[example.target_slots],
        hints=[example.hints[p] for p in perm] if example.hints else [],
        prior_scores=None if example.prior_scores is None else example.prior_scores[perm],
    )
