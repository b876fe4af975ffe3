"""OmegaConf resolvers used by conf/ (registered when `rankexp` is imported)."""

from __future__ import annotations

from omegaconf import OmegaConf


def cpu_precision() -> str:
    """bf16 autocast only where the CPU has native bf16 (elsewhere it is ~4x slower than fp32)."""
    from rankexp.models.loading import cpu_bf16_is_fast

    return "bf16-mixed" if cpu_bf16_is_fast() else "32-true"


def _multirun_job():
    """Hydra's config of the running job when it is part of a `-m` sweep, else None."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
    except (ImportError, ValueError):  # composed outside @hydra.main (tests, notebooks)
        return None
    return hydra_cfg if hydra_cfg.mode == RunMode.MULTIRUN else None


def sweep_group(single_run: str) -> str:
    """W&B group: the sweep's dir for the jobs of one `-m` sweep (so they sit together), else `single_run`."""
    job = _multirun_job()
    return f"sweep:{job.sweep.dir}" if job is not None else str(single_run)


def job_name() -> str | None:
    """W&B run name: `<job number>:<overrides>` for a sweep job (None = W&B's random name)."""
    job = _multirun_job()
    if job is None:
        return None
    return f"{job.job.num}:{job.job.override_dirname or 'defaults'}"


def register() -> None:
    from rankexp.config.schema import default_recipe

    for name, fn in (("rankexp.cpu_precision", cpu_precision), ("rankexp.sweep_group", sweep_group),
                     ("rankexp.job_name", job_name), ("rankexp.default_recipe", default_recipe)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
