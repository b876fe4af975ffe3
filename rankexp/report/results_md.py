"""results.md beside results.json: the end-of-run table as Markdown, readable in any log viewer or diff.

The console table is for the person watching; this file is what stays with the run dir, with
the same numbers (`console.formatted_table`), the paired differences and the wall time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rankexp.evaluation.paired import paired_lines
from rankexp.io import atomic_write_text
from rankexp.report.console import formatted_table, lists_line, wall_time_line


def results_markdown(results: Mapping[str, Any]) -> str:
    """The test-metric table (one row per metric, one column per ranker) and the lines under it."""
    header, body = formatted_table(results)
    lines = [f"# {results.get('task_name') or 'run'}", ""]
    if body:
        lines += [lists_line(results), "", "| " + " | ".join(header) + " |",
                  "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        lines.append("")
    lines += [f"- {line}" for line in paired_lines(results)]
    if "wall_time_s" in results:
        lines.append(f"- {wall_time_line(results)}")
    return "\n".join(lines).rstrip() + "\n"


def write_results_md(results: Mapping[str, Any], out_dir: Path) -> Path:
    """Write `out_dir/results.md` (atomically) and return its path."""
    path = Path(out_dir) / "results.md"
    atomic_write_text(path, results_markdown(results))
    return path
