"""Next-token SFT loss on the target tokens only — docs/alro.md, "Objective" (the L_sft term).

Prompt tokens are masked with -100 in `labels`, so the model is trained to
write the ranked identifiers, not to reproduce the prompt.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rankexp.losses.common import check_weight

IGNORE_INDEX = -100


def sft_loss(logits: Tensor, labels: Tensor, shift: bool = True, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Mean token cross-entropy over the non-masked target tokens.

    Args:
        logits: [B, T, V] logits or log-probabilities (cross-entropy applies
            log_softmax, which leaves log-probabilities unchanged).
        labels: [B, T] token ids, `ignore_index` (-100) where not trained on.
        shift: True for Hugging Face causal-LM layout (labels aligned with
            input_ids, so position t predicts labels[t + 1]); False when
            logits[:, t] already predicts labels[:, t].

    Returns:
        Scalar mean over target tokens; 0 (with a grad_fn) if none is unmasked,
        where `F.cross_entropy(reduction="mean")` would return NaN.
    """
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_labels = labels.reshape(-1).to(device=logits.device, dtype=torch.long)
    total = nn.functional.cross_entropy(flat_logits.float(), flat_labels, ignore_index=ignore_index, reduction="sum")
    return total / (flat_labels != ignore_index).sum().clamp_min(1)


class SFTLoss(nn.Module):
    """`weight * sft_loss(logits, labels)`; config group `loss/sft`."""

    name = "sft"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = check_weight(weight, self.name)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return self.weight * sft_loss(logits, labels)

    needs = (("answer_logits",),)
    needs_permuted = False

    def term(self, out) -> Tensor:
        """Next-token CE on the answer tokens of the original (not the shuffled) prompts."""
        logits, labels = out.answer_logits
        return self.weight * sft_loss(logits[None], labels[None], shift=False)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
