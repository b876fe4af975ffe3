"""The hint-source ablation as one table: finished runs' results.json, grouped by hint source.

    python experiments/hint_sources.py --out experiments/results/hint_sources_recranker_ml100k.json \
        --command "python -m rankexp.run +experiment=recranker_ml100k seed=S task.hint_source=..." \
        retriever_cv=/tmp/runs/rr_cv_s0,/tmp/runs/rr_cv_s1,/tmp/runs/rr_cv_s2 \
        none=/tmp/runs/rr_none_s0 item_mean=experiments/results/recranker_ml100k_corrected_split.json

A group is a list of run dirs (each with results.json), or one JSON file whose `seeds` maps a seed
to its results (the layout of the earlier result files). Every figure is copied from a run's own
results.json; across seeds the table gives the mean and the sample s.d.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

KEEP = re.compile(r"^(test|best_val|paired_test)/.*(ndcg@5|hr@5)(_se)?$|^train/instructions_|^hints/|^wall_time_s$"
                  r"|^test/(users|scored_users)$|^seed$")


def load_group(spec: str) -> list[dict]:
    paths = [Path(p) for p in spec.split(",")]
    if len(paths) == 1 and paths[0].suffix == ".json":
        payload = json.loads(paths[0].read_text())
        return [{"seed": int(seed), **results} for seed, results in sorted(payload["seeds"].items())]
    runs = []
    for run in paths:
        path = run / "results.json"
        if not path.is_file():
            sys.exit(f"error: {path} not found (is the run finished?)")
        runs.append(json.loads(path.read_text()))
    return runs


def summarise(runs: list[dict]) -> dict:
    keys = sorted({k for r in runs for k in r if KEEP.search(k)})
    per_seed = {k: [r.get(k) for r in runs] for k in keys}
    summary = {}
    for key, values in per_seed.items():
        numbers = [float(v) for v in values if isinstance(v, (int, float))]
        if len(numbers) == len(values) and numbers:
            summary[key] = {"mean": statistics.fmean(numbers),
                            "sd": statistics.stdev(numbers) if len(numbers) > 1 else None}
    return {"seeds": [r.get("seed") for r in runs], "per_seed": per_seed, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--command", required=True, help="the command that made the runs, for the reader")
    parser.add_argument("--machine", default="2-core AVX512-BF16 CPU, trainer=cpu (bf16-mixed)")
    parser.add_argument("groups", nargs="+", help="name=run_dir[,run_dir...] or name=results_file.json")
    args = parser.parse_args()
    table = {}
    for group in args.groups:
        name, _, spec = group.partition("=")
        if not spec:
            sys.exit(f"error: {group!r}: expected name=run_dir[,run_dir...]")
        table[name] = summarise(load_group(spec))
    payload = {"command": args.command, "machine": args.machine, "groups": table}
    Path(args.out).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    for name, group in table.items():
        row = {k: round(v["mean"], 4) for k, v in group["summary"].items() if "ndcg@5" in k and "_se" not in k}
        print(name, group["seeds"], row)


if __name__ == "__main__":
    main()
