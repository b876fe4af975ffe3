"""The Throughput callback: non-padding tokens per second and s/step, logged and in the plain log, per window."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from rankexp.recipes import callbacks


class Module:
    def __init__(self) -> None:
        self.logged: list[tuple[str, float]] = []

    def log(self, name: str, value: float) -> None:
        self.logged.append((name, value))


def test_tokens_per_second_count_the_attention_mask(monkeypatch, caplog):
    clock = iter([100.0, 104.0, 104.0, 110.0, 110.0])  # start; each window: its end, the next start
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    cb, module = callbacks.Throughput(every_n_steps=2), Module()
    trainer = SimpleNamespace(global_step=2)
    batch = {"attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])}  # 5 real tokens, 3 padding
    with caplog.at_level(logging.INFO, logger="rankexp.train"):
        cb.on_train_batch_end(trainer, module, {"loss": torch.tensor(0.5)}, batch, 0)
        assert module.logged == []  # mid-window
        cb.on_train_batch_end(trainer, module, {"loss": torch.tensor(0.25)}, batch, 1)
    assert module.logged == [("train/tokens_per_s", pytest.approx(10 / 4)), ("train/s_per_step", pytest.approx(2.0))]
    assert "step 2: loss 0.2500, 2.00 s/step, 2 tokens/s" in caplog.text
    trainer.global_step = 4
    for i in range(2):  # the window restarted at 104 s
        cb.on_train_batch_end(trainer, module, None, batch, i)
    assert module.logged[-2:] == [("train/tokens_per_s", pytest.approx(10 / 6)), ("train/s_per_step", pytest.approx(3.0))]


def test_phase_times_split_the_run_into_training_steps_validations_and_test(monkeypatch):
    """Training steps are timed from batch start to batch end (not the validations between them), the sanity
    check is left out, every other validation loop counts, and each phase's tokens are its batches' real ones."""
    now = [0.0]
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: now[0])
    cb = callbacks.PhaseTimes()
    trainer = SimpleNamespace(sanity_checking=True)
    batch = {"attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])}  # 5 real tokens

    def loop(start, batch_end, end, seconds):
        start(trainer, None)
        now[0] += seconds
        batch_end(trainer, None, None, batch, 0)
        end(trainer, None)

    validation = (cb.on_validation_epoch_start, cb.on_validation_batch_end, cb.on_validation_epoch_end)
    loop(*validation, seconds=100.0)  # the sanity check
    trainer.sanity_checking = False
    loop(*validation, seconds=4.0)  # zero-shot validation
    for _ in range(3):
        cb.on_train_batch_start(trainer, None, batch, 0)
        now[0] += 2.0
        cb.on_train_batch_end(trainer, None, None, batch, 0)
        now[0] += 7.0  # data loading and logging between steps
    loop(*validation, seconds=6.0)  # a validation between steps
    loop(cb.on_test_epoch_start, cb.on_test_batch_end, cb.on_test_epoch_end, seconds=5.0)
    assert cb.metrics() == {"speed/train_s": 6.0, "speed/train_tokens_per_s": 2.5, "speed/val_s": 10.0,
                            "speed/val_tokens_per_s": 1.0, "speed/test_s": 5.0, "speed/test_tokens_per_s": 1.0,
                            "speed/validations": 2}


def test_phase_times_report_only_the_phases_that_ran():
    assert callbacks.PhaseTimes().metrics() == {}
