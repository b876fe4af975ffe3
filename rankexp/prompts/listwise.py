"""The listwise prompt (ALRO's slot verbalizer): its template and its encoder.

Prompt and answer are tokenized separately and concatenated as ids, the same
way at training and at inference, so the answer's first label is the same
token whichever way it is produced. Every answer is checked to tokenize as
`label, newline, label, ...` with the expected label ids (docs/protocols.md pitfall:
take label ids from the tokenized training string itself).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch

from rankexp.data.examples import ListwiseExample
from rankexp.errors import ConfigError
from rankexp.prompts.core import after_newline, chat_parts, label_lines
from rankexp.prompts.style import PromptStyle, short_title
from rankexp.prompts.templates import Template, shipped

log = logging.getLogger(__name__)


LISTWISE_FIELDS = ("noun", "rating_max", "m", "title", "rating", "label", "hint")


def listwise_prompt(example: ListwiseExample, titles: np.ndarray, labels: list[str], style: PromptStyle,
                    template: Template | None = None) -> str:
    """The user turn: history, candidates with labels, the answer format (`conf/prompt/listwise.yaml`)."""
    t = template or Template(shipped("listwise"), "listwise", LISTWISE_FIELDS)
    noun, rated = style.item_noun, style.history_with_ratings
    lines = [t("history_header" if rated else "history_header_unrated", noun=noun, rating_max=style.rating_max)]
    for item, rating in zip(example.history, example.history_ratings):
        title = short_title(titles[item], style.title_max_chars)
        lines.append(t("history_line", title=title, rating=int(rating)) if rated else t("history_line_unrated", title=title))
    lines.append(t("candidates_header", m=len(example.candidates), noun=noun))
    for label, item, hint in zip(labels, example.candidates, example.hints or [""] * len(labels)):
        suffix = t("hint", hint=hint) if style.hints and hint else ""
        lines.append(t("candidate_line", label=label, title=short_title(titles[item], style.title_max_chars), hint=suffix))
    lines.append(t("instruction", noun=noun, m=len(example.candidates)))
    return "\n".join(lines)


def listwise_target(example: ListwiseExample, labels: list[str]) -> str:
    return "\n".join(labels[slot] for slot in example.target_slots)


@dataclass
class Encoded:
    prompt_ids: list[int]
    target_ids: list[int]
    gains: np.ndarray
    target_slots: np.ndarray
    truncated_history: int


class ListwiseEncoder:
    """Renders and tokenizes listwise prompts for one tokenizer and label alphabet."""

    def __init__(self, tokenizer, titles: np.ndarray, labels: list[str], style: PromptStyle, max_length: int,
                 chat_template: bool = True, template: Mapping | None = None) -> None:
        self.template = Template(template if template is not None else shipped("listwise"), "listwise",
                                 LISTWISE_FIELDS)
        self.tokenizer = tokenizer
        self.titles = titles
        self.labels = labels
        self.style = style
        self.max_length = max_length
        self.chat_template = chat_template and getattr(tokenizer, "chat_template", None) is not None
        self.head, self.tail = chat_parts(tokenizer, self.chat_template, self.template("plain_tail"))
        self.label_ids, self.newline_id = label_lines(tokenizer, labels)
        self.truncations = 0

    def answer_ids(self, text: str) -> list[int]:
        """Token ids of an answer as it appears after a newline (the end of the prompt)."""
        return after_newline(self.tokenizer, text)

    def render(self, example: ListwiseExample) -> str:
        text = listwise_prompt(example, self.titles, self.labels[: len(example.candidates)], self.style, self.template)
        return self.head + text + self.tail

    def prompt_ids(self, example: ListwiseExample) -> tuple[list[int], int]:
        """Prompt ids, dropping the oldest history items until the prompt fits."""
        answer_room = 2 * len(example.candidates)
        dropped = 0
        while True:
            ids = self.tokenizer.encode(self.render(example), add_special_tokens=False)
            if len(ids) + answer_room <= self.max_length:
                return ids, dropped
            if len(example.history) == 0:
                raise ConfigError(
                    f"a prompt with no history is {len(ids)} tokens plus {answer_room} answer tokens, over "
                    f"`model.max_length`={self.max_length}; lower `protocol.m` or `task.title_max_chars`"
                )
            example = replace(example, history=example.history[1:], history_ratings=example.history_ratings[1:])
            dropped += 1

    def target_ids(self, example: ListwiseExample) -> list[int]:
        text = listwise_target(example, self.labels)
        ids = self.answer_ids(text)
        expected = []
        for slot in example.target_slots:
            expected += [self.label_ids[slot], self.newline_id]
        if ids != expected[:-1]:
            raise ConfigError(f"answer {text!r} does not tokenize as one token per label; check `task.labels`")
        return ids

    @staticmethod
    def collate(encoded: list[Encoded], pad_id: int, with_target: bool) -> dict[str, torch.Tensor]:
        return collate(encoded, pad_id, with_target)

    def encode(self, example: ListwiseExample, with_target: bool = True) -> Encoded:
        prompt, dropped = self.prompt_ids(example)
        if dropped:
            self.truncations += 1
            log.debug("dropped %d oldest history items of user %d to fit the context", dropped, example.user)
        target = self.target_ids(example) if with_target else []
        return Encoded(prompt, target, example.gains, example.target_slots, dropped)


def collate(encoded: list[Encoded], pad_id: int, with_target: bool) -> dict[str, torch.Tensor]:
    """Right-padded batch. `slot_positions[b, k]` is the position whose next token is slot k."""
    lengths = [len(e.prompt_ids) + (len(e.target_ids) if with_target else 0) for e in encoded]
    width = max(lengths)
    batch = len(encoded)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention = torch.zeros((batch, width), dtype=torch.long)
    sft_labels = torch.full((batch, width), -100, dtype=torch.long)
    m = len(encoded[0].gains)
    slots = torch.zeros((batch, m), dtype=torch.long)
    for row, (item, length) in enumerate(zip(encoded, lengths)):
        ids = item.prompt_ids + (item.target_ids if with_target else [])
        input_ids[row, :length] = torch.tensor(ids)
        attention[row, :length] = 1
        start = len(item.prompt_ids)
        if with_target:
            sft_labels[row, start:length] = torch.tensor(item.target_ids)
        slots[row] = start - 1 + 2 * torch.arange(m)
    return {
        "input_ids": input_ids,
        "attention_mask": attention,
        "sft_labels": sft_labels,
        "slot_positions": slots,
        "prompt_lengths": torch.tensor([len(e.prompt_ids) for e in encoded]),
        "gains": torch.tensor(np.stack([e.gains for e in encoded]), dtype=torch.float32),
        "target_slots": torch.tensor(np.stack([e.target_slots for e in encoded]), dtype=torch.long),
    }
