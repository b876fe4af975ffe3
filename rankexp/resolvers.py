"""OmegaConf resolvers used by conf/ (registered when `rankexp` is imported)."""

from __future__ import annotations

from omegaconf import OmegaConf


def cpu_precision() -> str:
    """bf16 autocast only where the CPU has native bf16 (elsewhere it is ~4x slower than fp32)."""
    from rankexp.models.loading import cpu_bf16_is_fast

    return "bf16-mixed" if cpu_bf16_is_fast() else "32-true"


def register() -> None:
    if not OmegaConf.has_resolver("rankexp.cpu_precision"):
        OmegaConf.register_new_resolver("rankexp.cpu_precision", cpu_precision)
