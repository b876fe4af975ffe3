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
