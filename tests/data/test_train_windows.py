"""`TrainWindows.draw`: every drawn training list re-derived from the user's sequence in plain Python.

A draw is m consecutive train ratings of one user (ordered by timestamp, then item, as the split
orders them) with the up-to-H ratings just before them as history, oldest first; the gains are the
candidates' own ratings; the answer ranks them by gain, ties by `tie_break` (`time`: older first,
`random`: a fresh coin per draw); `shuffle=false` keeps the candidates in time order.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rankexp.data.listwise import TrainWindows
from rankexp.errors import DataError

M, H, MIN_HISTORY = 4, 3, 2

# (user, item, rating, timestamp); timestamps tie on purpose (the item id then orders), ratings tie a lot.
ROWS = [
    (0, 10, 5, 100), (0, 11, 3, 101), (0, 12, 3, 101), (0, 13, 4, 102), (0, 14, 3, 103), (0, 15, 5, 104),
    (0, 16, 1, 105), (0, 17, 3, 105), (0, 18, 5, 106), (0, 19, 3, 107), (0, 20, 2, 108),
    (1, 30, 4, 7), (1, 31, 4, 8), (1, 32, 4, 9), (1, 33, 2, 10), (1, 34, 4, 11), (1, 35, 1, 12),
    (2, 40, 5, 1), (2, 41, 4, 2), (2, 42, 3, 3), (2, 43, 2, 4), (2, 44, 1, 5),  # 5 < M + MIN_HISTORY: never drawn
]


def _frame() -> pd.DataFrame:
    # rows reversed on purpose: a sort on the timestamp alone would keep item 12 before 11 (and 17 before 16)
    return pd.DataFrame(ROWS[::-1], columns=["user", "item", "rating", "timestamp"])


def _sequences() -> dict[int, list[tuple[int, int, int]]]:
    """user -> [(item, rating, timestamp)] in (timestamp, item) order, by hand."""
    out: dict[int, list] = {}
    for user, item, rating, ts in sorted(ROWS, key=lambda r: (r[0], r[3], r[1])):
        out.setdefault(user, []).append((item, rating, ts))
    return out


SEQ = _sequences()
ELIGIBLE = {u for u, s in SEQ.items() if len(s) >= M + MIN_HISTORY}


def _locate(user: int, candidates) -> int:
    """The window's end e: seq[e - M : e] holds exactly these items (items are unique per user)."""
    seq = [item for item, _, _ in SEQ[user]]
    ends = [e for e in range(M, len(seq) + 1) if set(seq[e - M:e]) == {int(c) for c in candidates}]
    assert len(ends) == 1, (user, list(candidates))
    return ends[0]


def _check(example, tie_break: str | None, shuffle: bool) -> int:
    user = example.user
    assert user in ELIGIBLE
    seq = SEQ[user]
    end = _locate(user, example.candidates)
    assert M + MIN_HISTORY <= end <= len(seq)
    window = seq[end - M:end]
    history = seq[max(0, end - M - H):end - M]
    assert example.history.tolist() == [item for item, _, _ in history]  # oldest first, right before the window
    assert example.history_ratings.tolist() == [rating for _, rating, _ in history]
    if not shuffle:
        assert example.candidates.tolist() == [item for item, _, _ in window]  # time order
    rating = {item: r for item, r, _ in seq}
    stamp = {item: ts for item, _, ts in seq}
    cands = [int(c) for c in example.candidates]
    assert example.gains.tolist() == [float(rating[c]) for c in cands]
    slots = example.target_slots.tolist()
    assert sorted(slots) == list(range(M))
    gains = [rating[cands[s]] for s in slots]
    assert gains == sorted(gains, reverse=True)  # best first
    if tie_break == "time":  # ties: older first; equal timestamps too: the earlier slot
        assert slots == sorted(range(M), key=lambda s: (-rating[cands[s]], stamp[cands[s]], s))
    return end


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("tie_break", ["time", "random"])
def test_every_draw_is_a_window_of_the_users_sequence(tie_break, shuffle):
    windows = TrainWindows(_frame(), M, H, MIN_HISTORY, tie_break=tie_break, shuffle=shuffle)
    assert sorted(windows.users.tolist()) == sorted(ELIGIBLE)
    ends: dict[int, set] = {u: set() for u in ELIGIBLE}
    chronological = 0
    for index in range(300):
        example = windows.draw(index, seed=5)
        ends[example.user].add(_check(example, tie_break, shuffle))
        seq_items = [item for item, _, _ in SEQ[example.user]]
        end = _locate(example.user, example.candidates)
        chronological += example.candidates.tolist() == seq_items[end - M:end]
    # every possible window end is drawn, the first (MIN_HISTORY history lines) and the last included
    assert ends == {u: set(range(M + MIN_HISTORY, len(SEQ[u]) + 1)) for u in ELIGIBLE}
    if shuffle:
        assert chronological < 300 * 0.2  # 1/24 of random orders are chronological
    else:
        assert chronological == 300


def test_the_explicit_user_and_the_seed():
    windows = TrainWindows(_frame(), M, H, MIN_HISTORY)
    for index in range(20):
        assert windows.draw(index, seed=1, user=1).user == 1
        a, b = windows.draw(index, seed=1), windows.draw(index, seed=1)
        assert a.user == b.user and a.candidates.tolist() == b.candidates.tolist()
        assert a.target_slots.tolist() == b.target_slots.tolist()
    draws = lambda seed: [windows.draw(i, seed).candidates.tolist() for i in range(20)]
    assert draws(1) != draws(2)


@pytest.mark.parametrize("shuffle", [True, False])
def test_random_tie_break_goes_both_ways_and_never_breaks_the_gain_order(shuffle):
    """User 1's only window [32, 33, 34, 35] rates items 32 and 34 both 4: with `random`, which of them
    is ranked first must vary from draw to draw (about half each), also when the slots keep time order;
    with `time` it is always 32, the older."""
    counts = {}
    for tie_break in ("random", "time"):
        windows = TrainWindows(_frame(), M, H, MIN_HISTORY, tie_break=tie_break, shuffle=shuffle)
        older_first = total = 0
        for index in range(400):
            example = windows.draw(index, seed=9, user=1)
            _check(example, tie_break, shuffle)
            cands = example.candidates.tolist()
            order = [cands[s] for s in example.target_slots.tolist()]
            for a, b in itertools.combinations(sorted(set(order) & {32, 34}), 2):
                total += 1
                older_first += order.index(a) < order.index(b)  # a is the older (smaller timestamp)
        counts[tie_break] = (older_first, total)
    older, total = counts["random"]
    assert total == 400 and 0.35 * total < older < 0.65 * total, counts
    assert counts["time"][0] == counts["time"][1] == 400  # always older first


def test_too_short_sequences_are_refused():
    with pytest.raises(DataError, match="protocol.m"):
        TrainWindows(_frame(), 10, H, MIN_HISTORY)  # 12 ratings needed, the longest user has 11
    assert np.array_equal(TrainWindows(_frame(), 5, H, 6).users, [0])  # 11 >= 5 + 6, 6 < 11
