"""Which users become training instructions: RecRanker's adaptive user sampling (docs/recranker.md).

Budget Γ instructions, one sampled user each (a user may appear many times):
1. importance-aware draw, 0.6 Γ users with replacement, P(u) = ln(q_u) / Σ_v ln(q_v), q_u = the
   user's liked TRAIN interactions. ln 1 = 0, so a user with q_u <= 1 has weight 0 and is never
   drawn here; such a user has nothing to contrast a liked item with (the official code also skips
   users with a single liked item), so `min_liked=2` is the eligibility rule everywhere below;
2. clustering-based draw, 0.6 Γ users: K-means (K=10) on the retriever's user embeddings, each
   cluster gets a share of the draws proportional to its size (largest remainder, so the shares
   sum to exactly 0.6 Γ), users drawn uniformly with replacement inside their cluster;
3. both draws are pooled (1.2 Γ entries) and the final Γ users are redrawn from the pool with a
   repetition penalty: a user with c entries in the pool gets weight 0.95^(c-1) *per entry*,
   so c·0.95^(c-1) in total (`penalty_form="code"`, what the authors' code does). This still
   grows with c up to c ≈ 20, but slower than the c of an unpenalised redraw, so a user
   drawn many times gets a smaller share. `penalty_form="geometric"` is the other reading:
   the j-th entry of a user weighs 0.95^(j-1), so Σ_j 0.95^(j-1) = (1 - 0.95^c)/0.05 in total
   (flattens sooner, capped at 20).
Ablation baseline: `uniform_sample`, Γ users uniformly with replacement over eligible users.

Everything is a pure function of (inputs, seed); `instruction_set_hash` fingerprints the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from rankexp.errors import ConfigError, DataError, unknown_name

SAMPLERS = ("uniform", "adaptive")
PENALTY_FORMS = ("code", "geometric")


def liked_counts(train: pd.DataFrame, n_users: int, like_threshold: float) -> np.ndarray:
    """q_u: liked train interactions per user, indexed by user id (length n_users)."""
    liked = train.loc[train["rating"] >= like_threshold, "user"].to_numpy(dtype=np.int64)
    return np.bincount(liked, minlength=n_users)


def importance_weights(liked: np.ndarray) -> np.ndarray:
    """ln(q_u), with 0 for q_u <= 1 (ln 1 = 0; ln 0 undefined)."""
    q = np.asarray(liked, dtype=np.float64)
    return np.where(q > 1, np.log(np.maximum(q, 1.0)), 0.0)


def importance_draw(liked_counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n user ids with replacement, P(u) = ln(q_u) / Σ_v ln(q_v)."""
    weights = importance_weights(liked_counts)
    total = weights.sum()
    if total <= 0:
        raise DataError("importance sampling: no user has 2 or more liked train interactions")
    return rng.choice(len(weights), size=n, replace=True, p=weights / total).astype(np.int64)


def _proportional_shares(sizes: np.ndarray, n: int) -> np.ndarray:
    """Integer shares of n proportional to sizes, summing to n (largest remainder)."""
    exact = sizes / sizes.sum() * n
    shares = np.floor(exact).astype(np.int64)
    rest = n - int(shares.sum())
    # Stable order: ties in remainder go to the lower cluster index.
    shares[np.argsort(-(exact - shares), kind="stable")[:rest]] += 1
    return shares


def cluster_draw(user_embeddings: np.ndarray, n: int, rng: np.random.Generator, k: int = 10, seed: int = 0,
                 eligible: np.ndarray | None = None, n_init: int = 1) -> np.ndarray:
    """n user ids spread over K-means clusters in proportion to cluster size.

    K-means is fit on the embeddings of the `eligible` users (row index = user id; all users if
    None) with `random_state=seed` and a fixed `n_init` (1 = scikit-learn's "auto" for k-means++,
    what the authors' code ran). K shrinks to the number of eligible users when fewer.
    """
    from sklearn.cluster import KMeans

    emb = np.asarray(user_embeddings, dtype=np.float64)
    users = np.arange(len(emb)) if eligible is None else np.flatnonzero(np.asarray(eligible, dtype=bool))
    if len(users) == 0:
        raise DataError("cluster sampling: no eligible user")
    k = max(1, min(int(k), len(users)))
    labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(emb[users]).labels_
    sizes = np.bincount(labels, minlength=k)
    shares = _proportional_shares(sizes, n)
    out = [rng.choice(users[labels == c], size=s, replace=True) for c, s in enumerate(shares) if s > 0]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def repetition_weights(pool: np.ndarray, penalty: float = 0.95, form: str = "code") -> np.ndarray:
    """Weight of each pool entry for the redraw (see module docstring for the two forms)."""
    pool = np.asarray(pool, dtype=np.int64)
    if form == "code":
        _, inverse, counts = np.unique(pool, return_inverse=True, return_counts=True)
        return penalty ** (counts[inverse] - 1.0)
    if form == "geometric":
        # j-th occurrence (0-based, in pool order) of its user weighs penalty^j.
        order = np.argsort(pool, kind="stable")
        sorted_pool = pool[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_pool)) + 1]
        run_start = np.repeat(starts, np.diff(np.r_[starts, len(pool)]))
        occurrence = np.empty(len(pool), dtype=np.float64)
        occurrence[order] = np.arange(len(pool)) - run_start
        return penalty**occurrence
    raise unknown_name("repetition penalty form", form, PENALTY_FORMS, "sampler.penalty_form")


def adaptive_sample(liked_counts: np.ndarray, user_embeddings: np.ndarray, budget: int, seed: int,
                    importance_share: float = 0.6, cluster_share: float = 0.6, penalty: float = 0.95,
                    k: int = 10, min_liked: int = 2, n_init: int = 1, penalty_form: str = "code") -> np.ndarray:
    """Γ = `budget` user ids: importance draw + cluster draw, pooled, redrawn with the penalty."""
    liked = np.asarray(liked_counts)
    if len(user_embeddings) != len(liked):
        raise DataError(f"user embeddings have {len(user_embeddings)} rows but there are {len(liked)} users")
    rng = np.random.default_rng([abs(int(seed)), 7919])
    eligible = liked >= max(min_liked, 2)
    pool = np.concatenate([
        importance_draw(np.where(eligible, liked, 0), round(importance_share * budget), rng),
        cluster_draw(user_embeddings, round(cluster_share * budget), rng, k=k, seed=seed,
                     eligible=eligible, n_init=n_init),
    ])
    if len(pool) == 0:
        raise ConfigError("`sampler.importance_share` and `sampler.cluster_share` are both 0: nothing to redraw from")
    weights = repetition_weights(pool, penalty, penalty_form)
    return rng.choice(pool, size=budget, replace=True, p=weights / weights.sum()).astype(np.int64)


def uniform_sample(eligible_users: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """Γ user ids uniformly with replacement (the ablation baseline)."""
    users = np.asarray(eligible_users, dtype=np.int64)
    if len(users) == 0:
        raise DataError("uniform sampling: no eligible user")
    return np.random.default_rng([abs(int(seed)), 7907]).choice(users, size=budget, replace=True)


def instruction_set_hash(users: np.ndarray) -> str:
    """sha256 of the user sequence (order matters): equal hashes = identical instruction users."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(users, dtype=np.int64)).tobytes()).hexdigest()


@dataclass
class UserSampler:
    """`conf/sampler/*.yaml`: which users, in which order, become the Γ training instructions."""

    name: str = "uniform"
    budget: int | None = None  # Γ; null = the caller's default (set by the experiment file)
    importance_share: float = 0.6
    cluster_share: float = 0.6
    penalty: float = 0.95
    penalty_form: str = "code"
    k: int = 10
    n_init: int = 1
    min_liked: int = 2

    def __post_init__(self) -> None:
        if self.name not in SAMPLERS:
            raise unknown_name("sampler", self.name, SAMPLERS, "sampler.name")
        if self.budget is not None:
            self.budget = _check_budget(self.budget)
        if not 0 < self.penalty <= 1:
            raise ConfigError(f"`sampler.penalty` must be in (0, 1], got {self.penalty}")
        if self.penalty_form not in PENALTY_FORMS:
            raise unknown_name("repetition penalty form", self.penalty_form, PENALTY_FORMS, "sampler.penalty_form")
        for key in ("importance_share", "cluster_share"):
            if getattr(self, key) < 0:
                raise ConfigError(f"`sampler.{key}` must be >= 0, got {getattr(self, key)}")
        if self.k < 1 or self.n_init < 1:
            raise ConfigError(f"`sampler.k` and `sampler.n_init` must be >= 1, got {self.k}, {self.n_init}")

    def sample(self, liked_counts: np.ndarray, seed: int, user_embeddings: np.ndarray | None = None,
               budget: int | None = None) -> np.ndarray:
        """The user id of each training instruction, length Γ."""
        gamma = _check_budget(budget if budget is not None else self.budget)
        liked = np.asarray(liked_counts)
        eligible = liked >= max(self.min_liked, 2)
        if self.name == "uniform":
            return uniform_sample(np.flatnonzero(eligible), gamma, seed)
        if user_embeddings is None:
            raise ConfigError("`sampler=adaptive` clusters the retriever's user embeddings: set `retriever=...`")
        return adaptive_sample(liked, user_embeddings, gamma, seed, self.importance_share, self.cluster_share,
                               self.penalty, self.k, self.min_liked, self.n_init, self.penalty_form)


def _check_budget(budget: Any) -> int:
    if budget is None:
        raise ConfigError("`sampler.budget` is not set: give the number of training instructions Γ (e.g. 5000)")
    if int(budget) != budget or int(budget) <= 0:
        raise ConfigError(f"`sampler.budget` must be a positive integer, got {budget!r}")
    return int(budget)


def sampler_class(target: str | None) -> type[UserSampler]:
    if target is None:
        return UserSampler
    from hydra.utils import get_class

    try:
        cls = get_class(str(target))
    except Exception as err:
        raise ConfigError(f"`sampler._target_`: no class {target!r} ({err})") from err
    if not (isinstance(cls, type) and issubclass(cls, UserSampler)):
        raise ConfigError(f"`sampler._target_`={target!r} is not a UserSampler subclass")
    return cls


def build_sampler(cfg: Mapping[str, Any]) -> UserSampler:
    """The sampler `cfg.sampler` names: its `_target_` (a UserSampler subclass; UserSampler without one)."""
    values = {k: v for k, v in dict(cfg).items() if k != "_target_"}
    cls = sampler_class(dict(cfg).get("_target_"))
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"unknown key `sampler.{key}`; known: {', '.join(sorted(known))}")
    name = values.get("name")
    if name not in SAMPLERS:
        raise unknown_name("sampler", name, SAMPLERS, "sampler.name")
    return cls(**values)
