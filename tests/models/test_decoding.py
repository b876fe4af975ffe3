"""Inference paths (b) and (c): constrained greedy decoding and free generation + parse."""

from __future__ import annotations

import numpy as np
import torch

from rankexp.data.examples import ListwiseExample
from rankexp.models.decoding import ParseCounts, constrained_greedy, order_to_scores, parse_ranking
from rankexp.models.decoding_eval import evaluate_decoding
from rankexp.prompts.listwise import ListwiseEncoder
from rankexp.prompts.style import PromptStyle, labels_for


def test_parse_counts_invalid_duplicate_missing():
    counts = ParseCounts()
    order = parse_ranking("C\nA\nC\nZ\nfoo\nB", ["A", "B", "C", "D"], counts)
    assert order == [2, 0, 1, 3]  # D missing -> appended in input order
    assert (counts.invalid, counts.duplicate, counts.missing) == (2, 1, 1)
    metrics = counts.as_metrics("test_generate")
    assert metrics["test_generate/missing_per_list"] == 1.0


def test_order_to_scores_ranks_first_highest():
    scores = order_to_scores([2, 0, 1], 3)
    assert torch.argsort(scores, descending=True).tolist() == [2, 0, 1]


def test_constrained_greedy_first_step_matches_verbalizer(tiny_model):
    model, tokenizer = tiny_model
    titles = np.array([f"Film {i}" for i in range(50)], dtype=object)
    encoder = ListwiseEncoder(tokenizer, titles, labels_for(5), PromptStyle(), 512)
    example = ListwiseExample(0, np.arange(3), np.full(3, 4.0), np.arange(10, 15), np.array([5, 1, 3, 2, 4.0]),
                              np.array([0, 4, 2, 3, 1]))
    prompt, _ = encoder.prompt_ids(example)
    order = constrained_greedy(model, prompt, encoder.label_ids, encoder.newline_id)
    assert sorted(order) == list(range(5))  # a permutation: no label twice, none missing
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1]
    assert order[0] == int(torch.argmax(logits[encoder.label_ids]))
    # KV-cached step 2 equals a full forward over prompt + first label + newline
    with torch.no_grad():
        full = model(input_ids=torch.tensor([prompt + [encoder.label_ids[order[0]], encoder.newline_id]])).logits[0, -1]
    rest = [i for i in range(5) if i != order[0]]
    assert order[1] == rest[int(torch.argmax(full[[encoder.label_ids[i] for i in rest]]))]
    metrics = evaluate_decoding(model, encoder, [example], ["verbalizer", "constrained", "generate"], [1, 3], None)
    assert {"test_constrained/ndcg@3", "test_generate/ndcg@3", "test_generate/invalid_per_list"} <= set(metrics)
