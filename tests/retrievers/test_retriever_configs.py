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
    name, hparams = parse_config(cfg)
    assert name == path.stem and "topk" not in cfg  # a list holds the retriever's top protocol.m
    built = REGISTRY[name](**hparams)
    via_target = instantiate(cfg)
    assert type(via_target) is REGISTRY[name] and via_target.hparams() == built.hparams()


def test_an_old_topk_key_is_dropped_with_a_warning(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="rankexp.retrievers.cache"):
        name, hparams = parse_config({"_target_": "rankexp.retrievers.mf.MF", "topk": 20, "dim": 8})
    assert (name, hparams) == ("mf", {"dim": 8})
    assert any("retriever.topk" in r.getMessage() and "protocol.m" in r.getMessage() for r in caplog.records)


def test_a_retriever_class_outside_rankexp_is_found_from_its_target(tmp_path, monkeypatch):
    import sys

    import pytest

    from rankexp.errors import ConfigError
    from rankexp.retrievers import build_retriever

    (tmp_path / "my_retrievers.py").write_text(
        "from rankexp.retrievers.pop import Pop\n\n\nclass MostRated(Pop):\n    name = 'most_rated'\n")
    from rankexp.retrievers import REGISTRY

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(REGISTRY, "most_rated", None)  # restored (removed) after the test
    del REGISTRY["most_rated"]
    name, hparams = parse_config({"_target_": "my_retrievers.MostRated"})
    assert (name, hparams) == ("most_rated", {})
    assert type(build_retriever(name)).__name__ == "MostRated"
    with pytest.raises(ConfigError, match=r"`retriever._target_`='builtins.dict' is not a retriever"):
        parse_config({"_target_": "builtins.dict"})
    with pytest.raises(ConfigError, match=r"`retriever._target_`: no class 'nowhere.Thing'"):
        parse_config({"_target_": "nowhere.Thing"})
    sys.modules.pop("my_retrievers", None)
