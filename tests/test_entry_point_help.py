"""Every entry point answers `--help` with its own page: what it does, how to call it, examples.

`rankexp.run` uses Hydra's help mechanism (conf/hydra/help/rankexp.yaml, selected in run.yaml);
the others are argparse pages whose examples come from the module docstrings.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers.runs import explain, run_module

# module -> texts its --help must contain
PAGES = {
    "rankexp.run": ["== Modes (mode=...) ==", "train ", "eval ", "retrieval ", "data ", "== Main groups",
                    "+experiment", "trainer ", "experiment: alro_", "== Examples ==", "--cfg job", "print_config=true"],
    "rankexp.data.summary": ["usage: python -m rankexp.data.summary", "key=value", "examples:", "data=ml1m"],
    "rankexp.predict": ["usage: python -m rankexp.predict", "--input", "examples:", "request JSON",
                        '"history": [{"title": "Toy Story (1995)", "rating": 5}', '"candidates": [', '"hints": {'],
    "rankexp.report": ["usage: python -m rankexp.report", "--metrics", "examples:", "results.json"],
    "rankexp.plan": ["usage: python -m rankexp.plan", "--gpu-mem", "--measure", "examples:", "docs/gpu.md"],
}
MIN_EXAMPLES = {"rankexp.run": 5, "rankexp.data.summary": 3, "rankexp.predict": 3, "rankexp.report": 2,
                "rankexp.plan": 3}


@pytest.mark.parametrize("module", sorted(PAGES))
def test_help_is_the_entry_points_own_page(module: str):
    done = run_module(module, "--help", timeout=120)
    assert done.returncode == 0, explain(done)
    assert "error" not in done.stderr.lower(), explain(done)
    page = done.stdout
    missing = [text for text in PAGES[module] if text not in page]
    assert not missing, f"{module} --help lacks {missing}:\n{page}"
    examples = re.findall(rf"^\s*python -m {re.escape(module)}\b", page, flags=re.MULTILINE)
    assert len(examples) >= MIN_EXAMPLES[module], f"{module} --help has {len(examples)} examples:\n{page}"


def test_run_help_is_not_hydras_generic_page():
    page = run_module("rankexp.run", "--help", timeout=120).stdout
    assert "is powered by Hydra" not in page and "$APP_CONFIG_GROUPS" not in page
    assert "== Config ==" not in page  # the 250-line config is `--cfg job`'s job, not the help's
