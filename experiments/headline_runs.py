"""The default's headline (docs/results.md "Candidate readout on ML-100K", the README's first row) from its run dirs.

    python experiments/headline_runs.py outputs/seed0 outputs/seed1 outputs/seed2 \
        [--command "python -m rankexp.run seed=S ..."] [--note "..."]
        -> experiments/results/candidate_ml100k.json

Each run dir is one seed of the default experiment (its results.json). The script rewrites the 3-seed fields of
candidate_ml100k.json (test NDCG of the LLM, the fusion and the baselines, the paired LLM-minus-item-mean and
fusion-minus-item-mean of each seed, top-1 agreement over orders, the validation curves, best validation NDCG@5,
the runs' commits and wall times) and keeps the fields it does not measure (`before_fix`, `baselines`,
`hint_format_seed_0`, `validation_screens`), which other commands wrote. Means and s.d. over seeds are those of
`python -m rankexp.report`: it pools the same results.json values; this script keeps them in the JSON the
docs are generated from. The runs must all evaluate the same lists (same data, protocol and list counts).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "candidate_ml100k.json"
KEPT = ("before_fix", "baselines", "hint_format_seed_0", "validation_screens")
KS = (1, 3, 5, 10)


def read_run(run: Path) -> dict:
    path = run / "results.json"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found (a finished run of the default experiment writes it)")
    return json.loads(path.read_text())


def headline(runs: list[dict], command: str, machine: str, note: str) -> dict:
    """The 3-seed fields of candidate_ml100k.json from the runs' results.json."""
    lists = {(int(r["lists/val_evaluated"]), int(r["lists/test_evaluated"])) for r in runs}
    if len(lists) != 1:
        raise SystemExit(f"error: the runs evaluated different lists (val, test): {sorted(lists)}")
    (val_lists, test_lists), = lists

    def mean_sd(key: str) -> list[float]:
        values = [r[key] for r in runs]
        return [round(statistics.mean(values), 3), round(statistics.stdev(values), 3) if len(values) > 1 else None]

    def once(key: str) -> list:  # a baseline: the same on every seed's lists
        return [round(runs[0][key], 3), None]

    steps = sorted(int(k.rsplit("_", 1)[1]) for k in runs[0] if k.startswith("val_curve/step_"))
    return {
        "command": command, "machine": machine,
        "runs": [{"seed": r["seed"], "git_sha": r["git_sha"][:7], "wall_time_s": round(r["wall_time_s"])}
                 for r in runs],
        "note": note, "seeds": [r["seed"] for r in runs], "lists": {"val": val_lists, "test": test_lists},
        "test": {
            "LLM alone (candidate readout)": {f"ndcg@{k}": mean_sd(f"test/ndcg@{k}") for k in KS},
            "fusion z(LLM) + w z(item mean), w on val": {"ndcg@5": mean_sd("test_fusion/ndcg@5")},
            "item mean": {f"ndcg@{k}": once(f"baseline_test/item_mean/ndcg@{k}") for k in KS},
            "popularity": {"ndcg@5": once("baseline_test/popularity/ndcg@5")},
            "random": {"ndcg@5": once("baseline_test/random/ndcg@5")},
        },
        "fusion_weights": [int(w) if float(w).is_integer() else w for w in (r["fusion/weight"] for r in runs)],
        **{key: [[round(r[key], 4), round(r[f"{key}_se"], 4)] for r in runs]
           for key in ("paired_test/llm_minus_item_mean/ndcg@5", "paired_test/fusion_minus_item_mean/ndcg@5")},
        "position_bias/top1_agreement": mean_sd("position_bias/top1_agreement"),
        "val_item_mean_ndcg@5": round(runs[0]["baseline_val/item_mean/ndcg@5"], 3),
        "val_curve": {"steps": steps,
                      **{f"seed_{r['seed']}": [round(r[f"val_curve/step_{s}"], 3) for s in steps] for r in runs}},
        "best_val/ndcg@5": [round(r["best_val/ndcg@5"], 4) for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="one run dir per seed")
    parser.add_argument("--command", default="python -m rankexp.run seed=S (S = 0, 1, 2)",
                        help="how the runs were made (written to the JSON)")
    parser.add_argument("--machine", default="2-core AVX512-BF16 CPU, trainer=cpu in bf16-mixed")
    parser.add_argument("--note", default="", help="what a reader must know about these runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    new = headline([read_run(run) for run in args.runs], args.command, args.machine, args.note)
    new.update({key: old[key] for key in KEPT if key in old})
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(new, indent=1) + "\n")
    tmp.replace(args.out)
    print(json.dumps({k: new[k] for k in ("test", "paired_test/llm_minus_item_mean/ndcg@5", "best_val/ndcg@5")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
