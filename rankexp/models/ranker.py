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

from functools import cached_property

import torch
from torch import Tensor, nn

from rankexp.losses import reindex_by_item
from rankexp.models.list_ranker import ForwardOutputs, ListRanker, check_losses  # noqa: F401 - re-exported
from rankexp.models.scoring import answer_logits, gather_rows, hidden_states, vocab_probs, y_matrix


class SlotOutputs(ForwardOutputs):
    """The slot verbalizer's pieces: answer logits and ALRO's Y (a list without `perm_kl` never
    builds the shuffled lists' Y)."""

    scoring = "slot"
    provides = ForwardOutputs.provides | {"answer_logits", "y", "y_permuted"}

    @cached_property
    def answer_logits(self) -> tuple[Tensor, Tensor]:
        return answer_logits(self.ranker.model, self.hidden[: self.n], self.batch["sft_labels"][: self.n])

    @cached_property
    def y_all(self) -> Tensor:
        r = self.ranker
        return y_matrix(r.model, self.hidden, self.batch["slot_positions"], r.label_ids, r.y_over)

    @property
    def y(self) -> Tensor:
        return self.y_all[: self.n]

    @property
    def y_permuted(self) -> Tensor:
        return reindex_by_item(self.y_all[self.n:], self.batch["perm"])


class ListwiseRanker(ListRanker):
    """The slot verbalizer's module: a LoRA causal LM trained to write candidate labels best first."""

    def __init__(self, model: nn.Module, label_ids: list[int], losses: nn.ModuleDict, *, y_over: str = "vocab",
                 **settings) -> None:
        super().__init__(model, losses, **settings)
        self.register_buffer("label_ids", torch.tensor(label_ids, dtype=torch.long), persistent=False)
        self.y_over = y_over

    # ---- forward pieces (all in rankexp.models.scoring) -----------------------------------------
    scoring = "slot"
    outputs = SlotOutputs

    def score(self, batch: dict[str, Tensor]) -> Tensor:
        """Single-pass verbalizer: candidate scores = label probabilities at the first slot."""
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        rows = gather_rows(hidden, batch["slot_positions"][:, :1])[:, 0]
        return vocab_probs(self.model, rows, self.label_ids[: batch["gains"].shape[1]])
