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
                                                                         dtype=torch.float32))))
    out = compare_on_test(cfg, scored, None, lists)
    gains = ndcg_gain(torch.as_tensor(np.stack([e.gains for e in lists.test])))
    expected = order_averaged_scores(slot_prior_plus_gain, lists.test, 5, cfg.seed + 2)
    assert out["test_orders/ndcg@5"] == pytest.approx(float(per_list(torch.as_tensor(expected), gains, "ndcg@5").mean()))
    assert out["paired_test/orders_minus_llm/ndcg@5"] > 0  # the slot bonus is averaged away
    assert out["val_orders/ndcg@5"] > out["val_orders/one_order_ndcg@5"]
    assert "orders_ndcg@5" in (tmp_path / "test_per_list.csv").read_text().splitlines()[0]


def test_recranker_refuses_test_orders():
    from rankexp.config_check import check_cross_keys
    from rankexp.errors import ConfigError
    from tests.helpers.runs import compose_cfg

    with pytest.raises(ConfigError, match="eval.test_orders"):
        check_cross_keys(compose_cfg("+experiment=recranker_ml100k", "eval.test_orders=3"))
