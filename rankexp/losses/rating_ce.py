"""Rating cross-entropy for candidate readout: the true rating at every readout position.

With `readout=candidate` a list of m candidates gives m training signals (one per
candidate line), and the history lines give `history_weight` times more for free: each
history line's rating is predicted from the lines before it, the same pattern. The softmax
runs over the rating tokens only, which is also what the score (the expected rating) reads.
"""

from __future__ import annotations

from torch import Tensor, nn

from rankexp.errors import ConfigError
from rankexp.losses.common import check_weight


def rating_cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean CE over positions; logits [B, S, R] over the R rating tokens, targets [B, S] in 0..R-1."""
    flat = nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                       reduction="none")
    if mask is None:
        return flat.mean()
    keep = mask.reshape(-1).to(flat.dtype)
    return (flat * keep).sum() / keep.sum().clamp_min(1.0)


class RatingCELoss(nn.Module):
    """`weight * (CE at candidate lines + history_weight * CE at history lines)`; `loss/rating_ce`."""

    name = "rating_ce"

    def __init__(self, weight: float = 1.0, history_weight: float = 0.0) -> None:
        super().__init__()
        self.weight = check_weight(weight, self.name)
        self.history_weight = float(history_weight)
        if not 0 <= self.history_weight < float("inf"):
            raise ConfigError(f"`loss.rating_ce.history_weight` must be a finite number >= 0, got {history_weight}")

    def forward(self, candidate_logits: Tensor, candidate_targets: Tensor, history_logits: Tensor | None = None,
                history_targets: Tensor | None = None, history_mask: Tensor | None = None) -> Tensor:
        loss = rating_cross_entropy(candidate_logits, candidate_targets)
        if self.history_weight and history_logits is not None and history_mask is not None and history_mask.any():
            loss = loss + self.history_weight * rating_cross_entropy(history_logits, history_targets, history_mask)
        return self.weight * loss

    needs = (("rating_logits", "rating_targets", "history_logits", "history_targets", "history_mask"),)
    needs_permuted = False

    def term(self, out) -> Tensor:
        return self(out.rating_logits, out.rating_targets, out.history_logits, out.history_targets, out.history_mask)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, history_weight={self.history_weight}"

