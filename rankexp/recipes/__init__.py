"""Recipes: each experiment kind read top to bottom (build -> fit -> select on val -> test -> write).

- `experiment.run_experiment`: config check, data, protocol lists, baselines, then the recipe.
- `alro`: the listwise ranker (slot verbalizer or candidate readout).
- `recranker`: RecRanker's instruction tuning and hybrid ranking.
- `retrieval`: the conventional recommenders alone.
- `loop`: the fit / select / test sequence the LLM recipes share.

`recipe` (run.yaml) names one of them; `model_stage` is the one place that turns the name into code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def model_stage(recipe: str) -> Callable[..., dict[str, Any]] | None:
    """The LLM stage `run_experiment` runs after the lists and baselines, or None for `retrieval` (its
    retriever is fit and scored while the lists are built)."""
    if recipe == "alro":
        from rankexp.recipes.alro import run_ranker

        return run_ranker
    if recipe == "recranker":
        from rankexp.recipes.recranker import run_recranker

        return run_recranker
    if recipe == "retrieval":
        return None
    raise ValueError(f"unknown recipe {recipe!r}")  # validate_config rejects it first
