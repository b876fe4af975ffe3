"""An exponential moving average of the trainable (LoRA) weights: validation, checkpoints and test use it.

Why: with batch 1 and a few hundred steps, the adapter the run ends on carries the noise of its last
updates, and seeds differ by several paired s.e. (README, #15). Averaging the recent iterates is the
cheapest variance cut there is: no extra forward, one lerp per trainable tensor per step. Measured
on the ML-100K candidate readout at decay 0.95 (README, 3 seeds) it did not help, so it is off by default.

Why not Lightning's `EMAWeightAveraging`: it deep-copies the whole LightningModule, frozen base
included (twice the memory of a 7B model on one GPU), and writes the full model into every
checkpoint as `current_model_state`. This callback keeps only the trainable tensors; the
checkpoints stay adapter-only (see `RankerBase.on_save_checkpoint`).

`callbacks.weight_ema.decay`: null = off. The effective decay is min(decay, (1 + n) / (10 + n)) after
n updates (the TensorFlow / timm warm-up), so the early average is not dragged toward the
untrained adapter.
"""

from __future__ import annotations

import lightning as L
import torch

from rankexp.errors import ConfigError


class LoraWeightEMA(L.Callback):
    def __init__(self, decay: float | None = None) -> None:
        if decay is not None and not (isinstance(decay, (int, float)) and 0.0 < float(decay) < 1.0):
            raise ConfigError(f"`callbacks.weight_ema.decay` must be a number in (0, 1) or null (off), got {decay!r}")
        self.decay = None if decay is None else float(decay)
        self.average: dict[str, torch.Tensor] | None = None
        self.updates = 0
        self._last_step = -1
        self._swapped = False
        self._loaded: dict | None = None
        self._module: L.LightningModule | None = None

    @property
    def active(self) -> bool:
        return self.decay is not None

    # ---- fit: keep the average --------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.active:
            return
        self._module = pl_module
        live = self._trainable(pl_module)
        self.average = {name: p.detach().clone() for name, p in live.items()}
        if self._loaded is not None:  # resumed: the checkpoint's weights are the average; put the live ones back
            self._restore(self._loaded, live)
        self._last_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.average is None or trainer.global_step == self._last_step:
            return  # off, or gradient accumulation: no optimizer step yet
        self._last_step = trainer.global_step
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        live = self._trainable(pl_module)
        with torch.no_grad():
            for name, avg in self.average.items():
                avg.lerp_(live[name].detach(), 1.0 - decay)
        self.updates += 1

    # ---- validation and checkpoints read the average ----------------------------------------
    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self.average is not None and trainer.state.fn == "fit" and not self._swapped:
            self._swap(pl_module)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._swapped:
            self._swap(pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self.average is None or self._swapped:
            return  # off, or saved mid-validation: the module holds the average already
        state = checkpoint["state_dict"]
        missing = [name for name in self.average if name not in state]
        if missing:
            raise RuntimeError(f"weight EMA: trainable tensors missing from the checkpoint: {missing[:3]}")
        for name, avg in self.average.items():
            state[name] = avg.detach().clone()

    def on_train_end(self, trainer, pl_module) -> None:
        """The module ends fit holding the average, like the checkpoints (what `ckpt_path=last` would give)."""
        if self.average is not None:
            live = self._trainable(pl_module)
            with torch.no_grad():
                for name, avg in self.average.items():
                    live[name].copy_(avg)

    def state_dict(self) -> dict:
        """The average and the live (un-averaged) adapter weights, so `ckpt_path=...` resumes training exactly."""
        if self.average is None:
            return {}
        live = {k: p.detach().cpu().clone() for k, p in self._trainable(self._module).items()}
        average = {k: v.detach().cpu().clone() for k, v in self.average.items()}
        if self._swapped:
            live, average = average, live
        return {"average": average, "live": live, "updates": self.updates}

    def load_state_dict(self, state_dict: dict) -> None:
        self._loaded = state_dict or None

    # ---- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _trainable(pl_module: L.LightningModule) -> dict[str, torch.nn.Parameter]:
        return {name: p for name, p in pl_module.named_parameters() if p.requires_grad}

    def _restore(self, saved: dict, live: dict[str, torch.nn.Parameter]) -> None:
        average = saved["average"]
        if set(average) != set(live):
            raise ConfigError("the checkpoint's weight EMA was saved for other adapter weights; check `ckpt_path`")
        self.average = {k: v.to(live[k].device, live[k].dtype).clone() for k, v in average.items()}
        with torch.no_grad():
            for name, value in saved["live"].items():
                live[name].copy_(value)
        self.updates = int(saved["updates"])

    def _swap(self, pl_module: L.LightningModule) -> None:
        live = self._trainable(pl_module)
        with torch.no_grad():
            for name, avg in self.average.items():
                tmp = live[name].detach().clone()
                live[name].copy_(avg)
                avg.copy_(tmp)
        self._swapped = not self._swapped
