"""Paired differences and score fusion: exact on hand-made lists."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rankexp.evaluation.fusion import choose_weight, fuse, paired_difference, zscore


def test_zscore_is_per_list_and_keeps_the_order():
    scores = torch.tensor([[1.0, 2.0, 3.0], [10.0, 10.0, 10.0]])
    z = zscore(scores)
    assert torch.allclose(z[0].mean(), torch.tensor(0.0)) and torch.equal(z[0].argsort(), scores[0].argsort())
    assert torch.equal(z[1], torch.zeros(3))


def test_paired_difference_mean_and_standard_error():
    gains = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0]])
    right = gains.clone()  # ranks every list perfectly
    wrong = -gains  # ranks every list backwards
    stats = paired_difference(right, wrong, gains, "ndcg@1")
    assert (stats.mean, stats.se, stats.ci_low, stats.ci_high, stats.n) == (1.0, 0.0, 1.0, 1.0, 3)
    half = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # right on lists 0 and 2 only
    stats = paired_difference(half, wrong, gains, "ndcg@1")
    assert math.isclose(stats.mean, 2 / 3, rel_tol=1e-6)
    assert math.isclose(stats.se, math.sqrt(1 / 3) / math.sqrt(3), rel_tol=1e-5)
    assert stats.ci_low <= stats.mean <= stats.ci_high and 0 < stats.p_t < 1


def test_fusion_weight_is_chosen_on_the_given_lists():
    gains = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    useless_llm = torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])  # always backwards
    good_signal = gains.clone()
    weight, value = choose_weight(useless_llm, good_signal, gains, "ndcg@1")
    assert weight > 1.0 and value == 1.0
    weight, _ = choose_weight(good_signal, useless_llm, gains, "ndcg@1")
    assert weight == 0.0  # the LLM alone is already perfect: no fusion
    assert torch.equal(fuse(good_signal, useless_llm, 0.0).argsort(), good_signal.argsort())


def _rerank_lists(synthetic, tmp_path):
    from rankexp.recipes.lists import build_lists
    from tests.helpers.runs import compose_cfg

    cfg = compose_cfg("data=synthetic", "protocol=rerank_topk", "retriever=pop", "protocol.m=6",
                      "protocol.history_len=5", "protocol.min_history=3", "eval.fusion=retriever",
                      f"paths.output_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'cache'}")
    return cfg, build_lists(cfg, synthetic)


class _Scored:
    """A ranker stand-in whose test scores were already computed."""

    def __init__(self, scores: torch.Tensor) -> None:
        self.test_scores = dict(enumerate(scores))

    def selected_val_scores(self, n_lists: int) -> None:
        return None  # no validation ran: the validation lists are scored here


def test_retriever_fusion_fuses_the_retriever_scores_with_the_weight_chosen_on_validation(synthetic, tmp_path,
                                                                                       monkeypatch):
    """`eval.fusion=retriever`: w from the val lists' retriever scores, applied once to the test lists' own."""
    from rankexp.evaluation.fusion import per_list
    from rankexp.evaluation.metrics import ndcg_gain
    from rankexp.models import list_scores
    from rankexp.recipes.alro import compare_on_test

    cfg, lists = _rerank_lists(synthetic, tmp_path)
    rng = np.random.default_rng(0)
    noise = {id(e): rng.normal(size=len(e.candidates)) for e in lists.val + lists.test}
    llm_of = lambda examples: np.stack([noise[id(e)] for e in examples])
    monkeypatch.setattr(list_scores, "make_score_fn", lambda *a, **k: llm_of)
    test_llm = torch.as_tensor(llm_of(lists.test), dtype=torch.float32)
    out = compare_on_test(cfg, _Scored(test_llm), None, lists)

    def signal(examples):
        return torch.as_tensor(np.stack([e.prior_scores for e in examples]), dtype=torch.float32)

    def gains(examples):
        return ndcg_gain(torch.as_tensor(np.stack([e.gains for e in examples]), dtype=torch.float32))

    weight, val_value = choose_weight(torch.as_tensor(llm_of(lists.val), dtype=torch.float32), signal(lists.val),
                                      gains(lists.val), "ndcg@5")
    assert (out["fusion/weight"], out["fusion/val_ndcg@5"]) == (weight, val_value)
    fused = per_list(fuse(test_llm, signal(lists.test), weight), gains(lists.test), "ndcg@5")
    assert math.isclose(out["test_fusion/ndcg@5"], float(fused.mean()), rel_tol=1e-6)
    retriever = per_list(signal(lists.test), gains(lists.test), "ndcg@5")
    assert math.isclose(out["paired_test/fusion_minus_retriever/ndcg@5"], float((fused - retriever).mean()),
                        abs_tol=1e-6)
    assert "fusion_ndcg@5" in (tmp_path / "test_per_list.csv").read_text().splitlines()[0]


def test_retriever_fusion_without_a_retriever_is_a_config_error():
    import pytest

    from rankexp.config.check import check_cross_keys
    from rankexp.errors import ConfigError
    from rankexp.evaluation.fusion import check_fusion
    from tests.helpers.runs import compose_cfg

    with pytest.raises(ConfigError, match="eval.fusion=retriever"):
        check_cross_keys(compose_cfg("data=synthetic", "eval.fusion=retriever"))
    with pytest.raises(ConfigError, match="eval.fusion=retriever"):
        check_fusion("retriever", {"item_mean": None})
    with pytest.raises(ConfigError, match="eval.fusion"):
        check_fusion("mf", {"item_mean": None})


@pytest.mark.slow
def test_item_mean_fusion_in_a_real_tiny_run_matches_a_hand_recomputation(tmp_path):
    """`eval.fusion=item_mean` end to end with the tiny random model: the weight is the hand argmax of the
    val NDCG@5 over the grid, and the written per-list values and means are z(LLM) + w z(item mean) by hand."""
    from tests.evaluation.recorded_run import hand_item_mean, hand_ndcg, hand_z, mean_and_se, read_run
    from tests.helpers.runs import TINY, TINY_PROTOCOL, explain, run_module

    proc = run_module("tests.evaluation.recorded_run", *TINY, *TINY_PROTOCOL, "data=synthetic",
                      "eval.fusion=item_mean", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, explain(proc)
    results, record, rows = read_run(tmp_path)
    test, val, train = record["test"], record["val"], record["train"]
    assert len(test) == len(rows) == 8 and len(val) == 8
    # fusion reuses the selected checkpoint's validation scores and scores nothing again
    assert record["calls"] == [] and len(record["val_llm"]) == 8
    val_llm = record["val_llm"]

    def fused(llm, lists, weight):
        return [[a + weight * b for a, b in zip(hand_z(s), hand_z(hand_item_mean(train, e["candidates"])))]
                for s, e in zip(llm, lists)]

    def mean_ndcg(scores, lists):
        return sum(hand_ndcg(s, e["gains"]) for s, e in zip(scores, lists)) / len(lists)

    best_w, best_value = 0.0, -math.inf
    for weight in (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0):  # ties keep the smaller weight
        value = mean_ndcg(fused(val_llm, val, weight), val)
        if value > best_value + 1e-9:
            best_w, best_value = weight, value
    assert results["fusion/weight"] == best_w
    assert results["fusion/val_ndcg@5"] == pytest.approx(best_value, abs=1e-6)

    llm = [hand_ndcg(s, e["gains"]) for s, e in zip(record["test_llm"], test)]
    item = [hand_ndcg(hand_item_mean(train, e["candidates"]), e["gains"]) for e in test]
    fusion = [hand_ndcg(s, e["gains"]) for s, e in zip(fused(record["test_llm"], test, best_w), test)]
    for row, e, a, b, c in zip(rows, test, llm, item, fusion):
        assert row["user"] == e["user"]
        assert (row["llm_ndcg@5"], row["item_mean_ndcg@5"], row["fusion_ndcg@5"]) == \
            pytest.approx((a, b, c), abs=2e-6)
    assert results["test/ndcg@5"] == pytest.approx(sum(llm) / 8, abs=1e-6)
    assert results["test_fusion/ndcg@5"] == pytest.approx(sum(fusion) / 8, abs=1e-6)
    mean, se = mean_and_se([c - b for b, c in zip(item, fusion)])
    assert results["paired_test/fusion_minus_item_mean/ndcg@5"] == pytest.approx(mean, abs=1e-6)
    assert results["paired_test/fusion_minus_item_mean/ndcg@5_se"] == pytest.approx(se, abs=1e-6)
