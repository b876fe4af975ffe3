"""Non-LLM baselines on a toy frame; random expectation against Monte Carlo."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from rankexp.evaluation.baselines import evaluate_baselines, item_mean, popularity, random_expected
from rankexp.evaluation.metrics import ranking_metrics


@pytest.fixture
def train() -> pd.DataFrame:
    rows = [(0, 10, 5), (1, 10, 5), (2, 10, 4), (0, 11, 1), (1, 11, 2), (0, 12, 5), (3, 13, 3)]
    return pd.DataFrame(rows, columns=["user", "item", "rating"]).assign(timestamp=range(len(rows)))


def test_popularity_and_item_mean(train):
    candidates = torch.tensor([[10, 11, 12, 99]])  # 99 never seen in train
    assert popularity(train, candidates).tolist() == [[3.0, 2.0, 1.0, 0.0]]
    plain = item_mean(train, candidates, shrinkage=0)
    mu = 25 / 7
    assert plain[0].tolist() == pytest.approx([14 / 3, 1.5, 5.0, mu])
    shrunk = item_mean(train, candidates, shrinkage=2)
    assert shrunk[0, 2].item() == pytest.approx((5 + 2 * mu) / 3)  # one 5-star rating pulled toward mu
    assert shrunk[0, 0] > shrunk[0, 2]  # three ratings averaging 4.67 beat a single 5


def test_random_expected_small_cases_exact():
    out = random_expected(torch.tensor([[1.0, 0.0]]), ks=(1, 2))
    assert out["hr@1"].item() == pytest.approx(0.5)
    assert out["ndcg@1"].item() == pytest.approx(0.5)
    assert out["mrr@2"].item() == pytest.approx(0.75)
    assert out["hr@2"].item() == pytest.approx(1.0)
    none = random_expected(torch.zeros(1, 3), ks=(2,))
    assert all(v.item() == 0.0 for v in none.values())


def test_random_expected_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    gains = torch.tensor([[31.0, 15, 15, 7, 3, 1, 0, 0], [0, 1, 0, 0, 0, 0, 1, 0]])
    mask = torch.tensor([[True] * 8, [True] * 6 + [False] * 2])
    exact = random_expected(gains, ks=(1, 3, 5), mask=mask)
    n = 20000
    scores = torch.rand(n, 2, 8, generator=gen).reshape(-1, 8)
    mc = ranking_metrics(scores, gains.repeat(n, 1), (1, 3, 5), mask.repeat(n, 1))
    for key, value in exact.items():
        torch.testing.assert_close(mc[key].reshape(n, 2).mean(0), value, atol=0.01, rtol=0)


def test_evaluate_baselines_keys_and_ordering(train):
    candidates = torch.tensor([[11, 12, 10, 13], [13, 10, 11, 12]])
    ratings = torch.tensor([[1.0, 5, 5, 3], [3, 5, 2, 5]])  # test ratings follow item quality
    results = evaluate_baselines(train, candidates, 2**ratings - 1, ks=(1, 3), shrinkage=0)
    assert set(results) == {
        f"baseline/{name}/{metric}@{k}"
        for name in ("random", "popularity", "item_mean")
        for metric in ("ndcg", "hr", "mrr")
        for k in (1, 3)
    }
    assert results["baseline/item_mean/ndcg@3"] > results["baseline/random/ndcg@3"]
    assert all(isinstance(v, float) for v in results.values())
