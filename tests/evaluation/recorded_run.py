"""`python -m tests.evaluation.recorded_run <rankexp.run overrides>`: the real run, plus a record of what it
scored, for tests that recompute its results by hand:
- `recorded.json`: what ALRO's `compare_on_test` was given and every list the real model scored inside it;
- `recorded_lists.json`: the train rows and test lists the baselines were computed on (every run with lists);
- `recorded_recranker.json`: RecRanker's per-user test scores of every method;
- `unread_keys.json`: the config keys the run set and never read (`tests/helpers/read_keys.py`);
- `idle_keys.json`: the keys it set that `rankexp.config.idle` declares idle in it, each with why.

Nothing is replaced: the wrappers only copy the inputs and outputs and call the real functions.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any


def _lists(examples) -> list[dict]:
    return [{"user": int(e.user), "candidates": [int(c) for c in e.candidates], "gains": [float(g) for g in e.gains],
             "prior": None if e.prior_scores is None else [float(v) for v in e.prior_scores]} for e in examples]


def _write(name: str, payload: object) -> None:
    """Into the run's own output dir (the one Hydra made for this run)."""
    from hydra.core.hydra_config import HydraConfig

    Path(HydraConfig.get().runtime.output_dir, name).write_text(json.dumps(payload))


def record_unread_keys() -> None:
    """Count the run's config reads; at exit, write the keys it set and never read, and those declared idle."""
    import atexit

    from hydra.core.hydra_config import HydraConfig

    from tests.helpers.read_keys import record_reads, set_leaves, unread

    reads = record_reads()  # before rankexp is imported (see record_reads)
    from rankexp.recipes import experiment

    real_validate = experiment.validate_config

    def validate_config(cfg):
        out = Path(HydraConfig.get().runtime.output_dir)

        def write() -> None:
            from rankexp.config.idle import idle_keys

            (out / "unread_keys.json").write_text(json.dumps(unread(cfg, reads), indent=1))  # before idle_keys reads
            (out / "idle_keys.json").write_text(json.dumps(idle_keys(cfg, set_leaves(cfg)), indent=1))

        atexit.register(write)
        return real_validate(cfg)

    experiment.validate_config = validate_config


def install() -> None:
    record_unread_keys()
    from rankexp.models import list_scores
    from rankexp.recipes import alro, experiment, recranker

    real_baselines, real_paired = experiment.list_baselines, recranker.paired_to_retriever

    def list_baselines(cfg: Any, lists: Any) -> dict[str, float]:
        """Every run with lists: the train rows and test lists the baselines are computed on."""
        train = {k: [float(v) for v in lists.train[k]] for k in ("user", "item", "rating")}
        _write("recorded_lists.json", {"test": _lists(lists.test), "train": train})
        return real_baselines(cfg, lists)

    def paired_to_retriever(results: list, metric: str) -> dict[str, float]:
        """RecRanker: every test user's scores per method, as the run scored them."""
        rows = [{"gains": [float(g) for g in r.gains], "scored": bool(r.scored),
                 "scores": {m: [float(v) for v in s] for m, s in r.scores.items()}} for r in results]
        _write("recorded_recranker.json", rows)
        return real_paired(results, metric)

    experiment.list_baselines, recranker.paired_to_retriever = list_baselines, paired_to_retriever

    calls: list[dict] | None = None
    real_make, real_compare = list_scores.make_score_fn, alro.compare_on_test

    def make_score_fn(*args, **kwargs):
        score = real_make(*args, **kwargs)

        def recorded(examples):
            out = score(examples)
            if calls is not None:
                calls.append({"lists": _lists(examples), "scores": [[float(v) for v in row] for row in out]})
            return out

        return recorded

    def compare_on_test(cfg, ranker, encoder, lists):
        nonlocal calls
        calls = []
        record = {
            "test": _lists(lists.test), "val": _lists(lists.val),
            "test_llm": [[float(v) for v in ranker.test_scores[i]] for i in range(len(lists.test))],
            # the validation scores of the selected checkpoint, which fusion and order averaging reuse
            "val_llm": None if (reused := ranker.selected_val_scores(len(lists.val))) is None
            else [[float(v) for v in row] for row in reused],
            "train": {k: [float(v) for v in lists.train[k]] for k in ("user", "item", "rating")},
        }
        try:
            return real_compare(cfg, ranker, encoder, lists)
        finally:
            record["calls"], calls = calls, None
            _write("recorded.json", record)

    list_scores.make_score_fn = make_score_fn
    alro.compare_on_test = compare_on_test


if __name__ == "__main__":
    install()
    from rankexp.run import cli

    sys.argv = ["rankexp.run", *sys.argv[1:]]
    cli()


# ---- hand recomputation (plain Python; the tests compare the run's written values to these) ----------------
def hand_ndcg(scores: list[float], ratings: list[float], k: int = 5) -> float:
    """Graded NDCG@k, gain 2^r - 1, ties in score to the earlier slot."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    disc = [1 / math.log2(r + 2) for r in range(min(k, len(scores)))]
    dcg = sum(d * (2 ** ratings[i] - 1) for d, i in zip(disc, order))
    ideal = sum(d * (2 ** g - 1) for d, g in zip(disc, sorted(ratings, reverse=True)))
    return dcg / ideal if ideal > 0 else 0.0


def hand_item_mean(train: dict, candidates: list[int], shrinkage: float = 5.0) -> list[float]:
    """(sum of the item's train ratings + c mu) / (count + c); mu for an item nobody rated."""
    mu = sum(train["rating"]) / len(train["rating"])
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for item, rating in zip(train["item"], train["rating"]):
        sums[int(item)] = sums.get(int(item), 0.0) + rating
        counts[int(item)] = counts.get(int(item), 0) + 1
    return [(sums[c] + shrinkage * mu) / (counts[c] + shrinkage) if c in counts else mu for c in candidates]


def hand_popularity(train: dict, candidates: list[int]) -> list[float]:
    """Train interactions of each candidate."""
    counts: dict[int, int] = {}
    for item in train["item"]:
        counts[int(item)] = counts.get(int(item), 0) + 1
    return [float(counts.get(c, 0)) for c in candidates]


def hand_random_ndcg(ratings: list[float], k: int = 5) -> float:
    """Expected NDCG@k of a uniformly random order: every slot holds the mean gain on average."""
    gains = [2 ** r - 1 for r in ratings]
    disc = [1 / math.log2(r + 2) for r in range(min(k, len(gains)))]
    ideal = sum(d * g for d, g in zip(disc, sorted(gains, reverse=True)))
    return sum(gains) / len(gains) * sum(disc) / ideal if ideal > 0 else 0.0


def hand_z(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / max(std, 1e-6) for v in values]


def read_run(out: Path) -> tuple[dict, dict, list[dict]]:
    """(results.json, recorded.json, rows of test_per_list.csv as dicts of floats)."""
    results = json.loads((out / "results.json").read_text())
    record = json.loads((out / "recorded.json").read_text())
    lines = (out / "test_per_list.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, map(float, line.split(",")))) for line in lines[1:]]
    return results, record, rows


def mean_and_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / math.sqrt(n)
