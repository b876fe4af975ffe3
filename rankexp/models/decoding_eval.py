"""Inference paths (b) constrained greedy and (c) generate + parse, evaluated on the test lists.

Path (a), the single-pass verbalizer, runs inside `trainer.test`; these two are
slower (m decode steps per list) and run on at most `eval.max_decode_lists`
lists, reported side by side as `test_constrained/*` and `test_generate/*`.
"""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from rankexp.data.examples import ListwiseExample
from rankexp.errors import unknown_name
from rankexp.evaluation.metrics import ndcg_gain, ranking_metrics
from rankexp.models.decoding import ParseCounts, constrained_greedy, generate_and_parse, order_to_scores
from rankexp.prompts.listwise import ListwiseEncoder

METHODS = ("verbalizer", "constrained", "generate")


def evaluate_decoding(model, encoder: ListwiseEncoder, examples: list[ListwiseExample], methods, ks,
                      max_lists: int | None) -> dict[str, float]:
    for method in methods:
        if method not in METHODS:
            raise unknown_name("inference method", method, METHODS, "eval.methods")
    chosen = examples[:max_lists] if max_lists else examples
    out: dict[str, float] = {}
    was_training = model.training
    model.eval()
    for method in [m for m in methods if m != "verbalizer"]:
        counts = ParseCounts()
        scores, gains, started = [], [], time.perf_counter()
        for example in tqdm(chosen, desc=f"{method} decoding", disable=None, leave=False):
            prompt, _ = encoder.prompt_ids(example)
            m = len(example.candidates)
            if method == "constrained":
                order = constrained_greedy(model, prompt, encoder.label_ids[:m], encoder.newline_id)
            else:
                order = generate_and_parse(model, encoder.tokenizer, prompt, encoder.labels[:m], counts)
            scores.append(order_to_scores(order, m))
            gains.append(ndcg_gain(torch.as_tensor(example.gains)))
        values = ranking_metrics(torch.stack(scores), torch.stack(gains), tuple(ks))
        prefix = f"test_{method}"
        out.update({f"{prefix}/{k}": float(v.mean()) for k, v in values.items()})
        out[f"{prefix}/lists"] = float(len(chosen))
        out[f"{prefix}/seconds_per_list"] = (time.perf_counter() - started) / max(len(chosen), 1)
        if method == "generate":
            out.update(counts.as_metrics(prefix))
    model.train(was_training)
    return out
