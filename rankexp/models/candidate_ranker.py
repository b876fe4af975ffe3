"""Candidate readout ranker (`task.scoring=candidate`, ours): one forward scores all m candidates.

Each candidate line of the prompt ends where its rating would be written
(`rankexp.prompts.candidate`). The logits of the R rating tokens at those m positions
give a distribution over ratings per candidate; its expectation is the candidate's score.
Training uses what inference reads: rating cross-entropy at every readout (and, with
`loss.rating_ce.history_weight`, at every history line), optionally SLL's pairwise loss on
the scores, and a permutation KL between the score distributions of two candidate orders.
Evaluation, checkpoints and metrics are the slot ranker's (this class only changes the
forward pieces).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rankexp.errors import ConfigError
from rankexp.models.ranker import ListwiseRanker, gather_rows, hidden_states

CANDIDATE_LOSSES = ("rating_ce", "soft_lambda", "perm_kl")


class CandidateRanker(ListwiseRanker):
    """LoRA causal LM that predicts each candidate's rating at the end of its line."""

    def __init__(self, model: nn.Module, rating_ids: list[int], rating_values: list[int], losses: nn.ModuleDict,
                 **kwargs) -> None:
        unknown = sorted(set(losses) - set(CANDIDATE_LOSSES))
        if unknown:
            raise ConfigError(f"`task.scoring=candidate` trains with `loss` in {list(CANDIDATE_LOSSES)}; "
                              f"{unknown} read the slot answer it does not write (use task.scoring=slot)")
        if "rating_ce" not in losses and "soft_lambda" not in losses:
            raise ConfigError("`task.scoring=candidate` needs `loss=[rating_ce]` or `soft_lambda` to learn the ratings")
        super().__init__(model, rating_ids, losses, **kwargs)
        self.register_buffer("rating_values", torch.tensor(rating_values, dtype=torch.float32), persistent=False)

    def rating_logits(self, hidden: Tensor, positions: Tensor) -> Tensor:
        """[B, S, R] logits of the rating tokens at `positions` [B, S] (LM-head rows of those tokens only)."""
        rows = gather_rows(hidden, positions.clamp_min(0))
        head = self.model.get_output_embeddings()
        return (rows @ head.weight[self.label_ids].T.to(rows.dtype)).float()

    def expected_rating(self, logits: Tensor) -> Tensor:
        return torch.softmax(logits, dim=-1) @ self.rating_values.to(logits.device)

    def score(self, batch: dict[str, Tensor]) -> Tensor:
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        return self.expected_rating(self.rating_logits(hidden, batch["readout_positions"]))

    def loss_terms(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        n = int(batch["n_original"])
        logits = self.rating_logits(hidden, batch["readout_positions"])
        terms: dict[str, Tensor] = {}
        if "rating_ce" in self.losses:
            history = batch["history_readout"][:n]
            terms["rating_ce"] = self.losses["rating_ce"](
                logits[:n], batch["rating_targets"][:n], self.rating_logits(hidden[:n], history),
                batch["history_targets"][:n], history >= 0)
        scores = self.expected_rating(logits)
        if "soft_lambda" in self.losses:
            terms["soft_lambda"] = self.losses["soft_lambda"].on_scores(scores[:n], batch["gains"][:n])
        if "perm_kl" in self.losses:
            permuted = scores[n:].gather(1, torch.argsort(batch["perm"], dim=1))  # back to the original slots
            terms["perm_kl"] = self.losses["perm_kl"].on_scores(scores[:n], permuted)
        return terms
