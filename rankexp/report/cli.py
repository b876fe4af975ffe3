"""Aggregate finished runs into one table: mean ± std over seeds, per config.

    python -m rankexp.report multirun/2026-01-01/12-00-00            # writes report.md, report.csv, *.png there
    python -m rankexp.report outputs/ multirun/ --out reports/ablation
    python -m rankexp.report multirun/2026-01-01/12-00-00 --metrics test/ndcg@5,baseline_test/item_mean/ndcg@5

Every `results.json` below the given dirs is one run; its config is the run's
`.hydra/overrides.yaml` minus `seed` (so seeds of one config pool into one row)
and its `.hydra/config.yaml` supplies the values the plots need (gamma, alpha,
beta). Job dirs that have `.hydra/` but no results.json are listed as failed or
unfinished. Reference numbers from docs/*.md are printed beside ours where
dataset and protocol match (`REFERENCES`). Plots: test NDCG@5 vs gamma when
`loss.soft_lambda.gamma` varies, and a heatmap for every pair of varying loss
knobs (alpha x beta first). Every file is written to a temp file, then renamed.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rankexp.errors import exit_on_user_error
from rankexp.io import atomic_write_text
from rankexp.report.plots import plot_gamma, plot_heatmaps
from rankexp.report.runs import (
    LOSS_KNOBS,
    ReportError,
    Run,
    config_overrides,
    find_runs,
    finite_number,
    knob_value,
    load_yaml,
    override_key,
    parse_value,
    short_override,
    varying_keys,
)

log = logging.getLogger(__name__)

KS_TEST = (1, 3, 5, 10)
BASELINES = ("random", "popularity", "item_mean", "retriever")
KEY_METRICS = (
    [f"test/ndcg@{k}" for k in KS_TEST] + ["test/hr@3", "test/hr@5"]
    + [f"test_subset/ndcg@{k}" for k in KS_TEST] + ["test_subset/hr@3", "test_subset/hr@5"]
    + [f"baseline_test/{name}/ndcg@5" for name in BASELINES]
    + ["zero_shot_val/ndcg@5", "best_val/ndcg@5"]
    # position bias of the ranked-first slot over 5 candidate orders (before/after PSL: compare rows)
    + ["position_bias/top1_agreement", "position_bias/slot_bias_tv"]
)
# RecRanker runs (rankexp.models.hybrid.summarize): every method on the same users, the retriever beside them.
RECRANKER_METHODS = ("retriever", "pointwise", "pairwise", "listwise", "hybrid")
RECRANKER_METRICS = tuple(f"test/{method}/{name}" for method in RECRANKER_METHODS
                          for name in ("hr@3", "hr@5", "ndcg@3", "ndcg@5")) + ("test/seconds_per_user", "test/users")
METRIC_SETS = {"alro": tuple(KEY_METRICS), "recranker": RECRANKER_METRICS}

# Numbers published or measured elsewhere, shown beside ours for the same (dataset, protocol).
REFERENCES: list[dict[str, Any]] = [
    {"dataset": "ml1m", "protocol": "rerank_topk", "name": "RecRanker (independent reproduction)",
     "source": "docs/recranker.md, 'Reported numbers'; LLaMA-2, top-10 of LightGCN",
     "metrics": {"test/hr@3": 0.0270, "test/ndcg@3": 0.0200, "test/hr@5": 0.0430, "test/ndcg@5": 0.0262}},
    {"dataset": "ml1m", "protocol": "rerank_topk", "name": "LightGCN retriever (same reproduction)",
     "source": "docs/recranker.md, 'Reported numbers'",
     "metrics": {"test/hr@3": 0.0250, "test/ndcg@3": 0.0182, "test/hr@5": 0.0413, "test/ndcg@5": 0.0251}},
    {"dataset": "ml100k", "protocol": "explicit_listwise", "name": "SmolLM2 SFT probe, 400 steps (m=10, H=10)",
     "source": "an early SmolLM2 probe, on the split before the 2026-12-01 tie-order fix; 200 test users, s.e. ~0.01",
     "metrics": {"test/ndcg@5": 0.667, "zero_shot_val/ndcg@5": 0.666, "baseline_test/random/ndcg@5": 0.658,
                 "baseline_test/popularity/ndcg@5": 0.719, "baseline_test/item_mean/ndcg@5": 0.794}},
]
REFERENCE_METRICS = ("test/hr@3", "test/ndcg@3", "test/hr@5", "test/ndcg@5", "zero_shot_val/ndcg@5",
                     "baseline_test/random/ndcg@5", "baseline_test/popularity/ndcg@5",
                     "baseline_test/item_mean/ndcg@5")


# ------------------------------------------------------------------------------------------ aggregating


def _sort_key(overrides: tuple[str, ...]) -> list[Any]:
    """Order rows by their override values, numbers numerically."""
    key = []
    for o in overrides:
        name, _, value = o.partition("=")
        parsed = parse_value(value)
        key.append((name, 0, parsed, "") if isinstance(parsed, float) else (name, 1, 0.0, value))
    return key


def aggregate(runs: Sequence[Run], metrics: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One row per config: `config`, `n`, `seeds`, dataset/protocol, `<metric>_mean`, `<metric>_std`.

    Returns (table, the metric names present, the overrides common to every config).
    """
    by_config: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        by_config.setdefault(config_overrides(run.overrides), []).append(run)
    configs = sorted(by_config, key=_sort_key)
    varying = varying_keys(configs)
    common = sorted({o for g in configs for o in g if override_key(o) not in varying})
    wanted = list(metrics or KEY_METRICS)
    present = [m for m in wanted if any(finite_number(r.results.get(m)) is not None for r in runs)]
    rows = []
    for overrides in configs:
        group = by_config[overrides]
        label = " ".join(short_override(o) for o in overrides if override_key(o) in varying) or "(defaults)"
        row: dict[str, Any] = {
            "config": label,
            "n": len(group),
            "seeds": " ".join(str(s) for s in sorted({r.seed for r in group}, key=str)),
            "dataset": _one(r.value("data.name") for r in group),
            "protocol": _one(r.value("protocol.name") for r in group),
        }
        for knob, key in LOSS_KNOBS.items():
            row[knob] = _one(knob_value(r, key) for r in group)
        for metric in present:
            values = np.array([v for v in (finite_number(r.results.get(metric)) for r in group) if v is not None])
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            row[f"{metric}_n"] = len(values)
        row["overrides"] = " ".join(overrides)
        row["run_dirs"] = " ".join(str(r.path) for r in group)
        rows.append(row)
    return pd.DataFrame(rows), present, common


def _one(values: Iterable[Any]) -> Any:
    distinct = {v for v in values if v is not None}
    return distinct.pop() if len(distinct) == 1 else (None if not distinct else "mixed")


# ------------------------------------------------------------------------------------------ rendering


def _cell(mean: float, std: float, n: int, n_runs: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    text = f"{mean:.4f}"
    if std is not None and not math.isnan(std):
        text += f" ± {std:.4f}"
    if n != n_runs:
        text += f" (n={n})"
    return text


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    escape = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(table: pd.DataFrame, present: Sequence[str], common: Sequence[str], runs: Sequence[Run],
                    missing: Sequence[Path], problems: Sequence[str], roots: Sequence[Path],
                    plots: Sequence[Path], sweep: dict[str, Any] | None) -> str:
    summary = (f"{len(runs)} runs in {len(table)} configs from {', '.join(str(r) for r in roots)}. "
               "Cells: mean ± sample std over seeds; `n` = runs (seeds) per config.")
    lines = ["# rankexp report", "", summary, ""]
    if common:
        lines += ["Overrides shared by every config: `" + " ".join(common) + "`", ""]
    header = ["config", "n"] + present
    rows = []
    for _, row in table.iterrows():
        rows.append([row["config"], str(row["n"])] + [_cell(row[f"{m}_mean"], row[f"{m}_std"], row[f"{m}_n"], row["n"])
                                                       for m in present])
    lines += ["## Results", ""] + _md_table(header, rows) + [""]
    lines += _references(table)
    if sweep:
        lines += ["## Optuna sweep", "", f"Best value: {sweep.get('best_value')}",
                  f"Best params: `{json.dumps(sweep.get('best_params'), sort_keys=True)}`", ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    if missing:
        lines += [f"## Jobs without results.json ({len(missing)}: failed or still running)", ""]
        lines += [f"- {d}{_failure_note(d)}" for d in missing] + [""]
    if problems:
        lines += ["## Problems while reading", ""] + [f"- {p}" for p in problems] + [""]
    return "\n".join(lines)


def _failure_note(job: Path) -> str:
    """The job's overrides and the last ERROR line of its run.log, if any."""
    note = ""
    try:
        overrides = load_yaml(job / ".hydra" / "overrides.yaml") or []
        note += f" `{' '.join(str(o) for o in overrides)}`" if overrides else ""
    except Exception as error:  # noqa: BLE001 - a note only
        log.debug("no overrides for %s: %s", job, error)
    log_file = job / "run.log"
    if log_file.is_file():
        errors = [line for line in log_file.read_text(errors="replace").splitlines() if "ERROR" in line]
        if errors:
            note += f": {errors[-1].split(' - ', 1)[-1].strip()[:300]}"
    return note


def _references(table: pd.DataFrame) -> list[str]:
    """The reference rows for each (dataset, protocol) we have runs for, with our configs beside them."""
    lines: list[str] = []
    for dataset, protocol in sorted({(r["dataset"], r["protocol"]) for _, r in table.iterrows()}, key=str):
        refs = [r for r in REFERENCES if r["dataset"] == dataset and r["protocol"] == protocol]
        if not refs:
            continue
        ours = table[(table["dataset"] == dataset) & (table["protocol"] == protocol)]
        metrics = [m for m in REFERENCE_METRICS
                   if any(m in r["metrics"] for r in refs) or f"{m}_mean" in ours.columns]
        metrics = [m for m in metrics if any(m in r["metrics"] for r in refs)]
        rows = [[f"{r['name']} — {r['source']}"] + [f"{r['metrics'][m]:.4f}" if m in r["metrics"] else "–"
                                                   for m in metrics] for r in refs]
        for _, row in ours.iterrows():
            rows.append([f"ours: {row['config']} (n={row['n']})"] + [
                _cell(row.get(f"{m}_mean", math.nan), row.get(f"{m}_std", math.nan), row.get(f"{m}_n", 0), row["n"])
                if f"{m}_mean" in row else "–" for m in metrics])
        lines += [f"## Paper / reproduction reference: {dataset}, {protocol}", "",
                  "Reference setups differ from ours (model size, steps, users); compare trends, not decimals.", ""]
        lines += _md_table(["run"] + list(metrics), rows) + [""]
    return lines


# ------------------------------------------------------------------------------------------ entry


def _sweep_results(roots: Sequence[Path]) -> dict[str, Any] | None:
    for root in roots:
        for path in sorted(Path(root).rglob("optimization_results.yaml")):
            try:
                return load_yaml(path)
            except Exception:  # noqa: BLE001 - optional extra; a broken file only loses this section
                return None
    return None


def choose_metrics(runs: Sequence[Run], spec: str | None = None) -> list[str]:
    """Table columns: a preset of METRIC_SETS, comma-separated result keys, or (None / "auto") the
    RecRanker set when a run has per-method results, else the ALRO set."""
    if spec in (None, "auto"):
        spec = "recranker" if any("test/hybrid/ndcg@5" in r.results for r in runs) else "alro"
    if spec in METRIC_SETS:
        return list(METRIC_SETS[spec])
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    if not keys:
        raise ReportError(f"--metrics {spec!r}: give a preset ({', '.join(METRIC_SETS)}) or comma-separated keys")
    return keys


def build_report(roots: Sequence[str | Path], out: str | Path | None = None,
                 metrics: str | None = None) -> dict[str, Path]:
    """Write report.md, report.csv and the plots into `out` (default: the first root). Returns the paths."""
    roots = [Path(r) for r in roots]
    if not roots:
        raise ReportError("give at least one run or multirun dir")
    runs, missing, problems = find_runs(roots)
    if not runs:
        detail = f"; {len(missing)} job dirs have .hydra/ but no results.json (failed or still running)" if missing else ""
        detail += f"; {len(problems)} unreadable, each named above (first: {problems[0]})" if problems else ""
        where = f"{'readable ' if problems else ''}results.json under {', '.join(str(r) for r in roots)}"
        raise ReportError(f"no {where}{detail}. Each finished `python -m rankexp.run` writes one into its output "
                          "dir (outputs/... or multirun/...)")
    out = Path(out) if out is not None else roots[0]
    out.mkdir(parents=True, exist_ok=True)
    table, present, common = aggregate(runs, choose_metrics(runs, metrics))
    plots = [p for p in [plot_gamma(runs, out)] if p is not None] + plot_heatmaps(runs, out)
    markdown = render_markdown(table, present, common, runs, missing, problems, roots, plots, _sweep_results(roots))
    paths = {"markdown": out / "report.md", "csv": out / "report.csv"}
    atomic_write_text(paths["markdown"], markdown)
    atomic_write_text(paths["csv"], table.to_csv(index=False, float_format="%.6g"))
    paths.update({p.stem: p for p in plots})
    return paths


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    description, examples, notes = __doc__.split("\n\n", 2)
    parser = argparse.ArgumentParser(prog="python -m rankexp.report", description=description,
                                     epilog=f"examples:\n{examples}\n\n{notes}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", help="run dirs or multirun dirs (searched recursively for results.json)")
    parser.add_argument("--out", default=None, help="where to write report.md / report.csv / *.png (default: first dir)")
    parser.add_argument("--metrics", default="auto",
                        help=f"columns: auto | {' | '.join(METRIC_SETS)} | comma-separated result keys")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = build_report(args.dirs, args.out, args.metrics)
    sys.stdout.write(paths["markdown"].read_text())
    sys.stdout.write("\nwrote " + ", ".join(str(p) for p in paths.values()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
