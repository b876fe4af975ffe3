"""Training step time: sft, sft+sll, sft+psl, full; and Lightning vs a bare PyTorch loop.

Same model (SmolLM2 + LoRA r8 q/v), same batches (alro_ml100k lists, batch 1), bf16 autocast.
Targets (issue): +SLL <= 5% over SFT; +PSL <= 2.0x SFT; Lightning within 10% of the bare loop.

    python experiments/bench_train.py [--steps 6]   -> experiments/results/bench_train.json
"""

from __future__ import annotations

import argparse
import copy
import time

import lightning as L
import torch
from _bench_common import save, setup

from rankexp.losses import build_losses
from rankexp.models.loading import cpu_bf16_is_fast
from rankexp.models.ranker import ListwiseRanker
from rankexp.prompts.datamodule import RankingDataModule

LOSS_SETS = {"sft": ["sft"], "sft_sll": ["sft", "soft_lambda"], "sft_psl": ["sft", "perm_kl"],
             "full": ["sft", "soft_lambda", "perm_kl"]}


def batches(lists, encoder, permute: bool, steps: int):
    dm = RankingDataModule(lists.train_source, [], [], encoder, seed=0, draws_per_epoch=steps, batch_size=1,
                           eval_batch_size=1, permute=permute)
    return list(dm.train_dataloader())


def bare_loop(ranker, data) -> float:
    optimizer = torch.optim.AdamW([p for p in ranker.parameters() if p.requires_grad], lr=1e-4)
    ranker.model.train()
    start = time.perf_counter()
    for batch in data:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16_is_fast()):
            loss = sum(ranker.loss_terms(batch).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / len(data)


class StepTimer(L.Callback):
    def __init__(self) -> None:
        self.start = None
        self.steps = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps += 1
        self.end = time.perf_counter()


def lightning_loop(ranker, data) -> float:
    timer = StepTimer()
    trainer = L.Trainer(accelerator="cpu", precision="bf16-mixed" if cpu_bf16_is_fast() else "32-true", max_steps=len(data), logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[timer], num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(ranker, train_dataloaders=torch.utils.data.DataLoader(data, batch_size=None))
    return (timer.end - timer.start) / timer.steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    _cfg, _data, lists, model, _tokenizer, encoder = setup()
    plain = batches(lists, encoder, False, args.steps + 1)
    permuted = batches(lists, encoder, True, args.steps + 1)
    base_state = copy.deepcopy({k: v for k, v in model.state_dict().items() if "lora_" in k})
    results: dict[str, float] = {"steps": args.steps}
    for name, losses in LOSS_SETS.items():
        model.load_state_dict(base_state, strict=False)
        ranker = ListwiseRanker(model, encoder.label_ids, build_losses(losses))
        data_ = permuted if "perm_kl" in losses else plain
        bare_loop(ranker, data_[:1])  # warm-up
        results[f"{name}_s_per_step"] = bare_loop(ranker, data_[1:])
    model.load_state_dict(base_state, strict=False)
    ranker = ListwiseRanker(model, encoder.label_ids, build_losses(["sft"]))
    results["lightning_sft_s_per_step"] = lightning_loop(ranker, plain[1:])
    results["sll_overhead"] = results["sft_sll_s_per_step"] / results["sft_s_per_step"] - 1
    results["psl_ratio"] = results["sft_psl_s_per_step"] / results["sft_s_per_step"]
    results["lightning_vs_bare"] = results["lightning_sft_s_per_step"] / results["sft_s_per_step"]
    save("bench_train", results)


if __name__ == "__main__":
    main()
