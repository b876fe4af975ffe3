"""`optim.schedule`: the LR multiplier at chosen steps, against closed forms written out by hand.

The contract (conf/run.yaml `optim`): `warmup_steps` W of linear warmup, then `constant`, `linear` or
`cosine` decay from 1 to `min_lr_ratio` at `trainer.max_steps` T. Warmup step s (0-based, s < W)
has factor (s + 1) / (W + 1): the first step never has LR 0 and step W is the first at full LR.
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rankexp.models.base import lr_factor
from rankexp.models.ranker import ListwiseRanker

W, T, MIN = 4, 14, 0.1  # decay runs over steps 4..14: progress (s - 4) / 10
COS_36 = (1 + math.sqrt(5)) / 4  # cos(pi/5), exact
COS_54 = math.sqrt(10 - 2 * math.sqrt(5)) / 4  # cos(3 pi/10), exact

# step -> factor, per schedule; every number below is the closed form evaluated by hand.
WARMUP = {0: 1 / 5, 1: 2 / 5, 2: 3 / 5, 3: 4 / 5, 4: 1.0}
EXPECTED = {
    "constant": {**WARMUP, 5: 1.0, 9: 1.0, 14: 1.0, 100: 1.0},
    # 1 - progress: step 9 is half way (0.1 + 0.9 * 0.5), step 11 at 0.7 (0.1 + 0.9 * 0.3)
    "linear": {**WARMUP, 5: 0.1 + 0.9 * 0.9, 9: 0.55, 11: 0.1 + 0.9 * 0.3, 14: 0.1, 15: 0.1, 100: 0.1},
    # 0.5 (1 + cos(pi progress)): progress 0.2 -> cos 36 deg, 0.5 -> 0, 0.7 -> -cos 54 deg
    "cosine": {**WARMUP, 6: 0.1 + 0.9 * 0.5 * (1 + COS_36), 9: 0.55, 11: 0.1 + 0.9 * 0.5 * (1 - COS_54),
               14: 0.1, 100: 0.1},
}


@pytest.mark.parametrize("schedule", sorted(EXPECTED))
def test_factor_at_chosen_steps(schedule):
    factor = lr_factor(schedule, W, T, MIN)
    for step, expected in EXPECTED[schedule].items():
        assert factor(step) == pytest.approx(expected, abs=1e-12), f"{schedule} step {step}"


def test_edge_cases_by_hand():
    # no warmup: step 0 is already the decay's start (full LR), linear reaches 0 at T
    assert [lr_factor("linear", 0, 10, 0.0)(s) for s in (0, 5, 10, 11)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    # one warmup step: 1/2, then full
    assert [lr_factor("cosine", 1, 11, 0.0)(s) for s in (0, 1, 6, 11)] == pytest.approx([0.5, 1.0, 0.5, 0.0])
    # no step budget (max_steps <= 0 gives total 0) or a budget inside warmup: warmup, then constant
    assert [lr_factor("linear", 3, 0, 0.1)(s) for s in (0, 2, 3, 50)] == pytest.approx([0.25, 0.75, 1.0, 1.0])
    assert [lr_factor("cosine", 3, 2, 0.1)(s) for s in (2, 3, 50)] == pytest.approx([0.75, 1.0, 1.0])
    # a budget that ends exactly at warmup's end: constant after it, never a decay over zero steps
    assert [lr_factor("linear", 3, 3, 0.1)(s) for s in (3, 4, 50)] == pytest.approx([1.0, 1.0, 1.0])
    # one decay step: full LR at its start, min_ratio one step later
    assert [lr_factor("linear", 2, 3, 0.0)(s) for s in (2, 3)] == pytest.approx([1.0, 0.0])
    # every factor is in (0, 1] with min_ratio > 0, and decay never goes up
    for schedule in ("linear", "cosine"):
        values = [lr_factor(schedule, W, T, MIN)(s) for s in range(W, 40)]
        assert all(a >= b for a, b in itertools.pairwise(values)) and min(values) == pytest.approx(MIN)


def _ranker(schedule: str, warmup: int, max_steps: int, min_ratio: float) -> ListwiseRanker:
    ranker = ListwiseRanker(nn.Linear(2, 2), [0, 1], nn.ModuleDict(), lr=0.5, warmup_steps=warmup,
                            schedule=schedule, min_lr_ratio=min_ratio)
    ranker._trainer = SimpleNamespace(max_steps=max_steps)  # all configure_optimizers reads from the trainer
    return ranker


def learning_rates(optimizer, scheduler, steps: int) -> list[float]:
    """The LR of each of `steps` optimizer steps, stepping the scheduler after each as Lightning does."""
    seen = []
    for _ in range(steps):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_the_default_recipes_schedule_drives_the_optimizer_step_by_step():
    """The default experiment's linear schedule, as the optimizer sees it: lr at optimizer step s
    is lr * factor(s) (LambdaLR applies factor(0) before the first step, then one per step)."""
    from omegaconf import OmegaConf

    from tests.helpers.runs import CONF_DIR

    recipe = OmegaConf.load(CONF_DIR / "experiment" / "alro_ml100k_candidate.yaml").optim
    assert (recipe.schedule, recipe.warmup_steps, recipe.min_lr_ratio) == ("linear", 20, 0.1)
    total = 120
    ranker = _ranker(recipe.schedule, recipe.warmup_steps, total, recipe.min_lr_ratio)
    config = ranker.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    seen = learning_rates(optimizer, scheduler, total + 3)
    hand = {0: 0.5 / 21, 9: 0.5 * 10 / 21, 19: 0.5 * 20 / 21, 20: 0.5, 70: 0.5 * (0.1 + 0.9 * 0.5),
            95: 0.5 * (0.1 + 0.9 * 0.25), 120: 0.05, 122: 0.05}
    for step, lr in hand.items():
        assert seen[step] == pytest.approx(lr, abs=1e-12), f"step {step}"


def test_no_max_steps_means_warmup_then_constant():
    ranker = _ranker("cosine", 2, -1, 0.0)
    config = ranker.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    seen = learning_rates(optimizer, scheduler, 6)
    assert seen == pytest.approx([0.5 / 3, 0.5 * 2 / 3, 0.5, 0.5, 0.5, 0.5])
    assert isinstance(optimizer, torch.optim.AdamW)


def test_recrankers_instruction_ranker_follows_optim_schedule():
    """`optim.schedule` and `optim.min_lr_ratio` reach RecRanker's ranker (they were once validated, then ignored)."""
    from rankexp.recipes.recranker import build_ranker
    from tests.helpers.runs import compose

    cfg = compose("+experiment=recranker_ml100k", "optim.schedule=linear", "optim.min_lr_ratio=0.1",
                  "optim.warmup_steps=0", "optim.lr=0.5")
    ranker = build_ranker(cfg, nn.Linear(2, 2), SimpleNamespace(methods=()))
    ranker._trainer = SimpleNamespace(max_steps=10)
    config = ranker.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    seen = learning_rates(optimizer, scheduler, 12)
    assert seen[0] == pytest.approx(0.5) and seen[5] == pytest.approx(0.5 * (0.1 + 0.9 * 0.5))
    assert seen[10] == seen[11] == pytest.approx(0.05)
