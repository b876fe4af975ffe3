"""Benchmark the conventional recommenders on ML-100K leave-one-out (RecBole-style full sort).

    python experiments/bench_retrievers.py                      # Pop/MF/LightGCN/SASRec x seeds 0,1,2
    python experiments/bench_retrievers.py --models lightgcn --seeds 0 --threads 2

Each model uses its shipped config (conf/retriever/<name>.yaml), is fit on train
only with early stopping on val NDCG@10, and is evaluated once on test (train
items and the val item excluded). Prints a table and writes
experiments/results/bench_retrievers.json (per-run numbers, mean/std, machine load).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from omegaconf import OmegaConf

from rankexp.data import load_dataset
from rankexp.data.splits import leave_one_out
from rankexp.retrievers import eval_context, from_config, full_sort_metrics
from rankexp.retrievers.evaluate import history_len

REPO = Path(__file__).resolve().parents[1]
KEYS = ("test/ndcg@10", "test/hr@10", "test/mrr@10", "test/ndcg@5", "test/hr@5", "val/ndcg@10", "val/hr@10")


def _data_root(arg: str | None) -> str:
    for candidate in (arg, os.environ.get("RANKEXP_DATA_DIR"), str(REPO.parent / "shared" / "data")):
        if candidate and (Path(candidate) / "ml-100k" / "u.data").is_file():
            return candidate
    raise SystemExit("ML-100K not found: pass --data-root or set RANKEXP_DATA_DIR to the folder holding ml-100k/")


def run_one(name: str, seed: int, data, split) -> dict:
    retriever = from_config(OmegaConf.load(REPO / "rankexp" / "conf" / "retriever" / f"{name}.yaml"))
    start = time.perf_counter()
    retriever.fit(split.train, data.n_users, data.n_items, val=split.val, like_threshold=data.like_threshold,
                  seed=seed)
    fit_s = time.perf_counter() - start
    length = history_len(retriever)
    val = full_sort_metrics(retriever, eval_context(split.val, split.train, data.n_users, length), "val")
    seen = pd.concat([split.train, split.val], ignore_index=True)
    test = full_sort_metrics(retriever, eval_context(split.test, seen, data.n_users, length), "test")
    return {"model": name, "seed": seed, "fit_s": fit_s, **val, **test}


def summarise(runs: list[dict]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["model"] for r in runs):
        rows = [r for r in runs if r["model"] == name]
        stats = {}
        for key in (*KEYS, "fit_s"):
            values = [r[key] for r in rows]
            stats[f"{key}/mean"] = statistics.fmean(values)
            stats[f"{key}/std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out[name] = stats
    return out


def table(summary: dict[str, dict[str, float]], n_seeds: int) -> str:
    cols = ("test/ndcg@10", "test/hr@10", "val/ndcg@10", "fit_s")
    lines = [f"| model ({n_seeds} seeds) | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, stats in summary.items():
        cells = [f"{stats[f'{c}/mean']:.4f} ± {stats[f'{c}/std']:.4f}" if c != "fit_s"
                 else f"{stats[f'{c}/mean']:.1f} ± {stats[f'{c}/std']:.1f}" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["pop", "mf", "lightgcn", "sasrec"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    # One intra-op thread by default: these models are small, and on a shared 2-core runner two
    # threads spin against other jobs (LightGCN measured 14 s with 1 thread vs 102 s with 2 at load ~4).
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch's default)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", default=str(REPO / "experiments" / "results" / "bench_retrievers.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset("ml100k", _data_root(args.data_root))
    split = leave_one_out(data.ratings, data.like_threshold)
    load_before = os.getloadavg()
    runs = []
    for name in args.models:
        for seed in args.seeds:
            runs.append(run_one(name, seed, data, split))
            r = runs[-1]
            print(f"{name:9s} seed {seed}: test ndcg@10 {r['test/ndcg@10']:.4f} hr@10 {r['test/hr@10']:.4f} "
                  f"(val ndcg@10 {r['val/ndcg@10']:.4f}) fit {r['fit_s']:.1f}s", flush=True)
    summary = summarise(runs)
    print(table(summary, len(args.seeds)))
    result = {
        "dataset": "ml100k", "protocol": "leave_one_out (last liked = test, second-last liked = val), full sort",
        "n_users": data.n_users, "n_items": data.n_items, "n_val": len(split.val), "n_test": len(split.test),
        "summary": summary, "runs": runs,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "python": platform.python_version(), "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
