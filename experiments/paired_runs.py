"""Paired differences between runs on the same test lists (an ablation table with standard errors).

Each run dir holds `test_per_list.csv` (written by the LLM stage). Runs are grouped by name;
within a seed, the per-list difference to the reference group's run of that seed is averaged
over lists (paired s.e., bootstrap 95% CI and p-values over lists: `rankexp.evaluation.paired`); across
seeds the table gives mean ± s.d. of the per-seed means and of the per-seed paired differences.

    python experiments/paired_runs.py --ref sft sft=/tmp/runs/abl_sft_s0,/tmp/runs/abl_sft_s1 \
        full=/tmp/runs/abl_full_s0,/tmp/runs/abl_full_s1 --out experiments/results/ablation.json
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

from rankexp.evaluation.paired import paired_stats


def read_per_list(run: Path) -> dict[int, dict[str, float]]:
    path = run / "test_per_list.csv"
    if not path.is_file():
        sys.exit(f"error: {path} not found (run the LLM stage with a results dir; older runs lack it)")
    with path.open() as handle:
        return {int(row["list"]): {k: float(v) for k, v in row.items() if k not in ("list", "user")}
                for row in csv.DictReader(handle)}


def compare(runs: dict[str, list[Path]], ref: str, column: str) -> dict[str, dict]:
    table: dict[str, dict] = {}
    ref_lists = [read_per_list(r) for r in runs[ref]]
    for name, paths in runs.items():
        seeds = []
        for i, path in enumerate(paths):
            rows = read_per_list(path)
            entry = {"run": str(path), column: statistics.fmean(r[column] for r in rows.values())}
            recorded = path / "results.json"
            if recorded.is_file():  # what the run itself measured: its times, commit and the validation it selected on
                results = json.loads(recorded.read_text())
                metric = column.removeprefix("llm_")
                entry.update({k: results[k] for k in ("wall_time_s", f"best_val/{metric}", "git_sha", "speed/train_s",
                                                      "speed/train_tokens_per_s") if k in results})
            for key in ("item_mean", "fusion"):
                col = column.replace("llm", key)
                if all(col in r for r in rows.values()):
                    entry[col] = statistics.fmean(r[col] for r in rows.values())
            if i < len(ref_lists) and name != ref:
                common = sorted(set(rows) & set(ref_lists[i]))
                entry.update(paired_stats([rows[k][column] for k in common],
                                          [ref_lists[i][k][column] for k in common]).keys(f"minus_{ref}"))
            seeds.append(entry)
        values = [s[column] for s in seeds]
        summary = {"seeds": seeds, "mean": sum(values) / len(values),
                   "sd": _sd(values)}
        diffs = [s[f"minus_{ref}"] for s in seeds if f"minus_{ref}" in s]
        if diffs:
            summary[f"minus_{ref}_mean"], summary[f"minus_{ref}_sd"] = sum(diffs) / len(diffs), _sd(diffs)
        table[name] = summary
    return table


def _sd(values: list[float]) -> float:
    """Sample s.d. over seeds (one seed: NaN, there is no spread to show)."""
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="+", help="name=run_dir[,run_dir...] (one dir per seed, same seed order)")
    parser.add_argument("--ref", required=True, help="the group the others are paired with")
    parser.add_argument("--metric", default="ndcg@5")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    runs = {}
    for group in args.groups:
        name, _, dirs = group.partition("=")
        if not dirs:
            parser.error(f"group {group!r} is not name=dir[,dir...]")
        runs[name] = [Path(d) for d in dirs.split(",")]
    if args.ref not in runs:
        parser.error(f"--ref {args.ref!r} is not one of {list(runs)}")
    table = compare(runs, args.ref, f"llm_{args.metric}")
    for name, row in table.items():
        extra = ""
        if f"minus_{args.ref}_mean" in row:
            per_seed = ", ".join(f"{s[f'minus_{args.ref}']:+.4f}±{s[f'minus_{args.ref}_se']:.4f} "
                                 f"[{s[f'minus_{args.ref}_ci_low']:+.4f}, {s[f'minus_{args.ref}_ci_high']:+.4f}]"
                                 for s in row["seeds"] if f"minus_{args.ref}" in s)
            extra = f"  minus {args.ref}: {row[f'minus_{args.ref}_mean']:+.4f} (per seed {per_seed})"
        print(f"{name:12s} {args.metric} {row['mean']:.4f} ± {row['sd']:.4f} over {len(row['seeds'])} seeds{extra}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(table, indent=2) + "\n")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
