"""A retriever's config names its class by `_target_` alone; `from_config` builds it with `instantiate`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rankexp.errors import ConfigError
from rankexp.retrievers import BUILT_IN, build_retriever, from_config
from rankexp.retrievers.build import upgrade_config

CONF = Path(__file__).resolve().parents[2] / "rankexp" / "conf" / "retriever"


def test_one_config_per_built_in_retriever():
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(BUILT_IN)


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_config_builds_its_class_from_target_alone(path):
    text = path.read_text()
    assert text.startswith("# ") and "python -m rankexp.run" in text.splitlines()[1], "line 2 gives the command"
    cfg = OmegaConf.load(path)
    assert "name" not in cfg and "topk" not in cfg, "one identity (`_target_`); a list holds the top protocol.m"
    built = from_config(cfg)
    hparams = {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "_target_"}
    assert type(built) is BUILT_IN[path.stem] and built.hparams() == build_retriever(path.stem, **hparams).hparams()
    assert all(built.hparams()[key] == pytest.approx(value) for key, value in hparams.items()), "the yaml's values"


def test_older_name_and_topk_keys_map_onto_target_with_one_warning_each(caplog):
    with caplog.at_level(logging.WARNING, logger="rankexp.retrievers.build"):
        cfg = upgrade_config({"name": "mf", "topk": 20, "dim": 8})
    assert cfg == {"_target_": "rankexp.retrievers.mf.MF", "dim": 8}
    messages = [r.getMessage() for r in caplog.records]
    assert any("retriever.topk" in m and "protocol.m" in m for m in messages)
    assert any("retriever.name" in m and "deprecated" in m for m in messages)
    old_shipped = {"_target_": "rankexp.retrievers.pop.Pop", "name": "pop", "rating_dim": 0}
    assert type(from_config(old_shipped)).__name__ == "Pop"
    with pytest.raises(ConfigError, match=r"`retriever.name`='pop' disagrees with `retriever._target_`"):
        from_config({"_target_": "rankexp.retrievers.mf.MF", "name": "pop"})
    with pytest.raises(ConfigError, match=r"unknown retriever 'bert4rec' \(config key `retriever.name`\).*lightgcn"):
        from_config({"name": "bert4rec"})


def test_bad_configs_are_one_config_error_line():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['dimm'\] for retriever 'mf'"):
        from_config({"_target_": "rankexp.retrievers.mf.MF", "dimm": 8})
    with pytest.raises(ConfigError, match=r"`retriever.rating_\*`"):
        from_config({"_target_": "rankexp.retrievers.mf.MF", "rating_dim": -1})
    with pytest.raises(ConfigError, match=r"needs `_target_`"):
        from_config({"dim": 8})
    with pytest.raises(ConfigError, match=r"`retriever._target_`='builtins.dict' is not a retriever"):
        from_config({"_target_": "builtins.dict"})
    with pytest.raises(ConfigError, match=r"`retriever._target_`: no class 'nowhere.Thing'"):
        from_config({"_target_": "nowhere.Thing"})


def test_a_retriever_class_outside_rankexp_is_built_from_its_target(tmp_path, monkeypatch):
    (tmp_path / "my_retrievers.py").write_text(
        "from rankexp.retrievers.pop import Pop\n\n\nclass MostRated(Pop):\n    name = 'most_rated'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        built = from_config({"_target_": "my_retrievers.MostRated", "rating_dim": 0})
        assert type(built).__name__ == "MostRated" and built.hparams()["rating_dim"] == 0
        assert "most_rated" not in BUILT_IN, "building registers nothing"
    finally:
        sys.modules.pop("my_retrievers", None)
