"""`build_losses` and the `conf/loss` Hydra group."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rankexp.errors import ConfigError
from rankexp.losses import PermutationKLLoss, SFTLoss, SoftLambdaLoss, build_losses

CONF = Path(__file__).resolve().parents[2] / "rankexp" / "conf"


def test_build_from_mapping_and_lists():
    losses = build_losses({"sft": {"weight": 1.0}, "soft_lambda": {"gamma": 5, "weight": 0.5}})
    assert list(losses) == ["sft", "soft_lambda"]
    assert isinstance(losses["soft_lambda"], SoftLambdaLoss) and losses["soft_lambda"].gamma == 5.0
    assert list(build_losses(["sft", "perm_kl"])) == ["sft", "perm_kl"]
    listed = build_losses([{"name": "perm_kl", "direction": "reverse"}])
    assert listed["perm_kl"].direction == "reverse"
    assert len(build_losses(None)) == 0


def test_registry_errors():
    with pytest.raises(ConfigError, match=r"unknown loss 'lambda'.*'perm_kl', 'rating_ce', 'sft', 'soft_lambda'"):
        build_losses(["lambda"])
    with pytest.raises(ConfigError, match=r"loss\.perm_kl\.weight"):
        build_losses({"perm_kl": {"weight": -0.5}})
    with pytest.raises(ConfigError, match=r"loss\.soft_lambda\.gama"):
        build_losses({"soft_lambda": {"gama": 5}})
    with pytest.raises(ConfigError, match=r"loss\.sft\._target_.*not a loss"):
        build_losses({"sft": {"_target_": "torch.nn.Identity"}})
    with pytest.raises(ConfigError, match=r"loss\.toy\._target_.*no class"):
        build_losses({"toy": {"_target_": "nowhere.ToyLoss"}})


def test_hydra_group_composes_to_a_dict(tmp_path):
    shutil.copytree(CONF / "loss", tmp_path / "loss")
    (tmp_path / "root.yaml").write_text("defaults:\n  - loss: [sft, soft_lambda]\n  - _self_\nseed: 0\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        default = compose("root")
        assert list(default.loss) == ["sft", "soft_lambda"]
        cfg = compose(
            "root", overrides=["loss=[sft,soft_lambda,perm_kl]", "loss.soft_lambda.gamma=5", "loss.perm_kl.weight=0.5"]
        )
    assert list(cfg.loss) == ["sft", "soft_lambda", "perm_kl"]
    assert cfg.loss.soft_lambda.gamma == 5 and cfg.loss.perm_kl.weight == 0.5
    losses = build_losses(cfg.loss)
    assert (losses["soft_lambda"].gamma, losses["perm_kl"].weight) == (5.0, 0.5)
    # each file maps 1:1 onto its class through `_target_`
    for name, cls in (("sft", SFTLoss), ("soft_lambda", SoftLambdaLoss), ("perm_kl", PermutationKLLoss)):
        module = instantiate(cfg.loss[name])
        assert type(module) is cls
        assert OmegaConf.to_container(cfg.loss[name])["weight"] == module.weight
