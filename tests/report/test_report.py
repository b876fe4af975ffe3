"""`python -m rankexp.report` on hand-written run dirs (no training)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rankexp.report import cli as report


def write_run(job: Path, overrides: list[str], results: dict, config: dict | None = None) -> Path:
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config or {}))
    if results is not None:
        (job / "results.json").write_text(json.dumps(results))
    return job


def loss_config(alpha: float, beta: float, gamma: float = 10.0, dataset: str = "ml100k",
                protocol: str = "explicit_listwise", seed: int = 0) -> dict:
    return {"seed": seed, "data": {"name": dataset}, "protocol": {"name": protocol},
            "loss": {"sft": {"weight": 1.0}, "soft_lambda": {"weight": alpha, "gamma": gamma},
                     "perm_kl": {"weight": beta}}}


def metrics(ndcg5: float, seed: int, **extra) -> dict:
    base = {"test/ndcg@1": ndcg5 - 0.2, "test/ndcg@3": ndcg5 - 0.1, "test/ndcg@5": ndcg5, "test/ndcg@10": ndcg5 + 0.1,
            "test/hr@3": 1.0, "test/hr@5": 1.0, "baseline_test/random/ndcg@5": 0.65,
            "baseline_test/item_mean/ndcg@5": 0.79, "zero_shot_val/ndcg@5": 0.66, "best_val/ndcg@5": ndcg5 + 0.01,
            "best_checkpoint": "/x/best.ckpt", "seed": seed, "config_hash": "abc", "wall_time_s": 1.0}
    base.update(extra)
    return base


@pytest.fixture()
def grid_sweep(tmp_path: Path) -> Path:
    """A 2x2 alpha x beta multirun, 2 seeds each (as two sweeps over seed), plus one failed job."""
    root = tmp_path / "multirun"
    job = 0
    values = {(0.0, 0.0): 0.66, (0.0, 0.5): 0.67, (1.0, 0.0): 0.70, (1.0, 0.5): 0.72}
    for seed in (0, 1):
        for (alpha, beta), ndcg in values.items():
            overrides = ["+experiment=alro_ml100k", f"loss.soft_lambda.weight={alpha}",
                         f"loss.perm_kl.weight={beta}", f"seed={seed}"]
            write_run(root / str(job), overrides, metrics(ndcg + 0.01 * seed, seed), loss_config(alpha, beta, seed=seed))
            job += 1
    failed = write_run(root / str(job), ["+experiment=alro_ml100k", "loss.soft_lambda.weight=2.0",
                                         "loss.perm_kl.weight=0.0", "seed=0"], None, loss_config(2.0, 0.0))
    (failed / "run.log").write_text("[2026-01-01][rankexp][ERROR] - ConfigError: `protocol.m` must be >= 2\n")
    return root


def test_groups_by_overrides_without_seed(grid_sweep: Path):
    paths = report.build_report([grid_sweep])
    table = pd.read_csv(paths["csv"])
    assert len(table) == 4
    assert set(table["n"]) == {2}
    row = table[table["config"] == "loss.perm_kl.weight=0.5 loss.soft_lambda.weight=1.0"].iloc[0]
    assert row["test/ndcg@5_mean"] == pytest.approx(0.725)
    assert row["test/ndcg@5_std"] == pytest.approx(math.sqrt(2) * 0.005, rel=1e-4)  # sample std of {.72, .73}
    assert row["seeds"] == "0 1"
    assert row["alpha"] == 1.0 and row["beta"] == 0.5
    # Metrics nobody wrote get no column; the ones present get mean/std/n.
    assert "test_subset/ndcg@5_mean" not in table.columns
    assert "baseline_test/item_mean/ndcg@5_mean" in table.columns


def test_markdown_lists_common_overrides_failed_jobs_and_references(grid_sweep: Path):
    paths = report.build_report([grid_sweep])
    text = paths["markdown"].read_text()
    assert "Overrides shared by every config: `+experiment=alro_ml100k`" in text
    assert "0.7250 ± 0.0071" in text
    assert "Jobs without results.json (1" in text and str(grid_sweep / "8") in text
    assert "loss.soft_lambda.weight=2.0" in text and "ConfigError: `protocol.m` must be >= 2" in text
    # ML-100K explicit lists: the docs/alro.md probe is printed beside our rows.
    assert "reference: ml100k, explicit_listwise" in text
    assert "SmolLM2 SFT probe" in text


def test_heatmap_and_no_gamma_plot_when_gamma_is_fixed(grid_sweep: Path, tmp_path: Path):
    out = tmp_path / "report_out"
    paths = report.build_report([grid_sweep], out)
    assert (out / "heatmap_alpha_x_beta.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "ndcg5_vs_gamma.png").exists()
    assert paths["markdown"].parent == out
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temp files behind


def test_gamma_plot_and_gamma_beta_heatmap(tmp_path: Path):
    for job, (gamma, beta) in enumerate([(1.0, 0.0), (1.0, 0.5), (10.0, 0.0), (10.0, 0.5)]):
        write_run(tmp_path / "sweep" / str(job), [f"loss.soft_lambda.gamma={gamma}", f"loss.perm_kl.weight={beta}"],
                  metrics(0.6 + 0.01 * job, 0), loss_config(1.0, beta, gamma))
    paths = report.build_report([tmp_path / "sweep"])
    assert paths["ndcg5_vs_gamma"].is_file()
    assert paths["heatmap_beta_x_gamma"].is_file()
    assert "ndcg5_vs_gamma.png" in paths["markdown"].read_text()


def test_continuous_search_gets_a_scatter_and_no_heatmap(tmp_path: Path):
    """An Optuna-like sweep: every run its own gamma / beta / lr; a grid would be mostly empty."""
    for job in range(14):
        gamma, beta = 1.0 + job * 1.37, 0.05 * job
        write_run(tmp_path / "optuna" / str(job), [f"loss.soft_lambda.gamma={gamma}", f"loss.perm_kl.weight={beta}",
                                                  f"optim.lr={1e-4 * (1 + job)}"],
                  metrics(0.6 + 0.001 * job, 0), loss_config(1.0, beta, gamma))
    (tmp_path / "optuna" / "optimization_results.yaml").write_text(
        yaml.safe_dump({"name": "optuna", "best_params": {"optim.lr": 0.0014}, "best_value": 0.7}))
    paths = report.build_report([tmp_path / "optuna"])
    assert paths["ndcg5_vs_gamma"].is_file()
    assert not list((tmp_path / "optuna").glob("heatmap_*.png"))
    text = paths["markdown"].read_text()
    assert "## Optuna sweep" in text and "Best value: 0.7" in text
    assert "optim.lr=0.0001 " in text or "optim.lr=0.0001 |" in text  # long floats shortened in labels


def test_a_loss_that_is_off_counts_as_weight_zero(tmp_path: Path):
    sft_only = {"data": {"name": "ml100k"}, "protocol": {"name": "explicit_listwise"}, "loss": {"sft": {"weight": 1.0}}}
    write_run(tmp_path / "a", ["loss=[sft]"], metrics(0.6, 0), sft_only)
    write_run(tmp_path / "b", [], metrics(0.7, 0), loss_config(1.0, 1.0))
    table, _, _ = report.aggregate(report.find_runs([tmp_path])[0])
    off = table[table["config"] == "loss=[sft]"].iloc[0]
    assert off["alpha"] == 0.0 and off["beta"] == 0.0
    assert set(table["config"]) == {"loss=[sft]", "(defaults)"}


def test_recranker_reference_for_ml1m_rerank(tmp_path: Path):
    cfg = loss_config(1.0, 0.0, dataset="ml1m", protocol="rerank_topk")
    write_run(tmp_path / "run", ["+experiment=rerank_ml1m"], metrics(0.03, 0, **{"test_subset/ndcg@5": 0.4}), cfg)
    text = report.build_report([tmp_path])["markdown"].read_text()
    assert "reference: ml1m, rerank_topk" in text
    assert "0.0270" in text and "0.0251" in text  # RecRanker HR@3 and LightGCN NDCG@5 of the reproduction
    assert "test_subset/ndcg@5" in text


def test_single_run_dir_and_unreadable_results(tmp_path: Path):
    write_run(tmp_path / "good", ["data=synthetic"], metrics(0.5, 0), loss_config(1, 1))
    write_run(tmp_path / "bad", ["data=synthetic", "seed=1"], None, loss_config(1, 1))
    (tmp_path / "bad" / "results.json").write_text('{"test/ndcg@5": 0.')  # truncated
    paths = report.build_report([tmp_path / "good"])
    assert pd.read_csv(paths["csv"])["n"].tolist() == [1]
    text = report.build_report([tmp_path])["markdown"].read_text()
    assert "Problems while reading" in text and "bad" in text


def test_a_damaged_results_json_is_one_line_and_the_others_are_reported(grid_sweep: Path, capsys, caplog):
    damaged = grid_sweep / "3" / "results.json"
    damaged.write_text(damaged.read_text()[:40])  # a copy cut short
    with caplog.at_level("WARNING"):
        assert report.main([str(grid_sweep)]) == 0
    lines = [r.getMessage() for r in caplog.records if str(damaged) in r.getMessage()]
    with pytest.raises(json.JSONDecodeError) as decode:
        json.loads(damaged.read_text())
    assert lines == [f"{damaged} is damaged (JSONDecodeError: {decode.value}); skipped, the other runs are reported"]
    table = pd.read_csv(grid_sweep / "report.csv")
    assert sorted(table["n"]) == [1, 2, 2, 2]  # the other 7 runs, its config with one seed left
    text = (grid_sweep / "report.md").read_text()
    assert "Jobs without results.json (1" in text and f"- {grid_sweep / '3'} " not in text  # not 'without results'
    assert f"- {damaged}: damaged (JSONDecodeError" in text and capsys.readouterr().out.startswith("# rankexp report")
    for job in range(8):
        (grid_sweep / str(job) / "results.json").write_bytes(b"\x00" * 8)
    with pytest.raises(report.ReportError, match=r"no readable results.json under .*8 unreadable, each named above "
                                                 r"\(first: .*/0/results.json: damaged"):
        report.build_report([grid_sweep])


def test_clear_error_without_results(tmp_path: Path, capsys):
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    (tmp_path / "0" / ".hydra" / "overrides.yaml").write_text("[]")
    with pytest.raises(report.ReportError, match="no results.json under .*1 job dirs have .hydra/"):
        report.build_report([tmp_path])
    assert report.main([str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert report.main([str(tmp_path)]) == 2


def test_cli_prints_table(grid_sweep: Path, capsys):
    assert report.main([str(grid_sweep)]) == 0
    out = capsys.readouterr().out
    assert "| config | n | test/ndcg@1 |" in out
    assert "report.csv" in out


def test_recranker_runs_get_per_method_columns_pooled_over_seeds(tmp_path: Path, capsys):
    cfg = loss_config(0.0, 0.0, protocol="rerank_topk")
    for seed, hybrid in ((0, 0.10), (1, 0.14)):
        results = {f"test/{method}/ndcg@5": value for method, value in
                   (("retriever", 0.09), ("pointwise", 0.08), ("pairwise", 0.07), ("listwise", 0.11), ("hybrid", hybrid))}
        write_run(tmp_path / str(seed), ["+experiment=recranker_ml100k", f"seed={seed}"], results, cfg)
    table = pd.read_csv(report.build_report([tmp_path])["csv"])
    assert table["n"].tolist() == [2]
    assert table["test/hybrid/ndcg@5_mean"].iloc[0] == pytest.approx(0.12)
    assert table["test/hybrid/ndcg@5_std"].iloc[0] == pytest.approx(0.0283, abs=1e-4)
    assert table["test/retriever/ndcg@5_mean"].iloc[0] == pytest.approx(0.09)
    assert report.main([str(tmp_path), "--metrics", "test/listwise/ndcg@5"]) == 0
    assert "| config | n | test/listwise/ndcg@5 |" in capsys.readouterr().out
