"""RecRanker prompt text and answers: the history block, the pointwise and pairwise questions, targets.

`rankexp.prompts.instructions` splits these texts into the shared prefix (history) and the task suffix.
"""

from __future__ import annotations

import numpy as np

from rankexp.data.examples import ListwiseExample
from rankexp.data.recranker import LISTWISE_TOP, PAIRWISE_ANSWERS, PairwiseExample, PointwiseExample
from rankexp.prompts.style import PromptStyle, short_title
from rankexp.prompts.templates import Template, shipped

RECRANKER_FIELDS = ("noun", "rating_min", "rating_max", "scale", "title", "rating", "first", "second", "label",
                    "hint", "m", "top", "n")


def recranker_template(lines=None) -> Template:
    return Template(lines if lines is not None else shipped("recranker"), "recranker", RECRANKER_FIELDS)


def history_lines(history, history_ratings, titles, style: PromptStyle, rating_min: int,
                  t: Template | None = None) -> list[str]:
    t = t or recranker_template()
    rated = style.history_with_ratings
    scale = t("history_scale", rating_min=rating_min, rating_max=style.rating_max) if rated else ""
    lines = [t("history_header", noun=style.item_noun, scale=scale)]
    for item, rating in zip(history, history_ratings):
        title = short_title(titles[item], style.title_max_chars)
        lines.append(t("history_line", title=title, rating=int(rating)) if rated else t("history_line_unrated", title=title))
    return lines


def pointwise_prompt(ex: PointwiseExample, titles: np.ndarray, style: PromptStyle, rating_min: int = 1,
                     t: Template | None = None) -> str:
    t = t or recranker_template()
    lines = history_lines(ex.history, ex.history_ratings, titles, style, rating_min, t)
    title = short_title(titles[ex.item], style.title_max_chars)
    scale = t("pointwise_scale", rating_min=rating_min, rating_max=style.rating_max)
    lines.append(t("pointwise_question", noun=style.item_noun, title=title, scale=scale))
    if style.hints and ex.hint is not None:
        lines.append(t("pointwise_hint", hint=ex.hint))
    lines.append(t("pointwise_instruction", scale=scale))
    return "\n".join(lines)


def pointwise_target(ex: PointwiseExample) -> str:
    return str(ex.rating)


def pairwise_prompt(ex: PairwiseExample, titles: np.ndarray, style: PromptStyle, rating_min: int = 1,
                    t: Template | None = None) -> str:
    t = t or recranker_template()
    lines = history_lines(ex.history, ex.history_ratings, titles, style, rating_min, t)
    first, second = (short_title(titles[i], style.title_max_chars) for i in (ex.first, ex.second))
    lines.append(t("pairwise_question", first=first, second=second, noun=style.item_noun))
    if style.hints and ex.hint is not None:
        lines.append(t("pairwise_hint", hint=short_title(titles[ex.hint], style.title_max_chars)))
    lines.append(t("pairwise_instruction"))
    return "\n".join(lines)


def pairwise_target(ex: PairwiseExample) -> str:
    return PAIRWISE_ANSWERS[0] if ex.first_preferred else PAIRWISE_ANSWERS[1]


def listwise_top_target(ex: ListwiseExample, labels: list[str], top: int = LISTWISE_TOP) -> str:
    """RecRanker's listwise answer: the labels of the best `top` slots, one per line."""
    return "\n".join(labels[s] for s in ex.target_slots[:top])
