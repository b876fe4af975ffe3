"""An adapter is tested only on the prompts and readout it was trained on (`prompt_mismatches`)."""

from __future__ import annotations

import pytest

from rankexp.config.stored import resolved_config
from rankexp.errors import ConfigError
from rankexp.models.manifest import check_adapter_fits, manifest_from_config, prompt_mismatches
from tests.helpers.runs import compose


def manifest(*overrides: str) -> dict:
    return manifest_from_config(resolved_config(compose(*overrides)))


def test_lists_settings_are_free_prompt_settings_are_not():
    saved = manifest("+experiment=alro_ml100k_candidate")
    assert prompt_mismatches(saved, manifest("+experiment=alro_ml100k_candidate", "seed=4", "protocol.m=5")) == []
    diff = prompt_mismatches(saved, manifest("+experiment=alro_ml100k_candidate", "task.title_max_chars=10",
                                             "task.hint_format=rank"))
    assert any(d.startswith("task.title_max_chars: adapter") for d in diff), diff
    assert any(d.startswith("task.hint_format: adapter 'value', config 'rank'") for d in diff), diff


def test_other_readout_and_recipe_are_refused_naming_both():
    saved = manifest("+experiment=alro_ml100k_candidate")
    with pytest.raises(ConfigError, match="readout: adapter 'candidate', config 'slot'"):
        check_adapter_fits(saved, manifest("+experiment=alro_ml100k_candidate", "readout=slot"), "ad")
    with pytest.raises(ConfigError, match="recipe: adapter 'alro', config 'recranker'"):
        check_adapter_fits(saved, manifest("+experiment=recranker_ml100k"), "ad")


def test_prompt_wording_is_compared_key_by_key():
    saved = manifest("+experiment=alro_ml100k_candidate")
    wanted = manifest("+experiment=alro_ml100k_candidate", "prompt.candidate.hint_note='; other words'")
    diff = prompt_mismatches(saved, wanted)
    assert diff and diff[0].startswith("prompt.candidate.hint_note: adapter"), diff


def test_keys_an_older_manifest_lacks_are_not_compared():
    saved = manifest("+experiment=alro_ml100k_candidate")
    older = {k: v for k, v in saved.items() if k not in ("hint_format", "hint_signal")}
    assert prompt_mismatches(older, manifest("+experiment=alro_ml100k_candidate", "task.hint_format=rank")) == []


def test_what_the_readout_was_built_with_is_what_is_saved_and_compared():
    """The slot readout's labels and chat template come from the readout node (a typed `readout.labels` wins over
    `task.labels`); the candidate readout takes no chat template, so that setting does not refuse its adapter."""
    typed = manifest("+experiment=alro_ml100k", "readout=slot", "readout.labels=ZYXWVUTSRQPONMLKJIHG")
    assert typed["labels"] == "ZYXWVUTSRQPONMLKJIHG"
    diff = prompt_mismatches(manifest("+experiment=alro_ml100k"), typed)
    assert diff == [("readout.labels (from task.labels): adapter 'ABCDEFGHIJKLMNOPQRST', "
                     "config 'ZYXWVUTSRQPONMLKJIHG'")], diff
    diff = prompt_mismatches(manifest("+experiment=alro_ml100k"), manifest("+experiment=alro_ml100k",
                                                                             "task.chat_template=false"))
    assert diff == ["readout.chat_template (from task.chat_template): adapter True, config False"], diff
    candidate = manifest("+experiment=alro_ml100k_candidate")
    assert prompt_mismatches(candidate, manifest("+experiment=alro_ml100k_candidate", "task.chat_template=false")) == []


def test_an_older_manifest_without_a_readout_still_compares_the_labels():
    saved = {k: v for k, v in manifest("+experiment=alro_ml100k").items() if k != "readout"}
    diff = prompt_mismatches(saved, manifest("+experiment=alro_ml100k", "task.labels=ZYXWVUTSRQPONMLKJIHG"))
    assert diff and diff[0].startswith("readout.labels (from task.labels): adapter 'ABCDEFGHIJKLMNOPQRST'"), diff


def test_a_recranker_adapter_keeps_its_chat_template():
    diff = prompt_mismatches(manifest("+experiment=recranker_ml100k"),
                             manifest("+experiment=recranker_ml100k", "task.chat_template=false"))
    assert diff == ["readout.chat_template (from task.chat_template): adapter True, config False"], diff
