"""The listwise LLM ranker as a LightningModule (ALRO: L = L_sft + α·L_rank + β·L_perm).

One teacher-forced forward over [originals; permuted copies] gives, from the
last hidden states alone:
- the SFT logits, computed only at answer positions (never [B, T, vocab]);
- Y[b, k, i] = P(label of candidate i at answer slot k), full-vocabulary
  softmax gathered at the m label ids (docs/alro.md, "The probability matrix Y").
Evaluation scores candidates in one forward over the prompt: the label rows of
the LM head at the first answer slot (the single-pass verbalizer).
"""

from __future__ import annotations

import math

import lightning as L
import torch
from torch import Tensor, nn

from rankexp.errors import diverged
from rankexp.losses import reindex_by_item, sft_loss
from rankexp.metrics import RankingMetrics


def decoder_of(model: nn.Module) -> nn.Module:
    """The transformer body (no LM head) of a plain or peft-wrapped causal LM."""
    return model.get_decoder()


def hidden_states(model: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    return decoder_of(model)(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state


def gather_rows(hidden: Tensor, positions: Tensor) -> Tensor:
    """hidden [B, T, d], positions [B, S] -> [B, S, d]."""
    return hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))


class ListwiseRanker(L.LightningModule):
    """LoRA causal LM trained to write candidate labels best first."""

    def __init__(self, model: nn.Module, label_ids: list[int], losses: nn.ModuleDict, *, lr: float = 1e-4,
                 weight_decay: float = 0.0, warmup_steps: int = 0, schedule: str = "constant",
                 min_lr_ratio: float = 0.0, ks: tuple[int, ...] = (1, 3, 5, 10),
                 y_over: str = "vocab", selection_metric: str = "ndcg@5",
                 report: tuple[str, ...] = ("ndcg", "hr", "mrr"), subset_metrics: bool = True,
                 grad_norm_every: int = 0) -> None:
        super().__init__()
        self.model = model
        self.losses = losses
        self.register_buffer("label_ids", torch.tensor(label_ids, dtype=torch.long), persistent=False)
        self.lr, self.weight_decay, self.warmup_steps = lr, weight_decay, warmup_steps
        self.schedule, self.min_lr_ratio = schedule, min_lr_ratio
        self.grad_norm_every = int(grad_norm_every)
        self.y_over = y_over
        self.ks = tuple(ks)
        self.selection_metric = selection_metric
        # Graded explicit lists have a positive item in every list, so HR/MRR are trivially 1 there.
        self.report = tuple(report)
        # Rerank protocol: also metrics over lists whose target the retriever found (hits only).
        self.subset_metrics = subset_metrics
        self.val_metrics = RankingMetrics(ks=self.ks)
        self.test_metrics = RankingMetrics(ks=self.ks)
        self.test_subset_metrics = RankingMetrics(ks=self.ks)
        self.test_scores: dict[int, Tensor] = {}
        # Checkpoints hold the trainable (LoRA) weights only; the frozen base reloads from its source.
        self.strict_loading = False

    # ---- forward pieces ----------------------------------------------------------------------
    def label_logits(self, hidden_rows: Tensor, m: int) -> Tensor:
        """Logits of the first m labels only: hidden [.., d] @ lm_head.weight[labels].T."""
        head = self.model.get_output_embeddings()
        return hidden_rows @ head.weight[self.label_ids[:m]].T.to(hidden_rows.dtype)

    def y_matrix(self, hidden: Tensor, slot_positions: Tensor) -> Tensor:
        """Y [B, m, m]: probability of each candidate's label at each answer slot."""
        m = slot_positions.shape[1]
        rows = gather_rows(hidden, slot_positions)
        if self.y_over == "labels":
            return torch.softmax(self.label_logits(rows, m).float(), dim=-1)
        logits = self.model.get_output_embeddings()(rows).float()
        return torch.softmax(logits, dim=-1)[..., self.label_ids[:m]]

    def answer_logits(self, hidden: Tensor, sft_labels: Tensor) -> tuple[Tensor, Tensor]:
        """Full-vocab logits only where the next token is an answer token."""
        next_labels = sft_labels[:, 1:]
        mask = next_labels != -100
        rows = hidden[:, :-1][mask]
        return self.model.get_output_embeddings()(rows).float(), next_labels[mask]

    def score(self, batch: dict[str, Tensor]) -> Tensor:
        """Single-pass verbalizer: candidate scores = label probabilities at the first slot."""
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        rows = gather_rows(hidden, batch["slot_positions"][:, :1])[:, 0]
        logits = self.model.get_output_embeddings()(rows).float()
        return torch.softmax(logits, dim=-1)[:, self.label_ids[: batch["gains"].shape[1]]]

    # ---- training ------------------------------------------------------------------------
    def on_train_start(self) -> None:
        # Hugging Face loaders return the model in eval mode; LoRA dropout needs train mode.
        self.model.train()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        terms = self.loss_terms(batch)
        total = sum(terms.values())
        if not torch.isfinite(total):
            raise diverged(total.item(), self.global_step, batch_idx, {k: float(v) for k, v in terms.items()})
        batch_size = int(batch["n_original"])
        if self.grad_norm_every and self.global_step % self.grad_norm_every == 0 and len(terms) > 1:
            for name, norm in self.term_grad_norms(terms).items():
                self.log(f"train/grad_norm_{name}", norm, batch_size=batch_size)
        for name, value in terms.items():
            self.log(f"train/loss_{name}", value, batch_size=batch_size)
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        self.log("train/tokens", float(batch["attention_mask"].sum()), reduce_fx="sum", batch_size=batch_size)
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
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        n = int(batch["n_original"])
        terms: dict[str, Tensor] = {}
        if "sft" in self.losses:
            logits, labels = self.answer_logits(hidden[:n], batch["sft_labels"][:n])
            terms["sft"] = self.losses["sft"].weight * sft_loss(logits[None], labels[None], shift=False)
        if "soft_lambda" in self.losses or "perm_kl" in self.losses:
            y = self.y_matrix(hidden, batch["slot_positions"])
            if "soft_lambda" in self.losses:
                terms["soft_lambda"] = self.losses["soft_lambda"](y[:n], batch["gains"][:n])
            if "perm_kl" in self.losses:
                y_perm = reindex_by_item(y[n:], batch["perm"])
                terms["perm_kl"] = self.losses["perm_kl"](y[:n], y_perm)
        return terms

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        total = self.trainer.max_steps if self.trainer is not None and self.trainer.max_steps > 0 else 0
        factor = lr_factor(self.schedule, max(self.warmup_steps, 0), total, self.min_lr_ratio)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # ---- evaluation ----------------------------------------------------------------------
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.val_metrics.update(self.score(batch), ndcg_gain(batch["gains"]))

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        errors = self.val_metrics.standard_errors()
        self.val_metrics.reset()
        for name, value in values.items():
            if name.split("@")[0] in self.report:
                self.log(f"val/{name}", value, prog_bar=name == self.selection_metric, sync_dist=False)
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
                for name, value in metric.compute().items():
                    if name.split("@")[0] in self.report:
                        self.log(f"{prefix}/{name}", value)
            metric.reset()

    # ---- checkpoints: adapters only ---------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        trainable = {name for name, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        checkpoint["rankexp_trainable_keys"] = sorted(trainable)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        expected = sorted(name for name, p in self.named_parameters() if p.requires_grad)
        saved = checkpoint.get("rankexp_trainable_keys")
        if saved is not None and saved != expected:
            from rankexp.errors import ConfigError

            raise ConfigError(
                "checkpoint was saved for another model or LoRA config: its adapter weights "
                f"({len(saved)} tensors) do not match this model's ({len(expected)}); check `ckpt_path`"
            )


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


def ndcg_gain(ratings: Tensor) -> Tensor:
    """Graded gain 2^r - 1 (ALRO's NDCG); maps binary 0/1 relevance to itself."""
    return torch.pow(2.0, ratings) - 1.0

