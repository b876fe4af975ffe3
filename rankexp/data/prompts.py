"""Prompt text for the listwise task (ALRO) and the label alphabet.

Labels are single capital letters, one per line in the answer ("C\nA\nF"): in
SmolLM2's and Llama's tokenizers each letter after a newline is the same single
token as the letter alone, while "C, A" would give " A" (another id). The
tokenizer-level check lives in `rankexp.models.scoring.label_token_ids`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rankexp.errors import ConfigError

LABELS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def labels_for(m: int, alphabet: str | tuple[str, ...] = LABELS) -> list[str]:
    if m > len(alphabet):
        raise ConfigError(
            f"`protocol.m`={m} candidates need {m} labels but `task.labels` has only {len(alphabet)}"
        )
    return list(alphabet[:m])


@dataclass
class ListwiseExample:
    """One ranking instance: what the prompt shows and what the answer should be."""

    user: int
    history: np.ndarray  # item ids, oldest first
    history_ratings: np.ndarray
    candidates: np.ndarray  # item ids in presented order (slot i gets label i)
    gains: np.ndarray  # relevance per slot: ratings (explicit) or 0/1 (rerank)
    target_slots: np.ndarray  # slots ordered best first (the SFT answer)
    hints: list[str] = field(default_factory=list)
    history_hints: list[str] = field(default_factory=list)  # the same hint for each history item
    prior_scores: np.ndarray | None = None  # the retriever's scores of the candidates (rerank protocol)


@dataclass
class PromptStyle:
    """How items and history are written; every field is a `task.*` config key."""

    item_noun: str = "movie"
    title_max_chars: int = 40
    history_with_ratings: bool = True
    rating_max: int = 5
    hints: bool = False


def short_title(title: str, limit: int) -> str:
    title = " ".join(str(title).split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def listwise_prompt(example: ListwiseExample, titles: np.ndarray, labels: list[str], style: PromptStyle) -> str:
    """The user turn: history, candidates with labels, the answer format."""
    noun = style.item_noun
    lines = [f"Here are {noun}s a user watched, oldest first" + (f" (rating 1-{style.rating_max}):" if style.history_with_ratings else ":")]
    for item, rating in zip(example.history, example.history_ratings):
        name = short_title(titles[item], style.title_max_chars)
        lines.append(f"- {name}: {int(rating)}" if style.history_with_ratings else f"- {name}")
    lines.append(f"Rank these {len(example.candidates)} candidate {noun}s from most to least liked by the user:")
    for label, item, hint in zip(labels, example.candidates, example.hints or [""] * len(labels)):
        suffix = f" [{hint}]" if style.hints and hint else ""
        lines.append(f"{label}. {short_title(titles[item], style.title_max_chars)}{suffix}")
    lines.append("Answer with the letters only, one per line, best first.")
    return "\n".join(lines)


def listwise_target(example: ListwiseExample, labels: list[str]) -> str:
    return "\n".join(labels[slot] for slot in example.target_slots)


def order_by_gain(gains: np.ndarray, tie_key: np.ndarray) -> np.ndarray:
    """Slots best first; equal gains ordered by `tie_key` (smaller first).

    `task.tie_break=random` passes fresh random keys on every draw (docs/alro.md's
    decision), `time` passes the rating timestamps (older first).
    """
    return np.lexsort((tie_key, -gains))
