"""`eval.test_orders`: scores mapped back to their candidates and averaged over orders."""

from __future__ import annotations

import numpy as np
import pytest

from rankexp.evaluation.order_averaging import order_averaged_scores
from tests.helpers.runs import make_example


def test_an_order_invariant_scorer_is_unchanged():
    lists = [make_example(u, m=5, seed=u) for u in range(4)]
    by_item = lambda examples: np.stack([e.candidates * 1.0 for e in examples])
    assert np.allclose(order_averaged_scores(by_item, lists, 5, seed=0), by_item(lists))


def test_a_pure_slot_prior_averages_towards_a_constant():
    """A scorer that only likes slot 0 gives every candidate about the same mean score."""
    lists = [make_example(u, m=5, seed=u) for u in range(200)]
    slot_prior = lambda examples: np.tile(np.arange(5, 0, -1, dtype=float), (len(examples), 1))
    one = order_averaged_scores(slot_prior, lists, 1, seed=0)
    many = order_averaged_scores(slot_prior, lists, 50, seed=0)
    assert np.allclose(one, slot_prior(lists))
    assert many.std(axis=1).mean() < 0.35 * one.std(axis=1).mean()


def test_given_shown_scores_replace_the_first_pass():
    lists = [make_example(u, m=4, seed=u) for u in range(3)]
    calls = []

    def score(examples):
        calls.append(len(examples))
        return np.stack([e.candidates * 1.0 for e in examples])

    out = order_averaged_scores(score, lists, 3, seed=1, shown_scores=score(lists))
    assert len(calls) == 3 and np.allclose(out, score(lists))
    with pytest.raises(ValueError):
        order_averaged_scores(score, lists, 0, seed=0)


def test_the_run_reports_its_own_row_and_the_validation_evidence(synthetic_lists, tmp_path, monkeypatch):
    """`eval.test_orders=5` in compare_on_test: `test_orders/*` is the K-order mean of the shown scores."""
    import torch

    from rankexp.evaluation.fusion import per_list
    from rankexp.evaluation.metrics import ndcg_gain
    from rankexp.models import list_scores
    from rankexp.recipes.alro import compare_on_test
    from tests.helpers.runs import compose_cfg

    _, lists = synthetic_lists
    cfg = compose_cfg("data=synthetic", "protocol.m=6", "protocol.history_len=5", "protocol.min_history=3",
                      "eval.test_orders=5", f"paths.output_dir={tmp_path}")

    def slot_prior_plus_gain(examples):  # knows the gains, but slot 0 gets a bonus: averaging orders helps
        return np.stack([e.gains + 3.0 * (np.arange(len(e.gains)) == 0) for e in examples])

    monkeypatch.setattr(list_scores, "make_score_fn", lambda *a, **k: slot_prior_plus_gain)

    from types import SimpleNamespace

    scored = SimpleNamespace(test_scores=dict(enumerate(torch.as_tensor(slot_prior_plus_gain(lists.test),
                                                                         dtype=torch.float32))),
                             selected_val_scores=lambda n_lists: None)  # no validation ran: score val here
    out = compare_on_test(cfg, scored, None, lists)
    gains = ndcg_gain(torch.as_tensor(np.stack([e.gains for e in lists.test])))
    expected = order_averaged_scores(slot_prior_plus_gain, lists.test, 5, cfg.seed + 2)
    assert out["test_orders/ndcg@5"] == pytest.approx(float(per_list(torch.as_tensor(expected), gains, "ndcg@5").mean()))
    assert out["paired_test/orders_minus_llm/ndcg@5"] > 0  # the slot bonus is averaged away
    assert out["val_orders/ndcg@5"] > out["val_orders/one_order_ndcg@5"]
    assert "orders_ndcg@5" in (tmp_path / "test_per_list.csv").read_text().splitlines()[0]


def test_recranker_refuses_test_orders():
    from rankexp.config.check import check_cross_keys
    from rankexp.errors import ConfigError
    from tests.helpers.runs import compose_cfg

    with pytest.raises(ConfigError, match="eval.test_orders"):
        check_cross_keys(compose_cfg("+experiment=recranker_ml100k", "eval.test_orders=3"))


@pytest.mark.slow
def test_three_orders_in_a_real_tiny_run_match_a_hand_average(tmp_path):
    """`eval.test_orders=3` end to end with the tiny random model: every list is scored in 3 orders (the
    shown one and 2 shuffles of the same candidates); each candidate's score is its mean over the 3,
    mapped back by item id here by hand, and the written per-list values and means follow from it."""
    from tests.evaluation.recorded_run import hand_ndcg, mean_and_se, read_run
    from tests.helpers.runs import TINY, TINY_PROTOCOL, explain, run_module

    proc = run_module("tests.evaluation.recorded_run", *TINY, *TINY_PROTOCOL, "data=synthetic",
                      "eval.test_orders=3", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, explain(proc)
    results, record, rows = read_run(tmp_path)
    test, val, calls = record["test"], record["val"], record["calls"]
    assert len(test) == len(rows) == 8 and len(val) == 8 and results["orders/n"] == 3.0
    # 2 shuffles of val, then 2 shuffles of test; the shown orders are the run's own scores (val: the selected
    # checkpoint's validation, test: trainer.test's)
    assert len(calls) == 4 and len(record["val_llm"]) == 8

    def averaged(lists, shown_scores, shuffles):
        out = []
        for i, example in enumerate(lists):
            per_item = {c: [s] for c, s in zip(example["candidates"], shown_scores[i])}
            for call in shuffles:
                shown = call["lists"][i]
                assert shown["user"] == example["user"]
                assert sorted(shown["candidates"]) == sorted(example["candidates"])
                for c, s in zip(shown["candidates"], call["scores"][i]):
                    per_item[c].append(s)
            assert all(len(v) == 3 for v in per_item.values())
            out.append([sum(per_item[c]) / 3 for c in example["candidates"]])
        return out

    for lists, shuffles in ((val, calls[0:2]), (test, calls[2:4])):
        moved = sum(s["lists"][i]["candidates"] != e["candidates"] for s in shuffles for i, e in enumerate(lists))
        assert moved >= 12, "the extra orders must actually reorder the candidates"
    val_avg = averaged(val, record["val_llm"], calls[0:2])
    test_avg = averaged(test, record["test_llm"], calls[2:4])

    mean_ndcg = lambda scores, lists: sum(hand_ndcg(s, e["gains"]) for s, e in zip(scores, lists)) / len(lists)
    assert results["val_orders/one_order_ndcg@5"] == pytest.approx(mean_ndcg(record["val_llm"], val), abs=1e-6)
    assert results["val_orders/ndcg@5"] == pytest.approx(mean_ndcg(val_avg, val), abs=1e-6)
    llm = [hand_ndcg(s, e["gains"]) for s, e in zip(record["test_llm"], test)]
    orders = [hand_ndcg(s, e["gains"]) for s, e in zip(test_avg, test)]
    for row, e, a, b in zip(rows, test, llm, orders):
        assert row["user"] == e["user"]
        assert (row["llm_ndcg@5"], row["orders_ndcg@5"]) == pytest.approx((a, b), abs=2e-6)
    assert results["test/ndcg@5"] == pytest.approx(sum(llm) / 8, abs=1e-6)
    assert results["test_orders/ndcg@5"] == pytest.approx(sum(orders) / 8, abs=1e-6)
    mean, se = mean_and_se([b - a for a, b in zip(llm, orders)])
    assert results["paired_test/orders_minus_llm/ndcg@5"] == pytest.approx(mean, abs=1e-6)
    assert results["paired_test/orders_minus_llm/ndcg@5_se"] == pytest.approx(se, abs=1e-6)
