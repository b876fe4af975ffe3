"""Candidate readout ranker (`readout=candidate`, ours): one forward scores all m candidates.

Each candidate line of the prompt ends where its rating would be written
(`rankexp.prompts.candidate`). The logits of the R rating tokens at those m positions
give a distribution over ratings per candidate; its expectation is the candidate's score.
Training uses what inference reads: rating cross-entropy at every readout (and, with
`loss.rating_ce.history_weight`, at every history line), optionally SLL's pairwise loss on
the scores, and a permutation KL between the score distributions of two candidate orders.
Evaluation, checkpoints and metrics are every list ranker's (`models/list_ranker.py`); this class
only brings the forward pieces.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor, nn

from rankexp.models.list_ranker import ForwardOutputs, ListRanker
from rankexp.models.scoring import expected_rating, hidden_states, label_logits


class CandidateOutputs(ForwardOutputs):
    """The candidate readout's pieces: rating logits, expected-rating scores (see `rankexp.losses`)."""

    scoring = "candidate"
    provides = ForwardOutputs.provides | {"rating_logits", "rating_targets", "history_logits", "history_targets",
                                          "history_mask", "scores", "scores_permuted"}

    @cached_property
    def logits_all(self) -> Tensor:
        return self.ranker.rating_logits(self.hidden, self.batch["readout_positions"])

    @property
    def rating_logits(self) -> Tensor:
        return self.logits_all[: self.n]

    @property
    def rating_targets(self) -> Tensor:
        return self.batch["rating_targets"][: self.n]

    @property
    def history_mask(self) -> Tensor:
        return self.batch["history_readout"][: self.n] >= 0

    @property
    def history_targets(self) -> Tensor:
        return self.batch["history_targets"][: self.n]

    @cached_property
    def history_logits(self) -> Tensor:
        return self.ranker.rating_logits(self.hidden[: self.n], self.batch["history_readout"][: self.n])

    @cached_property
    def scores_all(self) -> Tensor:
        return expected_rating(self.logits_all, self.ranker.rating_values)

    @property
    def scores(self) -> Tensor:
        return self.scores_all[: self.n]

    @property
    def scores_permuted(self) -> Tensor:
        """The shuffled copies' scores, back in the original slots (indexed by item)."""
        return self.scores_all[self.n:].gather(1, torch.argsort(self.batch["perm"], dim=1))


class CandidateRanker(ListRanker):
    """LoRA causal LM that predicts each candidate's rating at the end of its line."""

    scoring = "candidate"
    outputs = CandidateOutputs

    def __init__(self, model: nn.Module, rating_ids: list[int], rating_values: list[int], losses: nn.ModuleDict,
                 **kwargs) -> None:
        super().__init__(model, losses, **kwargs)
        self.register_buffer("rating_ids", torch.tensor(rating_ids, dtype=torch.long), persistent=False)
        self.register_buffer("rating_values", torch.tensor(rating_values, dtype=torch.float32), persistent=False)

    def rating_logits(self, hidden: Tensor, positions: Tensor) -> Tensor:
        """[B, S, R] fp32 logits of the rating tokens at `positions` [B, S] (-1 = padding, read at 0)."""
        return label_logits(self.model, hidden, positions.clamp_min(0), self.rating_ids)

    def score(self, batch: dict[str, Tensor]) -> Tensor:
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        return expected_rating(self.rating_logits(hidden, batch["readout_positions"]), self.rating_values)
