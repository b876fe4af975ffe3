"""Leave-one-out, explicit listwise split and history accessor (DESIGN.md contract)."""

from __future__ import annotations

import pandas as pd

from rankexp.data.splits import History, explicit_listwise, leave_one_out


def _frame(rows):
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def test_leave_one_out_last_liked_is_test_ties_by_item():
    ratings = _frame([(0, 5, 5, 1), (0, 3, 4, 2), (0, 9, 2, 3), (0, 7, 5, 3), (0, 1, 5, 3), (1, 1, 5, 1), (1, 2, 5, 2)])
    split = leave_one_out(ratings, 4)
    # user 0 liked in (timestamp, item) order: 5, 3, 1, 7 -> test 7, val 1
    assert split.test.set_index("user").loc[0, "item"] == 7
    assert split.val.set_index("user").loc[0, "item"] == 1
    assert set(split.train[split.train.user == 0]["item"]) == {5, 3, 9}
    assert 1 not in set(split.test["user"])  # only 2 liked -> train-only
    assert len(split.train[split.train.user == 1]) == 2


def test_leave_one_out_ml100k_no_target_in_train(ml100k):
    split = leave_one_out(ml100k.ratings, 4)
    assert split.test["user"].nunique() == 942
    train_pairs = set(zip(split.train.user, split.train.item))
    for frame in (split.val, split.test):
        assert not train_pairs & set(zip(frame.user, frame.item))
    assert len(split.train) + len(split.val) + len(split.test) == 100_000


def test_explicit_listwise_lists_are_last_m(ml100k):
    m = 10
    split = explicit_listwise(ml100k.ratings, m=m, min_history=10)
    assert (split.test.groupby("user").size() == m).all()
    assert (split.val.groupby("user").size() == m).all()
    for user in split.test["user"].unique()[:50]:
        t = split.test[split.test.user == user]
        v = split.val[split.val.user == user]
        tr = split.train[split.train.user == user]
        assert v["timestamp"].max() <= t["timestamp"].min()
        assert tr["timestamp"].max() <= v["timestamp"].min()
        assert len(tr) >= 10
        assert t["rating"].nunique() >= 2


def test_history_strictly_before_target():
    ratings = _frame([(0, 1, 5, 1), (0, 2, 4, 2), (0, 3, 3, 2), (0, 4, 1, 5)])
    history = History(ratings)
    items, _ = history.before(0, 2, 3, length=10)
    assert items.tolist() == [1, 2]  # (2, 2) < (2, 3); (2, 3) itself excluded
    items, _ = history.before(0, 5, 4, length=2)
    assert items.tolist() == [2, 3]
    items, _ = history.before(7, None, None, length=3)
    assert len(items) == 0
    assert history.before(0, None, None, length=10)[0].tolist() == [1, 2, 3, 4]
