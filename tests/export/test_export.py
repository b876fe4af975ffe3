"""`python -m rankexp.export`: the JSONL files hold the prompts exactly as the model sees them.

Each test rebuilds an instance the way the run does (the recipe's encoder, `TrainDraws` /
`InstructionSet`, the evaluation lists) and checks that tokenizing the exported text gives the
same ids, so a drift between the export and the training input fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.utils import instantiate

from rankexp.export.core import export, load_tokenizer_of
from rankexp.export.jsonl import write_splits
from rankexp.io.results import config_hash
from rankexp.models.readouts import SlotReadout
from rankexp.recipes.lists import build_lists
from tests.helpers.recranker import rerank_cfg
from tests.helpers.runs import TINY, TINY_PROTOCOL, compose, explain, run_module


def read(folder: Path, split: str) -> tuple[dict, dict[str, dict]]:
    """(schema line, records by id) of one exported file."""
    lines = (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    schema, records = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert schema["records"] == len(records) and len({r["id"] for r in records}) == len(records)
    return schema, {r["id"]: r for r in records}


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def test_slot_readout_export_equals_the_training_input_token_for_token(tmp_path):
    from rankexp.prompts.datamodule import TrainDraws
    from rankexp.recipes.alro import build_encoder

    cfg = compose(*TINY, *TINY_PROTOCOL, "data=synthetic", "readout=slot", "loss=[sft,perm_kl]",
                  "train.draws_per_epoch=3")
    counts = export(cfg, tmp_path, epochs=2, experiment="mine")
    assert counts == {"train": 2 * 3 * 2, "val": 8, "test": 8}  # 2 epochs x 3 draws x (original + permuted)
    schema, train = read(tmp_path, "train")
    assert {k: schema[k] for k in ("schema", "split", "recipe", "readout", "experiment", "seed", "epochs")} == {
        "schema": "rankexp.export", "split": "train", "recipe": "alro", "readout": "slot", "experiment": "mine",
        "seed": 0, "epochs": 2}
    assert schema["config_hash"] == config_hash(cfg) and schema["tokenizer"].endswith(".gguf")
    assert {"prompt", "prompt_ids", "target", "target_ids", "candidates", "gains"} <= set(schema["fields"])

    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    tokenizer, _ = load_tokenizer_of(cfg.model)
    encoder = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length))
    draws = TrainDraws(lists.train_source, encoder, 3, 0, permute=True)
    draws.epoch = 1
    (original, permuted), perm = draws[2]
    for record, encoded in ((train["train-1-2"], original), (train["train-1-2-permuted"], permuted)):
        assert encode(tokenizer, record["prompt"]) == record["prompt_ids"] == encoded.prompt_ids
        assert record["target_ids"] == encoded.target_ids and record["text_exact"]
    first, shuffled = train["train-1-2"], train["train-1-2-permuted"]
    assert shuffled["perm"] == perm.tolist() and perm.tolist() != sorted(perm.tolist())
    shown = data.items["item_id"].to_numpy()[lists.train_source.draw(1 * 3 + 2, 0).candidates].tolist()  # draw 5
    assert first["candidates"] == shown and shuffled["candidates"] == [shown[p] for p in perm]
    _, val = read(tmp_path, "val")
    assert encode(tokenizer, val["val-3"]["prompt"]) == encoder.encode(lists.val[3], with_target=False).prompt_ids
    assert val["val-3"]["candidates"] == data.items["item_id"].to_numpy()[lists.val[3].candidates].tolist()


def test_candidate_readout_export_keeps_the_ids_and_readout_positions(tmp_path):
    from rankexp.recipes.alro import build_encoder

    cfg = compose(*TINY, *TINY_PROTOCOL, "data=synthetic", "readout=candidate", "loss=[rating_ce]",
                  "eval.methods=[verbalizer]", "train.draws_per_epoch=2", "train.max_val_lists=2")
    export(cfg, tmp_path, epochs=1)
    schema, train = read(tmp_path, "train")
    assert (schema["readout"], schema["records"]) == ("candidate", 2) and "rating_targets" in schema["fields"]
    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    tokenizer, _ = load_tokenizer_of(cfg.model)
    encoded = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length)).encode(lists.val[1], with_target=False)
    _, val = read(tmp_path, "val")
    record = val["val-1"]
    assert record["prompt_ids"] == encoded.input_ids and record["readout_positions"] == encoded.readout
    assert record["prompt"] == tokenizer.decode(encoded.input_ids)  # the ids' text; seams may retokenize
    assert train["train-0-1"]["rating_targets"] == [int(g) for g in train["train-0-1"]["gains"]]


def test_recranker_export_equals_the_instructions_and_evaluation_prompts(tmp_path):
    from rankexp.models.hybrid import HybridEvaluator
    from rankexp.prompts.instruction_datamodule import InstructionSet
    from rankexp.recipes import recranker

    cfg = rerank_cfg("train.draws_per_epoch=6", "train.max_val_lists=3",
                     "train.max_test_lists=2")
    counts = export(cfg, tmp_path, epochs=1)
    schema, train = read(tmp_path, "train")
    assert (schema["recipe"], schema["readout"], counts["val"], counts["test"]) == ("recranker", "instructions", 3, 2)

    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    tokenizer, _ = load_tokenizer_of(cfg.model)
    mix = recranker.task_mix(cfg.task)
    users = recranker.sample_users(cfg, data, lists)
    predict_rating, score = recranker.hint_functions(cfg, lists)
    tasks = recranker.build_tasks(cfg, data, lists, predict_rating, score)
    encoder = recranker.build_encoder(cfg, data, tokenizer, predict_rating)
    train_set = InstructionSet(tasks, users, encoder, 0, mix, cfg.task.mix_mode)
    assert counts["train"] == len(train_set) == len(train)
    for index in range(len(train_set)):
        record, encoded = train[f"train-0-{index}"], train_set[index]
        assert record["task"] == train_set.instances[index][0]
        assert encode(tokenizer, record["prompt"]) == encoded.prefix_ids + encoded.suffix_ids
        assert record["answer_ids"] == encoded.answer_ids
    _, test = read(tmp_path, "test")
    evaluator = HybridEvaluator(encoder, recranker.hybrid_options(cfg, mix), predict_rating, score)
    prefix, suffixes, _ = encoder.encode_user(evaluator.prompts(lists.test[1], 2))
    record = test["test-1"]
    assert encode(tokenizer, record["prefix"]) == prefix and [q["suffix_ids"] for q in record["prompts"]] == suffixes


def test_an_error_mid_export_leaves_the_previous_files_whole(tmp_path):
    schema = {"records": 2}
    write_splits(tmp_path, {"train": (schema, [{"a": 1}, {"a": 2}]), "val": (schema, [{"b": 1}, {"b": 2}])})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken():
        yield {"a": 3}
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_splits(tmp_path, {"train": (schema, [{"a": 3}, {"a": 4}]), "val": (schema, broken())})
    with pytest.raises(RuntimeError, match="wrote 1 records, the schema line says 2"):
        write_splits(tmp_path, {"train": (schema, [{"a": 5}])})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no staging folder left either


def test_the_cli_documents_itself_and_names_a_missing_out(tmp_path):
    done = run_module("rankexp.export", "--help", timeout=60)
    assert done.returncode == 0, explain(done)
    assert all(text in done.stdout for text in ("usage: python -m rankexp.export", "examples:", "out=DIR", "epochs=N"))
    done = run_module("rankexp.export", "model=tiny_random", timeout=60)
    assert done.returncode == 2 and "error: `out` must be set on the command line" in done.stderr, explain(done)
    assert "Traceback" not in done.stderr
    done = run_module("rankexp.export", *TINY, *TINY_PROTOCOL, "data=synthetic", "train.draws_per_epoch=2",
                      f"out={tmp_path / 'x'}", timeout=300, env_overrides={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, explain(done)
    assert "wrote train.jsonl (" in done.stdout and sorted(p.name for p in (tmp_path / "x").iterdir()) == [
        "test.jsonl", "train.jsonl", "val.jsonl"]


def test_a_readout_without_a_record_format_is_refused_before_any_work():
    from omegaconf import OmegaConf, open_dict

    from rankexp.errors import ConfigError
    from rankexp.export.listwise import listwise_splits

    cfg = compose(*TINY, *TINY_PROTOCOL, "data=synthetic", "readout=slot")
    with open_dict(cfg):
        cfg.readout._target_ = f"{__name__}.OwnReadout"
    with pytest.raises(ConfigError, match=r"no list record format for `readout=own` \(its `Readout.record_fields` is "):
        listwise_splits(cfg, None, None, None, 1)
    assert OmegaConf.select(cfg, "readout.labels") and issubclass(OwnReadout, SlotReadout)


class OwnReadout(SlotReadout):
    """A readout of one's own (the slot readout under another name) that declares no record format."""

    name, record_fields = "own", {}
