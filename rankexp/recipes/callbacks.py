"""Small Lightning callbacks: throughput (tokens/s, s/step) for dashboards and plain logs.

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


class Throughput(L.Callback):
    """Every `every_n_steps` training steps: `train/tokens_per_s` (non-padding tokens, i.e. the attention
    mask's sum) and `train/s_per_step` over those steps, logged and written as one plain log line."""

    def __init__(self, every_n_steps: int = 10) -> None:
        self.every = every_n_steps
        self._start = time.perf_counter()
        self._tokens = 0.0
        self._steps = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._tokens += float(batch["attention_mask"].sum())
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
