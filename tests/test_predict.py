"""`python -m rankexp.predict`: the thin CLI over rankexp.Ranker (request file checks, output, exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rankexp import Ranker, predict
from rankexp.errors import RankexpError
from tests.helpers.runs import REPO, explain, run_module

REQUEST = {"history": [{"title": "Toy Story (1995)", "rating": 5}, {"title": "Heat (1995)", "rating": 2}],
           "candidates": ["Babe (1995)", "Casino (1995)", "Jumanji (1995)", "GoldenEye (1995)"]}


@pytest.mark.parametrize("data, message", [
    ([], "top level must be a JSON object"),
    ({"candidates": ["a"], "rating": 3}, r"unknown field\(s\) \['rating'\]"),
    ({"candidates": ["a"], "user": [3]}, "`user` must be the dataset's user id"),
    ({"history": []}, "`candidates` is missing"),
    ({"candidates": ["a"], "hints": [3.0]}, "`hints` must be an object of title -> number"),
    ({"candidates": ["a"], "hints": {"a": "high"}}, "`hints` must be an object of title -> number"),
])
def test_request_errors_name_the_field(data, message):
    with pytest.raises(predict.RequestError, match=message):
        predict.check_request(data)


def test_request_file_errors(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"candidates": ["a",\n ]}')
    with pytest.raises(predict.RequestError, match="not valid JSON: .* line 2, column 2"):
        predict.load_request(str(bad))
    with pytest.raises(predict.RequestError, match="cannot read request file"):
        predict.load_request(str(tmp_path / "missing.json"))
    assert isinstance(predict.RequestError("x"), RankexpError)


def _fake_run_with_adapter(tmp_path: Path) -> Path:
    """A run dir saved before adapters carried rankexp.json: .hydra/config.yaml + a (perturbed) LoRA adapter."""
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


def test_an_old_adapter_uses_its_run_config_and_changes_scores(tmp_path: Path):
    adapter = _fake_run_with_adapter(tmp_path)
    ranker = Ranker.from_pretrained(adapter)
    assert ranker.manifest["labels"] == "ABCDEFGHIJ" and ranker.manifest["item_noun"] == "item"
    history = [(h["title"], h["rating"]) for h in REQUEST["history"]]
    tuned = ranker.rank(history, REQUEST["candidates"])
    base = Ranker.from_pretrained(model="tiny_random").rank(history, REQUEST["candidates"])
    assert [r.score for r in tuned] != pytest.approx([r.score for r in base])
    with pytest.raises(predict.RequestError, match="only 10 labels"):
        ranker.rank([], [f"t{i}" for i in range(11)])


def test_main_prints_json_and_exits_2_on_bad_input(tmp_path: Path, capsys):
    good = tmp_path / "request.json"
    good.write_text(json.dumps(REQUEST))
    assert predict.main(["--input", str(good), "--model", "tiny_random", "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)
    assert len(ranking) == 4 and [r["rank"] for r in ranking] == [1, 2, 3, 4]
    assert "GoldenEye (1995)" in {r["title"] for r in ranking}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"history": [{"title": "x"}], "candidates": ["a"]}))
    assert predict.main(["--input", str(bad), "--model", "tiny_random"]) == 2
    assert "`history[0].rating` must be a number" in capsys.readouterr().err
    assert predict.main(["--input", str(good), "--adapter", str(tmp_path)]) == 2
    assert "holds no adapter_config.json" in capsys.readouterr().err
    nan = tmp_path / "nan.json"
    nan.write_text('{"history": [["Heat", 3]], "candidates": ["Babe"], "hints": {"Heat": 3.0, "Babe": NaN}}')
    assert predict.main(["--input", str(nan), "--model", "tiny_random"]) == 2
    assert "`hints['Babe']` must be a finite number, got nan" in capsys.readouterr().err


def test_predict_derives_hints_from_data(tmp_path: Path, capsys):
    from tests.test_api import _save

    adapter, _ = _save(tmp_path, ["+experiment=alro_ml100k_candidate", "data=synthetic"], model_source="tiny_random")
    request = tmp_path / "request.json"
    from hydra.utils import instantiate

    from tests.helpers.runs import compose
    data = instantiate(compose("data=synthetic").data)
    titles = data.items["title"].astype(str).tolist()
    request.write_text(json.dumps({"history": [[titles[0], 4]], "candidates": titles[1:4], "user": str(data.user_ids[0])}))
    assert predict.main(["--input", str(request), "--adapter", str(adapter), "--data", "synthetic", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    request.write_text(json.dumps({"history": [], "candidates": ["No Such Title"]}))
    assert predict.main(["--input", str(request), "--adapter", str(adapter), "--data", "synthetic"]) == 2
    assert "is not a title of synthetic" in capsys.readouterr().err


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
