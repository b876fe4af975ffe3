"""Defaults live in the YAML only: code reads config keys directly, never `.get(key, default)`.

A fallback in code would silently override what a user reads in `conf/`; a key the code needs
but a shipped config lacks must fail loudly instead (the compose test below, and the e2e runs of
every experiment, read every key).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rankexp.data.sampling import build_sampler
from rankexp.recipes.alro import active_losses
from rankexp.recipes.recranker import hybrid_options, task_mix
from tests.helpers.runs import EXPERIMENTS, compose

PACKAGE = Path(__file__).resolve().parents[2] / "rankexp"
# These read files that are not the shipped config: a saved run's config or an adapter's rankexp.json
# (predict, api, models/manifest: adapters saved before a key existed), results.json files (report), a
# checkpoint's callback state.
READ_OTHER_FILES = {"predict.py", "api.py", "models/manifest.py", "plan/architecture.py", "report/runs.py", "report/cli.py", "report/plots.py", "report/console.py",
                    "recipes/callbacks.py"}


def _environment_or_attrs(receiver: ast.expr) -> bool:
    """`os.environ.get(...)` and a frame's `.attrs.get(...)` are not config reads."""
    return isinstance(receiver, ast.Attribute) and receiver.attr in ("environ", "attrs")


def fallbacks(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and len(node.args) == 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str) and not _environment_or_attrs(node.func.value)):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .get({node.args[0].value!r}, ...)")
    return found


def test_no_config_fallbacks_in_code():
    found = [hit for path in sorted(PACKAGE.rglob("*.py"))
             if str(path.relative_to(PACKAGE)) not in READ_OTHER_FILES for hit in fallbacks(path)]
    assert not found, "defaults belong in conf/*.yaml:\n" + "\n".join(found)


def test_the_scan_finds_a_fallback(tmp_path: Path):
    probe = PACKAGE / "_probe_fallback.py"  # inside the package so relative_to works; removed at once
    probe.write_text('x = cfg.task.get("form", "paper")\n')
    try:
        assert fallbacks(probe) == ["rankexp/_probe_fallback.py:1 .get('form', ...)"]
    finally:
        probe.unlink()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_defines_what_its_recipe_reads(experiment: str):
    cfg = compose(f"+experiment={experiment}")
    if cfg.recipe == "retrieval" or cfg.get("model") is None:
        return
    if cfg.recipe == "recranker":
        mix = task_mix(cfg.task)
        hybrid_options(cfg, mix)
        build_sampler(cfg.sampler)
        for key in ("hints", "hint_source", "pointwise_hint_source", "chat_template", "listwise_top",
                    "candidates_in_prefix", "dislike_threshold", "mix_mode", "shuffle", "hint_format"):
            assert key in cfg.task, (experiment, key)
    else:
        active_losses(cfg)
        for key in ("strip_year", "hints", "hint_source", "hint_format", "title_max_chars",
                    "history_with_ratings"):
            assert key in cfg.task, (experiment, key)
    for key in ("schedule", "min_lr_ratio", "lr", "weight_decay", "warmup_steps"):
        assert key in cfg.optim, (experiment, key)
    for key in ("fusion", "methods", "baselines", "position_bias_lists", "example_rankings", "share_prefix",
                "test_orders"):
        assert key in cfg.eval, (experiment, key)
