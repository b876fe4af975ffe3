"""RecRanker's three instruction tasks as training data (docs/recranker.md).

Evaluation instances are in `recranker_eval`, prompt text in `rankexp.prompts`, the hybrid in
`rankexp.models.hybrid`. Training instances come from TRAIN interactions only: pointwise shows one
train item, pairwise a liked and a non-liked one, listwise 3 top-tier + 2 second-tier rated items
among 5 random unrated ones. The history is the user's train rows before the latest shown rated
item, *minus every shown item*, so no answer sits in the history (the official code leaks listwise
positives into it). Position shifting (`shuffle=True`) re-draws history, candidate and pair order
on every draw; `shuffle=False` uses a fixed order that says nothing about the answer.
Hints are data: a predicted rating (pointwise), the preferred item (pairwise), the rank per slot
(listwise); on TRAINING instances they must not have seen the rating asked about: the leave-one-out
item mean (`rankexp.data.hints`) or a cross-fitted retriever (`FoldedHint`, `rankexp.data.cross_fit`).
Under a `FoldedHint` an instance first picks a fold and asks only about the user's rated items of
that fold (pointwise: the fold of the asked item; pairwise: the liked item's fold, the disliked one
from the same fold; listwise: a fold holding 3 + 2 of the user's top-tier items), so the one copy
that held that fold out gives the whole instance its hint.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rankexp.data.examples import ListwiseExample, order_by_gain
from rankexp.data.splits import ORDER
from rankexp.errors import DataError

TASKS = ("pointwise", "pairwise", "listwise")
POINTWISE_ANSWERS = ("1", "2", "3", "4", "5")  # one token each in SmolLM2 / Llama after a newline
PAIRWISE_ANSWERS = ("Yes", "No")  # answer to "would the user prefer the first over the second?"
LISTWISE_SHAPE = (3, 2, 5)  # top-tier rated, second-tier rated, random unrated candidates
LISTWISE_TOP = 5  # RecRanker's listwise answer is the top 5 of the 10 candidates
RECRANKER_TASKS = ("pointwise", "pairwise", "hybrid")  # the `task` names only RecRanker's recipe runs
MIX_MODES = ("sample", "all")  # `task.mix_mode`: one task drawn per training instruction, or every task
PAIR_SETS = ("all", "matching")  # `task.pairs`: every pair of a test list, or a random perfect matching
HYBRID_FORMS = ("paper", "code")  # `task.form`: the hybrid's formula as published, or as in the authors' code


def default_recipe(task_name: str | None) -> str:
    """The recipe a run takes when `recipe` is not given (run.yaml's resolver): RecRanker's own tasks are
    its recipe's, every other task is ALRO's (`recipe=recranker` puts task=listwise under RecRanker)."""
    return "recranker" if task_name in RECRANKER_TASKS else "alro"


PredictRating = Callable[[int, np.ndarray], np.ndarray]  # (user, items) -> predicted ratings
Score = Callable[[int, np.ndarray], np.ndarray]  # (user, items) -> scores, higher = preferred


@dataclass(frozen=True)
class FoldedHint:
    """A cross-fitted hint for training instances: `of(fold)` is the values(user, items) of the copy
    fit without that fold's train rows (`CrossFittedHints.folded`)."""

    of: Callable[[int], Callable[[int, np.ndarray], np.ndarray]]


def _resolve(hint, fold: int | None):
    """The plain hint function of an instance: a FoldedHint's copy for `fold`, else the hint itself."""
    return hint.of(fold) if isinstance(hint, FoldedHint) else hint


def rating_answers(scale: tuple[float, float]) -> tuple[str, ...]:
    """Pointwise answer strings for a rating scale, e.g. (1, 5) -> "1".."5".

    A 1-10 scale gives "10", which is two tokens in SmolLM2 / Llama; the label-token check in
    `rankexp.models.scoring.label_token_ids` rejects it, so such scales need a remapping.
    """
    lo, hi = int(scale[0]), int(scale[1])
    return tuple(str(r) for r in range(lo, hi + 1))


@dataclass
class PointwiseExample:
    user: int
    history: np.ndarray  # item ids, in presented order
    history_ratings: np.ndarray
    item: int
    rating: int | None  # target; None at evaluation
    hint: float | None = None  # another recommender's predicted rating
    block: np.ndarray | None = None  # candidates shown before the question (`candidates_in_prefix`), in order
    hint_fold: int | None = None  # cross-fitted hints: the fold copy that gave the hint


@dataclass
class PairwiseExample:
    user: int
    history: np.ndarray
    history_ratings: np.ndarray
    first: int
    second: int
    first_preferred: bool | None  # target ("Yes" if True); None at evaluation
    hint: int | None = None  # the item (first or second) another recommender prefers
    block: np.ndarray | None = None  # candidates shown before the question (`candidates_in_prefix`), in order
    hint_fold: int | None = None  # cross-fitted hints: the fold copy that gave the hint


@dataclass(frozen=True)
class UserTrain:
    """One user's train rows as arrays, ordered by (timestamp, item)."""

    items: np.ndarray
    ratings: np.ndarray
    # Items the user rated outside train (val / test targets): never drawn as "unrated" candidates or
    # negatives, so no held-out item appears in a training prompt (the leakage audit checks this).
    held_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    folds: np.ndarray | None = None  # cross-fitted hints: the fold of each train row (aligned with `items`)

    @property
    def rated(self) -> np.ndarray:
        return np.concatenate([self.items, self.held_out])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> UserTrain:
        frame = frame.sort_values(ORDER[1:], kind="mergesort")
        return cls(frame["item"].to_numpy(np.int64), frame["rating"].to_numpy(np.float64))


def _as_user_train(frame: pd.DataFrame | UserTrain) -> UserTrain:
    return frame if isinstance(frame, UserTrain) else UserTrain.from_frame(frame)


def _history(ut: UserTrain, shown: Sequence[int], history_len: int, shuffle: bool, rng: np.random.Generator):
    """Last `history_len` rows before the latest shown row, shown rows removed; permuted if shuffle."""
    hidden, keep, row = {int(s) for s in shown}, [], int(max(shown)) - 1
    while row >= 0 and len(keep) < history_len:  # walk back from the latest shown row
        if row not in hidden:
            keep.append(row)
        row -= 1
    keep = np.asarray(keep[::-1], dtype=np.int64)
    if shuffle:
        keep = keep[rng.permutation(len(keep))]
    return ut.items[keep], ut.ratings[keep]


def _unrated(rng: np.random.Generator, n_items: int, rated: np.ndarray, count: int) -> np.ndarray:
    """`count` distinct items the user has not rated in train, uniformly (rejection sampling)."""
    seen = set(rated.tolist())
    if n_items - len(seen) < count:
        raise DataError(f"user rated {len(seen)} of {n_items} items: fewer than {count} unrated items left")
    out: list[int] = []
    while len(out) < count:
        for item in rng.integers(n_items, size=2 * count).tolist():
            if item not in seen:
                seen.add(item)
                out.append(item)
                if len(out) == count:
                    break
    return np.asarray(out, dtype=np.int64)


def _block(rng: np.random.Generator, n_items: int, ut: UserTrain, asked: Sequence[int], size: int,
           shuffle: bool) -> np.ndarray | None:
    """`candidates_in_prefix`: the asked items among `size - len(asked)` random unrated ones, shuffled
    (by item id without position shifting) -- the shape of the retriever's top-m at evaluation."""
    if not size:
        return None
    asked = np.asarray(asked, dtype=np.int64)
    block = np.concatenate([asked, _unrated(rng, n_items, np.concatenate([ut.rated, asked]), size - len(asked))])
    return block[rng.permutation(size)] if shuffle else np.sort(block, kind="stable")


def pointwise_instance(user: int, frame: pd.DataFrame | UserTrain, rng: np.random.Generator, n_items: int,
                       like_threshold: float, dislike_threshold: float = 2, history_len: int = 10,
                       shuffle: bool = True, predict_rating: PredictRating | None = None,
                       block_size: int = 0) -> PointwiseExample | None:
    """A random rated train item (not the first one) -> its rating; None if < 2 train rows.
    `block_size` > 0: the item is shown among that many candidates (`_block`)."""
    ut = _as_user_train(frame)
    if len(ut.items) < 2:
        return None
    t = int(rng.integers(1, len(ut.items)))
    items, ratings = _history(ut, [t], history_len, shuffle, rng)
    item = int(ut.items[t])
    fold = _fold_of(ut, t, predict_rating)
    rate = _resolve(predict_rating, fold)
    hint = float(rate(user, np.array([item]))[0]) if rate else None
    return PointwiseExample(user, items, ratings, item, round(ut.ratings[t]), hint,
                            _block(rng, n_items, ut, [item], block_size, shuffle), fold)


def _fold_of(ut: UserTrain, row: int, hint) -> int | None:
    """The fold of train row `row` when `hint` is cross-fitted, else None."""
    if not isinstance(hint, FoldedHint):
        return None
    if ut.folds is None:
        raise ValueError("a cross-fitted hint needs the fold of every train row (RecRankerTasks(folds=...))")
    return int(ut.folds[row])


def pairwise_instance(user: int, frame: pd.DataFrame | UserTrain, rng: np.random.Generator, n_items: int,
                      like_threshold: float, dislike_threshold: float = 2, history_len: int = 10,
                      shuffle: bool = True, score: Score | None = None, block_size: int = 0) -> PairwiseExample | None:
    """A liked train item vs a disliked rated one (else a random unrated one), in random order.
    `block_size` > 0: the pair is shown among that many candidates (`_block`)."""
    ut = _as_user_train(frame)
    liked = np.flatnonzero(ut.ratings >= like_threshold)
    if len(liked) == 0:
        return None
    pos = int(rng.choice(liked))
    fold = _fold_of(ut, pos, score)
    disliked = np.flatnonzero(ut.ratings <= dislike_threshold)
    if fold is not None:  # the copy that held out the liked item must not have seen the disliked one either
        disliked = disliked[ut.folds[disliked] == fold]
    if len(disliked):
        neg_pos = int(rng.choice(disliked))
        neg, shown = int(ut.items[neg_pos]), [pos, neg_pos]
    else:
        neg, shown = int(_unrated(rng, n_items, ut.rated, 1)[0]), [pos]
    items, ratings = _history(ut, shown, history_len, shuffle, rng)
    good = int(ut.items[pos])
    liked_first = bool(rng.random() < 0.5) if shuffle else good < neg
    first, second = (good, neg) if liked_first else (neg, good)
    return PairwiseExample(user, items, ratings, first, second, liked_first,
                           pair_hint(user, first, second, _resolve(score, fold)),
                           _block(rng, n_items, ut, [first, second], block_size, shuffle), fold)


def pair_hint(user: int, first: int, second: int, score: Score | None) -> int | None:
    if score is None:
        return None
    s = np.asarray(score(user, np.array([first, second])), dtype=np.float64)
    return first if s[0] >= s[1] else second


def list_hints(user: int, candidates: np.ndarray, score: Score | None) -> list[str]:
    """Per slot: "recommender #r" for the recommender's top 5 (its listwise answer), "" otherwise."""
    if score is None:
        return []
    order = np.argsort(-np.asarray(score(user, candidates), dtype=np.float64), kind="stable")[:LISTWISE_TOP]
    hints = [""] * len(candidates)
    for rank, slot in enumerate(order, start=1):
        hints[int(slot)] = f"recommender #{rank}"
    return hints


def listwise_instance(user: int, frame: pd.DataFrame | UserTrain, rng: np.random.Generator, n_items: int,
                      like_threshold: float, dislike_threshold: float = 2, history_len: int = 10,
                      shuffle: bool = True, score: Score | None = None) -> ListwiseExample | None:
    """3 items of the user's highest train rating + 2 of the next distinct rating + 5 unrated.

    Gains: the rating for rated candidates, 0 for unrated. `target_slots` is the full order, ties
    (equal ratings, and the five unrated) broken by the rng; RecRanker's answer is its first 5.
    None when the user lacks 3 items at their top rating or 2 at their second-highest rating
    (the official code's eligibility rule, with tiers relative to the user).
    """
    ut = _as_user_train(frame)
    n_top, n_second, n_random = LISTWISE_SHAPE
    levels = np.unique(ut.ratings)[::-1]
    if len(levels) < 2:
        return None
    top, second = np.flatnonzero(ut.ratings == levels[0]), np.flatnonzero(ut.ratings == levels[1])
    fold = None
    if isinstance(score, FoldedHint):  # one fold must hold all five rated candidates
        _fold_of(ut, 0, score)  # checks the folds are there
        fits = [f for f in np.unique(ut.folds).tolist()
                if (ut.folds[top] == f).sum() >= n_top and (ut.folds[second] == f).sum() >= n_second]
        if not fits:
            return None
        fold = int(fits[int(rng.integers(len(fits)))])
        top, second = top[ut.folds[top] == fold], second[ut.folds[second] == fold]
    if len(top) < n_top or len(second) < n_second:
        return None
    shown = np.concatenate([rng.choice(top, n_top, replace=False), rng.choice(second, n_second, replace=False)])
    items, ratings = _history(ut, shown.tolist(), history_len, shuffle, rng)
    candidates = np.concatenate([ut.items[shown], _unrated(rng, n_items, ut.rated, n_random)])
    gains = np.concatenate([ut.ratings[shown], np.zeros(n_random)]).astype(np.float32)
    order = rng.permutation(len(candidates)) if shuffle else np.argsort(candidates, kind="stable")
    candidates, gains = candidates[order], gains[order]
    return ListwiseExample(user, items, ratings, candidates, gains, order_by_gain(gains, rng.random(len(gains))),
                           list_hints(user, candidates, _resolve(score, fold)), hint_fold=fold)
