"""Edges of the splits and the history accessor: columns kept as given, the smallest list size, the
skipped-user count, the train split each protocol hands to hint signals, and History for users
the table does not hold or whose interactions share a timestamp."""

from __future__ import annotations

import pandas as pd
import pytest

from rankexp.data.splits import History, explicit_listwise, leave_one_out, train_rows
from rankexp.errors import ConfigError

COLUMNS = ["user", "item", "rating", "timestamp"]


def _frame(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


def _listwise_ratings() -> pd.DataFrame:
    # user 0: 8 ratings, varied; user 1: 8 ratings, test list all 5s (dropped); user 2: 3 ratings (too few)
    rows = [(0, i, 1 + i % 5, i) for i in range(8)]
    rows += [(1, i, 5 if i >= 6 else 1 + i % 3, i) for i in range(8)]
    rows += [(2, i, 3, i) for i in range(3)]
    return _frame(rows)


def test_splits_keep_the_columns_they_were_given():
    ratings = _frame([(0, 5, 5, 1), (0, 3, 4, 2), (0, 9, 5, 3), (0, 7, 5, 4)])
    split = leave_one_out(ratings, 4)
    for part in (split.train, split.val, split.test):
        assert sorted(part.columns) == sorted(COLUMNS)
        assert list(part.index) == list(range(len(part)))
    listwise = explicit_listwise(_listwise_ratings(), m=2, min_history=2)
    for part in (listwise.train, listwise.val, listwise.test):
        assert sorted(part.columns) == sorted(COLUMNS)
        assert list(part.index) == list(range(len(part)))


def test_lists_of_two_are_allowed_and_dropped_users_are_counted():
    split = explicit_listwise(_listwise_ratings(), m=2, min_history=2)
    assert split.test.groupby("user")["item"].apply(list).to_dict() == {0: [6, 7]}
    assert split.val.groupby("user")["item"].apply(list).to_dict() == {0: [4, 5]}
    assert split.skipped_users == 1  # user 1 was eligible, its test list is all 5s; user 2 never was
    assert sorted(split.train[split.train.user == 1]["item"]) == list(range(8))  # kept whole
    with pytest.raises(ConfigError, match=r"protocol\.m"):
        explicit_listwise(_listwise_ratings(), m=1, min_history=2)


def test_train_rows_is_the_split_the_protocol_trains_on():
    ratings = _listwise_ratings()
    explicit = {"name": "explicit_listwise", "m": 2, "min_history": 2, "min_distinct_ratings": 2}
    pd.testing.assert_frame_equal(train_rows(explicit, ratings, 4), explicit_listwise(ratings, 2, 2, 2).train)
    assert not train_rows(explicit, ratings, 4).equals(train_rows({"name": "rerank_topk"}, ratings, 4))
    # leave-one-out at the dataset's threshold: 4 gives user 3 five likes (two held out), 5 gives two (none)
    liked = pd.concat([ratings, _frame([(3, i, r, i) for i, r in enumerate([5, 4, 4, 5, 4, 2])])], ignore_index=True)
    for threshold in (4, 5):
        pd.testing.assert_frame_equal(train_rows({"name": "rerank_topk"}, liked, threshold),
                                      leave_one_out(liked, threshold).train)
    assert len(train_rows({"name": "rerank_topk"}, liked, 4)) == len(liked) - 2
    assert len(train_rows({"name": "rerank_topk"}, liked, 5)) == len(liked)
    with pytest.raises(ConfigError, match="no train split"):
        train_rows({"name": "random"}, ratings, 4)


def test_history_of_every_user_matches_pandas():
    ratings = _frame([(u, 10 * u + i, 1 + (u + i) % 5, 100 + i) for u in range(4) for i in range(u + 2)])
    history = History(ratings)
    for user in range(4):
        rows = ratings[ratings.user == user].sort_values(["timestamp", "item"])
        items, values = history.before(user, None, None, length=100)
        assert items.tolist() == rows["item"].tolist()
        assert values.tolist() == rows["rating"].tolist()
        items, _ = history.before(user, 101, None, length=100)
        assert items.tolist() == rows[rows.timestamp < 101]["item"].tolist()


def test_history_of_users_the_table_does_not_hold_is_empty():
    history = History(_frame([(0, 1, 5, 1), (2, 4, 3, 2)]))
    for user in (1, 3, 4, 1000):
        items, values = history.before(user, None, None, length=5)
        assert (len(items), len(values)) == (0, 0), user


def test_history_without_an_item_excludes_the_whole_timestamp():
    # timestamp given without an item: strictly earlier times only, whatever the item ids (0 included)
    history = History(_frame([(0, 0, 5, 100), (0, 5, 4, 100), (0, 2, 3, 50)]))
    assert history.before(0, 100, None, length=10)[0].tolist() == [2]
