"""Benchmark: build RecRanker's Γ = 10 000 training-instruction users on an ML-1M-sized population.

Synthetic stand-in for ML-1M (6040 users, 3706 items, ~1M ratings, 64-d retriever embeddings in 10
blobs). Times `UserSampler.sample` (importance + K-means cluster draw + penalised redraw; target
<= 10 s) and, for context, turning the sampled users into pointwise/pairwise/listwise instances.

    .venv/bin/python experiments/bench_sampling.py
writes experiments/results/bench_sampling.json.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_USERS, N_ITEMS, DIM, BUDGET, SEED = 6040, 3706, 64, 10_000, 0


def population(seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    # ML-1M: >= 20 ratings per user, mean ~165, heavy tail.
    counts = np.clip(20 + rng.lognormal(4.3, 1.0, N_USERS).astype(int), 20, 2000)
    users = np.repeat(np.arange(N_USERS), counts)
    items = np.concatenate([rng.choice(N_ITEMS, c, replace=False) for c in counts])
    ratings = rng.choice(np.arange(1, 6), len(users), p=[0.06, 0.11, 0.26, 0.35, 0.22]).astype(np.float32)
    train = pd.DataFrame({"user": users, "item": items, "rating": ratings, "timestamp": np.arange(len(users))})
    centers = rng.normal(0, 3, (10, DIM))
    embeddings = centers[rng.integers(10, size=N_USERS)] + rng.normal(0, 1, (N_USERS, DIM))
    return train, embeddings


def timed(fn, repeats: int = 3) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def main() -> None:
    start = time.perf_counter()
    import sklearn.cluster  # noqa: F401  (import cost reported apart from the sampling time)

    from rankexp.data.recranker_tasks import RecRankerTasks
    from rankexp.data.sampling import UserSampler, instruction_set_hash, liked_counts

    import_s = time.perf_counter() - start
    train, embeddings = population()
    liked = liked_counts(train, N_USERS, 4)
    adaptive = UserSampler(name="adaptive", budget=BUDGET)
    uniform = UserSampler(name="uniform", budget=BUDGET)
    adaptive_times, users = timed(lambda: adaptive.sample(liked, SEED, embeddings))
    uniform_times, _ = timed(lambda: uniform.sample(liked, SEED))
    again = adaptive.sample(liked, SEED, embeddings)
    tasks_start = time.perf_counter()
    tasks = RecRankerTasks(train, N_ITEMS, like_threshold=4)
    group_s = time.perf_counter() - tasks_start
    build_times, built = timed(lambda: tasks.build(users, SEED, mix={"pointwise": 1, "pairwise": 1, "listwise": 1}),
                               repeats=1)
    result = {
        "population": {"users": N_USERS, "items": N_ITEMS, "ratings": len(train), "embedding_dim": DIM},
        "budget": BUDGET,
        "adaptive_sample_s": {"min": min(adaptive_times), "all": adaptive_times},
        "uniform_sample_s": {"min": min(uniform_times), "all": uniform_times},
        "target_s": 10.0,
        "within_target": max(adaptive_times) <= 10.0,
        "import_s": import_s,
        "distinct_users": len(np.unique(users)),
        "instruction_set_hash": instruction_set_hash(users),
        "deterministic": instruction_set_hash(again) == instruction_set_hash(users),
        "instances": {"group_train_s": group_s, "build_s": build_times[0], "built": len(built)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    out = Path(__file__).resolve().parent / "results" / "bench_sampling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
