"""The training bar counts steps out of `trainer.max_steps`, and `enable_progress_bar=false` still builds."""

from __future__ import annotations

from types import SimpleNamespace

from lightning.pytorch.callbacks import ProgressBar

from rankexp.recipes.loop import build_trainer
from rankexp.report.progress import StepProgressBar
from tests.helpers.runs import compose_cfg


def _bar(max_steps: int, max_epochs: int = -1) -> StepProgressBar:
    bar = StepProgressBar()
    bar._trainer = SimpleNamespace(max_steps=max_steps, max_epochs=max_epochs, global_step=120, current_epoch=1,
                                   num_training_batches=100)
    return bar


def test_a_step_budget_is_the_bars_total_and_the_epoch_has_no_negative_end():
    bar = _bar(300)
    assert bar.total_train_batches == 300
    assert bar._get_train_description(1).strip() == "Epoch 1"
    unbudgeted = _bar(-1, max_epochs=3)
    assert unbudgeted.total_train_batches == 100 and unbudgeted._get_train_description(1).strip() == "Epoch 1/2"


def test_the_run_uses_the_step_bar_and_drops_it_when_bars_are_off(tmp_path):
    common = ["logger=none", "trainer=cpu", f"paths.output_dir={tmp_path}"]
    shown = build_trainer(compose_cfg(*common))
    assert isinstance(shown.progress_bar_callback, StepProgressBar)
    hidden = build_trainer(compose_cfg(*common, "trainer.enable_progress_bar=false"))
    assert not any(isinstance(c, ProgressBar) for c in hidden.callbacks)
