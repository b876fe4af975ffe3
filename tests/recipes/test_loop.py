"""The Trainer `build_trainer` assembles from conf/trainer, conf/callbacks and conf/logger."""

from __future__ import annotations

from lightning.pytorch.callbacks import LearningRateMonitor

from rankexp.recipes.loop import build_trainer
from tests.helpers.runs import compose_cfg


def test_logger_none_builds_a_trainer_without_the_lr_monitor(tmp_path):
    """Lightning raises at fit start for a LearningRateMonitor without a logger; `logger=none` must still train."""
    cfg = compose_cfg("logger=none", "trainer=cpu", f"hydra.run.dir={tmp_path}", f"paths.output_dir={tmp_path}")
    trainer = build_trainer(cfg)
    assert not trainer.loggers
    assert not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    with_logger = build_trainer(compose_cfg("logger=csv", "trainer=cpu", f"paths.output_dir={tmp_path}"))
    assert any(isinstance(c, LearningRateMonitor) for c in with_logger.callbacks)
