"""What a tiny run prints, read as a log file reads it (stdout and stderr are pipes here).

Each line once (Lightning's `INFO: ...` handler no longer doubles Hydra's), no config tree unless
`print_config=true` (a line points at .hydra/config.yaml), a progress bar in steps out of
`trainer.max_steps`, the results table with whole numbers and results.md beside results.json.
Then `Ranker.from_pretrained` on the run's adapter prints nothing of its dependencies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers.runs import REPO, TINY, TINY_PROTOCOL, env, explain, run_module

# two epochs of 2 draws in a 4-step budget: Lightning's bar read `Epoch 1/-2 ... 2/2`
STEPS = ["data=synthetic", *[o for o in TINY if not o.startswith("trainer.enable_progress_bar")], *TINY_PROTOCOL,
         "train.draws_per_epoch=2", "eval.example_rankings=0", "eval.position_bias_lists=0"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    done = run_module("rankexp.run", *STEPS, f"hydra.run.dir={out}", timeout=600)
    assert done.returncode == 0, explain(done)
    return out, done.stdout + done.stderr


def test_every_log_line_is_printed_once(tiny_run):
    _, output = tiny_run
    assert output.count("Seed set to 0") == 1, output
    assert output.count("`Trainer.fit` stopped") == 1, output
    assert not re.search(r"^INFO: ", output, flags=re.MULTILINE), output


def test_the_config_tree_stays_in_the_run_dir(tiny_run):
    out, output = tiny_run
    assert "└── eval" not in output and "selection_metric:" not in output, output
    assert f"config: {out / '.hydra' / 'config.yaml'}" in output and "--cfg job" in output
    assert (out / ".hydra" / "config.yaml").is_file()


def test_the_progress_bar_counts_steps_out_of_max_steps(tiny_run):
    _, output = tiny_run
    assert "/-2" not in output, output
    assert re.search(r"Epoch 1\s+\S+ 4/4 ", output), output


def test_the_results_table_reads_in_a_log_file_and_in_results_md(tiny_run):
    out, output = tiny_run
    results = json.loads((out / "results.json").read_text())
    numbers = [f"{results[k]:.4f}" for k in ("test/ndcg@5", "baseline_test/item_mean/ndcg@5")]
    assert all(n in output for n in numbers), output
    md = (out / "results.md").read_text()
    assert all(n in md for n in numbers) and "| metric | LLM |" in md, md
    assert f"table: {out / 'results.md'}" in output


def test_print_config_true_prints_the_tree(capsys):
    from rankexp.run import show_config

    show_config(OmegaConf.create({"print_config": True, "eval": {"selection_metric": "ndcg@5"}}))
    assert "selection_metric: ndcg@5" in capsys.readouterr().err
    show_config(OmegaConf.create({"print_config": False, "eval": {"selection_metric": "ndcg@5"}}))
    assert "selection_metric" not in capsys.readouterr().err


LOAD = """
import sys
from rankexp.api import Ranker
ranker = Ranker.from_pretrained(sys.argv[1])
print(ranker.rank([("Item 1", 5)], ["Item 2", "Item 3"])[0].title)
"""


def test_loading_the_adapter_prints_only_our_lines(tiny_run, tmp_path: Path):
    out, _ = tiny_run
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    done = subprocess.run([sys.executable, str(script), str(out / "adapter")], cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, explain(done)
    assert done.stdout.strip().startswith("Item"), explain(done)
    assert done.stderr.strip() == "", done.stderr
