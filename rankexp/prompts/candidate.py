"""Candidate readout (`readout=candidate`, ours): each candidate is scored at the end of its own line.

The slot verbalizer asks the model to find the best line and copy its letter: a two-hop
pattern that a small model replaces with a slot prior. Here the prompt lists the user's
history as `- Title (avg 4.1): 4` lines and then the candidates as the same lines without
the rating. In one forward, the next-token distribution over the rating tokens at the end of
each candidate line is that candidate's predicted rating; its expectation is the score.
The history lines teach the pattern in context, and a candidate's score is read next to its
own title and hint, whatever its position.

Lines are tokenized one piece at a time and joined as ids, so every readout position is
known exactly and a history line and a candidate line share their tokens up to the rating.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from rankexp.data.examples import ListwiseExample
from rankexp.errors import ConfigError
from rankexp.prompts.core import encode
from rankexp.prompts.style import LABELS, PromptStyle, short_title
from rankexp.prompts.templates import Template, shipped

log = logging.getLogger(__name__)
CANDIDATE_FIELDS = ("noun", "rating_max", "hint_note", "title", "hint", "m")


def rating_tokens(tokenizer, values: list[int]) -> tuple[list[int], list[int]]:
    """(gap ids, rating ids): `": 4"` is `":"` + gap + one rating token, the same gap for every value.

    SmolLM2 writes " 4" as " " + "4" (gap = [" "]); a tokenizer with " 4" as one token has no gap.
    The readout is the last token before the rating, so the gap goes at the end of candidate lines.
    """
    colon = tokenizer.encode(":", add_special_tokens=False)
    tails = []
    for value in values:
        ids = tokenizer.encode(f": {value}", add_special_tokens=False)
        if ids[: len(colon)] != colon:
            raise ConfigError(f"the tokenizer merges ':' with the rating {value}; `readout=candidate` needs "
                              "ratings written as separate tokens")
        tails.append(ids[len(colon):])
    gap = tails[0][:-1]
    if any(tail[:-1] != gap for tail in tails) or len({tail[-1] for tail in tails}) != len(values):
        shown = {v: [tokenizer.decode([i]) for i in t] for v, t in zip(values, tails)}
        raise ConfigError(f"`readout=candidate` needs each rating to be one token after ': ', got {shown}; "
                          "this dataset's rating scale does not fit (use readout=slot)")
    return gap, [tail[-1] for tail in tails]


@dataclass
class CandidateEncoded:
    """One list as ids, with the position that predicts each candidate's (and history item's) rating."""

    input_ids: list[int]
    readout: list[int]
    history_readout: list[int]
    history_targets: list[int]  # index into the rating values, one per history line
    gains: np.ndarray
    target_slots: np.ndarray
    truncated_history: int


class CandidateEncoder:
    """Renders and tokenizes candidate-readout prompts; `collate` builds the batches."""

    def __init__(self, tokenizer, titles: np.ndarray, style: PromptStyle, max_length: int,
                 rating_values: list[int], template: Mapping | None = None) -> None:
        self.template = Template(template if template is not None else shipped("candidate"), "candidate",
                                 CANDIDATE_FIELDS)
        if not self.template("line", title="", hint="").endswith(":"):
            raise ConfigError("`prompt.line` must end in ':' (each candidate's rating is read where it would follow)")
        self.tokenizer, self.titles, self.style, self.max_length = tokenizer, titles, style, max_length
        self.rating_values = list(rating_values)
        self.gap, self.rating_ids = rating_tokens(tokenizer, self.rating_values)
        self.newline = tokenizer.encode("\n", add_special_tokens=False)
        self.labels = list(LABELS)  # slot names for tables; the prompt itself shows no labels
        self.truncations = 0

    def _piece(self, text: str) -> list[int]:
        return encode(self.tokenizer, text)

    def _line(self, item: int, hint: str) -> list[int]:
        shown = self.template("hint", hint=hint) if self.style.hints and hint else ""
        title = short_title(self.titles[item], self.style.title_max_chars)
        return self._piece(self.template("line", title=title, hint=shown)) + self.gap

    def header(self) -> str:
        note = self.template("hint_note") if self.style.hints else ""
        return self.template("header", noun=self.style.item_noun, rating_max=self.style.rating_max, hint_note=note)

    def _rating_index(self, rating: float) -> int:
        value = round(float(rating))
        if value not in self.rating_values:
            raise ConfigError(f"rating {rating} is not one of the rating tokens {self.rating_values}")
        return self.rating_values.index(value)

    def _ids(self, example: ListwiseExample, history_from: int) -> CandidateEncoded:
        ids = self._piece(self.header())
        history_readout, history_targets = [], []
        hints = example.history_hints or [""] * len(example.history)
        for item, rating, hint in list(zip(example.history, example.history_ratings, hints))[history_from:]:
            ids += self._line(int(item), hint)
            history_readout.append(len(ids) - 1)
            history_targets.append(self._rating_index(rating))
            ids += [self.rating_ids[history_targets[-1]]] + self.newline
        ids += self._piece(self.template("candidates_header", m=len(example.candidates), noun=self.style.item_noun))
        readout = []
        for item, hint in zip(example.candidates, example.hints or [""] * len(example.candidates)):
            ids += self._line(int(item), hint)
            readout.append(len(ids) - 1)
            ids += self.newline
        return CandidateEncoded(ids, readout, history_readout, history_targets, example.gains, example.target_slots,
                                history_from)

    def encode(self, example: ListwiseExample, with_target: bool = True) -> CandidateEncoded:
        """Ids of one list; the oldest history lines are dropped until it fits `model.max_length`."""
        for dropped in range(len(example.history) + 1):
            encoded = self._ids(example, dropped)
            if len(encoded.input_ids) <= self.max_length:
                if dropped:
                    self.truncations += 1
                return encoded
        raise ConfigError(f"a candidate prompt with no history is {len(encoded.input_ids)} tokens, over "
                          f"`model.max_length`={self.max_length}; lower `protocol.m` or `task.title_max_chars`")

    def rating_targets(self, example_gains: np.ndarray) -> list[int]:
        return [self._rating_index(g) for g in example_gains]

    def collate(self, encoded: list[CandidateEncoded], pad_id: int, with_target: bool) -> dict[str, torch.Tensor]:
        """Right-padded batch; `history_readout` is padded with -1 (no line)."""
        width = max(len(e.input_ids) for e in encoded)
        n_hist = max([len(e.history_readout) for e in encoded] + [1])
        batch = len(encoded)
        input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
        attention = torch.zeros((batch, width), dtype=torch.long)
        history_readout = torch.full((batch, n_hist), -1, dtype=torch.long)
        history_targets = torch.zeros((batch, n_hist), dtype=torch.long)
        for row, item in enumerate(encoded):
            input_ids[row, : len(item.input_ids)] = torch.tensor(item.input_ids)
            attention[row, : len(item.input_ids)] = 1
            history_readout[row, : len(item.history_readout)] = torch.tensor(item.history_readout, dtype=torch.long)
            history_targets[row, : len(item.history_targets)] = torch.tensor(item.history_targets, dtype=torch.long)
        out = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "readout_positions": torch.tensor([e.readout for e in encoded], dtype=torch.long),
            "history_readout": history_readout,
            "history_targets": history_targets,
            "gains": torch.tensor(np.stack([e.gains for e in encoded]), dtype=torch.float32),
            "target_slots": torch.tensor(np.stack([e.target_slots for e in encoded]), dtype=torch.long),
        }
        if with_target:
            out["rating_targets"] = torch.tensor([self.rating_targets(e.gains) for e in encoded], dtype=torch.long)
        return out

