"""The training progress bar counts optimizer steps out of `trainer.max_steps`.

Runs here are budgeted in steps (`max_epochs: -1`, `max_steps: 300`) and an "epoch" is only
`train.draws_per_epoch` fresh draws, so Lightning's bar read `Epoch 1/-2` with a bar that
restarted every few steps. This bar keeps one task for the whole fit: `Epoch N` then
`step/max_steps`. Without a step budget (`max_steps: -1`) it is Lightning's bar unchanged.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichProgressBar


class StepProgressBar(RichProgressBar):
    """`RichProgressBar` whose training task is the run's steps, not the epoch's batches."""

    def _by_steps(self) -> bool:
        return self.trainer.max_steps is not None and self.trainer.max_steps > 0

    @property
    def total_train_batches(self) -> int | float:
        return self.trainer.max_steps if self._by_steps() else super().total_train_batches

    def _get_train_description(self, current_epoch: int) -> str:
        if not self._by_steps():
            return super()._get_train_description(current_epoch)
        return f"{f'Epoch {current_epoch}':{len(self.validation_description)}}"

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if not self._by_steps() or self.train_progress_bar_id is None or self.progress is None or self._leave:
            super().on_train_epoch_start(trainer, pl_module)
            if self._by_steps() and self.progress is not None and self.train_progress_bar_id is not None:
                self._update(self.train_progress_bar_id, trainer.global_step)
            return
        # the same task goes on: only the epoch in its description changes
        description = self._get_train_description(trainer.current_epoch)
        styled = f"[{self.theme.description}]{description}" if self.theme.description else description
        self.progress.update(self.train_progress_bar_id, description=styled)
        self.refresh()

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._by_steps():
            self._update(self.train_progress_bar_id, trainer.global_step)
