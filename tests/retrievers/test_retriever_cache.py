"""Cache: hit, miss on a changed key, rebuild on a stored-hash mismatch; registry errors."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch

from rankexp.errors import ConfigError
from rankexp.retrievers import Pop, build_retriever
from rankexp.retrievers import cache as cache_mod
from rankexp.retrievers.cache import candidates_or_load, fit_or_load, frame_fingerprint

CFG = {"_target_": "rankexp.retrievers.pop.Pop", "rating_dim": 0}


@pytest.fixture
def fit_calls(monkeypatch):
    calls = []
    original = Pop.fit

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("seed"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pop, "fit", spy)
    return calls


def _fit(planted, cache_dir, cfg=CFG, seed=0):
    data, split = planted
    return fit_or_load(cfg, split.train, split.val, data.n_users, data.n_items, data.like_threshold, seed,
                       cache_dir, "synthetic-test")


def _tamper_key(path):
    """Rewrite the file with the same tensors but a different stored key (as a stale or foreign file would)."""
    tensors = safetensors.torch.load_file(str(path))
    with safetensors.safe_open(str(path), framework="pt") as handle:
        meta = dict(handle.metadata())
    meta["key"] = "0" * 64
    path.write_bytes(safetensors.torch.save(tensors, metadata=meta))


def test_fit_or_load_hit_miss_and_rebuild(planted, tmp_path, fit_calls):
    first = _fit(planted, tmp_path)
    files = sorted(tmp_path.glob("*.safetensors"))
    assert fit_calls == [0] and len(files) == 1
    again = _fit(planted, tmp_path)
    assert fit_calls == [0], "same data, split, config and seed must load, not refit"
    users = torch.arange(10)
    assert torch.equal(first.score(users), again.score(users))
    assert torch.equal(first.predict_rating(users, users), again.predict_rating(users, users))
    assert again.cache_key == first.cache_key

    _fit(planted, tmp_path, seed=1)
    assert fit_calls == [0, 1], "a new seed is a new key"
    _fit(planted, tmp_path, cfg={**CFG, "rating_shrinkage": 3.0})
    assert len(fit_calls) == 3, "a changed hyperparameter is a new key"
    _fit(planted, tmp_path, cfg={**CFG, "topk": 7})
    assert len(fit_calls) == 3, "an old config's topk is dropped (never read) and does not change the model"

    _tamper_key(files[0])
    _fit(planted, tmp_path)
    assert len(fit_calls) == 4, "a file whose stored key does not match must be rebuilt"
    with safetensors.safe_open(str(files[0]), framework="pt") as handle:
        assert handle.metadata()["key"] == first.cache_key
    files[0].write_bytes(b"truncated")
    _fit(planted, tmp_path)
    assert len(fit_calls) == 5, "an unreadable file is rebuilt"
    assert not list(tmp_path.glob("*.tmp")), "atomic writes leave no temp files"


def test_split_change_is_a_new_key(planted, tmp_path, fit_calls):
    data, split = planted
    _fit(planted, tmp_path)
    fewer = split.train.iloc[:-1]
    fit_or_load(CFG, fewer, split.val, data.n_users, data.n_items, 4.0, 0, tmp_path, "synthetic-test")
    assert len(fit_calls) == 2
    assert frame_fingerprint(fewer) != frame_fingerprint(split.train)


def test_candidates_cache_hit_and_rebuild(planted, tmp_path, monkeypatch):
    _, split = planted
    retriever = _fit(planted, tmp_path)
    calls = []
    original = cache_mod.compute_candidates
    monkeypatch.setattr(cache_mod, "compute_candidates", lambda *a, **k: calls.append(1) or original(*a, **k))
    first = candidates_or_load(retriever, split.train, split.val, split.test, 5, tmp_path)
    second = candidates_or_load(retriever, split.train, split.val, split.test, 5, tmp_path)
    assert len(calls) == 1
    assert torch.equal(first.test_items, second.test_items) and second.metrics == first.metrics
    assert first.test_items.shape == (len(split.test), 5) and first.val_items.shape == (len(split.val), 5)
    assert first.test_users.tolist() == split.test["user"].tolist(), "rows follow the split's row order"
    assert first.test_recall == pytest.approx(first.metrics["test/target_recall@5"])
    assert first.metrics["test/hr@5"] == pytest.approx(first.test_recall)
    candidates_or_load(retriever, split.train, split.val, split.test, 3, tmp_path)
    assert len(calls) == 2, "another K is another artifact"
    (path,) = tmp_path.glob("*-top5.safetensors")
    _tamper_key(path)
    candidates_or_load(retriever, split.train, split.val, split.test, 5, tmp_path)
    assert len(calls) == 3


def test_unknown_names_and_keys_are_config_errors_before_any_fit(planted, tmp_path, fit_calls):
    with pytest.raises(ConfigError, match=r"unknown retriever 'bert4rec' \(config key `retriever.name`\).*lightgcn"):
        build_retriever("bert4rec")
    with pytest.raises(ConfigError, match=r"retriever.name"):
        _fit(planted, tmp_path, cfg={"name": "bert4rec"})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['dimm'\]"):
        build_retriever("mf", dimm=8)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['dimm'\]"):
        _fit(planted, tmp_path, cfg={"_target_": "rankexp.retrievers.mf.MF", "dimm": 8})
    assert fit_calls == []


def test_more_candidates_than_the_catalogue_fails_before_fitting_naming_protocol_m(planted, tmp_path, fit_calls):
    from omegaconf import OmegaConf

    from rankexp.recipes.retrieval import retrieve

    data, split = planted
    cfg = OmegaConf.create({"retriever": CFG, "paths": {"cache_dir": str(tmp_path)}, "seed": 0,
                            "task": {"hints": False}})
    with pytest.raises(ConfigError, match=rf"`protocol\.m`={data.n_items + 1}"):
        retrieve(cfg, data, split, k=data.n_items + 1)
    assert fit_calls == []
    retriever = _fit(planted, tmp_path)
    with pytest.raises(ConfigError, match=r"`protocol\.m`"):
        candidates_or_load(retriever, split.train, split.val, split.test, data.n_items, tmp_path)


def test_stored_config_is_readable(planted, tmp_path):
    _fit(planted, tmp_path)
    (path,) = tmp_path.glob("*.safetensors")
    with safetensors.safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    assert json.loads(meta["config"])["name"] == "pop"
