"""The hint-source ablation as one table: finished runs' results.json, grouped by hint source.

    python experiments/hint_sources.py --out experiments/results/hint_sources_recranker_ml100k.json \
        --command "python -m rankexp.run +experiment=recranker_ml100k seed=S task.hint_source=..." \
        retriever_cv=/tmp/runs/rr_cv_s0,/tmp/runs/rr_cv_s1,/tmp/runs/rr_cv_s2 \
        none=/tmp/runs/rr_none_s0 item_mean=experiments/results/recranker_ml100k_corrected_split.json

A group is a comma-separated list of run dirs (each with results.json), JSON files whose `seeds`
maps a seed to its results, groups of an earlier output (`file.json#group`) or a rows-layout file
(`file.json#rows`). Every figure is copied from a run's own results.json; across seeds the table
gives the mean and the sample s.d.
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
    """Runs of one group; each comma-separated part is a run dir, a `seeds`-layout JSON, a group of an earlier
    output of this script (`file.json#group`), or a rows-layout JSON (`file.json#rows`, e.g. rerank_candidate)."""
    runs: list[dict] = []
    for part in spec.split(","):
        path, _, group = part.partition("#")
        if group == "rows":
            runs += from_rows(json.loads(Path(path).read_text()))
        elif group:
            runs += from_summary(json.loads(Path(path).read_text())["groups"][group])
        elif path.endswith(".json"):
            payload = json.loads(Path(path).read_text())
            runs += [{"seed": int(seed), **results} for seed, results in sorted(payload["seeds"].items())]
        else:
            results = Path(path) / "results.json"
            if not results.is_file():
                sys.exit(f"error: {results} not found (is the run finished?)")
            runs.append(with_best_val(json.loads(results.read_text()), Path(path)))
    return runs


def with_best_val(results: dict, run: Path) -> dict:
    """A `mode=eval ckpt_path=<training run>/checkpoints/best.ckpt` run has no `best_val/*`: take the selected
    checkpoint's validation value from the training run's `last.ckpt` (its ModelCheckpoint state)."""
    metric = "best_val/ndcg@5"
    if metric in results or results.get("mode") != "eval":
        return results
    import torch
    import yaml

    ckpt_path = yaml.safe_load((run / ".hydra" / "config.yaml").read_text()).get("ckpt_path")
    if not ckpt_path:
        return results
    state = torch.load(Path(ckpt_path).parent / "last.ckpt", map_location="cpu", weights_only=False)
    scores = [v["best_model_score"] for k, v in state["callbacks"].items() if k.startswith("ModelCheckpoint")]
    return {**results, metric: float(scores[0]), "best_val_from": str(Path(ckpt_path).parent / "last.ckpt")}


def from_summary(group: dict) -> list[dict]:
    """One dict per seed back from a group this script wrote (its `per_seed` lists)."""
    return [{"seed": seed, **{k: values[i] for k, values in group["per_seed"].items() if k != "seed"}}
            for i, seed in enumerate(group["seeds"])]


def from_rows(payload: dict) -> list[dict]:
    """One dict per seed from a rows-layout file: the LLM row's test NDCG/HR and the paired keys."""
    llm = payload["rows"]["LLM (candidate readout)"]
    n = len(next(iter(llm.values())))
    seeds = payload.get("seeds", list(range(n)))
    return [{"seed": seeds[i], **{f"test/{k}": v[i] for k, v in llm.items()},
             **{k: v[i] for k, v in payload["paired"].items()}} for i in range(n)]


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
    parser.add_argument("--values", action="append", default=[], metavar="GROUP:KEY=V1,V2,...",
                        help="per-seed values kept outside results.json (e.g. an earlier run's validation curve)")
    parser.add_argument("--values-source", default=None, help="where the --values figures come from, for the reader")
    parser.add_argument("groups", nargs="+", help="name=run_dir[,run_dir...] or name=results_file.json")
    args = parser.parse_args()
    table = {}
    for group in args.groups:
        name, _, spec = group.partition("=")
        if not spec:
            sys.exit(f"error: {group!r}: expected name=run_dir[,run_dir...]")
        runs = load_group(spec)
        for extra in args.values:
            target, _, rest = extra.partition(":")
            key, _, values = rest.partition("=")
            if target == name:
                for run, value in zip(runs, values.split(","), strict=True):
                    run[key] = float(value)
        table[name] = summarise(runs)
    payload = {"command": args.command, "machine": args.machine, "groups": table}
    if args.values_source:
        payload["values_source"] = args.values_source
    Path(args.out).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    for name, group in table.items():
        row = {k: round(v["mean"], 4) for k, v in group["summary"].items() if "ndcg@5" in k and "_se" not in k}
        print(name, group["seeds"], row)


if __name__ == "__main__":
    main()
