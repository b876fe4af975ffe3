"""RecRanker's records: the pointwise / pairwise / listwise instructions of training, and each
evaluation user's prompts.

Training records are the run's `InstructionSet` (`rankexp.prompts.instruction_datamodule`), built
from the recipe's own users, hints and tasks (`rankexp.recipes.recranker`), one epoch after the
other. An evaluation record is one user's list: the shared prefix (history, and the candidate
block under `task.candidates_in_prefix`) and the question of each of their prompts, as
`HybridEvaluator` asks them (the model sees prefix + question; answers are read, not generated).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from omegaconf import DictConfig

from rankexp.data.sampling import instruction_set_hash
from rankexp.errors import ConfigError
from rankexp.export.jsonl import plain
from rankexp.export.records import COMMON_FIELDS, RawIds, Split
from rankexp.export.text import decode, exact, prompt_fields
from rankexp.models.hybrid import HybridEvaluator
from rankexp.models.instruction import STAGES
from rankexp.prompts.instruction_datamodule import InstructionSet
from rankexp.recipes.recranker import build_encoder, build_tasks, hint_functions, hybrid_options, sample_users, task_mix

TASK_FIELDS = {
    "task": "pointwise | pairwise | listwise",
    "item": "pointwise: the item asked about",
    "rating": "pointwise, train: its rating (the answer is that rating, binned to the answers shown)",
    "first": "pairwise: the item asked about first", "second": "pairwise: the item it is compared with",
    "first_preferred": "pairwise, train: true when the answer is the first (yes) answer",
    "hint": "pointwise: the predicted rating shown; pairwise: the item another recommender prefers (or null)",
    "candidates": "listwise: item ids in the order shown (label k names the k-th)",
    "gains": "listwise: gain of each shown candidate", "target_slots": "listwise: slots best first",
    "block": "task.candidates_in_prefix: the candidates shown before the question, in order",
}
TRAIN_FIELDS = {**COMMON_FIELDS, **TASK_FIELDS, "epoch": "training epoch (every instance is re-drawn each epoch)",
                "prefix_tokens": "prompt_ids[:prefix_tokens] is the history part, tokenized on its own",
                "answer": "the answer text", "answer_ids": "its token ids, appended to prompt_ids in training"}
EVAL_FIELDS = {
    **{k: COMMON_FIELDS[k] for k in ("id", "user")},
    "candidates": "the retriever's top-m, in its order", "gains": "1 on the held-out liked item",
    "retriever_scores": "the retriever's score of each candidate",
    "prefix": "the shared prompt start (history), decoded from prefix_ids", "prefix_ids": "its token ids",
    "truncated_history": "oldest history items dropped to fit model.max_length",
    "text_exact": "true when the prefix and every suffix tokenize back to their ids",
    "prompts": "one per question: {task, suffix, suffix_ids, item | first, second | candidates, hint}; the "
               "model sees prefix_ids + suffix_ids",
}


def _task_fields(task: str, example, ids: RawIds, train: bool) -> dict[str, Any]:
    if task == "pointwise":
        out = {"item": ids.item(example.item), "hint": plain(example.hint)}
        if train:
            out["rating"] = float(example.rating)
    elif task == "pairwise":
        out = {"first": ids.item(example.first), "second": ids.item(example.second), "hint": ids.item(example.hint)}
        if train:
            out["first_preferred"] = bool(example.first_preferred)
    else:
        out = {"candidates": ids.items(example.candidates), "hint": list(example.hints)}
        if train:
            out.update(gains=[float(g) for g in example.gains], target_slots=[int(s) for s in example.target_slots])
    block = getattr(example, "block", None)
    if block is not None:
        out["block"] = ids.items(block)
    return out


def _train(train_set: InstructionSet, epochs: int, ids: RawIds) -> Iterator[dict[str, Any]]:
    tokenizer = train_set.encoder.tokenizer
    for epoch in range(epochs):
        train_set.set_epoch(epoch)
        for index, (task, example) in enumerate(train_set.instances):
            encoded = train_set[index]
            yield {"id": f"train-{epoch}-{index}", "epoch": epoch, "task": task, "user": ids.user(example.user),
                   **prompt_fields(tokenizer, encoded.prefix_ids + encoded.suffix_ids),
                   "prefix_tokens": len(encoded.prefix_ids), "answer": decode(tokenizer, encoded.answer_ids),
                   "answer_ids": encoded.answer_ids, **_task_fields(task, example, ids, True)}


def _eval(split: str, examples: list, evaluator: HybridEvaluator, ids: RawIds) -> Iterator[dict[str, Any]]:
    encoder = evaluator.encoder
    tokenizer = encoder.tokenizer
    for index, example in enumerate(examples):
        prompts = evaluator.prompts(example, STAGES[split])
        prefix, suffixes, dropped = encoder.encode_user(prompts)
        questions = [{"task": task, "suffix": decode(tokenizer, suffix), "suffix_ids": suffix,
                      **_task_fields(task, shown, ids, False)} for (task, shown), suffix in zip(prompts, suffixes)]
        text = decode(tokenizer, prefix)
        yield {"id": f"{split}-{index}", "user": ids.user(example.user), "candidates": ids.items(example.candidates),
               "gains": [float(g) for g in example.gains],
               "retriever_scores": None if example.prior_scores is None else [float(s) for s in example.prior_scores],
               "prefix": text, "prefix_ids": prefix, "truncated_history": int(dropped),
               "text_exact": exact(tokenizer, text, prefix) and all(exact(tokenizer, q["suffix"], q["suffix_ids"])
                                                                   for q in questions),
               "prompts": questions}


def instruction_splits(cfg: DictConfig, data, lists, tokenizer, epochs: int) -> dict[str, Split]:
    """train / val / test of a RecRanker run, built in the order `run_recranker` builds them."""
    if cfg.protocol.name != "rerank_topk" or lists.retriever is None:
        raise ConfigError("RecRanker reranks a retriever's top-m: use `protocol=rerank_topk retriever=lightgcn`")
    mix = task_mix(cfg.task)
    users = sample_users(cfg, data, lists)
    predict_rating, score = hint_functions(cfg, lists)
    tasks = build_tasks(cfg, data, lists, predict_rating, score)
    encoder = build_encoder(cfg, data, tokenizer, predict_rating)
    train_set = InstructionSet(tasks, users, encoder, int(cfg.seed), mix, cfg.task.mix_mode)
    count = 0
    for epoch in range(epochs):
        train_set.set_epoch(epoch)
        count += len(train_set)
    evaluator = HybridEvaluator(encoder, hybrid_options(cfg, mix), predict_rating, score)
    ids = RawIds(data)
    extra = {"tasks": list(mix), "epochs": epochs, "instruction_users": len(users),
             "distinct_users": len(np.unique(users)), "instruction_set_hash": instruction_set_hash(users)}
    return {"train": Split(_train(train_set, epochs, ids), count, TRAIN_FIELDS, extra),
            "val": Split(_eval("val", lists.val, evaluator, ids), len(lists.val), EVAL_FIELDS),
            "test": Split(_eval("test", lists.test, evaluator, ids), len(lists.test), EVAL_FIELDS)}
