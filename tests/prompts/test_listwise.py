"""Prompt encoding: labels are single tokens in the context they appear in; truncation is counted."""

from __future__ import annotations

import numpy as np
import pytest

from rankexp.data.examples import ListwiseExample
from rankexp.errors import ConfigError
from rankexp.prompts.listwise import ListwiseEncoder, collate
from rankexp.prompts.style import PromptStyle, labels_for


def _example(m: int, history: int) -> ListwiseExample:
    gains = np.arange(m, dtype=np.float32) % 5 + 1
    return ListwiseExample(0, np.arange(history), np.full(history, 4.0), np.arange(100, 100 + m), gains,
                           np.lexsort((np.arange(m), -gains)))


def _encoder(tokenizer, m=10, max_length=1024):
    titles = np.array([f"Movie number {i} (1995)" for i in range(200)], dtype=object)
    return ListwiseEncoder(tokenizer, titles, labels_for(m), PromptStyle(), max_length)


def test_answer_tokens_are_label_newline_pairs(tiny_model):
    _, tokenizer = tiny_model
    encoder = _encoder(tokenizer)
    encoded = encoder.encode(_example(10, 5))
    assert encoded.target_ids[0::2] == [encoder.label_ids[s] for s in encoded.target_slots]
    assert set(encoded.target_ids[1::2]) == {encoder.newline_id}
    # the label ids are those of the bare letters, and differ from " A" (the comma-separated pitfall)
    assert encoder.label_ids[0] == tokenizer.encode("A", add_special_tokens=False)[0]
    assert encoder.label_ids[0] != tokenizer.encode(" A", add_special_tokens=False)[-1]


def test_slot_positions_point_at_the_token_before_each_label(tiny_model):
    _, tokenizer = tiny_model
    encoder = _encoder(tokenizer)
    batch = collate([encoder.encode(_example(10, 3)), encoder.encode(_example(10, 6))], tokenizer.pad_token_id, True)
    for row in range(2):
        for k, position in enumerate(batch["slot_positions"][row].tolist()):
            label = batch["input_ids"][row, position + 1].item()
            assert label == encoder.label_ids[batch["target_slots"][row, k].item()]


def test_long_history_is_cut_from_the_oldest_item_and_counted(tiny_model):
    _, tokenizer = tiny_model
    encoder = _encoder(tokenizer, max_length=260)
    encoded = encoder.encode(_example(10, 30))
    assert encoded.truncated_history > 0 and encoder.truncations == 1
    assert len(encoded.prompt_ids) + 20 <= 260
    with pytest.raises(ConfigError, match="model.max_length"):
        _encoder(tokenizer, max_length=60).encode(_example(10, 0))


def test_more_candidates_than_labels_is_a_config_error():
    with pytest.raises(ConfigError, match="protocol.m"):
        labels_for(27)


def test_multi_token_labels_are_rejected(tiny_model):
    _, tokenizer = tiny_model
    titles = np.array(["x"] * 10, dtype=object)
    with pytest.raises(ConfigError, match="task.labels"):
        ListwiseEncoder(tokenizer, titles, ["Alpha-7", "Beta-9"], PromptStyle(), 512)
