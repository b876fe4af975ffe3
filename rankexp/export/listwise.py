"""The listwise recipe's (ALRO's) records: slot verbalizer and candidate readout prompts.

Training records come from the run's own `TrainDraws` (`rankexp.prompts.datamodule`): the same
draw index, seed and permutation, encoded by the recipe's own encoder
(`rankexp.recipes.alro.build_encoder`). A permuted copy (losses that need one, e.g. perm-KL) is a
record of its own right after its original. Evaluation records are the val / test lists the run
ranks, encoded as `EvalLists` encodes them (no answer in the prompt).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig

from rankexp.errors import ConfigError
from rankexp.export.records import COMMON_FIELDS, RawIds, Split
from rankexp.export.text import decode, prompt_fields
from rankexp.models.readouts import Readout, readout_of
from rankexp.prompts.datamodule import TrainDraws
from rankexp.recipes.alro import active_losses, build_encoder, draws_hash

LIST_FIELDS = {
    **COMMON_FIELDS,
    "candidates": "item ids in the order shown (slot k has label labels[k] in the slot readout)",
    "gains": "relevance of each shown candidate (rating, or 1 for the held-out liked item)",
    "target_slots": "slots best first: the ideal ranking",
    "truncated_history": "oldest history items dropped to fit model.max_length",
    "retriever_scores": "the retriever's score of each candidate (protocol=rerank_topk), else absent",
}
TRAIN_FIELDS = {"epoch": "training epoch the draw belongs to (fresh windows every epoch)",
                "variant": "original | permuted (the same list in another candidate order, for the losses "
                           "that compare the two)",
                "perm": "permuted only: shown slot j holds the original's slot perm[j]"}


class Recording:
    """The encoder, remembering the examples it is handed (TrainDraws draws them; the export needs them)."""

    def __init__(self, encoder) -> None:
        self.encoder, self.seen = encoder, []

    def encode(self, example, with_target: bool = True):
        self.seen.append(example)
        return self.encoder.encode(example, with_target)


def _fields(readout: Readout, encoder, encoded, example, ids: RawIds, train: bool) -> dict[str, Any]:
    """The record of one encoded list: the readout's own fields (`Readout.record`; a `<name>_ids` field gets
    its text as `<name>`), then the list's."""
    tokenizer = encoder.tokenizer
    own = readout.record(encoder, encoded, example, train)
    out = prompt_fields(tokenizer, own.pop("prompt_ids"))
    for key, value in own.items():
        if key.endswith("_ids"):
            out[key.removesuffix("_ids")] = decode(tokenizer, value)
        out[key] = value
    out.update(user=ids.user(example.user), candidates=ids.items(example.candidates),
               gains=[float(g) for g in example.gains], target_slots=[int(s) for s in example.target_slots],
               truncated_history=int(encoded.truncated_history))
    if example.prior_scores is not None:
        out["retriever_scores"] = [float(s) for s in example.prior_scores]
    return out


def _documented(fields: dict[str, str]) -> dict[str, str]:
    """`fields` with the text field the export writes before each `<name>_ids` field."""
    out: dict[str, str] = {}
    for key, meaning in fields.items():
        if key.endswith("_ids"):
            out[key.removesuffix("_ids")] = f"the text of {key}"
        out[key] = meaning
    return out


def _train(readout: Readout, draws: TrainDraws, recording: Recording, epochs: int,
           ids: RawIds) -> Iterator[dict[str, Any]]:
    for epoch in range(epochs):
        draws.epoch = epoch
        for index in range(len(draws)):
            recording.seen.clear()
            encoded, perm = draws[index]
            name = f"train-{epoch}-{index}"
            for variant, item, example in zip(("original", "permuted"), encoded, recording.seen):
                record = {"id": name if variant == "original" else f"{name}-permuted", "epoch": epoch,
                          "variant": variant}
                if variant == "permuted":
                    record["perm"] = [int(p) for p in perm]
                yield {**record, **_fields(readout, recording.encoder, item, example, ids, True)}


def _eval(readout: Readout, split: str, examples: list, encoder, ids: RawIds) -> Iterator[dict[str, Any]]:
    for index, example in enumerate(examples):
        encoded = encoder.encode(example, with_target=False)
        yield {"id": f"{split}-{index}", **_fields(readout, encoder, encoded, example, ids, False)}


def listwise_splits(cfg: DictConfig, data, lists, tokenizer, epochs: int) -> dict[str, Split]:
    """train / val / test of a listwise run (the slot or the candidate readout)."""
    readout = readout_of(cfg)
    if not readout.record_fields:
        raise ConfigError(f"`python -m rankexp.export` has no list record format for `readout={readout.name}` "
                          "(its `Readout.record_fields` is empty)")
    encoder = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length), readout)
    permute = any(loss.needs_permuted for loss in active_losses(cfg).values())
    size, seed = int(cfg.train.draws_per_epoch), int(cfg.seed)
    recording = Recording(encoder)
    draws = TrainDraws(lists.train_source, recording, size, seed, permute)
    fields = _documented(dict(readout.record_fields))
    train_fields = {**LIST_FIELDS, **TRAIN_FIELDS, **fields}
    eval_fields = {**LIST_FIELDS, **{k: v for k, v in fields.items() if k not in readout.record_train_only}}
    labels, ids = {"labels": list(encoder.labels)}, RawIds(data)
    return {
        "train": Split(_train(readout, draws, recording, epochs, ids), epochs * size * (2 if permute else 1),
                       train_fields, {**labels, "epochs": epochs, "draws_per_epoch": size, "permuted_copies": permute,
                                      "draws_hash": draws_hash(lists.train_source, seed, size)}),
        "val": Split(_eval(readout, "val", lists.val, encoder, ids), len(lists.val), eval_fields, labels),
        "test": Split(_eval(readout, "test", lists.test, encoder, ids), len(lists.test), eval_fields, labels),
    }
