"""The end-of-run summary: every test metric with the baselines on the same lists side by side."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from rankexp.report.console import metric_table, print_summary, wall_time_line

RESULTS = {"test/ndcg@5": 0.75, "test/ndcg@10": 0.87, "test_fusion/ndcg@5": 0.77,
           "baseline_test/item_mean/ndcg@5": 0.78, "baseline_test/random/ndcg@5": 0.65,
           "test/hybrid/hr@3": 0.05, "val/ndcg@5": 0.7, "lists/test_evaluated": 707, "wall_time_s": 861.2,
           "paired_test/llm_minus_item_mean/ndcg@5": -0.027, "paired_test/llm_minus_item_mean/ndcg@5_se": 0.004}


def test_columns_and_rows():
    columns, rows = metric_table(RESULTS)
    assert columns == ["LLM", "LLM + fusion", "LLM hybrid", "item_mean", "random"]
    assert list(rows) == ["hr@3", "ndcg@5", "ndcg@10"]
    assert rows["ndcg@5"] == {"LLM": 0.75, "LLM + fusion": 0.77, "item_mean": 0.78, "random": 0.65}
    assert "val" not in str(rows)


def test_summary_names_the_lists_the_paired_difference_and_the_files(tmp_path: Path):
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "learning_curve.png").write_bytes(b"png")
    out = io.StringIO()
    print_summary(RESULTS, tmp_path, Console(file=out, width=120))
    text = out.getvalue()
    assert "test metrics on 707 lists" in text and "0.7800" in text
    assert "llm_minus_item_mean/ndcg@5: -0.0270 ± 0.0040" in text
    assert "wall time: 861 s" in text and str(tmp_path / "results.json") in text
    assert "learning_curve.png" in text


def test_the_wall_time_line_names_where_the_time_went():
    phases = {"wall_time_s": 895.4, "speed/train_s": 455.2, "speed/train_tokens_per_s": 290.4,
              "speed/val_s": 170.0, "speed/val_tokens_per_s": 960.0, "speed/validations": 5,
              "speed/test_s": 238.3, "speed/test_tokens_per_s": 968.1}
    assert wall_time_line(phases) == ("wall time: 895 s (training steps 455 s at 290 tokens/s, 5 validations "
                                      "170 s at 960 tokens/s, test 238 s at 968 tokens/s)")
    assert wall_time_line({"wall_time_s": 3.0, "speed/test_s": 2.0}) == "wall time: 3 s (test 2 s)"
    assert wall_time_line({"wall_time_s": 3.0}) == "wall time: 3 s"
