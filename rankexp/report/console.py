"""What a person reads at the end of a run.

`print_summary`: one rich table of the test metrics, the LLM beside every baseline scored on
the same lists, then the wall time and where results.json, the adapter and the plots are.
Written to a pipe or a log file the console is not a terminal and rich would squeeze the table
into 80 columns, printing `0.0…` for every number: there the table gets the width it needs.
`rankexp.report.results_md` writes the same table into results.md beside results.json.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRIC = re.compile(r"^(?:(?P<base>baseline_test)/(?P<name>[^/]+)/|(?P<split>test(?:_fusion)?)/(?:(?P<method>[a-z_]+)/)?)"
                    r"(?P<metric>(?:ndcg|hr|mrr)@\d+)$")


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


def formatted_table(results: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) as text, 4 decimals: the one layout the console and results.md share."""
    columns, rows = metric_table(results)
    body = [[metric, *(f"{values[c]:.4f}" if c in values else "" for c in columns)] for metric, values in rows.items()]
    return ["metric", *columns], body


def wall_time_line(results: Mapping[str, Any]) -> str:
    """The run's wall time and, where results.json has them (`speed/*`), its phases: `wall time: 749 s (training
    steps 273 s at 472 tokens/s, 5 validations 184 s at 889 tokens/s, test 254 s at 908 tokens/s)`."""
    parts = []
    for phase, label in (("train", "training steps"), ("val", "validation"), ("test", "test")):
        if f"speed/{phase}_s" not in results:
            continue
        if phase == "val" and results.get("speed/validations"):
            label = f"{int(results['speed/validations'])} validations"
        rate = results.get(f"speed/{phase}_tokens_per_s")
        parts.append(f"{label} {float(results[f'speed/{phase}_s']):.0f} s"
                     + (f" at {float(rate):.0f} tokens/s" if rate else ""))
    return f"wall time: {float(results['wall_time_s']):.0f} s" + (f" ({', '.join(parts)})" if parts else "")


def lists_line(results: Mapping[str, Any]) -> str:
    n = results.get("lists/test_evaluated", results.get("test/users"))
    return f"test metrics{f' on {int(n)} lists' if n else ''} (same lists for every column):"


def wide_enough(console, renderable):
    """`console`, or (not a terminal, too narrow) a console on the same file as wide as `renderable` needs.

    rich falls back to 80 columns when it cannot ask a terminal, and then shrinks every column
    of a wide table until each number reads `0.0…`; a log file has no width to respect.
    """
    from rich.console import Console

    if console.is_terminal:
        return console
    needed = console.measure(renderable, options=console.options.update(width=10_000)).maximum
    if needed <= console.width:
        return console
    return Console(file=console.file, width=needed, color_system=console.color_system, force_terminal=False)


def print_summary(results: Mapping[str, Any], out_dir: Path, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(stderr=True)
    header, body = formatted_table(results)
    if body:
        console.print(lists_line(results), soft_wrap=True)
        table = Table()
        table.add_column(header[0])
        for column in header[1:]:
            table.add_column(column, justify="right")
        for row in body:
            table.add_row(*row)
        wide_enough(console, table).print(table)
    from rankexp.evaluation.paired import paired_lines

    for line in paired_lines(results):
        console.print(line, soft_wrap=True)
    if "wall_time_s" in results:
        console.print(wall_time_line(results), soft_wrap=True)
    for label, path in (("results", out_dir / "results.json"), ("table", out_dir / "results.md"),
                        ("adapter", out_dir / "adapter")):
        if path.exists():
            console.print(f"{label}: {path}", soft_wrap=True, highlight=False)
    for plot in sorted((out_dir / "media").glob("*.png")) if (out_dir / "media").is_dir() else []:
        console.print(f"plot: {plot}", soft_wrap=True, highlight=False)
