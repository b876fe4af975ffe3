"""RecRanker's adaptive user sampling (docs/recranker.md): determinism, ln-weights, clusters, penalty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankexp.data.sampling import (
    UserSampler,
    adaptive_sample,
    build_sampler,
    cluster_draw,
    importance_draw,
    importance_weights,
    instruction_set_hash,
    liked_counts,
    repetition_weights,
    uniform_sample,
)
from rankexp.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "rankexp" / "conf"


def _population(n_users: int = 300, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    liked = rng.integers(0, 60, n_users)
    centers = rng.normal(0, 5, (4, dim))
    embeddings = centers[rng.integers(4, size=n_users)] + rng.normal(0, 1, (n_users, dim))
    return liked, embeddings


def test_liked_counts_from_train():
    import pandas as pd

    train = pd.DataFrame({"user": [0, 0, 0, 2, 2], "item": [1, 2, 3, 1, 4], "rating": [5, 4, 2, 4, 1],
                          "timestamp": range(5)})
    assert liked_counts(train, 4, 4).tolist() == [2, 0, 1, 0]


def test_adaptive_sample_is_deterministic_per_seed():
    liked, embeddings = _population()
    first = adaptive_sample(liked, embeddings, budget=500, seed=3)
    again = adaptive_sample(liked, embeddings, budget=500, seed=3)
    other = adaptive_sample(liked, embeddings, budget=500, seed=4)
    assert len(first) == 500
    assert instruction_set_hash(first) == instruction_set_hash(again)
    assert instruction_set_hash(first) != instruction_set_hash(other)
    assert (liked[first] >= 2).all()  # ln(1) = 0: never a user with < 2 liked train items
    u1, u2 = uniform_sample(np.arange(50), 200, 1), uniform_sample(np.arange(50), 200, 1)
    assert instruction_set_hash(u1) == instruction_set_hash(u2)
    assert instruction_set_hash(u1) != instruction_set_hash(uniform_sample(np.arange(50), 200, 2))


def test_importance_draw_follows_log_weights():
    liked = np.array([0, 1, 2, 3, 5, 10, 30, 100])
    weights = importance_weights(liked)
    assert weights[:2].tolist() == [0.0, 0.0] and weights[2] == pytest.approx(np.log(2))
    n = 200_000
    draws = importance_draw(liked, n, np.random.default_rng(0))
    observed = np.bincount(draws, minlength=len(liked))
    assert observed[:2].sum() == 0
    expected = n * weights / weights.sum()
    live = expected > 0
    chi2 = (((observed - expected)[live]) ** 2 / expected[live]).sum()
    df = live.sum() - 1
    assert chi2 < df + 6 * np.sqrt(2 * df)  # ~ p < 1e-4 under the null: the draw is P(u) ∝ ln q_u


def test_cluster_draw_is_proportional_to_cluster_size():
    rng = np.random.default_rng(0)
    sizes = [50, 100, 150]
    centers = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    blob = np.repeat(np.arange(3), sizes)
    embeddings = centers[blob] + rng.normal(0, 1, (len(blob), 2))
    draws = cluster_draw(embeddings, 600, np.random.default_rng(1), k=3, seed=0)
    assert np.bincount(blob[draws], minlength=3).tolist() == [100, 200, 300]
    odd = cluster_draw(embeddings, 7, np.random.default_rng(1), k=3, seed=0)
    assert len(odd) == 7  # largest remainder: shares always sum to n
    eligible = np.zeros(len(blob), dtype=bool)
    eligible[::3] = True
    only = cluster_draw(embeddings, 300, np.random.default_rng(1), k=3, seed=0, eligible=eligible)
    assert eligible[only].all()


def test_repetition_penalty_forms():
    pool = np.array([7, 7, 7, 2])
    assert repetition_weights(pool, 0.95, "code") == pytest.approx([0.95**2] * 3 + [1.0])
    assert repetition_weights(pool, 0.95, "geometric") == pytest.approx([1.0, 0.95, 0.95**2, 1.0])
    with pytest.raises(ConfigError, match="sampler.penalty_form"):
        repetition_weights(pool, 0.95, "other")


def test_repetition_penalty_lowers_repeated_users_share():
    # 100 active users (ln 330 = 5.8) land ~8 times each in the pool, 2000 others (ln 2 = 0.69) ~2 times.
    # Unpenalised, the active ones get ~17% of the redraw; the penalty shrinks that share.
    liked = np.full(2100, 2)
    liked[:100] = 330
    embeddings = np.repeat(np.eye(4) * 10, 525, axis=0) + np.random.default_rng(0).normal(0, 0.1, (2100, 4))

    def share(penalty: float, form: str = "code") -> float:
        draws = adaptive_sample(liked, embeddings, 4000, seed=0, penalty=penalty, penalty_form=form, k=4)
        return float((draws < 100).mean())

    flat = share(1.0)
    assert 0.13 < flat < 0.21
    assert share(0.95) < flat - 0.02 and share(0.95, "geometric") < flat - 0.02
    assert share(0.5) < share(0.95) / 2


def test_user_sampler_config_errors():
    liked, _embeddings = _population()
    with pytest.raises(ConfigError, match="sampler.name"):
        build_sampler({"name": "stratified"})
    with pytest.raises(ConfigError, match="sampler.budget"):
        build_sampler({"name": "uniform", "budget": 0})
    with pytest.raises(ConfigError, match="sampler.budget"):
        UserSampler("uniform").sample(liked, seed=0)
    with pytest.raises(ConfigError, match="retriever"):
        UserSampler("adaptive", budget=10).sample(liked, seed=0)
    with pytest.raises(ConfigError, match="sampler.budgt"):
        build_sampler({"name": "uniform", "budgt": 10})
    users = UserSampler("uniform", budget=10).sample(liked, seed=0, budget=64)
    assert len(users) == 64 and (liked[users] >= 2).all()


@pytest.mark.parametrize("name", ["uniform", "adaptive"])
def test_shipped_sampler_configs(name):
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF / "sampler" / f"{name}.yaml")
    sampler = build_sampler(cfg)
    assert sampler.name == name
    liked, embeddings = _population()
    users = sampler.sample(liked, seed=0, user_embeddings=embeddings, budget=100)
    assert len(users) == 100
