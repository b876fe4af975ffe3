"""`python -m rankexp.predict` on the tiny random model: request checks, ranking, adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rankexp import predict
from rankexp.errors import RankexpError
from tests.helpers.runs import REPO, explain, run_module

REQUEST = {"history": [{"title": "Toy Story (1995)", "rating": 5}, {"title": "Heat (1995)", "rating": 2}],
           "candidates": ["Babe (1995)", "Casino (1995)", "Jumanji (1995)", "GoldenEye (1995)"]}


@pytest.mark.parametrize("data, message", [
    ([], "top level must be a JSON object"),
    ({"candidates": ["a"], "user": 3}, r"unknown field\(s\) \['user'\]"),
    ({"history": {}, "candidates": ["a"]}, "`history` must be a list"),
    ({"history": ["Toy Story"], "candidates": ["a"]}, r"`history\[0\]` must be an object"),
    ({"history": [{"rating": 4}], "candidates": ["a"]}, r"`history\[0\].title` must be a non-empty string"),
    ({"history": [{"title": "x", "rating": "5"}], "candidates": ["a"]}, r"`history\[0\].rating` must be a number"),
    ({"history": [{"title": "x", "rating": True}], "candidates": ["a"]}, r"`history\[0\].rating` must be a number"),
    ({"history": [{"title": "x", "rating": 9}], "candidates": ["a"]}, "outside the rating scale 1-5"),
    ({"history": [{"title": "x", "rating": 4, "year": 1}], "candidates": ["a"]}, r"unknown field\(s\) \['year'\]"),
    ({"history": []}, "`candidates` is missing"),
    ({"candidates": []}, "`candidates` must be a non-empty list"),
    ({"candidates": ["a", 3]}, r"`candidates\[1\]` must be a non-empty string"),
    ({"candidates": ["a", " a "]}, "more than once"),
    ({"candidates": [f"t{i}" for i in range(21)]}, "21 candidates, but the ranker has only 20 labels"),
])
def test_request_errors_name_the_field(data, message):
    with pytest.raises(predict.RequestError, match=message):
        predict.parse_request(data, max_candidates=20)


def test_request_file_errors(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"candidates": ["a",\n ]}')
    with pytest.raises(predict.RequestError, match="not valid JSON: .* line 2, column 2"):
        predict.load_request(str(bad), 20)
    with pytest.raises(predict.RequestError, match="cannot read request file"):
        predict.load_request(str(tmp_path / "missing.json"), 20)
    assert isinstance(predict.RequestError("x"), RankexpError)


def test_valid_request_becomes_an_example():
    request = predict.parse_request(REQUEST, 20)
    example, titles = predict.as_example(request)
    assert [titles[i] for i in example.history] == ["Toy Story (1995)", "Heat (1995)"]
    assert [titles[i] for i in example.candidates] == REQUEST["candidates"]
    assert example.history_ratings.tolist() == [5.0, 2.0]


def test_settings_from_conf_and_unknown_model():
    settings = predict.resolve_settings("tiny_random", None)
    assert settings.model["source"] == "tiny_random" and "_target_" not in settings.model
    assert settings.labels == "ABCDEFGHIJKLMNOPQRST"
    with pytest.raises(RankexpError, match="unknown model 'nope'.*tiny_random"):
        predict.resolve_settings("nope", None)


def test_rank_with_tiny_random():
    settings = predict.resolve_settings("tiny_random", None)
    ranking = predict.rank(predict.parse_request(REQUEST, 20), settings)
    assert sorted(r["title"] for r in ranking) == sorted(REQUEST["candidates"])
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert sum(r["share"] for r in ranking) == pytest.approx(1.0)
    assert [r["rank"] for r in ranking] == [1, 2, 3, 4]
    assert {r["label"] for r in ranking} == set("ABCD")
    assert "GoldenEye (1995)" in predict.format_ranking(ranking)


def _fake_run_with_adapter(tmp_path: Path) -> Path:
    """A run dir as `rankexp.run` leaves it: .hydra/config.yaml + a (perturbed) LoRA adapter."""
    from rankexp.models.adapters import save_adapter
    from rankexp.models.loading import load_model
    from tests.helpers.runs import SMOL

    model, _ = load_model("tiny_random", **SMOL, lora={"r": 4, "alpha": 8, "dropout": 0.0, "bias": "none",
                                                       "target_modules": ["q_proj", "v_proj"]})
    import torch

    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    run = tmp_path / "run"
    save_adapter(model, run / "adapter")
    (run / ".hydra").mkdir()
    config = {"model": yaml.safe_load((REPO / "rankexp" / "conf" / "model" / "tiny_random.yaml").read_text()),
              "task": {"labels": "ABCDEFGHIJ", "title_max_chars": 30, "history_with_ratings": True, "hints": False},
              "data": {"item_noun": "item", "rating_scale": [1.0, 5.0]}}
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return run / "adapter"


def test_adapter_from_a_run_uses_its_settings_and_changes_scores(tmp_path: Path):
    adapter = _fake_run_with_adapter(tmp_path)
    settings = predict.resolve_settings(None, adapter)
    assert settings.source.endswith(".hydra/config.yaml")
    assert settings.labels == "ABCDEFGHIJ" and settings.style.item_noun == "item"
    request = predict.parse_request(REQUEST, len(settings.labels))
    tuned = predict.rank(request, settings, adapter)
    base = predict.rank(request, settings, None)
    assert [r["score"] for r in tuned] != pytest.approx([r["score"] for r in base])
    with pytest.raises(predict.RequestError, match="only 10 labels"):
        predict.parse_request({"candidates": [f"t{i}" for i in range(11)]}, len(settings.labels))


def test_main_prints_json_and_exits_2_on_bad_input(tmp_path: Path, capsys):
    good = tmp_path / "request.json"
    good.write_text(json.dumps(REQUEST))
    assert predict.main(["--input", str(good), "--model", "tiny_random", "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)
    assert len(ranking) == 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"history": [{"title": "x"}], "candidates": ["a"]}))
    assert predict.main(["--input", str(bad), "--model", "tiny_random"]) == 2
    assert "`history[0].rating` must be a number" in capsys.readouterr().err
    assert predict.main(["--input", str(good), "--adapter", str(tmp_path)]) == 2
    assert "holds no adapter_config.json" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_subprocess(tmp_path: Path):
    good = tmp_path / "request.json"
    good.write_text(json.dumps(REQUEST))
    proc = run_module("rankexp.predict", "--input", str(good), "--model", "tiny_random", timeout=300)
    assert proc.returncode == 0, explain(proc)
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["rank", "label", "title"] and len(lines) == 5
    too_many = tmp_path / "many.json"
    too_many.write_text(json.dumps({"candidates": [f"Movie {i}" for i in range(25)]}))
    proc = run_module("rankexp.predict", "--input", str(too_many), "--model", "tiny_random", timeout=300)
    assert proc.returncode == 2 and "25 candidates" in proc.stderr and "Traceback" not in proc.stderr
