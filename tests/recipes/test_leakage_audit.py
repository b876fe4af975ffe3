"""Leakage audit on ML-100K: no val/test target reaches training prompts, targets, retrievers or hints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from rankexp.config.conf_dir import CONF_DIR
from rankexp.recipes.lists import build_lists


def _cfg(*overrides):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("run", overrides=["default_experiment=none", "data=ml100k", *overrides])


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user"].astype(int), frame["item"].astype(int)))


def _training_pairs(lists, n_draws: int, seed: int = 0) -> set[tuple[int, int]]:
    seen = set()
    for index in range(n_draws):
        example = lists.train_source.draw(index, seed)
        seen |= {(example.user, int(i)) for i in example.history}
        seen |= {(example.user, int(i)) for i in example.candidates}
    return seen


def test_explicit_protocol_training_never_sees_held_out_lists(ml100k):
    cfg = _cfg("task.hints=true")
    lists = build_lists(cfg, ml100k)
    held_out = {(e.user, int(i)) for e in lists.val + lists.test for i in e.candidates}
    assert not _training_pairs(lists, 3000) & held_out
    assert not _pairs(lists.train) & held_out  # hint and baseline source
    # test prompts may show the val list as history (it is earlier), never the test list itself
    for example in lists.test:
        assert not set(example.history.tolist()) & set(example.candidates.tolist())
    for example in lists.val:
        test_items = {i for e in lists.test if e.user == example.user for i in e.candidates}
        assert not set(example.history.tolist()) & test_items


def test_hints_are_computed_from_train_only(ml100k):
    cfg = _cfg("task.hints=true")
    lists = build_lists(cfg, ml100k)
    hints = lists.train_source.hint_fn.values.__self__  # the ItemMeanHints behind the prompt text
    train = lists.train
    item = int(lists.test[0].candidates[0])
    rows = train[train["item"] == item]
    expected = (rows["rating"].sum() + hints.shrinkage * train["rating"].mean()) / (len(rows) + hints.shrinkage)
    assert hints.value(lists.test[0].user, item) == pytest.approx(expected)
    # for a training window, the user's own rating of the item is left out of the hint
    example = lists.train_source.draw(0, 0)
    own = train[(train.user == example.user) & (train.item == int(example.candidates[0]))]["rating"].iloc[0]
    rows = train[train["item"] == int(example.candidates[0])]
    loo = (rows["rating"].sum() - own + hints.shrinkage * hints.mu) / (len(rows) - 1 + hints.shrinkage)
    assert example.hints[0] == f"avg {loo:.1f}"


def test_evaluation_candidates_are_shuffled(ml100k):
    lists = build_lists(_cfg(), ml100k)
    gains = np.stack([e.gains for e in lists.test])
    per_slot = gains.mean(axis=0)
    assert per_slot.max() - per_slot.min() < 0.35  # no slot holds systematically better items
    ratings = ml100k.ratings.set_index(["user", "item"])["timestamp"]
    in_time_order = 0
    for example in lists.test:
        times = [ratings[(example.user, int(i))] for i in example.candidates]
        in_time_order += times == sorted(times)
    assert in_time_order < 0.05 * len(lists.test)  # not left in the order the user rated them


def test_rerank_retriever_fits_on_train_only(ml100k, monkeypatch, tmp_path):
    import rankexp.recipes.retrieval as stage

    seen = {}
    real = stage.fit_or_load

    def spy(cfg, train, val, *args, **kwargs):
        seen["train"], seen["val"] = train, val
        return real(cfg, train, val, *args, **kwargs)

    monkeypatch.setattr(stage, "fit_or_load", spy)
    cfg = _cfg("protocol=rerank_topk", "retriever=pop", f"paths.cache_dir={tmp_path}")
    lists = build_lists(cfg, ml100k)
    targets = {(e.user, int(i)) for e in lists.val + lists.test for i, g in zip(e.candidates, e.gains) if g > 0}
    assert targets and not _pairs(seen["train"]) & targets
    assert not _training_pairs(lists, 2000) & targets
    rated: dict[int, set[int]] = {}
    for user, item in _pairs(lists.train):
        rated.setdefault(user, set()).add(item)
    for example in lists.test:  # the retriever's top-m never contains an item the user already rated in train
        assert not set(example.candidates.tolist()) & rated.get(example.user, set())


def _instruction_pairs(tasks, users: np.ndarray) -> set[tuple[int, int]]:
    seen = set()
    for _, ex in tasks.build(users, seed=0, mix_mode="all"):
        shown = [ex.history, getattr(ex, "candidates", [])]
        shown.append([i for i in (getattr(ex, "item", None), getattr(ex, "first", None), getattr(ex, "second", None))
                      if i is not None])
        seen |= {(ex.user, int(i)) for items in shown for i in items}
    return seen


def test_recranker_instructions_never_show_held_out_items(ml100k, tmp_path):
    """Listwise "unrated" candidates and pairwise negatives are drawn outside train: without the user's
    val / test rows excluded, held-out items (test targets among them) show up in training prompts."""
    from rankexp.data.recranker_tasks import RecRankerTasks, held_out_rows

    lists = build_lists(_cfg("protocol=rerank_topk", "retriever=pop", f"paths.cache_dir={tmp_path}"), ml100k)
    held_out = held_out_rows(ml100k.ratings, lists.train)
    assert len(held_out) + len(lists.train) == len(ml100k.ratings)
    held = _pairs(held_out)
    users = np.tile(np.unique(lists.train["user"].to_numpy()), 3)
    options = {"n_items": ml100k.n_items, "like_threshold": ml100k.like_threshold}
    leaky = _instruction_pairs(RecRankerTasks(lists.train, **options), users)
    assert leaky & held  # the audit can see the leak ...
    assert not _instruction_pairs(RecRankerTasks(lists.train, **options, held_out=held_out), users) & held  # ... fixed


def test_model_selection_reads_validation_only():
    cfg = _cfg()
    assert cfg.callbacks.model_checkpoint.monitor.startswith("val/")


def test_rank_hints_order_the_leave_one_out_values_within_the_block(ml100k):
    """`task.hint_format=value_rank`: the rank comes from the same train-only leave-one-out values as the text."""
    from rankexp.data.hints import ranks_within

    lists = build_lists(_cfg("task.hints=true", "task.hint_format=value_rank"), ml100k)
    values = lists.train_source.hint_fn.values
    for example in lists.test[:20] + [lists.train_source.draw(i, 0) for i in range(20)]:
        for items, shown in ((example.candidates, example.hints), (example.history, example.history_hints)):
            expected = ranks_within(values(example.user, items))
            assert [s.split(", #")[1] for s in shown] == [str(r) for r in expected]
            assert [s.split(", ")[0] for s in shown] == [f"avg {v:.1f}" for v in values(example.user, items)]
