"""RecRanker instructions -> token ids, as SHARED PREFIX + TASK SUFFIX + ANSWER (docs/recranker.md).

Every prompt is rendered in two pieces, tokenized separately and concatenated as ids, the same way
at training and at inference:
- prefix: chat-template head + instruction + the user's history (`recranker_text.history_lines`);
  identical for all of one user's evaluation prompts, so its KV cache is computed once
  (`rankexp.models.hybrid`);
- suffix: the task's question (pointwise / pairwise / listwise) + chat-template tail.
With `candidates_in_prefix` the prefix also shows the m labelled candidates (the retriever's top-m
at evaluation, the asked items among random unrated ones in training) and each question is one short
line naming labels ("Does the user prefer C over F?"); hints are the candidates' predicted ratings in
the block. A pointwise or pairwise suffix shrinks from ~60 tokens (titles, hint) to 15-17, and the
paper's 21 prompts per user cost 2.5x one listwise pass instead of 4.6x (experiments/results/bench_hybrid.json).
The answer is tokenized as it follows the prompt's final newline (`_after_newline`) and checked to
be single tokens: `1`..`5` (pointwise), `Yes` / `No` (pairwise), top-5 labels one per line
(listwise, the ListwiseEncoder convention). Scoring reads the LM head at the last prompt token.

Rating scales with a two-digit top (BookCrossing 1-10: "10" is two tokens) are shown and answered
on 1..n bins, n = number of pointwise answers (`RatingBins`): 1-2 -> 1, ..., 9-10 -> 5.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rankexp.data.examples import ListwiseExample
from rankexp.data.recranker import (
    LISTWISE_TOP,
    PAIRWISE_ANSWERS,
    POINTWISE_ANSWERS,
    PairwiseExample,
    PointwiseExample,
    PredictRating,
)
from rankexp.errors import ConfigError
from rankexp.prompts.core import after_newline, chat_parts, encode, label_lines, single_tokens
from rankexp.prompts.recranker_text import (
    history_lines,
    listwise_top_target,
    pairwise_prompt,
    pointwise_prompt,
    recranker_template,
)
from rankexp.prompts.style import PromptStyle, short_title

log = logging.getLogger(__name__)
IGNORE = -100


@dataclass(frozen=True)
class RatingBins:
    """Raw rating scale -> 1..n shown and answered in prompts (identity when the scale is 1..n)."""

    lo: int
    hi: int
    n: int

    @property
    def identity(self) -> bool:
        return self.lo == 1 and self.hi == self.n

    def __call__(self, ratings) -> np.ndarray:
        r = np.asarray(ratings, dtype=np.float64)
        if self.identity:
            return np.rint(r).astype(np.int64)
        binned = 1 + np.floor((np.rint(r) - self.lo) * self.n / (self.hi - self.lo + 1))
        return np.clip(binned, 1, self.n).astype(np.int64)

    def continuous(self, value: float) -> float:
        """A predicted (real-valued) rating on the 1..n scale: endpoints map to endpoints."""
        if self.identity:
            return float(value)
        return float(np.clip(1 + (value - self.lo) * (self.n - 1) / (self.hi - self.lo), 1, self.n))


def rating_bins(scale: Sequence[float], n_answers: int) -> RatingBins:
    # A scale starting at 0 (BookCrossing: 0 = implicit, dropped) is answered from 1.
    return RatingBins(max(1, int(scale[0])), int(scale[1]), int(n_answers))


@dataclass
class Encoded:
    task: str
    prefix_ids: list[int]
    suffix_ids: list[int]
    answer_ids: list[int]
    dropped: int = 0  # history items dropped to fit max_length


class InstructionEncoder:
    """Renders and tokenizes the three RecRanker tasks for one tokenizer."""

    def __init__(self, tokenizer, titles: np.ndarray, style: PromptStyle, listwise_labels: Sequence[str], *,
                 pointwise_answers: Sequence[str] = POINTWISE_ANSWERS,
                 pairwise_answers: Sequence[str] = PAIRWISE_ANSWERS, rating_scale: Sequence[float] = (1, 5),
                 max_length: int = 1024, chat_template: bool = True, listwise_top: int = LISTWISE_TOP,
                 candidates_in_prefix: bool = False, block_hint: PredictRating | None = None,
                 template: Mapping | None = None) -> None:
        self.template = recranker_template(template)
        self.tokenizer, self.titles, self.max_length = tokenizer, titles, max_length
        self.bins = rating_bins(rating_scale, len(pointwise_answers))
        self.style = replace(style, rating_max=self.bins.n)
        self.labels, self.listwise_top = list(listwise_labels), listwise_top
        self.candidates_in_prefix = candidates_in_prefix
        # candidates_in_prefix + hints: each candidate's predicted rating is shown in the block (train-only,
        # leave-one-out source), so the questions carry no hint text
        self.block_hint = block_hint if style.hints else None
        if candidates_in_prefix and style.hints and block_hint is None:
            raise ConfigError("`task.candidates_in_prefix` with `task.hints` shows each candidate's predicted rating: "
                              "the encoder needs `block_hint` (rankexp.recipes.recranker passes the pointwise hint function)")
        self.answers = {"pointwise": list(pointwise_answers), "pairwise": list(pairwise_answers)}
        if len(self.answers["pairwise"]) != 2:
            raise ConfigError(f"pairwise answers must be two strings (yes, no), got {pairwise_answers}")
        self.chat_template = chat_template and getattr(tokenizer, "chat_template", None) is not None
        self.head, self.tail = self._template()
        self.newline = self._encode("\n")
        self.answer_token_ids = {task: single_tokens(tokenizer, task, answers) for task, answers in self.answers.items()}
        self.answer_token_ids["listwise"] = label_lines(tokenizer, self.labels)[0]
        single_tokens(tokenizer, "listwise", self.labels)
        self.truncations = 0

    # ---- tokens ---------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return encode(self.tokenizer, text)

    def _after_newline(self, text: str) -> list[int]:
        """Ids of `text` as it follows the prompt's final newline (no SentencePiece word-start marker)."""
        return after_newline(self.tokenizer, text)

    def _template(self) -> tuple[str, str]:
        head, tail = chat_parts(self.tokenizer, self.chat_template, self.template("plain_tail"))
        if self.chat_template and not tail.endswith("\n"):
            raise ConfigError("the chat template does not end the prompt with a newline; set `+task.chat_template=false`")
        return head, tail

    # ---- text -----------------------------------------------------------------------------------
    def _history_block(self, history, history_ratings) -> str:
        return "\n".join(history_lines(history, self.bins(history_ratings), self.titles, self.style, 1, self.template))

    def prefix_text(self, history, history_ratings, block=None, user: int | None = None) -> str:
        text = self.head + self._history_block(history, history_ratings)
        return text if block is None else text + self._block_text(block, user)

    def block_of(self, task: str, example) -> np.ndarray | None:
        """The candidates a `candidates_in_prefix` prompt shows before its question (None otherwise)."""
        if not self.candidates_in_prefix:
            return None
        block = example.candidates if task == "listwise" else example.block
        if block is None:
            raise ValueError(f"`task.candidates_in_prefix` needs the {task} example's candidate block")
        if len(block) > len(self.labels):
            raise ConfigError(f"{len(block)} candidates need {len(block)} labels; `task.labels` has {len(self.labels)}")
        return np.asarray(block)

    def _block_text(self, block, user: int | None) -> str:
        names = [short_title(self.titles[item], self.style.title_max_chars) for item in block]
        t, noun = self.template, self.style.item_noun
        if self.block_hint is None:
            lines = [t("block_header", noun=noun)]
        else:
            if user is None:
                raise ValueError("block hints need the user")
            lines = [t("block_header_hinted", noun=noun)]
            values = self.block_hint(int(user), np.asarray(block))
            names = [t("block_hinted_title", title=name, hint=self.bins.continuous(float(v)))
                     for name, v in zip(names, values)]
        lines += [t("block_line", label=label, title=name) for label, name in zip(self.labels, names)]
        return "\n" + "\n".join(lines)

    def suffix_text(self, task: str, example) -> str:
        """The question after the shared history block (starts with a newline), plus the template tail."""
        if self.candidates_in_prefix:
            return self._label_question(task, example) + self.tail
        empty = np.zeros(0, dtype=np.int64)
        if task == "pointwise":
            hint = None if example.hint is None else self.bins.continuous(example.hint)
            shown = replace(example, history=empty, history_ratings=empty, hint=hint)
            body = pointwise_prompt(shown, self.titles, self.style, 1, self.template)
        elif task == "pairwise":
            body = pairwise_prompt(replace(example, history=empty, history_ratings=empty), self.titles, self.style, 1,
                                   self.template)
        elif task == "listwise":
            body = self._listwise_question(example)
        else:
            raise ConfigError(f"unknown RecRanker task {task!r}")
        header = self._history_block(empty, empty)
        if task != "listwise":  # the task renderers repeat the history header: cut it
            body = body[len(header):]
        return body + self.tail

    def _label_question(self, task: str, example) -> str:
        """`candidates_in_prefix`: one short line naming candidates by their label in the prefix block
        (every suffix token is paid once per prompt, the prefix once per user). Hints, if on, are the
        predicted ratings in the block (`block_hint`), not repeated here."""
        block = self.block_of(task, example)
        label = dict(zip(block.tolist(), self.labels))
        t = self.template
        if task == "pointwise":
            return "\n" + t("label_pointwise", label=label[example.item], n=self.bins.n)
        if task == "pairwise":
            return "\n" + t("label_pairwise", first=label[example.first], second=label[example.second])
        if task == "listwise":
            return "\n" + t("label_listwise", top=min(self.listwise_top, len(block)))
        raise ConfigError(f"unknown RecRanker task {task!r}")

    def _listwise_question(self, ex: ListwiseExample) -> str:
        noun, m = self.style.item_noun, len(ex.candidates)
        if m > len(self.labels):
            raise ConfigError(f"{m} listwise candidates need {m} labels; `task.labels` has {len(self.labels)}")
        t = self.template
        lines = [t("listwise_header", m=m, noun=noun)]
        for label, item, hint in zip(self.labels, ex.candidates, ex.hints or [""] * m):
            suffix = t("listwise_hint", hint=hint) if self.style.hints and hint else ""
            title = short_title(self.titles[item], self.style.title_max_chars)
            lines.append(t("listwise_line", label=label, title=title, hint=suffix))
        lines.append(t("listwise_instruction", top=min(self.listwise_top, m)))
        return "\n" + "\n".join(lines)

    def answer_text(self, task: str, example) -> str:
        if task == "pointwise":
            return self.answers["pointwise"][int(self.bins([example.rating])[0]) - 1]
        if task == "pairwise":
            return self.answers["pairwise"][0 if example.first_preferred else 1]
        return listwise_top_target(example, self.labels, self.listwise_top)

    def answer_ids(self, task: str, example) -> list[int]:
        ids = self._after_newline(self.answer_text(task, example))
        if task == "listwise":
            label_ids = self.answer_token_ids["listwise"]
            expected = []
            for slot in example.target_slots[: self.listwise_top]:
                expected += [label_ids[int(slot)], self.newline[-1]]
            if ids != expected[:-1]:
                raise ConfigError("the listwise answer does not tokenize as one token per label; check `task.labels`")
        elif len(ids) != 1 or ids[0] not in self.answer_token_ids[task]:
            raise ConfigError(f"{task} answer {self.answer_text(task, example)!r} is not one answer token")
        return ids

    # ---- ids ------------------------------------------------------------------------------------
    def prefix_ids(self, history, history_ratings, room: int, block=None, user: int | None = None) -> tuple[list[int], int]:
        """Prefix ids, dropping the first history items until prefix + `room` tokens fit max_length."""
        history, ratings = np.asarray(history), np.asarray(history_ratings)
        for dropped in range(len(history) + 1):
            ids = self._encode(self.prefix_text(history[dropped:], ratings[dropped:], block, user))
            if len(ids) + room <= self.max_length:
                if dropped:
                    self.truncations += 1
                return ids, dropped
        raise ConfigError(f"a prompt with no history needs {len(ids) + room} tokens, over `model.max_length`="
                          f"{self.max_length}; lower `protocol.m` or `task.title_max_chars`")

    def encode(self, task: str, example, with_answer: bool = True) -> Encoded:
        suffix = self._encode(self.suffix_text(task, example))
        answer = self.answer_ids(task, example) if with_answer else []
        prefix, dropped = self.prefix_ids(example.history, example.history_ratings, len(suffix) + max(len(answer), 1),
                                          self.block_of(task, example), example.user)
        return Encoded(task, prefix, suffix, answer, dropped)

    def encode_user(self, prompts: Sequence[tuple[str, object]]) -> tuple[list[int], list[list[int]], int]:
        """One user's evaluation prompts (same history) -> (shared prefix ids, suffix ids per prompt, dropped)."""
        first = prompts[0][1]
        block = self.block_of(*prompts[0])
        for task, example in prompts[1:]:
            other = self.block_of(task, example)
            if not np.array_equal(example.history, first.history) or (block is not None and not np.array_equal(other, block)):
                raise ValueError("evaluation prompts of one user must show the same history and candidates (shared prefix)")
        suffixes = [self._encode(self.suffix_text(task, example)) for task, example in prompts]
        prefix, dropped = self.prefix_ids(first.history, first.history_ratings, max(map(len, suffixes)) + 1, block,
                                          first.user)
        return prefix, suffixes, dropped


__all__ = ["Encoded", "InstructionEncoder", "PairwiseExample", "PointwiseExample", "RatingBins", "rating_bins"]
