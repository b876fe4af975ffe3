"""Leakage audit of the cross-fitted hints (`task.hint_source=retriever_cv`) on ML-100K.

The rule: no hint on a TRAINING prompt comes from a model whose training rows held the rated item
the prompt asks about. Each audit has a positive control, the in-sample retriever, which must fail
it; otherwise the audit could not see a leak at all.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from rankexp.config.conf_dir import CONF_DIR
from rankexp.data.cross_fit import CrossFittedHints
from rankexp.data.recranker import list_hints, pair_hint
from rankexp.data.recranker_tasks import RecRankerTasks, held_out_rows
from rankexp.recipes.lists import build_lists
from rankexp.recipes.recranker import hint_functions, training_hints

CV = ["task.hints=true", "task.hint_source=retriever_cv", "task.pointwise_hint_source=retriever_cv"]


def _cfg(tmp_path, *overrides):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("run", overrides=["default_experiment=none", "data=ml100k", "protocol=rerank_topk", "retriever=pop",
                                         f"paths.cache_dir={tmp_path}", *overrides])


@pytest.fixture
def seen_by(monkeypatch):
    """id(retriever) -> the (user, item) rows it was fit on, recorded at every fit."""
    from rankexp.retrievers.base import Retriever

    seen: dict[int, set[tuple[int, int]]] = {}
    real = Retriever.fit

    def spy(self, train, *args, **kwargs):
        seen[id(self)] = set(zip(train["user"].astype(int), train["item"].astype(int)))
        return real(self, train, *args, **kwargs)

    monkeypatch.setattr(Retriever, "fit", spy)
    return seen


def _asked(ex) -> list[int]:
    """The rated items an instance asks about (its answer depends on their ratings)."""
    if hasattr(ex, "rating"):
        return [ex.item]
    if hasattr(ex, "first_preferred"):
        return [ex.first, ex.second]
    return [int(i) for i, g in zip(ex.candidates, ex.gains) if g > 0]


def _hint_of(ex, copy):
    """The hint the instance would show if `copy` gave it (the same functions the builders call)."""
    user = ex.user
    rating = lambda u, items: copy.predict_rating(torch.full((len(items),), u), torch.as_tensor(items)).numpy()
    score = lambda u, items: copy.score(torch.tensor([u])).numpy()[0][np.asarray(items)]
    if hasattr(ex, "rating"):
        return float(rating(user, np.array([ex.item]))[0])
    if hasattr(ex, "first_preferred"):
        return pair_hint(user, ex.first, ex.second, score)
    return list_hints(user, ex.candidates, score)


def audit(instances, cross_fit, seen_by) -> list[str]:
    """Every instance whose hint came from a copy fit on one of its asked rows, or from no copy."""
    leaks, train_rows = [], set(zip(cross_fit.train["user"].astype(int), cross_fit.train["item"].astype(int)))
    for task, ex in instances:
        if ex.hint_fold is None:
            leaks.append(f"{task} of user {ex.user}: hint from no fold copy")
            continue
        copy = cross_fit.copies[ex.hint_fold]
        seen = seen_by[id(copy)]
        asked = {(ex.user, i) for i in _asked(ex)} & train_rows
        if asked & seen:
            leaks.append(f"{task} of user {ex.user}: copy {ex.hint_fold} was fit on {sorted(asked & seen)}")
    return leaks


def _instances(cfg, lists, ml100k):
    predict_rating, score = hint_functions(cfg, lists)
    train_rating, train_score, folds = training_hints(cfg, lists, predict_rating, score)
    tasks = RecRankerTasks(lists.train, ml100k.n_items, ml100k.like_threshold, held_out=held_out_rows(
        ml100k.ratings, lists.train), predict_rating=train_rating, score=train_score, folds=folds)
    users = np.unique(lists.train["user"].to_numpy())[::3]
    return tasks.build(users, seed=0, mix_mode="all")


def test_no_training_hint_comes_from_a_copy_that_saw_its_rows(ml100k, tmp_path, seen_by):
    cfg = _cfg(tmp_path, "task=hybrid", *CV)
    lists = build_lists(cfg, ml100k)
    cv = lists.cross_fit
    assert cv.k == 5 and len(seen_by) == 6  # the full retriever and five copies, each fit once
    assert seen_by[id(lists.retriever)] == set(zip(lists.train["user"], lists.train["item"]))
    for fold, copy in enumerate(cv.copies):  # copy f saw exactly the train rows outside fold f
        kept = lists.train[cv.folds != fold]
        assert seen_by[id(copy)] == set(zip(kept["user"], kept["item"]))
    instances = _instances(cfg, lists, ml100k)
    counts = {t: sum(1 for task, _ in instances if task == t) for t in ("pointwise", "pairwise", "listwise")}
    assert min(counts.values()) > 50, counts
    assert audit(instances, cv, seen_by) == []
    for _, ex in instances:  # the recorded copy is the one whose hint the prompt shows
        shown, expected = (ex.hints if hasattr(ex, "hints") else ex.hint), _hint_of(ex, cv.copies[ex.hint_fold])
        assert shown == (pytest.approx(expected) if isinstance(expected, float) else expected)
    # evaluation prompts ask the retriever fit on all of train
    predict_rating, _ = hint_functions(cfg, lists)
    user, items = lists.test[0].user, lists.test[0].candidates
    expected = lists.retriever.predict_rating(torch.full((len(items),), user), torch.as_tensor(items)).numpy()
    assert np.allclose(predict_rating(user, items), expected)


def test_the_in_sample_retriever_fails_the_audit(ml100k, tmp_path, seen_by):
    """Positive control: every 'copy' is the retriever fit on all of train; the audit must flag it."""
    cfg = _cfg(tmp_path, "task=hybrid", *CV)
    lists = build_lists(cfg, ml100k)
    cv = lists.cross_fit
    lists.cross_fit = CrossFittedHints(lists.retriever, [lists.retriever] * cv.k, cv.train, cv.folds)
    leaks = audit(_instances(cfg, lists, ml100k), lists.cross_fit, seen_by)
    assert len(leaks) > 100 and all(t in " ".join(leaks) for t in ("pointwise", "pairwise", "listwise"))


def _window_calls(lists, monkeypatch, n: int = 300) -> list[tuple[int, int, int]]:
    """(id(model), user, item) of every predicted rating the training windows' hints asked for."""
    from rankexp.retrievers.base import Retriever

    calls = []
    real = Retriever.predict_rating

    def spy(self, users, items):
        calls.extend((id(self), int(u), int(i)) for u, i in zip(users.tolist(), items.tolist()))
        return real(self, users, items)

    monkeypatch.setattr(Retriever, "predict_rating", spy)
    for index in range(n):
        lists.train_source.draw(index, seed=0)
    return calls


@pytest.mark.parametrize("source, leaks", [("retriever_cv", False), ("retriever", True)])
def test_listwise_window_lines_take_out_of_fold_values(ml100k, tmp_path, seen_by, monkeypatch, source, leaks):
    """ALRO's training windows under `retriever_cv`: each line's value from a copy that never saw that
    rating; `retriever` (the in-sample control) asks the full model about rows it was fit on."""
    cfg = _cfg(tmp_path, "task=listwise", "task.hints=true", f"task.hint_source={source}")
    lists = build_lists(cfg, ml100k)
    calls = _window_calls(lists, monkeypatch)
    assert len(calls) > 3000
    train_rows = set(zip(lists.train["user"], lists.train["item"]))
    leaked = [(u, i) for model, u, i in calls if (u, i) in seen_by[model] and (u, i) in train_rows]
    assert bool(leaked) == leaks
    if not leaks:
        example = lists.train_source.draw(0, seed=0)
        cv = lists.cross_fit
        for item, text in zip(example.candidates, example.hints):
            copy = cv.copies[cv.fold_of(example.user, int(item))]
            value = copy.predict_rating(torch.tensor([example.user]), torch.tensor([int(item)])).item()
            assert text == f"predicted {value:.1f}"
