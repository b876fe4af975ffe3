"""`mode=eval adapter=<run>/adapter`: a saved adapter tests again, exactly, on the lists a config builds.

The check that it is the adapter's weights being tested: on the same config the eval run
reproduces the training run's test metrics (which come from the selected checkpoint), and they
differ from the zero-shot model's on the same lists. All `slow` (subprocess runs of a tiny model).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_goldens import VOLATILE
from tests.helpers.runs import TINY, TINY_PROTOCOL, explain, run_module

pytestmark = pytest.mark.slow

STEPS = ["trainer.max_steps=4", "trainer.val_check_interval=2", "optim.lr=5e-3", "optim.warmup_steps=0"]
CANDIDATE = ["data=synthetic", *TINY, *TINY_PROTOCOL, *STEPS, "readout=candidate", "loss=[rating_ce]",
             "task.hints=true", "eval.position_bias_lists=0", "eval.example_rankings=0"]
RECRANKER = ["+experiment=recranker_ml100k", "data=synthetic", "retriever=pop", *TINY, "protocol.history_len=5",
             "protocol.min_history=3", *STEPS, "sampler.budget=40", "train.max_test_lists=12"]
TESTED = ("test/ndcg@5", "test/ndcg@1", "test/ndcg@10")


def _run(tmp: Path, name: str, *overrides: str) -> dict:
    out = tmp / name
    proc = run_module("rankexp.run", *overrides, f"hydra.run.dir={out}", timeout=600)
    assert proc.returncode == 0, explain(proc)
    return json.loads((out / "results.json").read_text())


def _tested(results: dict) -> dict:
    keys = [k for k in results if k.startswith(("test/", "test_hybrid/", "test_pointwise/"))
            and isinstance(results[k], float) and not any(word in k for word in VOLATILE)]
    assert keys, sorted(results)
    return {k: results[k] for k in keys}


@pytest.fixture(scope="module")
def candidate_run(tmp_path_factory) -> tuple[dict, Path]:
    """One trained candidate-readout run, shared by the tests below: its results and its adapter folder."""
    tmp = tmp_path_factory.mktemp("candidate")
    return _run(tmp, "train", *CANDIDATE), tmp / "train" / "adapter"


@pytest.mark.parametrize("recipe", ["candidate", "recranker"])
def test_saved_adapter_reproduces_its_test_and_differs_from_zero_shot(recipe: str, tmp_path: Path, candidate_run):
    overrides = CANDIDATE if recipe == "candidate" else RECRANKER
    if recipe == "candidate":
        trained, adapter = candidate_run
    else:
        trained, adapter = _run(tmp_path, "train", *overrides), tmp_path / "train" / "adapter"
    assert (adapter / "rankexp.json").is_file()
    again = _run(tmp_path, "eval", *overrides, "mode=eval", f"adapter={adapter}")
    zero_shot = _run(tmp_path, "zero", *overrides, "mode=eval")
    assert again["eval/adapter"] == str(adapter)
    assert again["mode"] == "eval"
    want = _tested(trained)
    assert _tested(again) == pytest.approx(want, abs=1e-9)
    assert _tested(zero_shot) != pytest.approx(want, abs=1e-9), "training changed nothing: the test cannot tell"
    baseline = [k for k in again if k.startswith("baseline_test/")]
    assert baseline and all(again[k] == trained[k] for k in baseline)


def test_adapter_tests_on_other_lists_and_refuses_other_prompts(tmp_path: Path, candidate_run):
    adapter = candidate_run[1]
    other = _run(tmp_path, "other", *CANDIDATE, "seed=3", "protocol.m=5", "mode=eval", f"adapter={adapter}")
    assert other["seed"] == 3 and 0.0 <= other["test/ndcg@5"] <= 1.0
    assert "baseline_test/item_mean/ndcg@5" in other

    as_slot = [o for o in CANDIDATE if o != "readout=candidate"]
    proc = run_module("rankexp.run", *as_slot, "readout=slot", "loss=[sft]", "mode=eval", f"adapter={adapter}",
                      f"hydra.run.dir={tmp_path / 'slot'}")
    assert proc.returncode == 2, explain(proc)
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, proc.stderr[-2000:]
    assert "readout: adapter 'candidate', config 'slot'" in error[0]
    assert not (tmp_path / "slot" / "results.json").exists()

    proc = run_module("rankexp.run", *CANDIDATE, "task.title_max_chars=12", "mode=eval", f"adapter={adapter}",
                      f"hydra.run.dir={tmp_path / 'short'}")
    assert proc.returncode == 2, explain(proc)
    assert "task.title_max_chars: adapter 40, config 12" in proc.stderr


def test_the_tested_weights_are_the_ones_validation_selected(tmp_path: Path, candidate_run):
    """Selection, proven: best_val is the best point of the run's validation curve after step 0, and testing
    `best.ckpt` again (`mode=eval ckpt_path=`) gives the run's own test metrics, as its saved adapter does."""
    trained, adapter = candidate_run
    curve = {int(k.rsplit("_", 1)[1]): v for k, v in trained.items() if k.startswith("val_curve/step_")}
    assert len(curve) >= 3 and len(set(curve.values())) > 1, f"training left validation flat: {curve}"
    assert trained["best_val/ndcg@5"] == pytest.approx(max(v for step, v in curve.items() if step > 0))
    best = adapter.parent / "checkpoints" / "best.ckpt"
    again = _run(tmp_path, "best", *CANDIDATE, "mode=eval", f"ckpt_path={best}")
    assert _tested(again) == pytest.approx(_tested(trained), abs=1e-9)
