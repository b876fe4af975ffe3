"""docs/results.md and the README's generated blocks are what experiments/results_doc.py makes of the JSONs.

A number typed into either file by hand, or a JSON result that never reached them, fails here.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_generator(name: str = "results_doc"):
    spec = importlib.util.spec_from_file_location(name, REPO / "experiments" / "results_doc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_docs_are_the_generated_ones(capsys):
    assert _load_generator().main(["--check"]) == 0, capsys.readouterr().out[-4000:]


@pytest.fixture
def copy(tmp_path: Path, monkeypatch):
    """The generator pointed at a copy of the results, docs and README (never the committed files)."""
    module = _load_generator("results_doc_copy")
    shutil.copytree(REPO / "experiments" / "results", tmp_path / "results")
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs" / "results.md", tmp_path / "docs" / "results.md")
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    monkeypatch.setattr(module, "REPO", tmp_path)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "DOC", tmp_path / "docs" / "results.md")
    monkeypatch.setattr(module, "README", tmp_path / "README.md")
    return module, tmp_path


@pytest.mark.parametrize("target", ["docs/results.md", "README.md"])
def test_a_hand_edited_number_fails_the_check(copy, target, capsys):
    module, root = copy
    path = root / target
    text = path.read_text()
    llm = json.loads((root / "results" / "candidate_ml100k.json").read_text())["test"]["LLM alone (candidate readout)"]
    number = module.pm(*llm["ndcg@5"])  # the default experiment's test NDCG@5, in both files
    assert number in text
    path.write_text(text.replace(number, module.pm(llm["ndcg@5"][0] + 0.01, llm["ndcg@5"][1]), 1))
    assert module.main(["--check"]) == 1
    assert "+" in capsys.readouterr().out  # the diff names the line
    assert module.main([]) == 0 and module.main(["--check"]) == 0  # regenerating repairs it


def test_an_unknown_result_file_stops_the_generator(copy):
    module, root = copy
    (root / "results" / "new_probe.json").write_text("{}")
    with pytest.raises(SystemExit, match="new_probe.json has no table"):
        module.render()


def test_any_hint_sources_file_gets_its_table(copy):
    module, root = copy
    group = {"seeds": [0, 1], "per_seed": {"best_val/ndcg@5": [0.5, 0.25], "test/hybrid/ndcg@5": [0.125, 0.375],
                                           "paired_test/hybrid_minus_retriever/ndcg@5": [-0.5, 0.25],
                                           "paired_test/hybrid_minus_retriever/ndcg@5_se": [0.01, 0.02]},
             "summary": {}}
    (root / "results" / "hint_sources_toy.json").write_text(
        json.dumps({"command": "python -m rankexp.run toy", "machine": "toy", "groups": {"none": group}}))
    doc, _ = module.render()
    section = doc[doc.index("## Hint sources: `toy`"):]
    assert "| `none` | 0, 1 | 0.500 / 0.250 (mean 0.375) | 0.125 / 0.375 (mean 0.250) |" in section
    assert "-0.500 / +0.250 (mean -0.125)" in section


def test_a_rerank_hint_sources_file_shows_its_llm_row(copy):
    module, root = copy
    group = {"seeds": [0], "per_seed": {"best_val/ndcg@5": [0.5], "test/ndcg@5": [0.125],
                                        "paired_test/llm_minus_retriever/ndcg@5": [-0.25]}, "summary": {}}
    (root / "results" / "hint_sources_rerank_toy.json").write_text(
        json.dumps({"command": "toy", "machine": "toy", "groups": {"item_mean": group}}))
    doc, _ = module.render()
    section = doc[doc.index("## Hint sources: `rerank_toy`"):]
    assert "| hint source | seeds | best val | LLM | LLM minus LightGCN (paired) |" in section
    assert "| `item_mean` | 0 | 0.500 | 0.125 | -0.250 |" in section
