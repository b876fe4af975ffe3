"""Small Lightning callbacks: throughput (tokens/s, s/step) for dashboards and plain logs, where a run's time
went (training steps, validations, test), and the validation curve.

Rich progress bars vanish when stdout is not a terminal (CI, nohup, Slurm);
this callback keeps a readable trace there and logs `train/tokens_per_s`.

Why not Lightning's `ThroughputMonitor`: it can count our tokens (`length_fn` = the attention
mask's sum gives `train/items_per_sec`), but (1) it reports only to the loggers, never to the
plain log, so a run with `logger=null` or piped output shows nothing, and the log line with the
loss and s/step is what this callback is for; (2) its per-second rates appear only once its
window is full (100 batches by default), so short runs and the first 100 steps of every run
report counts, not rates; (3) it calls `torch.cuda.synchronize()` after every batch to time
it. This callback reports every `every_n_steps` steps, from the first window on, without syncs.
"""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger("rankexp.train")


def real_tokens(batch) -> float:
    """Non-padding tokens of a batch (its attention mask's sum): what every tokens/s here counts; 0 for a batch
    without a mask."""
    mask = batch.get("attention_mask") if isinstance(batch, dict) else None
    return float(mask.sum()) if mask is not None else 0.0


class Throughput(L.Callback):
    """Every `every_n_steps` training steps: `train/tokens_per_s` (non-padding tokens, i.e. the attention
    mask's sum) and `train/s_per_step` over those steps, logged and written as one plain log line."""

    def __init__(self, every_n_steps: int = 10) -> None:
        self.every = every_n_steps
        self._start = time.perf_counter()
        self._tokens = 0.0
        self._steps = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._tokens += real_tokens(batch)
        self._steps += 1
        if self._steps < self.every:
            return
        elapsed = time.perf_counter() - self._start
        loss = outputs["loss"].item() if isinstance(outputs, dict) else float("nan")
        pl_module.log("train/tokens_per_s", self._tokens / elapsed)
        pl_module.log("train/s_per_step", elapsed / self._steps)
        log.info("step %d: loss %.4f, %.2f s/step, %.0f tokens/s", trainer.global_step, loss,
                 elapsed / self._steps, self._tokens / elapsed)
        self._start, self._tokens, self._steps = time.perf_counter(), 0.0, 0

    def on_validation_end(self, trainer, pl_module) -> None:
        shown = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        log.info("validation at step %d: %s", trainer.global_step, shown)
        self._start, self._tokens, self._steps = time.perf_counter(), 0.0, 0


class PhaseTimes(L.Callback):
    """Wall seconds and non-padding tokens of a run's three phases, for results.json (`speed/*`).

    - training steps: from each training batch's start to its end (forward, backward, optimizer step);
      data loading between steps and the validations in between are not in it;
    - validation: every validation loop after the sanity check, the zero-shot one included;
    - test: the test loop.
    Each phase's tokens per second is the rate a user can set against the machine's matmul rate
    (experiments/bench_speed.py measures it), and the three times show where `wall_time_s` went.
    """

    PHASES = ("train", "val", "test")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.PHASES, 0.0)
        self.tokens = dict.fromkeys(self.PHASES, 0.0)
        self.validations = 0
        self._started: dict[str, float] = {}

    def _start(self, phase: str) -> None:
        self._started[phase] = time.perf_counter()

    def _stop(self, phase: str) -> None:
        started = self._started.pop(phase, None)
        if started is not None:
            self.seconds[phase] += time.perf_counter() - started

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start("train")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._stop("train")
        self.tokens["train"] += real_tokens(batch)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._start("val")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self.tokens["val"] += real_tokens(batch)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and "val" in self._started:
            self._stop("val")
            self.validations += 1

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._start("test")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.tokens["test"] += real_tokens(batch)

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._stop("test")

    def metrics(self) -> dict[str, float]:
        """`speed/<phase>_s` and `speed/<phase>_tokens_per_s` of every phase that ran, and `speed/validations`."""
        out: dict[str, float] = {}
        for phase in self.PHASES:
            if self.seconds[phase] > 0:
                out[f"speed/{phase}_s"] = round(self.seconds[phase], 2)
                if self.tokens[phase] > 0:
                    out[f"speed/{phase}_tokens_per_s"] = round(self.tokens[phase] / self.seconds[phase], 1)
        if self.validations:
            out["speed/validations"] = self.validations
        return out


class ValCurve(L.Callback):
    """Every validation's selection metric by global step (step 0 = the zero-shot validation).

    The run writes it to results.json as `val_curve/step_N` and draws media/learning_curve.png,
    so a learning curve survives without any logger.
    """

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.curve: dict[int, float] = {}

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        self.curve[int(trainer.global_step)] = float(trainer.callback_metrics[self.monitor])

    def state_dict(self) -> dict:
        return {"curve": dict(self.curve)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.curve = {int(k): float(v) for k, v in state_dict.get("curve", {}).items()}

    def metrics(self) -> dict[str, float]:
        return {f"val_curve/step_{step}": value for step, value in sorted(self.curve.items())}
