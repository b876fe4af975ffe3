"""RecRanker's instruction-tuned ranker as a LightningModule.

Training: SFT on the answer tokens of pointwise / pairwise / listwise instructions
(`rankexp.prompts.instructions`); LM-head logits are computed only where the next token is an answer
token (never [B, T, vocab]), as for the listwise ranker (`rankexp.models.scoring.answer_logits`).
Evaluation: one user per step (misses skipped when `score_misses` is false), the hybrid of the three tasks' single-pass scores over the
retriever's top-m by the `evaluator` it is given (`rankexp.models.hybrid.HybridEvaluator`: the ensemble
sits on top of the models, so this module does not import it); validation selects the checkpoint, test runs once.
Optimizer, LR schedule and adapter-only checkpoints come from `RankerBase`, as for the listwise rankers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from rankexp.evaluation.metrics import RankingMetrics
from rankexp.losses import sft_loss
from rankexp.models.base import RankerBase
from rankexp.models.scoring import answer_logits, hidden_states

STAGES = {"val": 1, "test": 2}  # rng stream of the evaluation prompts (rerank_eval_lists uses 1 / 2 too)


class InstructionRanker(RankerBase):
    """LoRA causal LM trained on RecRanker instructions; ranks with the hybrid of its three tasks."""

    def __init__(self, model: nn.Module, evaluator, *, lr: float = 1e-4, weight_decay: float = 0.0,
                 warmup_steps: int = 0, schedule: str = "constant", min_lr_ratio: float = 0.0,
                 ks: tuple[int, ...] = (3, 5), selection_metric: str = "ndcg@5", score_misses: bool = True) -> None:
        super().__init__(model, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, schedule=schedule,
                         min_lr_ratio=min_lr_ratio, selection_metric=selection_metric)
        self.evaluator = evaluator
        self.ks = tuple(sorted({int(k) for k in ks} | {3, 5}))
        # false: a user whose target is not among the retriever's top-m is not run through the model (its
        # metrics are 0 whatever the order: HybridEvaluator.unscored); costs are then per scored user.
        self.score_misses = score_misses
        self.metrics = nn.ModuleDict({f"{stage}_{method}": RankingMetrics(ks=self.ks)
                                      for stage in ("val", "test", "test_subset") for method in evaluator.methods})
        self._costs: dict[str, list[float]] = {}
        self.test_results: list = []  # the evaluator's per-user results (rankexp.models.hybrid.UserResult)
        self.test_examples: list = []  # the ListwiseExample each result scored (this process's share under DDP)

    # ---- training ------------------------------------------------------------------------------
    def sft_loss(self, batch: dict[str, Tensor]) -> Tensor:
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        logits, labels = answer_logits(self.model, hidden, batch["sft_labels"])
        return sft_loss(logits[None], labels[None], shift=False)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self.log_training_step({"sft": self.sft_loss(batch)}, batch, batch_idx, int(batch["input_ids"].shape[0]))

    # ---- evaluation: one user per step ---------------------------------------------------------
    def _evaluate(self, users, stage: str) -> None:
        for example in users:
            hit = bool(np.asarray(example.gains).sum() > 0)
            scored = hit or self.score_misses
            result = (self.evaluator.evaluate(self.model, example, STAGES[stage]) if scored
                      else self.evaluator.unscored(example))
            gains = torch.as_tensor(result.gains, device=self.device)[None]
            for method, scores in result.scores.items():
                row = torch.as_tensor(np.asarray(scores), dtype=torch.float32, device=self.device)[None]
                self.metrics[f"{stage}_{method}"].update(row, gains)
                if stage == "test" and hit:
                    self.metrics[f"test_subset_{method}"].update(row, gains)
            if scored:
                for key in ("prompts", "forwards", "tokens", "seconds"):
                    self._costs.setdefault(key, []).append(float(getattr(result, key)))
            self._costs.setdefault("hit", []).append(float(hit))
            self._costs.setdefault("scored", []).append(float(scored))
            if stage == "test":
                self.test_results.append(result)
                self.test_examples.append(example)

    def _log_epoch(self, stage: str) -> None:
        prefixes = (stage, "test_subset") if stage == "test" else (stage,)
        for prefix in prefixes:
            for method in self.evaluator.methods:
                metric = self.metrics[f"{prefix}_{method}"]
                if not metric.update_count:
                    continue
                if method == "hybrid" and prefix == stage:  # what ModelCheckpoint monitors (val/ndcg@5)
                    for name, value in metric.compute().items():
                        self.log(f"{prefix}/{name}", value, prog_bar=name == self.selection_metric, sync_dist=True)
                self.log_ranking(f"{prefix}/{method}", metric, sync_dist=True)
        hits, scored = self._costs.pop("hit", []), self._costs.pop("scored", [])
        if hits:  # share of users whose target is among the candidates (the ceiling of HR@m)
            self.log(f"{stage}/users", float(len(hits)), sync_dist=True, reduce_fx="sum")
            self.log(f"{stage}/scored_users", float(sum(scored)), sync_dist=True, reduce_fx="sum")
            self.log(f"{stage}/target_in_candidates", float(np.mean(hits)), sync_dist=True)
        for key, values in self._costs.items():
            if values:
                self.log(f"{stage}/{key}_per_user", float(np.mean(values)), sync_dist=True)
        self._costs = {}

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_start(self) -> None:
        self.test_results, self.test_examples = [], []

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")
