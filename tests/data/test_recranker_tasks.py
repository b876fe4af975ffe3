"""RecRanker's instruction tasks: train-only, no answer in the history, position shifting, hybrid forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rankexp.data.examples import ListwiseExample
from rankexp.data.recranker import (
    PAIRWISE_ANSWERS,
    POINTWISE_ANSWERS,
    PairwiseExample,
    PointwiseExample,
    UserTrain,
    listwise_instance,
    pairwise_instance,
    pointwise_instance,
    rating_answers,
)
from rankexp.data.recranker_eval import listwise_eval, pairwise_eval, pointwise_eval
from rankexp.data.recranker_tasks import RecRankerTasks
from rankexp.data.splits import leave_one_out
from rankexp.errors import ConfigError
from rankexp.models.hybrid import hybrid_scores, pair_wins, pointwise_rating
from rankexp.prompts.recranker_text import (
    listwise_top_target,
    pairwise_prompt,
    pairwise_target,
    pointwise_prompt,
    pointwise_target,
)
from rankexp.prompts.style import PromptStyle

CONF = Path(__file__).resolve().parents[2] / "rankexp" / "conf"
TITLES = np.array([f"Movie {i}" for i in range(100)])


def _user(ratings, items=None) -> pd.DataFrame:
    items = list(range(len(ratings))) if items is None else items
    return pd.DataFrame({"user": 0, "item": items, "rating": ratings, "timestamp": range(len(ratings))})


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_pointwise_history_is_strictly_before_the_target():
    frame = _user([5, 3, 4, 1, 2, 5, 4])
    for seed in range(20):
        ex = pointwise_instance(0, frame, _rng(seed), 100, 4, history_len=3, shuffle=False)
        assert ex.item not in ex.history
        assert ex.history.tolist() == list(range(max(0, ex.item - 3), ex.item))  # item id = time index here
        assert ex.rating == [5, 3, 4, 1, 2, 5, 4][ex.item] and ex.item >= 1
    assert pointwise_instance(0, _user([5]), _rng(0), 100, 4) is None


def test_pairwise_liked_vs_disliked_and_target():
    frame = _user([5, 1, 4, 3, 2, 3])
    firsts = set()
    for seed in range(40):
        ex = pairwise_instance(0, frame, _rng(seed), 100, 4, history_len=10)
        liked, other = (ex.first, ex.second) if ex.first_preferred else (ex.second, ex.first)
        assert liked in (0, 2) and other in (1, 4)  # rated <= 2 exists, so it is the negative
        assert not {ex.first, ex.second} & set(ex.history.tolist())
        assert pairwise_target(ex) == ("Yes" if ex.first_preferred else "No")
        firsts.add(ex.first_preferred)
    assert firsts == {True, False}  # pair order is re-drawn
    no_dislikes = _user([5, 4, 3])
    ex = pairwise_instance(0, no_dislikes, _rng(0), 100, 4)
    assert (ex.second if ex.first_preferred else ex.first) >= 3  # a random item the user never rated


def test_listwise_candidates_tiers_and_target():
    ratings = [5, 5, 4, 5, 3, 4, 5, 4, 2]
    frame = _user(ratings)
    ex = listwise_instance(0, frame, _rng(0), 100, 4, history_len=20)
    assert isinstance(ex, ListwiseExample) and len(ex.candidates) == 10
    assert sorted(ex.gains.tolist()) == [0] * 5 + [4, 4, 5, 5, 5]
    assert not set(ex.candidates.tolist()) & set(ex.history.tolist())  # no positive leaks into history
    assert ex.gains[ex.target_slots].tolist() == sorted(ex.gains.tolist(), reverse=True)
    unrated = ex.candidates[ex.gains == 0]
    assert (unrated >= len(ratings)).all()
    assert listwise_top_target(ex, list("ABCDEFGHIJ")).count("\n") == 4
    assert listwise_instance(0, _user([5, 5, 4, 4, 4]), _rng(0), 100, 4) is None  # only 2 at the top level


def test_position_shifting_redraws_orders_and_can_be_turned_off():
    frame = _user([5, 5, 4, 5, 3, 4, 5, 4, 2, 1, 3, 4, 5, 2])
    ut = UserTrain.from_frame(frame)
    hist_orders, cand_orders = set(), set()
    for seed in range(10):
        pw = pointwise_instance(0, ut, _rng(seed), 100, 4, history_len=20)
        hist_orders.add(tuple(pw.history[np.argsort(pw.history)].tolist()) != tuple(pw.history.tolist()))
        lw = listwise_instance(0, ut, _rng(seed), 100, 4, history_len=20)
        cand_orders.add(tuple(lw.candidates.tolist()) == tuple(sorted(lw.candidates.tolist())))
    assert True in hist_orders and False in cand_orders  # shuffled on some draws
    for seed in range(10):
        pw = pointwise_instance(0, ut, _rng(seed), 100, 4, history_len=20, shuffle=False)
        assert pw.history.tolist() == sorted(pw.history.tolist())  # oldest first (item id = time here)
        lw = listwise_instance(0, ut, _rng(seed), 100, 4, history_len=20, shuffle=False)
        assert lw.candidates.tolist() == sorted(lw.candidates.tolist())
        pr = pairwise_instance(0, ut, _rng(seed), 100, 4, history_len=20, shuffle=False)
        assert pr.first < pr.second
    # the same rng seed gives the same instance
    a = listwise_instance(0, ut, _rng(5), 100, 4)
    b = listwise_instance(0, ut, _rng(5), 100, 4)
    assert a.candidates.tolist() == b.candidates.tolist() and a.history.tolist() == b.history.tolist()


def test_instances_use_train_only_and_never_val_or_test(ml100k):
    split = leave_one_out(ml100k.ratings, 4)
    tasks = RecRankerTasks(split.train, ml100k.n_items, like_threshold=4, history_len=10)
    users = np.r_[split.test["user"].to_numpy()[:400], split.val["user"].to_numpy()[:100]]
    built = tasks.build(users, seed=0, mix_mode="all")
    held_out = set(zip(split.val.user, split.val.item)) | set(zip(split.test.user, split.test.item))
    train_rating = {(u, i): r for u, i, r in split.train[["user", "item", "rating"]].itertuples(index=False)}
    assert {t for t, _ in built} == {"pointwise", "pairwise", "listwise"}
    for task, ex in built:
        u = ex.user
        rated = list(ex.history)  # every item whose rating the instance shows or asks for
        if task == "pointwise":
            rated.append(ex.item)
            assert train_rating[(u, ex.item)] == ex.rating
            assert ex.item not in ex.history
        elif task == "pairwise":
            liked = ex.first if ex.first_preferred else ex.second
            other = ex.second if ex.first_preferred else ex.first
            assert train_rating[(u, liked)] >= 4
            assert (u, other) not in train_rating or train_rating[(u, other)] <= 2
            rated += [liked] + ([other] if (u, other) in train_rating else [])
            assert not {ex.first, ex.second} & set(ex.history.tolist())
        else:
            rated += ex.candidates[ex.gains > 0].tolist()
            assert all((u, i) not in train_rating for i in ex.candidates[ex.gains == 0])
            assert not set(ex.candidates.tolist()) & set(ex.history.tolist())
        for item, r in zip(ex.history, ex.history_ratings):
            assert train_rating[(u, item)] == r
        assert all((u, int(i)) in train_rating for i in rated)
        assert not {(u, int(i)) for i in rated} & held_out


def test_build_is_deterministic_and_follows_mix(synthetic):
    split = leave_one_out(synthetic.ratings, 4)
    tasks = RecRankerTasks(split.train, synthetic.n_items, like_threshold=4)
    users = np.random.default_rng(0).choice(split.train["user"].unique(), 600)
    one = tasks.build(users, seed=1)
    two = tasks.build(users, seed=1)
    assert [(t, e.user) for t, e in one] == [(t, e.user) for t, e in two]
    assert all(np.array_equal(a.history, b.history) for (_, a), (_, b) in zip(one, two))
    only_point = tasks.build(users[:50], seed=1, mix={"pointwise": 1.0, "pairwise": 0, "listwise": 0})
    assert {t for t, _ in only_point} == {"pointwise"}
    counts = pd.Series([t for t, _ in one]).value_counts(normalize=True)
    assert counts.get("pairwise", 0) > 0.2 and counts.get("pointwise", 0) > 0.2
    with pytest.raises(ConfigError, match="task.mix"):
        tasks.build(users, seed=1, mix={"triplewise": 1.0})


def test_hints_come_from_callables():
    frame = _user([5, 1, 4, 5, 5, 4, 4, 2])
    pw = pointwise_instance(0, frame, _rng(0), 100, 4, predict_rating=lambda u, items: np.full(len(items), 3.25))
    assert pw.hint == 3.25
    score = lambda u, items: -np.asarray(items, dtype=float)
    pr = pairwise_instance(0, frame, _rng(0), 100, 4, score=score)
    assert pr.hint == min(pr.first, pr.second)
    lw = listwise_instance(0, frame, _rng(0), 100, 4, score=score)
    best = np.argsort(lw.candidates)[:5]
    assert [lw.hints[s] for s in best] == [f"recommender #{r}" for r in range(1, 6)]
    assert sum(h == "" for h in lw.hints) == 5
    assert pointwise_instance(0, frame, _rng(0), 100, 4).hint is None


def test_prompts_and_answers():
    style = PromptStyle(item_noun="movie", hints=True)
    pw = PointwiseExample(0, np.array([1, 2]), np.array([4.0, 2.0]), 7, 4, hint=3.6)
    text = pointwise_prompt(pw, TITLES, style)
    assert "Movie 1: 4" in text and '"Movie 7"' in text and "predicts 3.6" in text
    assert pointwise_target(pw) == "4" and pointwise_target(pw) in POINTWISE_ANSWERS
    assert "predicts" not in pointwise_prompt(pw, TITLES, PromptStyle(hints=False))
    pr = PairwiseExample(0, np.array([1]), np.array([5.0]), 8, 9, True, hint=9)
    text = pairwise_prompt(pr, TITLES, style)
    assert 'prefer "Movie 8" over "Movie 9"' in text and 'prefers "Movie 9"' in text
    assert pairwise_target(pr) == PAIRWISE_ANSWERS[0] == "Yes"
    assert rating_answers((1.0, 5.0)) == POINTWISE_ANSWERS


def test_eval_builders():
    cands = np.arange(10, 20)
    hist, hist_r = np.array([1, 2, 3, 4]), np.array([5.0, 4.0, 3.0, 2.0])
    point = pointwise_eval(0, cands, hist, hist_r, _rng(0))
    assert [p.item for p in point] == cands.tolist() and all(p.rating is None for p in point)
    assert all(np.array_equal(p.history, point[0].history) for p in point)  # one shared prefix per user
    pairs = pairwise_eval(0, cands, hist, hist_r, _rng(0))
    assert len(pairs) == 45 and len({frozenset((p.first, p.second)) for p in pairs}) == 45
    both = pairwise_eval(0, cands, hist, hist_r, _rng(0), both_orders=True)
    assert len(both) == 90 and len({(p.first, p.second) for p in both}) == 90
    matching = pairwise_eval(0, cands, hist, hist_r, _rng(0), pairs="matching", both_orders=True)
    assert len(matching) == 10 and {p.first for p in matching} == set(cands.tolist())
    lw = listwise_eval(0, cands, hist, hist_r, _rng(0), target_item=13)
    assert lw.gains.sum() == 1 and lw.candidates[lw.target_slots[0]] == 13
    assert sorted(lw.candidates.tolist()) == cands.tolist()
    fixed = listwise_eval(0, cands[::-1], hist, hist_r, _rng(0), shuffle=False)
    assert fixed.candidates.tolist() == cands.tolist() and fixed.history.tolist() == hist.tolist()


def test_pair_wins_splits_contradictions():
    cands = np.array([10, 20, 30])
    ex = [PairwiseExample(0, np.array([]), np.array([]), a, b, None) for a, b in
          [(10, 20), (20, 10), (10, 30), (30, 10), (20, 30)]]
    # 10 beats 20 in both orders; 10 vs 30 contradicts itself (Yes both ways); 30 beats 20 (one order).
    wins = pair_wins(cands, ex, np.array([1, 0, 1, 1, 0]))
    assert wins.tolist() == [1.5, 0.0, 1.5]


def test_hybrid_forms_on_a_hand_example():
    point = np.array([3.0, 4.5, 2.0, 4.0])
    wins = np.array([1.0, 3.0, 0.0, 2.0])
    positions = [2, 1, None, 3]
    paper = hybrid_scores(point, wins, positions, form="paper")
    # U_list = m - position + 1 = [3, 4, 0, 2] with m = 4
    assert paper == pytest.approx(np.array([7.0, 11.5, 2.0, 8.0]) / 3)
    code = hybrid_scores(point, wins, positions, form="code")
    # point + 0.05 (m - rank) + 0.5 wins + 0.025 (5 - (position - 1))
    assert code == pytest.approx([3.8, 6.275, 2.1, 5.125])
    reordered = hybrid_scores(point, wins, positions, form="code", retriever_rank=np.array([3, 2, 1, 0]))
    assert reordered == pytest.approx([3.65, 6.225, 2.15, 5.275])
    assert hybrid_scores(point, wins, positions, weights=(1, 0, 0)) == pytest.approx(point)
    assert pointwise_rating(np.array([[0, 0, 0, 1, 1.0]])) == pytest.approx([4.5])
    with pytest.raises(ConfigError, match="task.form"):
        hybrid_scores(point, wins, positions, form="mean")


@pytest.mark.parametrize("name", ["pointwise", "pairwise", "hybrid", "listwise"])
def test_task_configs_share_the_uniform_keys(name):
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF / "task" / f"{name}.yaml")
    assert cfg.name == name
    for key in ("labels", "tie_break", "history_with_ratings", "title_max_chars", "shuffle", "hints", "hint_source"):
        assert key in cfg, key
    if name == "pairwise":
        assert list(cfg.labels) == list(PAIRWISE_ANSWERS)
    if name == "pointwise":
        assert tuple(cfg.labels) == POINTWISE_ANSWERS
    if name == "hybrid":
        assert sum(cfg.mix.values()) == pytest.approx(1.0) and cfg.form in ("paper", "code")
