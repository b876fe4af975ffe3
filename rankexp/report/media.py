"""What a researcher looks at after a run: example rankings, position bias, and where they go.

Independent of the model: everything takes a `score(examples) -> np.ndarray [B, m]`
callable (higher = ranked higher, column j = the candidate in slot j of that
example). `rankexp.models.list_scores.make_score_fn(ranker, encoder)` builds one from a
`ListwiseRanker` (the single-pass verbalizer). Call at the end of a run, e.g.
in `rankexp.recipes.alro.run_ranker` after `trainer.test(...)`:

    from rankexp.report import media
    from rankexp.models.list_scores import make_score_fn

    score = make_score_fn(ranker, encoder, batch_size=cfg.train.eval_batch_size)
    shown = test_lists[:20]
    table = media.example_rankings_table(shown, score(shown), data.items["title"].to_numpy(), encoder.labels)
    bias = media.position_bias(score, test_lists[:100], n_orders=5, seed=cfg.seed)
    out = Path(cfg.paths.output_dir)
    plot = media.save_position_bias_plot(bias, out / "media" / "position_bias.png")
    media.log_media(trainer.loggers, out, tables={"example_rankings": table}, plots={"position_bias": plot})
    metrics.update(media.bias_metrics(bias))   # position_bias/top1_agreement, ... into results.json

Cost: position_bias scores n_orders x len(examples) lists (5 x 100 = 500 prompts: as much as
testing on 500 lists). Files always land in `<run_dir>/media/`
(CSV, PNG); a `WandbLogger` among the loggers also gets a wandb.Table / wandb.Image.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rankexp.data.examples import ListwiseExample
from rankexp.evaluation.position_bias import as_numpy, ranked_slots
from rankexp.io import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)



# ------------------------------------------------------------------------------------------ example table


def example_rankings_table(examples: Sequence[ListwiseExample], scores: Any, titles: Sequence[str] | np.ndarray,
                           labels: Sequence[str], n: int = 20) -> pd.DataFrame:
    """One row per list (first `n`): history, labelled candidates, target order, predicted order.

    `scores[b, j]` scores slot j of `examples[b]`; `titles[item]` is an item's title;
    `labels[j]` is slot j's label. `ndcg@5` uses the graded gain 2^g - 1 (as the run's metrics).
    """
    import torch

    from rankexp.evaluation.metrics import ndcg_at_k

    examples = list(examples)[:n]
    if not examples:
        return pd.DataFrame(columns=["user", "history", "candidates", "target_order", "predicted_order",
                                     "predicted_top", "ndcg@5"])
    m = len(examples[0].candidates)
    scores = as_numpy(as_numpy(scores)[: len(examples)], len(examples), m)
    rows = []
    for example, row_scores in zip(examples, scores):
        order = ranked_slots(row_scores)
        gains = torch.tensor(np.asarray(example.gains, dtype=np.float32))[None]  # a copy: pandas arrays are read-only
        ndcg = float(ndcg_at_k(torch.as_tensor(row_scores, dtype=torch.float32)[None], 2.0**gains - 1.0, 5)[0])
        history = "; ".join(f"{titles[item]} ({float(r):g})"
                            for item, r in zip(example.history, example.history_ratings))
        candidates = " | ".join(f"{labels[j]}. {titles[item]} (gain {float(g):g}, score {s:.3g})"
                                for j, (item, g, s) in enumerate(zip(example.candidates, example.gains, row_scores)))
        rows.append({
            "user": int(example.user),
            "history": history,
            "candidates": candidates,
            "target_order": " ".join(labels[int(s)] for s in example.target_slots),
            "predicted_order": " ".join(labels[int(s)] for s in order),
            "predicted_top": str(titles[example.candidates[order[0]]]),
            "ndcg@5": ndcg,
        })
    return pd.DataFrame(rows)


def atomic_savefig(fig, path: str | os.PathLike) -> Path:
    """Save `fig` as PNG through `atomic_write_bytes` (a crash never leaves half an image); closes it."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def save_position_bias_plot(stats: Mapping[str, Any], path: str | os.PathLike,
                            labels: Sequence[str] | None = None) -> Path:
    """Bar chart of P(ranked first | shown in slot k) against the uniform line; returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probability = list(stats["first_slot_probability"])
    m = len(probability)
    names = list(labels[:m]) if labels is not None else [chr(ord("A") + k) if m <= 26 else str(k) for k in range(m)]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * m + 2), 3.5))
    ax.bar(range(m), probability, color="tab:blue")
    ax.axhline(1.0 / m, color="tab:red", linestyle="--", label=f"no bias (1/m = {1.0 / m:.3f})")
    ax.set_xticks(range(m), names)
    ax.set_xlabel("input slot of the candidate ranked first")
    ax.set_ylabel("probability")
    ax.set_title(f"position bias: top-1 agreement {stats['top1_agreement']:.2f} over {stats['n_orders']} orders "
                 f"(chance {stats['chance_top1_agreement']:.2f}), TV {stats['slot_bias_tv']:.2f}", fontsize=9)
    ax.legend(fontsize=8)
    return atomic_savefig(fig, path)


# ------------------------------------------------------------------------------------------ logging


def _loggers(logger: Any) -> list[Any]:
    if logger is None or logger is False:
        return []
    if isinstance(logger, (list, tuple)):
        return [lg for lg in logger if lg is not None and lg is not False]
    return [logger]


def _is_wandb(logger: Any) -> bool:
    try:
        from lightning.pytorch.loggers import WandbLogger
    except ImportError:  # pragma: no cover - lightning is a dependency
        return False
    return isinstance(logger, WandbLogger)


def log_media(logger: Any, run_dir: str | os.PathLike, tables: Mapping[str, pd.DataFrame] | None = None,
              plots: Mapping[str, Any] | None = None, prefix: str = "media") -> dict[str, Path]:
    """Save tables (CSV) and plots (PNG) under `<run_dir>/media/`; log them to W&B too when possible.

    `logger`: a Lightning logger, a list of them (`trainer.loggers`), or None. `plots` values
    are PNG paths or matplotlib figures. A W&B failure is logged as a warning, never raised:
    the files on disk are the record. Returns {name: saved path}.
    """
    media_dir = Path(run_dir) / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    saved: dict[str, Path] = {}
    for name, frame in (tables or {}).items():
        path = media_dir / f"{name}.csv"
        atomic_write_text(path, frame.to_csv(index=False))
        saved[name] = path
    for name, plot in (plots or {}).items():
        path = media_dir / f"{name}.png"
        if hasattr(plot, "savefig"):
            atomic_savefig(plot, path)
        elif Path(plot).resolve() != path.resolve():
            atomic_write_bytes(path, Path(plot).read_bytes())
        saved[name] = path
    for lg in _loggers(logger):
        if not _is_wandb(lg):
            continue
        try:
            for name, frame in (tables or {}).items():
                lg.log_table(key=f"{prefix}/{name}", dataframe=frame)
            for name in plots or {}:
                lg.log_image(key=f"{prefix}/{name}", images=[str(saved[name])])
        except Exception as error:  # noqa: BLE001 - W&B trouble must not lose a finished run
            log.warning("could not log media to W&B (%s: %s); files are in %s", type(error).__name__, error,
                        media_dir)
    return saved


# ------------------------------------------------------------------------------------------ learning curve


def save_learning_curve(curve: Mapping[int, float], path: str | os.PathLike, metric: str,
                        references: Mapping[str, float] | None = None) -> Path:
    """Validation metric by step, with horizontal lines for the baselines on the same lists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(curve)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(steps, [curve[s] for s in steps], marker="o", color="tab:blue", label="LLM (validation)")
    for (name, value), color in zip((references or {}).items(), ("tab:green", "tab:gray", "tab:orange")):
        ax.axhline(value, color=color, linestyle="--", label=f"{name} {value:.3f}")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"val {metric}")
    ax.set_title(f"learning curve: val {metric}", fontsize=9)
    ax.legend(fontsize=8)
    return atomic_savefig(fig, path)
