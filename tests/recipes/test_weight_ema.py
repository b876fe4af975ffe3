"""The LoRA weight EMA: the average is the hand-computed one, checkpoints and validation hold it, resume is exact."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rankexp.errors import ConfigError
from rankexp.recipes.weight_ema import LoraWeightEMA


class TwoLayer(L.LightningModule):
    """A frozen layer (the "base") under a trainable one (the "adapter"); records what validation saw."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.base = nn.Linear(3, 3)
        self.base.requires_grad_(False)
        self.head = nn.Linear(3, 1)
        self.seen_in_validation: list[torch.Tensor] = []
        self.history: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return ((self.head(self.base(x)) - y) ** 2).mean()

    def on_train_start(self) -> None:
        self.at_train_start = self.head.weight.detach().clone()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.history.append(self.head.weight.detach().clone())

    def validation_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.seen_in_validation.append(self.head.weight.detach().clone())
        self.log("val/score", float(self.global_step))  # always improves: every validation saves

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(1)
    return DataLoader(TensorDataset(torch.randn(8, 3, generator=g), torch.randn(8, 1, generator=g)), batch_size=1)


def _fit(tmp_path, decay, steps=6, ckpt_path=None, module=None):
    module = module or TwoLayer()
    ema = LoraWeightEMA(decay)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, filename="best", monitor="val/score", mode="max", save_last=True)
    trainer = L.Trainer(max_steps=steps, val_check_interval=3, callbacks=[ema, checkpoint], logger=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        accelerator="cpu")
    trainer.fit(module, _loader(), _loader(), ckpt_path=ckpt_path)
    return module, ema


def test_the_average_is_the_warmed_up_ema_of_the_trainable_weights_only(tmp_path):
    initial = TwoLayer().head.weight.detach().clone()
    module, ema = _fit(tmp_path, 0.8)
    average = initial.clone()
    for n, weight in enumerate(module.history):
        d = min(0.8, (1 + n) / (10 + n))
        average = d * average + (1 - d) * weight
    assert set(ema.average) == {"head.weight", "head.bias"}  # the frozen base is not copied
    # fit ends holding the average (on_train_end), and it differs from the last iterate
    assert torch.allclose(module.head.weight, average, atol=1e-6)
    assert not torch.allclose(module.history[-1], average, atol=1e-4)


def test_validation_and_checkpoints_see_the_average_and_training_goes_on_from_the_live_weights(tmp_path):
    module, _ = _fit(tmp_path, 0.8)
    # validation at step 3 saw something other than the live weights of step 3
    assert not torch.allclose(module.seen_in_validation[0], module.history[2], atol=1e-4)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert torch.allclose(saved["state_dict"]["head.weight"], module.head.weight, atol=1e-6)
    state = next(v for k, v in saved["callbacks"].items() if "LoraWeightEMA" in k)
    assert torch.allclose(state["live"]["head.weight"], module.history[-1], atol=1e-6)


def test_resuming_restores_the_live_weights_and_the_average(tmp_path):
    first, first_ema = _fit(tmp_path / "a", 0.8, steps=3)  # saves at step 3: the average in state_dict
    resumed, resumed_ema = _fit(tmp_path / "b", 0.8, steps=6, ckpt_path=str(tmp_path / "a" / "last.ckpt"))
    # training goes on from the live weights of step 3, not from the average the checkpoint's state_dict holds
    assert torch.allclose(resumed.at_train_start, first.history[-1], atol=1e-6)
    saved = torch.load(tmp_path / "a" / "last.ckpt", weights_only=False)
    assert not torch.allclose(saved["state_dict"]["head.weight"], first.history[-1], atol=1e-4)
    assert resumed_ema.updates == first_ema.updates + 3


def test_off_by_default_changes_nothing(tmp_path):
    module, ema = _fit(tmp_path, None)
    assert ema.average is None
    assert torch.allclose(module.head.weight, module.history[-1])
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert torch.allclose(saved["state_dict"]["head.weight"], module.history[-1])


@pytest.mark.parametrize("decay", [0, 1, 1.5, -0.1, "0.9"])
def test_a_decay_outside_0_1_names_the_key(decay):
    with pytest.raises(ConfigError, match=r"callbacks\.weight_ema\.decay"):
        LoraWeightEMA(decay)
