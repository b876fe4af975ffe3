"""RecRanker prompt text and answers: the history block, the pointwise and pairwise questions, targets.

`rankexp.prompts.instructions` splits these texts into the shared prefix (history) and the task suffix.
"""

from __future__ import annotations

import numpy as np

from rankexp.data.examples import ListwiseExample
from rankexp.data.recranker import LISTWISE_TOP, PAIRWISE_ANSWERS, PairwiseExample, PointwiseExample
from rankexp.prompts.style import PromptStyle, short_title


def history_lines(history, history_ratings, titles, style: PromptStyle, rating_min: int) -> list[str]:
    noun = style.item_noun
    scale = f" with their ratings ({rating_min}-{style.rating_max})" if style.history_with_ratings else ""
    lines = [f"Here are {noun}s a user watched{scale}:"]
    for item, rating in zip(history, history_ratings):
        name = short_title(titles[item], style.title_max_chars)
        lines.append(f"- {name}: {int(rating)}" if style.history_with_ratings else f"- {name}")
    return lines


def pointwise_prompt(ex: PointwiseExample, titles: np.ndarray, style: PromptStyle, rating_min: int = 1) -> str:
    lines = history_lines(ex.history, ex.history_ratings, titles, style, rating_min)
    name = short_title(titles[ex.item], style.title_max_chars)
    scale = f"{rating_min} to {style.rating_max}"
    lines.append(f'How would the user rate the {style.item_noun} "{name}" on a scale of {scale}?')
    if style.hints and ex.hint is not None:
        lines.append(f"Hint: another recommender predicts {ex.hint:.1f}.")
    lines.append(f"Answer with one number from {scale}.")
    return "\n".join(lines)


def pointwise_target(ex: PointwiseExample) -> str:
    return str(ex.rating)


def pairwise_prompt(ex: PairwiseExample, titles: np.ndarray, style: PromptStyle, rating_min: int = 1) -> str:
    lines = history_lines(ex.history, ex.history_ratings, titles, style, rating_min)
    first, second = (short_title(titles[i], style.title_max_chars) for i in (ex.first, ex.second))
    lines.append(f'Would the user prefer "{first}" over "{second}"?')
    if style.hints and ex.hint is not None:
        lines.append(f'Hint: another recommender prefers "{short_title(titles[ex.hint], style.title_max_chars)}".')
    lines.append("Answer Yes or No.")
    return "\n".join(lines)


def pairwise_target(ex: PairwiseExample) -> str:
    return PAIRWISE_ANSWERS[0] if ex.first_preferred else PAIRWISE_ANSWERS[1]


def listwise_top_target(ex: ListwiseExample, labels: list[str], top: int = LISTWISE_TOP) -> str:
    """RecRanker's listwise answer: the labels of the best `top` slots, one per line."""
    return "\n".join(labels[s] for s in ex.target_slots[:top])
