"""Cross-fitted hints: the fold assignment, the fold-aware instance builders, out-of-fold values, config rules."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from rankexp.config.check import check_cross_keys
from rankexp.data.cross_fit import CrossFittedHints, assign_folds
from rankexp.data.recranker import FoldedHint
from rankexp.data.recranker_tasks import RecRankerTasks
from rankexp.errors import ConfigError
from tests.helpers.recranker import compose_cfg


def _train(n_users: int = 40, per_user: int = 37, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(u, int(i), float(rng.integers(1, 6)), t) for u in range(n_users)
            for t, i in enumerate(rng.choice(300, per_user, replace=False))]
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def test_folds_split_every_user_and_every_rating_level_evenly():
    train = _train()
    folds = assign_folds(train, 5, seed=3)
    assert folds.shape == (len(train),) and set(folds.tolist()) == set(range(5))
    for _, group in train.assign(fold=folds).groupby("user"):
        counts = np.bincount(group["fold"], minlength=5)
        assert counts.max() - counts.min() <= 1  # 37 rows -> 7 or 8 per fold
        for _, level in group.groupby("rating"):  # ratings are dealt round-robin, best first
            per_fold = np.bincount(level["fold"], minlength=5)
            assert per_fold.max() - per_fold.min() <= 1
    assert np.array_equal(folds, assign_folds(train, 5, seed=3))
    assert not np.array_equal(folds, assign_folds(train, 5, seed=4))
    shuffled = train.sample(frac=1.0, random_state=0)  # aligned with the rows, whatever their order
    again = pd.Series(assign_folds(shuffled, 5, seed=3), index=shuffled.index).sort_index().to_numpy()
    assert np.bincount(again, minlength=5).tolist() == np.bincount(folds, minlength=5).tolist()
    with pytest.raises(ConfigError, match="hint_folds"):
        assign_folds(train, 1, seed=0)


class _Copy:
    """A fake retriever: values encode which copy answered (fold * 100 + item)."""

    def __init__(self, tag: int) -> None:
        self.tag = tag

    def predict_rating(self, users, items):
        import torch

        return torch.as_tensor(items, dtype=torch.float32) + 100 * self.tag

    def score(self, users):
        import torch

        return (torch.arange(300, dtype=torch.float32) + 1000 * self.tag)[None, :]


def test_out_of_fold_values_come_from_the_copy_that_held_each_row_out():
    train = _train()
    folds = assign_folds(train, 5, seed=0)
    cv = CrossFittedHints(_Copy(-1), [_Copy(f) for f in range(5)], train, folds)
    user_rows = train.assign(fold=folds)[train["user"] == 7]
    items = np.concatenate([user_rows["item"].to_numpy(), [299 if 299 not in user_rows["item"].values else 298]])
    values = cv.out_of_fold("rating")(7, items)
    expected = np.concatenate([user_rows["fold"].to_numpy() * 100 + user_rows["item"].to_numpy(), [items[-1] - 100]])
    assert np.array_equal(values, expected)  # an item without a train row asks the full retriever
    assert np.array_equal(cv.values(None, "rating")(7, items[:3]), items[:3] - 100)


def test_instances_ask_only_about_rated_items_of_the_fold_their_hint_came_from():
    train = _train(per_user=60)
    folds = assign_folds(train, 5, seed=0)
    fold_of = dict(zip(zip(train["user"], train["item"]), folds.tolist()))
    asked_copy: list[int] = []

    def of(fold):
        def values(user, items):
            asked_copy.append(fold)
            return np.asarray(items, dtype=np.float64)
        return values

    tasks = RecRankerTasks(train, 300, like_threshold=4, predict_rating=FoldedHint(of), score=FoldedHint(of),
                           folds=folds)
    built = tasks.build(np.repeat(np.arange(40), 5), seed=0, mix_mode="all")
    kinds = {task for task, _ in built}
    assert kinds == {"pointwise", "pairwise", "listwise"}
    for task, ex in built:
        if task == "pointwise":
            asked = [ex.item]
        elif task == "pairwise":
            asked = [i for i in (ex.first, ex.second) if (ex.user, i) in fold_of]
        else:
            asked = [int(i) for i, g in zip(ex.candidates, ex.gains) if g > 0]
            assert len(asked) == 5
        assert {fold_of[(ex.user, i)] for i in asked} == {ex.hint_fold}, (task, ex.user)
    assert set(asked_copy) <= set(range(5)) and len(asked_copy) >= len(built)
    with pytest.raises(ValueError, match="folds"):  # a folded hint without the folds is a bug, not a guess
        RecRankerTasks(train, 300, like_threshold=4, predict_rating=FoldedHint(of)).draw("pointwise", 0,
                                                                                            np.random.default_rng(0))


@pytest.mark.parametrize("overrides, message", [
    (["task.hints=true", "task.hint_source=retriever_cv"], "protocol=rerank_topk"),
    (["protocol=rerank_topk", "retriever=pop", "task=pointwise", "task.hints=true", "task.hint_source=retriever_cv",
      "task.candidates_in_prefix=true"], "candidates_in_prefix"),
])
def test_cross_fitted_hints_refuse_configs_they_cannot_honour(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_cross_keys(compose_cfg("data=synthetic", *overrides))
    check_cross_keys(compose_cfg("data=synthetic", *overrides[:-1]))  # without the last key the config is fine


def test_hint_values_are_fp32_inside_bf16_autocast():
    """Validation runs inside Lightning's bf16 autocast; a hint there must equal the fp32 hint the
    training prompts got (a bf16 score row also cannot become numpy at all)."""
    import torch

    from rankexp.retrievers import build_retriever

    train = _train()
    mf = build_retriever("mf", dim=8, epochs=2).fit(train, 40, 300, seed=0)
    cv = CrossFittedHints(mf, [mf], train, np.zeros(len(train), dtype=np.int64))
    items = np.arange(20)
    outside = {kind: cv.values(None, kind)(3, items) for kind in ("rating", "score")}
    cv = CrossFittedHints(mf, [mf], train, np.zeros(len(train), dtype=np.int64))  # no cached score rows
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = {kind: cv.values(None, kind)(3, items) for kind in ("rating", "score")}
    for kind, expected in outside.items():
        assert inside[kind].dtype == np.float32 and np.array_equal(inside[kind], expected), kind


class _Scored(_Copy):
    """Scores that order the items differently per copy, on different scales: item i scores
    (i * MULT[tag]) mod 300, times 10^tag (the multipliers are prime to 300: no ties)."""

    n_items = 300
    MULT: ClassVar[dict[int, int]] = {-1: 1, 0: 7, 1: 11, 2: 13, 3: 17, 4: 19}

    def score(self, users):
        import torch

        return ((torch.arange(300) * self.MULT[self.tag]) % 300).float()[None, :] * (10.0 ** self.tag)


def test_score_hints_compare_copies_by_percentile_and_keep_the_retrievers_own_order():
    from rankexp.data.hints import HintText, hint_text

    train = _train()
    folds = assign_folds(train, 5, seed=0)
    cv = CrossFittedHints(_Scored(-1), [_Scored(f) for f in range(5)], train, folds)
    rows = train.assign(fold=folds)[train["user"] == 5]
    items = rows["item"].to_numpy()
    values = cv.out_of_fold("percentile")(5, items)
    for item, fold, value in zip(items, rows["fold"], values):  # each copy's own percentile, scale-free
        assert value == pytest.approx(((item * _Scored.MULT[fold]) % 300) / 299)
    shown = hint_text("retriever_cv", train, fmt="rank", cross_fit=cv, signal="score")(5, np.array([3, 10, 7]))
    raw = HintText(cv.values(None, "score"), "x", "rank")(5, np.array([3, 10, 7]))  # the full model's raw order
    assert shown == raw == ["#3", "#1", "#2"]  # the full copy (tag -1) scores item i as i
    for bad in ({"fmt": "value", "signal": "score"}, {"fmt": "rank", "signal": "score", "source": "item_mean"}):
        source = bad.pop("source", "retriever_cv")
        with pytest.raises(ConfigError, match="hint_signal"):
            hint_text(source, train, cross_fit=cv, **bad)
