"""Hybrid inference: shared-prefix KV cache == full prompts; single-pass score math; misses count 0."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from rankexp.models.hybrid import HybridEvaluator, HybridOptions, UserResult, pointwise_rating, summarize
from rankexp.models.scoring import last_hidden_shared, last_hidden_unshared, length_groups
from rankexp.recipes.recranker import build_encoder, hint_functions
from tests.helpers.recranker import first_hit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def evaluator(tiny, rerank, synthetic):
    cfg, lists = rerank
    predict_rating, score = hint_functions(cfg, lists)
    encoder = build_encoder(cfg, synthetic, tiny[1])
    return HybridEvaluator(encoder, HybridOptions(chunk_size=16, seed=0), predict_rating, score)


def test_shared_prefix_scores_equal_full_prompts(tiny, rerank, evaluator):
    model, _ = tiny
    _, lists = rerank
    for example in (first_hit(lists.test), lists.test[1]):
        shared = evaluator.evaluate(model, example, 2, share_prefix=True)
        full = evaluator.evaluate(model, example, 2, share_prefix=False)
        assert shared.prompts == full.prompts == 10 + 45 + 1
        # 55 short prompts in ceil(55 / 16) = 4 batches, the long listwise prompt alone, + the prefix
        assert shared.forwards == 1 + 5 and full.forwards == 5
        assert shared.tokens < full.tokens
        assert set(shared.scores) == {"hybrid", "pointwise", "pairwise", "listwise", "retriever"}
        for method, values in shared.scores.items():
            np.testing.assert_allclose(values, full.scores[method], rtol=1e-5, atol=1e-6, err_msg=method)


def test_last_token_hidden_matches_unpadded_single_prompts(tiny):
    model, _ = tiny
    decoder = model.get_decoder()
    rng = np.random.default_rng(0)
    prefix = rng.integers(100, 5000, 23).tolist()
    suffixes = [rng.integers(100, 5000, n).tolist() for n in (9, 4, 1, 7)]
    with torch.no_grad():
        shared, forwards = last_hidden_shared(decoder, prefix, suffixes, pad_id=2, chunk_size=3)
        full, _ = last_hidden_unshared(decoder, prefix, suffixes, pad_id=2, chunk_size=3)
        single = torch.stack([decoder(input_ids=torch.tensor([prefix + s])).last_hidden_state[0, -1] for s in suffixes])
    assert forwards == 1 + len(length_groups([9, 4, 1, 7], 3)) and shared.shape == single.shape
    torch.testing.assert_close(shared, single, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(full, single, rtol=1e-5, atol=1e-5)


def test_single_pass_scores_are_renormalised_answer_probabilities(tiny, rerank, evaluator):
    """pointwise = Σ r·P(r | r in 1..5), pairwise P(Yes)/(P(Yes)+P(No)), from the full-vocab softmax."""
    model, _ = tiny
    _, lists = rerank
    example = lists.test[0]
    result = evaluator.evaluate(model, example, 2)
    prompts = evaluator.prompts(example, 2)
    prefix, suffixes, _ = evaluator.encoder.encode_user(prompts)
    with torch.no_grad():
        def probs(k):
            logits = model(input_ids=torch.tensor([prefix + suffixes[k]])).logits[0, -1]
            return torch.softmax(logits.double(), -1).numpy()

        point_ids = evaluator.encoder.answer_token_ids["pointwise"]
        p = probs(3)[point_ids]
        assert result.scores["pointwise"][3] == pytest.approx(float((p / p.sum()) @ np.arange(1, 6)), rel=1e-5)
        yes, no = probs(10)[evaluator.encoder.answer_token_ids["pairwise"]]
        assert result.extra["pairwise"][0] == pytest.approx(yes / (yes + no), rel=1e-5)


def test_pointwise_rating_math():
    probs = np.array([[0.1, 0.2, 0.3, 0.2, 0.2], [0, 0, 0, 0, 2.0], [1, 1, 1, 1, 1]])
    np.testing.assert_allclose(pointwise_rating(probs), [3.2, 5.0, 3.0])
    # probabilities are renormalised over the answer tokens: scaling them changes nothing
    np.testing.assert_allclose(pointwise_rating(probs * 0.01), pointwise_rating(probs))


def test_misses_count_zero_over_all_users():
    m = 10
    gains_hit = np.zeros(m, dtype=np.float32)
    gains_hit[2] = 1
    best = np.arange(m, 0, -1, dtype=np.float64)
    best[2] = 100.0  # the target ranked first
    hit = UserResult({"hybrid": best, "retriever": best}, gains_hit, prompts=56, forwards=2, tokens=1, seconds=1)
    miss = UserResult({"hybrid": best, "retriever": best}, np.zeros(m, dtype=np.float32), 56, 2, 1, 1)
    out = summarize([hit, miss], ks=(3, 5))
    for method in ("hybrid", "retriever"):
        for name in ("ndcg@3", "ndcg@5", "hr@3", "hr@5"):
            assert out[f"test/{method}/{name}"] == pytest.approx(0.5), (method, name)
    assert summarize([miss], ks=(3, 5))["test/hybrid/ndcg@5"] == 0.0
    assert out["test/target_in_candidates"] == 0.5 and out["test/forwards_per_user"] == 2


def test_task_subsets_and_official_pair_count(tiny, rerank, evaluator):
    model, _ = tiny
    _, lists = rerank
    example = first_hit(lists.test)
    official = HybridEvaluator(evaluator.encoder, HybridOptions(pairs="matching", both_orders=True),
                               evaluator.predict_rating, evaluator.score)
    assert len(official.prompts(example, 2)) == 21  # the paper's "~21 LLM calls per user"
    alone = HybridEvaluator(evaluator.encoder, HybridOptions(tasks=("pointwise",)), evaluator.predict_rating)
    result = alone.evaluate(model, example, 2)
    assert result.prompts == 10 and set(result.scores) == {"hybrid", "pointwise", "retriever"}
    # pointwise alone: hybrid = a1 * expected rating, the same order
    assert np.array_equal(np.argsort(-result.scores["hybrid"]), np.argsort(-result.scores["pointwise"]))
    with pytest.raises(Exception, match="form=code"):
        code = HybridEvaluator(evaluator.encoder, HybridOptions(form="code"))
        code.evaluate(model, replace(example, prior_scores=None), 2)


def test_length_groups_keep_the_long_prompt_apart():
    lengths = [50, 52, 51, 150, 49, 53]
    groups = length_groups(lengths, chunk_size=64)
    assert groups == [[4, 0, 2, 1, 5], [3]]
    assert sorted(i for g in length_groups(lengths, chunk_size=2) for i in g) == list(range(6))
    assert max(map(len, length_groups(lengths, chunk_size=2))) == 2


def _test_metrics(ranker) -> dict[str, float]:
    out = {}
    for name, metric in ranker.metrics.items():
        if name.startswith("test") and metric.update_count:
            out.update({f"{name}/{k}": float(v) for k, v in metric.compute().items()})
    return out


def test_skipping_misses_changes_no_metric_and_runs_fewer_users(tiny, rerank, evaluator, monkeypatch):
    """`eval.score_misses=false`: a miss scores 0 whatever its order, so skipping its forwards is exact."""
    from rankexp.models.instruction import InstructionRanker

    model, _ = tiny
    _, lists = rerank
    users = lists.test[:8]
    hits = sum(bool(np.asarray(u.gains).sum() > 0) for u in users)
    assert 0 < hits < len(users), "the fixture lists need both hits and misses"
    calls = []
    run = evaluator.evaluate
    monkeypatch.setattr(evaluator, "evaluate", lambda *a, **k: calls.append(1) or run(*a, **k))
    figures = {}
    for score_misses in (True, False):
        calls.clear()
        ranker = InstructionRanker(model, evaluator, ks=(1, 3, 5), score_misses=score_misses)
        ranker._evaluate(users, "test")
        figures[score_misses] = _test_metrics(ranker), len(calls), ranker._costs, ranker.test_results
    (scored, n_scored, costs_all, _), (skipped, n_skipped, costs_hits, results) = figures[True], figures[False]
    assert n_scored == len(users) and n_skipped == hits
    assert set(scored) == set(skipped) and any("test_retriever" in k for k in scored)
    for key, value in scored.items():
        assert skipped[key] == pytest.approx(value, abs=1e-6), key
    assert len(costs_hits["forwards"]) == hits and len(costs_all["forwards"]) == len(users)
    assert sum(costs_hits["scored"]) == hits and len(costs_hits["hit"]) == len(users)
    assert [r.scored for r in results] == [bool(np.asarray(u.gains).sum() > 0) for u in users]
    with pytest.raises(ValueError, match="only a miss"):
        evaluator.unscored(first_hit(users))


def test_paired_difference_to_the_retriever_counts_misses_as_zero():
    from rankexp.recipes.recranker import paired_to_retriever

    m = 5
    hit_gains = np.eye(m, dtype=np.float32)[0]
    good, bad = np.arange(m, 0, -1, dtype=np.float64), np.arange(m, dtype=np.float64)  # target first / last
    users = [UserResult({"hybrid": good, "retriever": bad}, hit_gains),
             UserResult({"hybrid": bad, "retriever": good}, hit_gains),
             UserResult({"hybrid": good, "retriever": bad}, hit_gains),
             UserResult({"hybrid": bad, "retriever": bad}, np.zeros(m, dtype=np.float32), scored=False)]
    out = paired_to_retriever(users, "ndcg@5")
    last = 1 / np.log2(m + 1)  # NDCG@5 of the target in the last of 5 slots
    diffs = np.array([1 - last, last - 1, 1 - last, 0.0])
    assert out["paired_test/hybrid_minus_retriever/ndcg@5"] == pytest.approx(diffs.mean(), rel=1e-5)
    assert out["paired_test/hybrid_minus_retriever/ndcg@5_se"] == pytest.approx(diffs.std(ddof=1) / 2, rel=1e-5)
    assert paired_to_retriever([], "ndcg@5") == {}
