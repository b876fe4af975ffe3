"""LightningDataModule: ranking instances -> token batches.

Training draws are a pure function of (seed, epoch, index), so a resumed run
sees exactly the batches an uninterrupted run would, and two runs with one
seed build the same instruction set.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from rankexp.data.examples import ListwiseExample, permuted_copy
from rankexp.data.listwise import TrainWindows, rng_for
from rankexp.prompts.core import ListEncoder


def in_order_sampler(dataset, trainer):
    """Under DDP, rank r takes training instances r, r+W, r+2W, ... in order (None otherwise).

    The instances are already random (fresh windows / sampled users and candidate orders every
    epoch, seeded), so Lightning's default shuffling DistributedSampler adds nothing but makes each
    step's instances depend on the world size. In order, step k of W ranks at batch b sees exactly
    the instances of step k of one process at batch W*b: a DDP run can reproduce a single-process run.
    """
    if trainer is None or trainer.world_size <= 1:
        return None
    from torch.utils.data.distributed import DistributedSampler

    return DistributedSampler(dataset, num_replicas=trainer.world_size, rank=trainer.global_rank,
                              shuffle=False, drop_last=False)


class TrainDraws(Dataset):
    """`size` training instances per epoch, re-drawn each epoch (position shifting)."""

    def __init__(self, source: TrainWindows, encoder: ListEncoder, size: int, seed: int,
                 permute: bool, users: np.ndarray | None = None) -> None:
        self.source, self.encoder, self.size, self.seed = source, encoder, size, seed
        self.permute, self.users, self.epoch = permute, users, 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        draw = self.epoch * self.size + index
        user = None if self.users is None else int(self.users[draw % len(self.users)])
        example = self.source.draw(draw, self.seed, user)
        items = [self.encoder.encode(example)]
        perm = None
        if self.permute:
            perm = rng_for(self.seed, draw, 29).permutation(len(example.candidates))
            items.append(self.encoder.encode(permuted_copy(example, perm)))
        return items, perm


class EvalLists(Dataset):
    def __init__(self, examples: list[ListwiseExample], encoder: ListEncoder) -> None:
        self.examples, self.encoder = examples, encoder

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int):
        return self.encoder.encode(self.examples[index], with_target=False), index


class RankingDataModule(L.LightningDataModule):
    """Serves training draws and fixed, seeded evaluation lists."""

    def __init__(self, train_source: TrainWindows, val_lists: list[ListwiseExample],
                 test_lists: list[ListwiseExample], encoder: ListEncoder, *, seed: int, draws_per_epoch: int,
                 batch_size: int, eval_batch_size: int, permute: bool, train_users: np.ndarray | None = None,
                 num_workers: int = 0) -> None:
        super().__init__()
        self.train_draws = TrainDraws(train_source, encoder, draws_per_epoch, seed, permute, train_users)
        self.val_lists, self.test_lists = val_lists, test_lists
        self.encoder, self.batch_size, self.eval_batch_size = encoder, batch_size, eval_batch_size
        self.num_workers = num_workers
        self.pad_id = encoder.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = encoder.tokenizer.eos_token_id

    def _collate_train(self, rows):
        originals = [items[0] for items, _ in rows]
        batch = self.encoder.collate(originals + [items[1] for items, _ in rows if len(items) > 1], self.pad_id, True)
        if rows[0][1] is not None:
            batch["perm"] = torch.tensor(np.stack([perm for _, perm in rows]), dtype=torch.long)
        batch["n_original"] = torch.tensor(len(originals))
        return batch

    def _collate_eval(self, rows):
        batch = self.encoder.collate([e for e, _ in rows], self.pad_id, False)
        batch["index"] = torch.tensor([i for _, i in rows])
        return batch

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:
            self.train_draws.epoch = self.trainer.current_epoch
        return DataLoader(self.train_draws, batch_size=self.batch_size, shuffle=False,
                          sampler=in_order_sampler(self.train_draws, self.trainer),
                          collate_fn=self._collate_train, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(EvalLists(self.val_lists, self.encoder), batch_size=self.eval_batch_size,
                          collate_fn=self._collate_eval, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(EvalLists(self.test_lists, self.encoder), batch_size=self.eval_batch_size,
                          collate_fn=self._collate_eval, num_workers=self.num_workers)
