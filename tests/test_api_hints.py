"""The API derives an adapter's hints from the data as training did; batches; hub ids; bad hint values."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from rankexp import Ranker
from rankexp.api import RequestError
from rankexp.errors import ConfigError
from tests.helpers.runs import compose, data_available
from tests.test_api import _save

ML100K = ["+experiment=alro_ml100k_candidate", "train.max_val_lists=10"]


def _request(example, titles: np.ndarray, user_ids: np.ndarray, with_user: bool = True) -> dict:
    return {"history": [(str(titles[i]), float(r)) for i, r in zip(example.history, example.history_ratings)],
            "candidates": [str(titles[i]) for i in example.candidates],
            "user": user_ids[example.user] if with_user else None}


def test_hints_from_data_are_the_training_prompts_token_for_token_on_ml100k(tmp_path):
    """Real ML-100K test users: Ranker(data=...) writes, id for id, the prompt the run's encoder wrote."""
    from hydra.utils import instantiate

    from rankexp.recipes.alro import build_encoder
    from rankexp.recipes.lists import build_lists

    cfg = compose(*ML100K, "model=tiny_random", "model.lora.r=4")
    available, why = data_available(cfg.data)
    if not available:
        pytest.skip(why)
    adapter, _ = _save(tmp_path, ML100K, model_source="tiny_random")
    data = instantiate(cfg.data)
    ranker = Ranker.from_pretrained(adapter, data="ml100k")
    encoder_of_run = build_encoder(cfg, data, ranker.tokenizer, int(cfg.model.max_length))
    titles = data.items["title"].astype(str).str.strip().to_numpy()
    unique = {t for t in titles if (titles == t).sum() == 1}
    lists = build_lists(cfg, data)
    examples = [e for e in lists.val + lists.test
                if all(titles[i] in unique for i in [*e.history, *e.candidates])][:40]
    assert len(examples) == 40
    for example in examples:
        request = _request(example, titles, data.user_ids)
        from rankexp.api import parse_request

        parsed = parse_request(request["history"], request["candidates"], None)
        ours, shown = ranker._example(parsed, None, request["user"], "request")
        encoder, _, _ = ranker._scorer(shown, len(parsed.candidates), with_hints=True)
        assert ours.hints == example.hints and ours.history_hints == example.history_hints
        assert (encoder.encode(ours, with_target=False).input_ids
                == encoder_of_run.encode(example, with_target=False).input_ids)
    # the user matters: a validation list's history is the user's own train rows, left out of the means
    values, first = ranker.data_hints.hints.values, lists.val[0]
    own = values(ranker.data_hints.user_of(data.user_ids[first.user]), first.history)
    assert not np.allclose(own, values(-1, first.history))
    with pytest.raises(RequestError, match="is not a title of ml100k"):
        ranker.rank([("No Such Film (2031)", 4)], ["Babe (1995)"])


def test_rank_batch_equals_one_by_one_in_order(tmp_path):
    adapter, _ = _save(tmp_path, ["+experiment=alro_ml100k_candidate"], model_source="tiny_random")
    ranker = Ranker.from_pretrained(adapter)
    requests = [
        {"history": [("Heat", 3), ("Babe", 5)], "candidates": ["Casino", "Jumanji", "Sabrina"],
         "hints": {"Heat": 3.1, "Babe": 4.0, "Casino": 3.5, "Jumanji": 2.9, "Sabrina": 3.3}},
        {"history": [("Toy Story", 4)], "candidates": ["Casino", "Heat"]},
        {"history": [], "candidates": ["Nixon", "Othello", "Money Train"]},
        {"history": [("Heat", 1)], "candidates": ["Babe", "Casino", "Nixon"],
         "hints": {"Heat": 3.0, "Babe": 4.2, "Casino": 3.5, "Nixon": 3.0}},
    ]
    batched = ranker.rank_batch(requests, batch_size=3)
    assert len(batched) == len(requests)
    for request, ranking in zip(requests, batched):
        alone = ranker.rank(request["history"], request["candidates"], hints=request.get("hints"))
        assert [r.title for r in ranking] == [r.title for r in alone]
        assert [r.score for r in ranking] == pytest.approx([r.score for r in alone], abs=1e-5)
    assert {r.title for r in batched[1]} == {"Casino", "Heat"}


@pytest.mark.parametrize("value", [float("nan"), math.inf, None, "3.5", True])
def test_a_hint_that_is_not_a_finite_number_is_refused_naming_it(tmp_path, value):
    adapter, _ = _save(tmp_path, ["+experiment=alro_ml100k_candidate"], model_source="tiny_random")
    ranker = Ranker.from_pretrained(adapter)
    with pytest.raises(RequestError, match=r"`hints\['Babe'\]` must be a finite number"):
        ranker.rank([("Heat", 3)], ["Babe", "Casino"], hints={"Heat": 3.0, "Babe": value, "Casino": 3.0})


def test_a_hub_repo_id_loads_from_the_local_hf_cache_offline(tmp_path, monkeypatch):
    adapter, _ = _save(tmp_path, ["+experiment=alro_ml100k_candidate"], model_source="tiny_random")
    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny-ranker"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(adapter, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    from_hub = Ranker.from_pretrained("someone/tiny-ranker")
    local = Ranker.from_pretrained(adapter)
    request = ([("Heat", 3)], ["Babe", "Casino", "Nixon"])
    assert [r.score for r in from_hub.rank(*request)] == pytest.approx([r.score for r in local.rank(*request)])
    assert Path(from_hub.source).parts[-2:] == ("snapshots", commit)
    with pytest.raises(ConfigError, match="neither a folder nor in the Hugging Face cache"):
        Ranker.from_pretrained("someone/absent-ranker")


def test_hints_from_data_refuse_what_they_cannot_derive(tmp_path):
    adapter, _ = _save(tmp_path, ["+experiment=alro_ml100k_candidate", "task.hints=false"],
                       model_source="tiny_random")
    with pytest.raises(ConfigError, match="trained without hints"):
        Ranker.from_pretrained(adapter, data="synthetic")
    with pytest.raises(ConfigError, match="unknown dataset config 'nope'"):
        Ranker.from_pretrained(_save(tmp_path / "b", ["+experiment=alro_ml100k_candidate"],
                                     model_source="tiny_random")[0], data="nope")
