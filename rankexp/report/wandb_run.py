"""W&B for rankexp runs: one switch for online logging, one W&B run per sweep job, and what a run logs.

Lightning's `WandbLogger` alone gets three things wrong for a Hydra sweep:

- `offline=True` overwrites `WANDB_MODE`, so the environment cannot turn online logging on;
- a `-m` sweep runs its jobs in one process, and a new `WandbLogger` reuses `wandb.run` while it is
  open: without `wandb.finish()` every job logs into the first job's run;
- the resolved config never reaches W&B (only the LightningModule's init arguments do).

`RankexpWandbLogger` (conf/logger/wandb.yaml) fixes the first; `finish_run` (called once at the
end of every job by `rankexp.recipes.experiment`) writes the results.json scalars into the run
summary and closes the run; `log_config` (called by `build_trainer`) logs the resolved config.
Whether a run is online: `logger.offline` when set, else `WANDB_MODE` (online / offline /
disabled), else offline: nothing leaves the machine unless asked.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)

MODES = ("online", "offline", "disabled")


def wandb_mode(offline: bool | None) -> str:
    """`online` / `offline` / `disabled` from `logger.offline` (wins when set) or `WANDB_MODE`."""
    if offline is not None:
        return "offline" if offline else "online"
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env == "dryrun":
        return "offline"
    if env and env not in MODES:
        from rankexp.errors import ConfigError

        raise ConfigError(f"WANDB_MODE={env!r} is not one of {', '.join(MODES)} (or set `logger.offline=true|false`)")
    return env or "offline"


class RankexpWandbLogger(WandbLogger):
    """Lightning's WandbLogger with the mode resolved as above and an optional adapter artifact.

    `log_adapter`: upload `<run>/adapter` as a W&B artifact (type `model`) at the end of the run.
    """

    def __init__(self, *, offline: bool | None = None, log_adapter: bool = False, **kwargs: Any) -> None:
        mode = wandb_mode(offline)
        os.environ["WANDB_MODE"] = mode  # wandb reads the env too; keep both saying the same
        if kwargs.get("group") in (None, ""):
            kwargs.pop("group", None)
        if "settings" not in kwargs:  # quiet logs: no banner, no run-history dump at finish (W&B's warnings stay)
            import wandb

            kwargs["settings"] = wandb.Settings(quiet=True)
        super().__init__(offline=False, mode=mode, **kwargs)
        self._wandb_init.pop("anonymous", None)  # deprecated in wandb: passing it (even None) prints a warning
        self.mode = mode
        self.log_adapter = bool(log_adapter)


def previous_run_id(save_dir: str | Path) -> str | None:
    """The id of the W&B run that last logged into `save_dir` (its `wandb/latest-run` link), if any.

    W&B names a run's folder `run-<time>-<id>` (`offline-run-...` offline) and points `latest-run`
    at the newest; reading the link needs no network and works for both modes.
    """
    link = Path(save_dir) / "wandb" / "latest-run"
    try:
        name = Path(os.readlink(link)).name if link.is_symlink() else ""
    except OSError:
        return None
    return name.rsplit("-", 1)[-1] if name.startswith(("run-", "offline-run-")) else None


def continued_run(cfg: Any) -> dict[str, Any]:
    """W&B arguments that make a resumed run (`mode=train ckpt_path=...` in the same run dir) log into the run
    it continues, instead of starting a second one; empty for a fresh run or another logger."""
    logger = cfg.get("logger")
    if cfg.get("mode") != "train" or cfg.get("ckpt_path") is None or not logger or "save_dir" not in logger:
        return {}
    if not str(logger["_target_"]).endswith(("RankexpWandbLogger", "WandbLogger")):
        return {}
    try:
        save_dir = logger.save_dir
    except Exception:  # noqa: BLE001 - e.g. ${hydra:...} outside a Hydra app: nothing to continue
        return {}
    run_id = previous_run_id(save_dir)
    if run_id is None:
        return {}
    log.info("resuming W&B run %s (the run this checkpoint continues)", run_id)
    return {"id": run_id, "resume": "allow"}


def wandb_loggers(loggers: Any) -> list[RankexpWandbLogger | WandbLogger]:
    items = loggers if isinstance(loggers, (list, tuple)) else [loggers]
    return [lg for lg in items if isinstance(lg, WandbLogger)]


def log_config(loggers: Any, config: Mapping[str, Any]) -> None:
    """The resolved run config as W&B hyperparameters (nested keys, as in `.hydra/config.yaml`)."""
    for lg in wandb_loggers(loggers):
        lg.experiment.config.update(dict(config), allow_val_change=True)


def log_adapter(loggers: Any, adapter_dir: Path, name: str) -> None:
    """Upload the saved adapter folder as an artifact when the logger asks for it."""
    if not adapter_dir.is_dir():
        return
    for lg in wandb_loggers(loggers):
        if not getattr(lg, "log_adapter", False):
            continue
        import wandb

        artifact = wandb.Artifact(name=name, type="model", metadata={"path": str(adapter_dir)})
        artifact.add_dir(str(adapter_dir))
        lg.experiment.log_artifact(artifact)


def summary_scalars(results: Mapping[str, Any]) -> dict[str, float | int | str]:
    """The results.json entries W&B can show in a run's summary (numbers and short strings)."""
    out: dict[str, float | int | str] = {}
    for key, value in results.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)) or (isinstance(value, str) and len(value) <= 200):
            out[key] = value
    return out


def finish_run(results: Mapping[str, Any] | None, failed: bool = False) -> None:
    """Write `results` into the open W&B run's summary and close it (a no-op when W&B was not used).

    Called at the end of every job, also a failed one, so the next job of a sweep starts its own run.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None or getattr(wandb, "run", None) is None:
        return
    run = wandb.run
    try:
        if results:
            run.summary.update(summary_scalars(results))
    except Exception as error:  # noqa: BLE001 - W&B trouble must not lose a finished run
        log.warning("could not write the W&B summary (%s: %s); results.json has every value", type(error).__name__,
                    error)
    finally:
        wandb.finish(exit_code=1 if failed else 0)
