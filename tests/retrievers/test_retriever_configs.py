"""Every shipped conf/retriever/*.yaml builds its class, through the registry and through _target_."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rankexp.retrievers import REGISTRY
from rankexp.retrievers.cache import parse_config

CONF = Path(__file__).resolve().parents[2] / "rankexp" / "conf" / "retriever"


def test_one_config_per_retriever():
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(REGISTRY)


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_config_builds_its_class(path):
    text = path.read_text()
    assert text.startswith("# ") and "python -m rankexp.run" in text.splitlines()[1], "line 2 gives the command"
    cfg = OmegaConf.load(path)
    name, hparams, topk = parse_config(cfg)
    assert name == path.stem and topk and topk > 0
    built = REGISTRY[name](**hparams)
    via_target = instantiate(cfg)
    assert type(via_target) is REGISTRY[name] and via_target.hparams() == built.hparams()
    assert via_target.topk == topk
