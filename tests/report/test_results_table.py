"""The end-of-run table stays readable where nobody has a terminal: a pipe, a log file, results.md.

A RecRanker run has ten columns; rich, asked for no width off a terminal, used 80 and printed
every number as `0.0…`. Off a terminal the table now takes the width it needs, and the same
table is saved as Markdown beside results.json.
"""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from rankexp.report.console import print_summary
from rankexp.report.results_md import results_markdown, write_results_md

METHODS = ("pointwise", "pairwise", "listwise", "hybrid")
BASELINES = ("item_mean", "popularity", "random", "retriever", "mf_full")
# a recranker_ml100k-like result: 5 LLM columns + 5 baselines, 3 metrics x 3 cut-offs
RESULTS = {"lists/test_evaluated": 943, "wall_time_s": 1234.0, "task_name": "rerank_topk_ml100k",
           "paired_test/llm_minus_item_mean/ndcg@5": -0.0123, "paired_test/llm_minus_item_mean/ndcg@5_se": 0.0045}
for i, metric in enumerate(f"{name}@{k}" for name in ("ndcg", "hr", "mrr") for k in (1, 5, 10)):
    RESULTS[f"test/{metric}"] = 0.1234 + i / 1000
    RESULTS[f"test_fusion/{metric}"] = 0.2345 + i / 1000
    for j, method in enumerate(METHODS):
        RESULTS[f"test/{method}/{metric}"] = 0.3456 + j / 100 + i / 1000
    for j, name in enumerate(BASELINES):
        RESULTS[f"baseline_test/{name}/{metric}"] = 0.5678 + j / 100 + i / 1000


def _values() -> list[str]:
    return [f"{v:.4f}" for k, v in RESULTS.items() if k.startswith(("test", "baseline_test"))]


def test_a_wide_table_written_to_a_pipe_shows_every_number_in_full(tmp_path: Path):
    out = io.StringIO()
    console = Console(file=out)  # not a terminal: rich falls back to 80 columns
    assert not console.is_terminal and console.width == 80
    print_summary(RESULTS, tmp_path, console)
    text = out.getvalue()
    assert "0.0…" not in text and "…" not in text, text
    missing = [v for v in _values() if v not in text]
    assert not missing, f"{len(missing)} numbers cut, e.g. {missing[:3]}:\n{text}"
    assert "LLM hybrid" in text and "mf_full" in text


def test_results_md_is_written_beside_results_json_with_every_number(tmp_path: Path):
    (tmp_path / "results.json").write_text("{}")
    path = write_results_md(RESULTS, tmp_path)
    assert path == tmp_path / "results.md" and path.is_file()
    text = path.read_text()
    assert "| metric | LLM | LLM + fusion | LLM hybrid |" in text
    assert all(v in text for v in _values())
    assert "on 943 lists" in text and "llm_minus_item_mean/ndcg@5: -0.0123" in text
    out = io.StringIO()
    print_summary(RESULTS, tmp_path, Console(file=out, width=200))
    assert f"table: {tmp_path / 'results.md'}" in out.getvalue()


def test_results_md_without_test_metrics_is_still_a_file():
    assert results_markdown({"data/users": 10, "wall_time_s": 3.0}).startswith("# run\n")
