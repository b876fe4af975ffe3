"""Leave-one-out, explicit listwise split and history accessor (docs/protocols.md contract)."""

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


def _contract_from_udata(path) -> dict[str, list[tuple[int, int, float]]]:
    """Per raw user id: (timestamp, numeric item id, rating), ordered as the split contract says."""
    by_user: dict[str, list[tuple[int, int, float]]] = {}
    with open(path, encoding="latin-1") as handle:
        for line in handle:
            user, item, rating, stamp = line.split("\t")
            by_user.setdefault(user, []).append((int(stamp), int(item), float(rating)))
    return {user: sorted(rows) for user, rows in by_user.items()}


def _raw(data, frame: pd.DataFrame) -> dict[str, list[str]]:
    """Encoded rows back to raw ids, per raw user, in the frame's order."""
    out: dict[str, list[str]] = {}
    for user, item in zip(frame["user"], frame["item"]):
        out.setdefault(str(data.user_ids[user]), []).append(str(data.items["item_id"].iloc[item]))
    return out


def test_ml100k_leave_one_out_matches_a_plain_python_split(ml100k, data_root):
    """Ties in time break by the numeric item id (ML-100K has many same-second ratings)."""
    contract = _contract_from_udata(data_root / "ml-100k" / "u.data")
    split = leave_one_out(ml100k.ratings, like_threshold=4)
    test, val = _raw(ml100k, split.test), _raw(ml100k, split.val)
    expected_test, expected_val = {}, {}
    for user, rows in contract.items():
        liked = [item for _, item, rating in rows if rating >= 4]
        if len(liked) >= 3:
            expected_test[user], expected_val[user] = [str(liked[-1])], [str(liked[-2])]
    assert len(expected_test) == 942
    assert test == expected_test
    assert val == expected_val


def test_ml100k_explicit_lists_match_a_plain_python_split(ml100k, data_root):
    m, min_history = 10, 10
    contract = _contract_from_udata(data_root / "ml-100k" / "u.data")
    split = explicit_listwise(ml100k.ratings, m=m, min_history=min_history)
    test, val = _raw(ml100k, split.test), _raw(ml100k, split.val)
    expected_test, expected_val = {}, {}
    for user, rows in contract.items():
        if len(rows) < min_history + 2 * m:
            continue
        test_rows, val_rows = rows[-m:], rows[-2 * m:-m]
        if len({r for *_, r in test_rows}) >= 2 and len({r for *_, r in val_rows}) >= 2:
            expected_test[user] = [str(item) for _, item, _ in test_rows]
            expected_val[user] = [str(item) for _, item, _ in val_rows]
    assert test == expected_test
    assert val == expected_val


def test_digit_ids_order_numerically_other_ids_as_strings():
    from rankexp.data import natural_order

    assert natural_order(pd.Series(["1443", "604", "98", "604"])).tolist() == ["98", "604", "1443"]
    assert natural_order(pd.Series(["034545104X", "0155061224", "B00X"])).tolist() == [
        "0155061224", "034545104X", "B00X"]
