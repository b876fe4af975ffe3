"""How items are written in every prompt: the label alphabet, `PromptStyle`, short titles.

Labels are single capital letters, one per line in the answer ("C\nA\nF"): in
SmolLM2's and Llama's tokenizers each letter after a newline is the same single
token as the letter alone, while "C, A" would give " A" (another id). The encoders
check this on the tokenized strings (`rankexp.prompts.core.check_label_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass

from rankexp.errors import ConfigError

LABELS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def labels_for(m: int, alphabet: str | tuple[str, ...] = LABELS) -> list[str]:
    if m > len(alphabet):
        raise ConfigError(
            f"`protocol.m`={m} candidates need {m} labels but `task.labels` has only {len(alphabet)}"
        )
    return list(alphabet[:m])


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


def strip_years(titles):
    """Drop a trailing " (1995)": four digits cost ~7 tokens a line with digit-splitting tokenizers."""
    import re

    import numpy as np

    return np.array([re.sub(r"\s*\(\d{4}\)\s*$", "", str(t)) or str(t) for t in titles], dtype=object)
