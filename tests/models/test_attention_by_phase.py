"""The attention kernel of each phase (`rankexp.models.attention.AttentionByPhase`): eager attention in bf16
training steps on a CPU, the loaded kernel while scoring and in fp32 training.

Mutations checked by hand: `for_training` keeping the loaded kernel fails the bf16 case; `for_scoring` doing
nothing fails it too (validation would score with eager); switching in fp32 as well fails the fp32 case.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch

from rankexp.models.attention import AttentionByPhase
from tests.models.test_folded_lora import _ranker

pytestmark = pytest.mark.usefixtures("one_thread")


class Kernels(L.Callback):
    """The kernel in use at every training and validation batch."""

    def __init__(self) -> None:
        self.train, self.val = [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.train.append(module.attention.current)

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.val.append(module.attention.current)


def _fit(tiny_model, synthetic, tmp_path, precision: str) -> Kernels:
    ranker, data = _ranker(tiny_model, synthetic)
    kernels = Kernels()
    trainer = L.Trainer(accelerator="cpu", precision=precision, max_steps=2, val_check_interval=1,
                        limit_val_batches=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
                        callbacks=[kernels])
    trainer.fit(ranker, datamodule=data)
    return kernels


def test_bf16_training_steps_run_eager_attention_and_validation_the_loaded_kernel(tiny_model, synthetic, tmp_path):
    assert tiny_model[0].get_base_model().config._attn_implementation == "sdpa"
    kernels = _fit(tiny_model, synthetic, tmp_path, "bf16-mixed")
    assert kernels.train == ["eager", "eager"] and kernels.val == ["sdpa", "sdpa"], (kernels.train, kernels.val)


def test_fp32_training_keeps_the_loaded_kernel(tiny_model, synthetic, tmp_path):
    kernels = _fit(tiny_model, synthetic, tmp_path, "32-true")
    assert kernels.train == ["sdpa", "sdpa"] and kernels.val == ["sdpa", "sdpa"], (kernels.train, kernels.val)


def test_a_model_loaded_with_another_kernel_keeps_it(tiny_model):
    model = tiny_model[0]
    model.get_base_model().set_attn_implementation("eager")
    try:
        attention = AttentionByPhase(model)
        attention.for_training("bf16-mixed", "cpu")
        assert attention.current == "eager"
        attention.for_scoring()
        assert attention.current == "eager"
    finally:
        model.get_base_model().set_attn_implementation("sdpa")


def test_eager_and_sdpa_score_alike(tiny_model, synthetic):
    """The switch changes the kernel, not the scores (to float rounding)."""
    ranker, data = _ranker(tiny_model, synthetic)
    data.setup("test")
    batch = next(iter(data.test_dataloader()))
    ranker.eval()
    with torch.no_grad():
        sdpa = ranker.score(batch)
        ranker.attention._use("eager")
        eager = ranker.score(batch)
        ranker.attention._use("sdpa")
    torch.testing.assert_close(eager, sdpa, rtol=1e-5, atol=1e-5)


def test_an_unknown_kernel_is_one_config_error_from_the_spec_and_from_load_model():
    from rankexp.errors import ConfigError
    from rankexp.models.loading import ModelSpec, load_model

    with pytest.raises(ConfigError, match="model.attn_implementation"):
        ModelSpec(source="tiny_random", attn_implementation="flash")
    with pytest.raises(ConfigError, match="model.attn_implementation"):
        load_model("tiny_random", attn_implementation="flash")
