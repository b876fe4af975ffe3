"""What every listwise ranker module shares: the forward-outputs contract the losses read, the training step
over the configured losses, and the ranking metrics of validation and test over lists of m candidates.

The slot verbalizer (`models/ranker.py`) and the candidate readout (`models/candidate_ranker.py`) subclass
`ListRanker` with their own `outputs` and `score`; the optimizer, schedule and adapter-only checkpoints come
from `RankerBase`, as for RecRanker's instruction ranker.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor, nn

from rankexp.errors import ConfigError
from rankexp.evaluation.metrics import RankingMetrics, ndcg_gain
from rankexp.losses import needs_text, usable_needs
from rankexp.models.base import RankerBase
from rankexp.models.scoring import hidden_states


class ForwardOutputs:
    """What every loss may read from one training forward (the `rankexp.losses` contract).

    Rows are [originals; permuted copies]; each piece is computed on first use only.
    """

    scoring = ""
    provides: frozenset[str] = frozenset({"hidden", "gains"})  # what a loss's `needs` are matched against

    def __init__(self, ranker: ListRanker, batch: dict[str, Tensor]) -> None:
        self.ranker, self.batch, self.n = ranker, batch, int(batch["n_original"])

    @cached_property
    def hidden(self) -> Tensor:
        return hidden_states(self.ranker.model, self.batch["input_ids"], self.batch["attention_mask"])

    @property
    def gains(self) -> Tensor:
        return self.batch["gains"][: self.n]


class ListRanker(RankerBase):
    """A LoRA causal LM that scores the m candidates of a list in one forward (the readout's `score`), trained
    by the configured losses on its `outputs`; validation and test aggregate ranking metrics over lists."""

    def __init__(self, model: nn.Module, losses: nn.ModuleDict, *, lr: float = 1e-4,
                 weight_decay: float = 0.0, warmup_steps: int = 0, schedule: str = "constant",
                 min_lr_ratio: float = 0.0, ks: tuple[int, ...] = (1, 3, 5, 10), selection_metric: str = "ndcg@5",
                 report: tuple[str, ...] = ("ndcg", "hr", "mrr"), subset_metrics: bool = True,
                 grad_norm_every: int = 0) -> None:
        super().__init__(model, lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, schedule=schedule,
                         min_lr_ratio=min_lr_ratio, selection_metric=selection_metric)
        self.losses = losses
        check_losses(losses, self.outputs)
        self.grad_norm_every = int(grad_norm_every)
        self.ks = tuple(ks)
        # Graded explicit lists have a positive item in every list, so HR/MRR are trivially 1 there.
        self.report = tuple(report)
        # Rerank protocol: also metrics over lists whose target the retriever found (hits only).
        self.subset_metrics = subset_metrics
        self.val_metrics = RankingMetrics(ks=self.ks)
        self.test_metrics = RankingMetrics(ks=self.ks)
        self.test_subset_metrics = RankingMetrics(ks=self.ks)
        self.test_scores: dict[int, Tensor] = {}
        # Every validation's scores [lists, m] by the global step it ran at: the post-test analysis (fusion,
        # order averaging) reuses the selected checkpoint's instead of scoring the validation lists again.
        self.val_scores: dict[int, Tensor] = {}
        self.val_scores_at: dict[int, Tensor] = {}

    # ---- forward pieces: the readout's ------------------------------------------------------------
    # A subclass sets `outputs` (what its losses read) and defines `score(batch) -> [lists, m]` candidate
    # scores, higher = ranked higher, from one forward over the prompts (validation and test call it).
    scoring = ""  # the readout's name (messages; losses that declare `scorings`)
    outputs = ForwardOutputs

    # ---- training ------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        terms = self.loss_terms(batch)
        batch_size = int(batch["n_original"])
        total = self.log_training_step(terms, batch, batch_idx, batch_size)
        if self.grad_norm_every and self.global_step % self.grad_norm_every == 0 and len(terms) > 1:
            for name, norm in self.term_grad_norms(terms).items():
                self.log(f"train/grad_norm_{name}", norm, batch_size=batch_size)
        return total

    def term_grad_norms(self, terms: dict[str, Tensor]) -> dict[str, float]:
        """L2 norm of each loss term's gradient on the trainable (LoRA) weights.

        Tells which term actually moves the adapter (a term whose loss is large but whose
        gradient is tiny does nothing); costs one extra backward per term, so it runs every
        `train.grad_norm_every` steps only.
        """
        params = [p for p in self.parameters() if p.requires_grad]
        norms = {}
        for name, value in terms.items():
            grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
            norms[name] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))
        return norms

    def loss_terms(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Every configured loss's weighted term, read from one forward (`rankexp.losses` contract)."""
        out = self.outputs(self, batch)
        return {name: loss.term(out) for name, loss in self.losses.items()}

    # ---- evaluation ----------------------------------------------------------------------
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        scores = self.score(batch)
        self.val_metrics.update(scores, ndcg_gain(batch["gains"]))
        for index, row in zip(batch["index"].tolist(), scores.detach().float().cpu()):
            self.val_scores[index] = row

    def on_validation_epoch_end(self) -> None:
        if self.val_scores:
            self.val_scores_at[self.global_step] = torch.stack([self.val_scores[i] for i in sorted(self.val_scores)])
            self.val_scores = {}
        errors = self.val_metrics.standard_errors()
        self.log_ranking("val", self.val_metrics, self.reported, selection=True)
        # its standard error: a learning curve is read against it (zero_shot_val/..._se in results.json)
        self.log(f"val/{self.selection_metric}_se", errors[self.selection_metric], sync_dist=False)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        scores = self.score(batch)
        gains = ndcg_gain(batch["gains"])
        self.test_metrics.update(scores, gains)
        hit = gains.sum(dim=1) > 0
        if hit.any():
            self.test_subset_metrics.update(scores[hit], gains[hit])
        for index, row in zip(batch["index"].tolist(), scores.cpu()):
            self.test_scores[index] = row

    def on_test_epoch_end(self) -> None:
        for prefix, metric in (("test", self.test_metrics), ("test_subset", self.test_subset_metrics)):
            if metric.update_count and (prefix == "test" or self.subset_metrics):
                self.log_ranking(prefix, metric, self.reported)
            metric.reset()

    def reported(self, name: str) -> bool:
        """`ndcg@5` is logged when its family (`ndcg`) is in `report`."""
        return name.split("@")[0] in self.report

    def selected_val_scores(self, n_lists: int) -> Tensor | None:
        """The validation scores of the checkpoint `trainer.test` restored, when every list has one."""
        scores = self.val_scores_at.get(self.restored_step) if self.restored_step is not None else None
        return scores if scores is not None and len(scores) == n_lists else None


def check_losses(losses: nn.ModuleDict, outputs: type[ForwardOutputs]) -> None:
    """Every loss must find the outputs it needs (`needs` of its class) in this ranker's forward."""
    for name, loss in losses.items():
        if usable_needs(loss, outputs) is None:
            able = [n for n, other in losses.items() if usable_needs(other, outputs) is not None]
            raise ConfigError(f"`loss.{name}` reads {needs_text(loss)}, which `readout={outputs.scoring}` does not give "
                              f"(it gives {', '.join(sorted(outputs.provides))}); drop it from `loss=[...]` "
                              f"(usable here: {able or 'none of the configured ones'})")
