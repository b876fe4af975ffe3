"""The report's plots: NDCG@5 vs gamma, and a heatmap for every pair of varying loss knobs.

Each figure is rendered to memory and written atomically (`media.atomic_savefig`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rankexp.report.media import atomic_savefig
from rankexp.report.runs import (
    LOSS_KNOBS,
    Run,
    config_overrides,
    finite_number,
    knob_value,
    override_key,
    short_override,
    varying_keys,
)

log = logging.getLogger(__name__)

PLOT_METRIC = "test/ndcg@5"
MAX_LINES = 8  # gamma plot: more groups than this (e.g. an Optuna sweep) are drawn as one scatter
MAX_HEATMAP_SIDE = 12  # heatmaps need a grid; continuous (Optuna) values give a useless sparse one


def plot_gamma(runs: Sequence[Run], out: Path, metric: str = PLOT_METRIC) -> Path | None:
    """`metric` (mean ± std over runs) vs gamma, one line per value of the other varying overrides."""
    points = [(r, knob_value(r, LOSS_KNOBS["gamma"]), finite_number(r.results.get(metric))) for r in runs]
    points = [(r, g, v) for r, g, v in points if g is not None and v is not None]
    if len({g for _, g, _ in points}) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [config_overrides(r.overrides) for r, _, _ in points]
    others = [k for k in varying_keys(groups) if k != LOSS_KNOBS["gamma"]]
    lines: dict[str, dict[float, list[float]]] = {}
    for (run, gamma, value), overrides in zip(points, groups):
        label = " ".join(short_override(o) for o in overrides if override_key(o) in others) or metric
        lines.setdefault(label, {}).setdefault(gamma, []).append(value)
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(lines) > MAX_LINES:  # every run its own config (random search): one point per run
        ax.scatter([g for _, g, _ in points], [v for _, _, v in points], label=f"each run ({len(points)})")
    else:
        for label, by_gamma in sorted(lines.items()):
            xs = sorted(by_gamma)
            means = [np.mean(by_gamma[x]) for x in xs]
            stds = [np.std(by_gamma[x], ddof=1) if len(by_gamma[x]) > 1 else 0.0 for x in xs]
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=label)
    gammas = [g for _, g, _ in points]
    if min(gammas) > 0 and max(gammas) / min(gammas) >= 10:
        ax.set_xscale("log")
    ax.set_xlabel("gamma (loss.soft_lambda.gamma)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs gamma (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    path = out / "ndcg5_vs_gamma.png"
    atomic_savefig(fig, path)
    return path


def plot_heatmaps(runs: Sequence[Run], out: Path, metric: str = PLOT_METRIC) -> list[Path]:
    """Heatmap of `metric` for every pair of varying loss knobs (alpha x beta, gamma x beta, ...)."""
    knob_values = {name: [knob_value(r, key) for r in runs] for name, key in LOSS_KNOBS.items()}
    varying = [n for n in ("alpha", "beta", "gamma") if len({v for v in knob_values[n] if v is not None}) > 1]
    pairs = [(a, b) for i, a in enumerate(varying) for b in varying[i + 1:]]
    pairs = [("alpha", "beta")] + [p for p in pairs if p != ("alpha", "beta")] if ("alpha", "beta") in pairs else pairs
    if not pairs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for row_knob, col_knob in pairs:
        cells: dict[tuple[float, float], list[float]] = {}
        for i, run in enumerate(runs):
            r, c, v = knob_values[row_knob][i], knob_values[col_knob][i], finite_number(run.results.get(metric))
            if r is not None and c is not None and v is not None:
                cells.setdefault((r, c), []).append(v)
        rows, cols = sorted({k[0] for k in cells}), sorted({k[1] for k in cells})
        if len(rows) > MAX_HEATMAP_SIDE or len(cols) > MAX_HEATMAP_SIDE:
            log.info("no %s x %s heatmap: %d x %d distinct values is no grid", row_knob, col_knob, len(rows), len(cols))
            continue
        grid = np.full((len(rows), len(cols)), np.nan)
        counts = np.zeros_like(grid, dtype=int)
        for (r, c), values in cells.items():
            grid[rows.index(r), cols.index(c)] = np.mean(values)
            counts[rows.index(r), cols.index(c)] = len(values)
        fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 3, 0.8 * len(rows) + 2.5))
        image = ax.imshow(grid, cmap="viridis", aspect="auto")
        fig.colorbar(image, ax=ax, label=metric)
        ax.set_xticks(range(len(cols)), [f"{c:g}" for c in cols])
        ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows])
        ax.set_xlabel(f"{col_knob} ({LOSS_KNOBS[col_knob]})")
        ax.set_ylabel(f"{row_knob} ({LOSS_KNOBS[row_knob]})")
        finite = grid[np.isfinite(grid)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.3f}\nn={counts[i, j]}", ha="center", va="center", fontsize=8,
                            color="black" if grid[i, j] > middle else "white")
        rest = [k for k in varying if k not in (row_knob, col_knob)]
        note = f" (mean over {', '.join(rest)} too)" if rest else ""
        ax.set_title(f"{metric}: {row_knob} x {col_knob}{note}", fontsize=9)
        path = out / f"heatmap_{row_knob}_x_{col_knob}.png"
        atomic_savefig(fig, path)
        paths.append(path)
    return paths
