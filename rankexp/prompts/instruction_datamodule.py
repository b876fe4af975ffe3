"""RecRanker training data for Lightning: the epoch's instructions, SFT batches, val / test users.

Instances are drawn per epoch by `RecRankerTasks.build` (position shifting on every draw) and
encoded lazily by `InstructionEncoder`; evaluation takes one user (all of their prompts) a step.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from rankexp.data.examples import ListwiseExample
from rankexp.data.recranker_tasks import RecRankerTasks
from rankexp.errors import ConfigError
from rankexp.prompts.datamodule import in_order_sampler
from rankexp.prompts.instructions import IGNORE, Encoded, InstructionEncoder


class InstructionSet(Dataset):
    """The Γ training instructions of one epoch: `tasks.build(users, seed + epoch, mix)`, encoded lazily.

    Each epoch re-draws every instance (position shifting: history, candidate and pair orders).
    """

    def __init__(self, tasks: RecRankerTasks, users: np.ndarray, encoder: InstructionEncoder, seed: int,
                 mix: dict[str, float], mix_mode: str = "sample") -> None:
        self.tasks, self.users, self.encoder = tasks, np.asarray(users, dtype=np.int64), encoder
        self.seed, self.mix, self.mix_mode = seed, dict(mix), mix_mode
        self.epoch, self._instances = 0, None

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self._instances = epoch, None

    @property
    def instances(self) -> list[tuple[str, object]]:
        if self._instances is None:
            self._instances = self.tasks.build(self.users, self.seed + self.epoch, self.mix, self.mix_mode)
            if not self._instances:
                raise ConfigError("no sampled user can form an instruction of the tasks in `task.mix`")
        return self._instances

    def task_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task, _ in self.instances:
            counts[task] = counts.get(task, 0) + 1
        return counts

    def __len__(self) -> int:
        return len(self.instances)

    def __getitem__(self, index: int) -> Encoded:
        task, example = self.instances[index]
        return self.encoder.encode(task, example)


def collate_sft(encoded: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded [prefix; suffix; answer] rows; `sft_labels` is -100 everywhere but the answer."""
    rows = [e.prefix_ids + e.suffix_ids + e.answer_ids for e in encoded]
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for r, (e, ids) in enumerate(zip(encoded, rows)):
        input_ids[r, : len(ids)] = torch.tensor(ids)
        attention[r, : len(ids)] = 1
        labels[r, len(ids) - len(e.answer_ids): len(ids)] = torch.tensor(e.answer_ids)
    return {"input_ids": input_ids, "attention_mask": attention, "sft_labels": labels}


class InstructionDataModule(L.LightningDataModule):
    """Training instructions (SFT batches) and val / test users (one rerank list per user, unbatched)."""

    def __init__(self, train_set: InstructionSet, val_lists: list[ListwiseExample], test_lists: list[ListwiseExample],
                 *, batch_size: int, pad_id: int, num_workers: int = 0) -> None:
        super().__init__()
        self.train_set, self.val_lists, self.test_lists = train_set, val_lists, test_lists
        self.batch_size, self.pad_id, self.num_workers = batch_size, pad_id, num_workers

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:
            self.train_set.set_epoch(self.trainer.current_epoch)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers,
                          sampler=in_order_sampler(self.train_set, self.trainer),  # DDP == one process
                          collate_fn=lambda rows: collate_sft(rows, self.pad_id))

    def _users(self, lists: list[ListwiseExample]) -> DataLoader:
        # One user per step: a user's prompts (up to 56) are the batch (rankexp.models.hybrid).
        return DataLoader(lists, batch_size=1, collate_fn=lambda rows: rows)

    def val_dataloader(self) -> DataLoader:
        return self._users(self.val_lists)

    def test_dataloader(self) -> DataLoader:
        return self._users(self.test_lists)


__all__ = ["InstructionDataModule", "InstructionSet", "collate_sft"]
