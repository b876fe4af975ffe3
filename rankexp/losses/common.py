"""What every loss shares: the check of its weight, named by its config key, and matching its declared
`needs` against the outputs a ranker's forward provides."""

from __future__ import annotations

import math

from rankexp.errors import ConfigError


def check_weight(weight: float, name: str) -> float:
    """Reject a negative or non-finite loss weight, naming its config key `loss.<name>.weight`."""
    weight = float(weight)
    if not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"`loss.{name}.weight` must be a finite number >= 0, got {weight}")
    return weight


def usable_needs(loss: object, outputs: object) -> tuple[str, ...] | None:
    """The first group of `loss.needs` that `outputs` (a ranker's forward outputs, class or instance) provides,
    else None. A loss written before `needs` existed declares `scorings` instead (the readout names it
    trains) and is matched on `outputs.scoring`."""
    needs = getattr(loss, "needs", None)
    if needs is None:
        scoring = getattr(outputs, "scoring", "")
        return (scoring,) if scoring in tuple(getattr(loss, "scorings", ())) else None
    provided = set(getattr(outputs, "provides", ()))
    return next((tuple(group) for group in needs if set(group) <= provided), None)


def needs_text(loss: object) -> str:
    """`y or scores`, for an error message."""
    needs = getattr(loss, "needs", None)
    if needs is None:
        return f"readout in {list(getattr(loss, 'scorings', ()))}"
    return " or ".join("+".join(group) for group in needs)
