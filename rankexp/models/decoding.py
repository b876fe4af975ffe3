"""Inference paths (b) and (c) of docs/alro.md "Inference"; path (a) is `ListwiseRanker.score`.

(b) constrained greedy: m steps, each choosing the most likely unused label and
    feeding `label, newline` through the KV cache;
(c) free `generate()` + parse, counting invalid, duplicate and missing labels
    (missing ones appended in input order).
Both run one list at a time (no padding, so positions need no care); they are
baselines and benchmarks, the verbalizer is the fast path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@torch.no_grad()
def constrained_greedy(model: nn.Module, prompt_ids: list[int], label_ids: list[int], newline_id: int) -> list[int]:
    """Slots best first, decoded greedily over unused labels with the KV cache."""
    device = next(model.parameters()).device
    m = len(label_ids)
    labels = torch.tensor(label_ids, device=device)
    out = model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True, logits_to_keep=1)
    past, logits = out.past_key_values, out.logits[0, -1]
    used = torch.zeros(m, dtype=torch.bool, device=device)
    order: list[int] = []
    for _ in range(m):
        scores = logits[labels].float().masked_fill(used, float("-inf"))
        slot = int(scores.argmax())
        order.append(slot)
        used[slot] = True
        if len(order) == m:
            break
        step = torch.tensor([[label_ids[slot], newline_id]], device=device)
        out = model(input_ids=step, past_key_values=past, use_cache=True, logits_to_keep=1)
        past, logits = out.past_key_values, out.logits[0, -1]
    return order


@dataclass
class ParseCounts:
    """What free-text generation got wrong, summed over lists (reported in results.json)."""

    lists: int = 0
    invalid: int = 0
    duplicate: int = 0
    missing: int = 0
    examples: list[str] = field(default_factory=list)

    def as_metrics(self, prefix: str) -> dict[str, float]:
        n = max(self.lists, 1)
        return {f"{prefix}/invalid_per_list": self.invalid / n, f"{prefix}/duplicate_per_list": self.duplicate / n,
                f"{prefix}/missing_per_list": self.missing / n}


def parse_ranking(text: str, labels: list[str], counts: ParseCounts | None = None) -> list[int]:
    """Slots best first from generated text; unknown tokens are invalid, repeats dropped, missing appended."""
    position = {label: i for i, label in enumerate(labels)}
    order: list[int] = []
    invalid = duplicate = 0
    for token in re.findall(r"[A-Za-z0-9]+", text):
        if token not in position:
            invalid += 1
        elif position[token] in order:
            duplicate += 1
        else:
            order.append(position[token])
    missing = [slot for slot in range(len(labels)) if slot not in order]
    if counts is not None:
        counts.lists += 1
        counts.invalid += invalid
        counts.duplicate += duplicate
        counts.missing += len(missing)
        if len(counts.examples) < 5:
            counts.examples.append(text[:200])
    return order + missing


@torch.no_grad()
def generate_and_parse(model: nn.Module, tokenizer, prompt_ids: list[int], labels: list[str],
                       counts: ParseCounts) -> list[int]:
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids], device=device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    generated = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=2 * len(labels) + 2,
                               do_sample=False, pad_token_id=pad)
    text = tokenizer.decode(generated[0, len(prompt_ids):], skip_special_tokens=True)
    return parse_ranking(text, labels, counts)


def order_to_scores(order: list[int], m: int) -> Tensor:
    """Higher score = ranked earlier: slot at position p gets m - p."""
    scores = torch.zeros(m)
    for position, slot in enumerate(order):
        scores[slot] = float(m - position)
    return scores
