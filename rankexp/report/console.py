"""What a person reads at the end of a run, and the noise they should not have to read.

`print_summary`: one rich table of the test metrics, the LLM beside every baseline scored on
the same lists, then the wall time and where results.json, the adapter and the plots are.
`quiet_dependencies`: pinned dependencies' deprecation warnings and Lightning's "litlogger" tip
are dropped; rankexp's own warnings and every error still show.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEPENDENCIES = r"(lightning|lightning_fabric|pytorch_lightning|torch|transformers|peft|hydra|omegaconf|wandb|torchmetrics|pluggy)"
METRIC = re.compile(r"^(?:(?P<base>baseline_test)/(?P<name>[^/]+)/|(?P<split>test(?:_fusion)?)/(?:(?P<method>[a-z_]+)/)?)"
                    r"(?P<metric>(?:ndcg|hr|mrr)@\d+)$")


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_dependencies() -> None:
    """Silence what pinned dependencies print that a user cannot act on."""
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=DEPENDENCIES)
    warnings.filterwarnings("ignore", message=r".*(is deprecated|will be removed).*", module=DEPENDENCIES)
    # peft/transformers return the model in eval mode; rankexp's rankers switch it to train mode themselves
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
    # bitsandbytes (imported by peft) warns on every CPU import that an optional CPU 4-bit kernel is absent
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "pytorch_lightning.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropTips())


def metric_table(results: Mapping[str, Any]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """(columns, {metric: {column: value}}) of every test-split metric in `results`."""
    rows: dict[str, dict[str, float]] = {}
    columns: list[str] = []
    for key, value in results.items():
        match = METRIC.match(key)
        if match is None or not isinstance(value, (int, float)):
            continue
        if match["base"]:
            column = match["name"]
        elif match["split"] == "test_fusion":
            column = "LLM + fusion"
        else:
            column = f"LLM {match['method']}" if match["method"] else "LLM"
        columns += [column] if column not in columns else []
        rows.setdefault(match["metric"], {})[column] = float(value)
    order = sorted(columns, key=lambda c: (not c.startswith("LLM"), c))
    return order, dict(sorted(rows.items(), key=lambda kv: (kv[0].split("@")[0], int(kv[0].split("@")[1]))))


def print_summary(results: Mapping[str, Any], out_dir: Path, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(stderr=True)
    columns, rows = metric_table(results)
    if rows:
        n = results.get("lists/test_evaluated", results.get("test/users"))
        console.print(f"test metrics{f' on {int(n)} lists' if n else ''} (same lists for every column):", soft_wrap=True)
        table = Table()
        table.add_column("metric")
        for column in columns:
            table.add_column(column, justify="right")
        for metric, values in rows.items():
            table.add_row(metric, *(f"{values[c]:.4f}" if c in values else "" for c in columns))
        console.print(table)
    paired = {k: v for k, v in results.items() if k.startswith("paired_test/") and not k.endswith("_se")}
    for key, value in paired.items():
        se = results.get(key + "_se", float("nan"))
        console.print(f"{key.removeprefix('paired_test/')}: {value:+.4f} ± {se:.4f} (paired s.e.)", soft_wrap=True)
    if "wall_time_s" in results:
        console.print(f"wall time: {float(results['wall_time_s']):.0f} s", soft_wrap=True)
    for label, path in (("results", out_dir / "results.json"), ("adapter", out_dir / "adapter")):
        if path.exists():
            console.print(f"{label}: {path}", soft_wrap=True, highlight=False)
    for plot in sorted((out_dir / "media").glob("*.png")) if (out_dir / "media").is_dir() else []:
        console.print(f"plot: {plot}", soft_wrap=True, highlight=False)
