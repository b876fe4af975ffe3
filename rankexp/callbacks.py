"""Small Lightning callbacks: throughput (tokens/s, s/step) for dashboards and plain logs.

Rich progress bars vanish when stdout is not a terminal (CI, nohup, Slurm);
this callback keeps a readable trace there and logs `train/tokens_per_s`.
"""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger("rankexp.train")


class Throughput(L.Callback):
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
