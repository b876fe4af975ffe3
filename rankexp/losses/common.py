"""What every loss shares: the check of its weight, named by its config key."""

from __future__ import annotations

import math

from rankexp.errors import ConfigError


def check_weight(weight: float, name: str) -> float:
    """Reject a negative or non-finite loss weight, naming its config key `loss.<name>.weight`."""
    weight = float(weight)
    if not math.isfinite(weight) or weight < 0:
        raise ConfigError(f"`loss.{name}.weight` must be a finite number >= 0, got {weight}")
    return weight
