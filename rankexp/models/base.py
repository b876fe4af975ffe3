"""What every ranker module shares: the optimizer and its LR schedule, the training-step log, adapter-only
checkpoints, which checkpoint `trainer.test` restored, LoRA folded into the base while it evaluates, and the
attention kernel of each phase.

The slot and candidate rankers (`models/ranker.py`, `models/candidate_ranker.py`, both on `models/list_ranker.py`)
and RecRanker's instruction ranker (`models/instruction.py`) differ in what they score and how they evaluate;
everything below is the same for all three, so `optim.*` and the logged metrics mean the same under every
recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
from torch import Tensor, nn

from rankexp.errors import ConfigError, diverged
from rankexp.models.attention import AttentionByPhase
from rankexp.models.folding import FoldedLora


class RankerBase(L.LightningModule):
    """A LoRA-wrapped causal LM (`model`) trained with AdamW and a stepwise LR schedule."""

    def __init__(self, model: nn.Module, *, lr: float = 1e-4, weight_decay: float = 0.0, warmup_steps: int = 0,
                 schedule: str = "constant", min_lr_ratio: float = 0.0, selection_metric: str = "ndcg@5") -> None:
        super().__init__()
        self.model, self.selection_metric = model, selection_metric
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.schedule, self.min_lr_ratio = schedule, min_lr_ratio
        self.restored_step: int | None = None  # global step of the checkpoint last loaded (the selected one)
        # Checkpoints hold the trainable (LoRA) weights only; the frozen base reloads from its source.
        self.strict_loading = False
        self.folded = FoldedLora(model)
        self.attention = AttentionByPhase(model)

    # ---- training ------------------------------------------------------------------------
    def on_train_start(self) -> None:
        # Hugging Face loaders return the model in eval mode; LoRA dropout needs train mode.
        self.model.train()

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        self.attention.for_training(self.trainer.precision, self.device.type)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        total = self.trainer.max_steps if self.trainer is not None and self.trainer.max_steps > 0 else 0
        factor = lr_factor(self.schedule, max(self.warmup_steps, 0), total, self.min_lr_ratio)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def log_training_step(self, terms: dict[str, Tensor], batch: dict[str, Tensor], batch_idx: int,
                          batch_size: int) -> Tensor:
        """The step's loss (the sum of `terms`), stopped with the step and batch named when it is not finite;
        logs each term, the total and the tokens seen."""
        total = sum(terms.values())
        if not torch.isfinite(total):
            raise diverged(total.item(), self.global_step, batch_idx, {k: float(v) for k, v in terms.items()})
        for name, value in terms.items():
            self.log(f"train/loss_{name}", value, batch_size=batch_size)
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        self.log("train/tokens", float(batch["attention_mask"].sum()), reduce_fx="sum", batch_size=batch_size)
        return total

    # ---- evaluation: LoRA folded into the base (models.folding.FoldedLora), the scoring kernel --------
    # Folded at the first batch, after the epoch-start hooks (the weight EMA swaps its average in there), and
    # put back when the loop ends. `models.list_scores.make_score_fn` scores the same way after the test.
    def begin_scoring(self) -> None:
        self.folded.fold(cast_to=self.scoring_dtype())
        self.attention.for_scoring()

    def scoring_dtype(self) -> torch.dtype | None:
        """bf16 when the trainer scores under bf16 autocast (`bf16-mixed`): the folded weights are kept in it."""
        trainer = self._trainer
        return torch.bfloat16 if trainer is not None and str(trainer.precision) == "bf16-mixed" else None

    def end_scoring(self) -> None:
        self.folded.unfold()

    def on_validation_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.begin_scoring()

    def on_test_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.begin_scoring()

    def on_validation_end(self) -> None:
        self.end_scoring()

    def on_test_end(self) -> None:
        self.end_scoring()

    # ---- evaluation: one way to log ranking metrics ----------------------------------------------
    def log_ranking(self, prefix: str, metric, keep: Callable[[str], bool] | None = None, *, selection: bool = False,
                    sync_dist: bool = False) -> None:
        """Log `metric`'s aggregated values (a `RankingMetrics` over the epoch's lists) as `<prefix>/<name>`, for
        the names `keep` accepts, then reset it; `selection`: show `selection_metric` on the progress bar."""
        for name, value in metric.compute().items():
            if keep is None or keep(name):
                self.log(f"{prefix}/{name}", value, prog_bar=selection and name == self.selection_metric,
                          sync_dist=sync_dist)
        metric.reset()

    # ---- checkpoints: adapters only ---------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        checkpoint["rankexp_trainable_keys"] = sorted(trainable)

    def on_fit_end(self) -> None:
        self.restored_step = None  # a checkpoint loaded to resume is not the one selected for testing

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.restored_step = checkpoint.get("global_step")
        expected = sorted(name for name, p in self.named_parameters() if p.requires_grad)
        saved = checkpoint.get("rankexp_trainable_keys")
        if saved is not None and saved != expected:
            spans = _layer_span(saved), _layer_span(expected)
            layers = (f"; adapted layers saved {spans[0]}, this config's {spans[1]} (`model.lora.top_layers`)"
                      if spans[0] != spans[1] else "")
            raise ConfigError(
                "checkpoint was saved for another model or LoRA config: its adapter weights "
                f"({len(saved)} tensors) do not match this model's ({len(expected)}){layers}; check `ckpt_path` "
                "and `model.lora` against the run that saved it"
            )


def _layer_span(names: list[str]) -> str:
    """'0-29': the decoder layers whose weights a list of parameter names holds ('' when none is in a layer)."""
    import re

    layers = sorted({int(m.group(1)) for name in names if (m := re.search(r"\.layers\.(\d+)\.", name))})
    return f"{layers[0]}-{layers[-1]}" if layers else ""


def lr_factor(schedule: str, warmup: int, total: int, min_ratio: float):
    """Step -> LR multiplier: linear warmup, then constant, linear or cosine decay to `min_ratio` at `total`."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if schedule == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        shape = 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return min_ratio + (1.0 - min_ratio) * shape

    return factor
