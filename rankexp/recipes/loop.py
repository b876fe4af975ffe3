"""The fit -> select on val -> test sequence both LLM recipes share, and the trainer they run it on.

`fit_select_test` is the only place a recipe calls Lightning's loops: validate once before
training (the zero-shot point), fit, restore the checkpoint that validation selected, and test
once. With `mode=eval` it only tests: a saved `adapter` folder, the Lightning checkpoint in
`ckpt_path`, or (neither set) the zero-shot model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from omegaconf import DictConfig

from rankexp.config.stored import resolved_config
from rankexp.report.wandb_run import continued_run, log_adapter, log_config


def build_trainer(cfg: DictConfig, extra_callbacks: list | None = None) -> L.Trainer:
    """The Lightning Trainer of `conf/trainer`, with `conf/callbacks` and `conf/logger`."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    logger = instantiate(cfg.logger, **continued_run(cfg)) if cfg.get("logger") and cfg.logger.get("_target_") else False
    if logger is False:  # `logger=none`: Lightning refuses a LearningRateMonitor with nothing to write to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if not cfg.trainer.enable_progress_bar:  # Lightning refuses a progress bar it was told not to show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    trainer = instantiate(cfg.trainer, callbacks=callbacks + (extra_callbacks or []), logger=logger)
    if trainer.is_global_zero:
        log_config(trainer.loggers, resolved_config(cfg))
    return trainer


def best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    path = getattr(callback, "best_model_path", "") if callback is not None else ""
    return path or None


def best_score(trainer: L.Trainer) -> dict[str, float]:
    """`best_<monitored metric>`: the validation value of the selected checkpoint."""
    callback = trainer.checkpoint_callback
    score = getattr(callback, "best_model_score", None)
    return {f"best_{callback.monitor}": float(score)} if score is not None else {}


def callback_of(trainer: L.Trainer, kind: type):
    """The trainer's callback of class `kind` (conf/callbacks), or None when the config dropped it."""
    return next((c for c in trainer.callbacks if isinstance(c, kind)), None)


def val_curve_callback(trainer: L.Trainer):
    """The trainer's ValCurve callback (conf/callbacks), or None."""
    from rankexp.recipes.callbacks import ValCurve

    return callback_of(trainer, ValCurve)


def phase_times(trainer: L.Trainer) -> dict[str, float]:
    """`speed/*`: where the run's time went, from the trainer's PhaseTimes callback (conf/callbacks), if any."""
    from rankexp.recipes.callbacks import PhaseTimes

    callback = callback_of(trainer, PhaseTimes)
    return callback.metrics() if callback is not None else {}


def validation_curve(trainer: L.Trainer) -> dict[str, float]:
    """`val_curve/step_N`: every recipe's results.json shows the points selection chose from."""
    callback = val_curve_callback(trainer)
    return callback.metrics() if callback is not None else {}


def fit_select_test(cfg: DictConfig, trainer: L.Trainer, module: L.LightningModule, datamodule,
                    after_fit: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Zero-shot validation, fit, test with the selected checkpoint; returns the logged metrics."""
    metrics: dict[str, Any] = {}
    if cfg.mode != "train":
        if cfg.get("adapter"):
            metrics["eval/adapter"] = load_eval_adapter(cfg, module)
        metrics.update(trainer.test(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path, verbose=False)[0])
        metrics.update(phase_times(trainer))
        return metrics
    if cfg.train.validate_before_fit and cfg.ckpt_path is None:  # a resumed run has its zero-shot point
        zero_shot = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
        metrics.update({f"zero_shot_{k}": v for k, v in zero_shot.items()})
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    best = best_checkpoint(trainer)
    metrics.update(best_score(trainer))
    metrics.update(validation_curve(trainer))
    if after_fit is not None:
        metrics.update(after_fit())
    metrics.update(trainer.test(module, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
    metrics.update(phase_times(trainer))
    metrics["best_checkpoint"] = best or "final"
    return metrics


def load_eval_adapter(cfg: DictConfig, module: L.LightningModule) -> str:
    """`mode=eval adapter=<dir>`: put a saved adapter's weights into the module the config built.

    The config builds the lists (any seed, protocol, `protocol.m` or dataset); the adapter must have
    been trained on the prompts and readout this config writes (its `rankexp.json` against the
    config's own manifest), and with the same `model.lora` shape. Returns the folder, for results.json.
    """
    from rankexp.config.stored import read_manifest
    from rankexp.errors import ConfigError
    from rankexp.models.adapters import load_adapter
    from rankexp.models.manifest import check_adapter_fits, manifest_from_config

    path = Path(str(cfg.adapter)).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(f"`adapter={cfg.adapter}` holds no adapter_config.json; pass the `adapter` folder of a run "
                          "(outputs/<date>/<time>/adapter)")
    check_adapter_fits(read_manifest(path), manifest_from_config(resolved_config(cfg)), str(path))
    load_adapter(module.model, path)
    return str(path)


def save_adapter_of(module: L.LightningModule, path: Path, trainer: L.Trainer | None = None,
                    name: str = "adapter", cfg: DictConfig | None = None, tokenizer=None) -> None:
    """The LoRA adapter of `module.model` (nothing for a model without one), with the tokenizer and
    `rankexp.json` of `cfg` so it ranks again anywhere; a W&B artifact too when `logger.log_adapter=true`."""
    model = module.model
    if getattr(model, "save_pretrained", None) is None or not hasattr(model, "peft_config"):
        return
    from rankexp.models.adapters import save_adapter
    from rankexp.models.manifest import manifest_from_config

    manifest = manifest_from_config(resolved_config(cfg)) if cfg is not None else None
    save_adapter(model, path, tokenizer=tokenizer, manifest=manifest)
    if trainer is not None:
        log_adapter(trainer.loggers, path, name)
