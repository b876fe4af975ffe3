"""How close training and evaluation run to this machine's matmul limit, measured side by side in one run.

    python experiments/bench_speed.py [--train-steps 12] [--eval-lists 64] [overrides ...]
        -> experiments/results/bench_speed.json

Figures (docs/results.md "Speed"):
- the machine's matmul rate at the model's own shapes (2 threads unless OMP_NUM_THREADS says otherwise),
  fp32, and bf16 where the CPU has native bf16 (`bf16_native` says which);
- FLOPs per token from the model's config: N = the decoder's matmul parameters (embedding and LM head
  excluded: the readout multiplies only a few rows of the head); a LoRA training token costs 4N (forward,
  and the backward to the inputs: the frozen base gets no weight gradient) with every layer adapted, and
  2N + 2N K / layers with `model.lora.top_layers` K (the backward stops below them); an evaluation token 2N;
- train and eval tokens/s of the default recipe (the run's own Lightning module, datamodule, precision
  and LoRA settings) on real ML-100K lists, and each as a share of the matmul rate of the run's precision;
- a plain transformers + peft loop on the same model, the same batches (token for token), the same LoRA
  settings and the same loss positions, eager and under `torch.compile` (static: every batch padded to the
  longest one's length), and our rate over each per token processed, padding included; the plain loop runs the
  model as those libraries build it (sdpa attention, peft's `nn.Dropout`).
- where training and evaluation time go (`ours.train_time_split`, `ours.eval_time_split`: torch.profiler's self
  CPU time per op, grouped): matmul kernels, the attention kernel, copies and casts, the rest; from the eval
  split the matmul kernels' own rate and the eval share of the matmul rate that the run would reach if every
  other op took no time.
The first steps of every loop are warm-up and are not timed (compilation happens there).
"""

from __future__ import annotations

import argparse
import time

import lightning as L
import torch
import torch.nn.functional as F
from _bench_common import save, setup
from omegaconf import OmegaConf

from rankexp.models.adapters import adapted_layer_count
from rankexp.models.loading import cpu_bf16_is_fast
from rankexp.prompts.datamodule import RankingDataModule
from rankexp.recipes.alro import active_losses, build_ranker


def matmul_rates(dtype: torch.dtype, shapes: dict[str, tuple[int, int, int]], rounds: int = 6,
                 seconds: float = 0.4) -> dict[str, float]:
    """GFLOP/s of each [m x k] @ [k x n] in `dtype`: the best of `rounds` stretches, the shapes interleaved
    (a 2-core machine's rate wanders by tens of percent between seconds; the best is the machine's limit)."""
    pairs = {name: (torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)) for name, (m, k, n) in shapes.items()}
    best = dict.fromkeys(shapes, 0.0)
    for _ in range(rounds):
        for name, (a, b) in pairs.items():
            a @ b
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                a @ b
                count += 1
            m, k, n = shapes[name]
            best[name] = max(best[name], 2 * m * k * n * count / (time.perf_counter() - start) / 1e9)
    return {name: round(rate, 1) for name, rate in best.items()}


def decoder_matmul_params(config) -> int:
    """N: the weights every token multiplies in the decoder stack (attention and MLP projections)."""
    d, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    return layers * (d * d * 2 + 2 * d * kv + 3 * d * inter)


def train_flops_per_token(n: int, layers: int, lora) -> int:
    """FLOPs of one LoRA training token: the forward (2N) and the backward to the inputs (2N) with every layer
    adapted; with `model.lora.top_layers` K the backward runs through the top K layers only: 2N + 2N K / layers."""
    return 2 * n + 2 * n * adapted_layer_count(lora, layers) // layers


class Clock(L.Callback):
    """Tokens and seconds of the train / test batches after the first `warmup` ones."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.seen, self.tokens, self.padded, self.seconds = warmup, 0, 0, 0, 0.0

    def _start(self, batch) -> None:
        self.started = time.perf_counter()

    def _end(self, batch) -> None:
        self.seen += 1
        if self.seen > self.warmup:
            self.seconds += time.perf_counter() - self.started
            self.tokens += int(batch["attention_mask"].sum())
            self.padded += batch["attention_mask"].numel()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._start(batch)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._end(batch)

    def on_test_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0) -> None:
        self._start(batch)

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._end(batch)

    def rate(self) -> dict[str, float]:
        return {"tokens": self.tokens, "padded_tokens": self.padded, "seconds": round(self.seconds, 3),
                "tokens_per_s": round(self.tokens / self.seconds, 1)}


def trainer_for(cfg, steps: int, clock: Clock) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, precision=cfg.trainer.precision, max_steps=steps,
                     logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, callbacks=[clock], num_sanity_val_steps=0, limit_val_batches=0,
                     gradient_clip_val=cfg.trainer.gradient_clip_val, inference_mode=False)


# torch.profiler op names by what they do, for the split of evaluation time (self CPU time of each op)
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
ATTENTION_PREFIX = "aten::_scaled_dot_product"
COPY_OPS = ("aten::copy_", "aten::_to_copy")
SPLIT_STEPS = 4  # training steps profiled for `train_time_split` (a fresh fit: optimizer and all)


def time_split(run) -> dict:
    """Where `run()`'s time goes under torch.profiler: each op's self CPU time grouped into matmul kernels
    (under eager attention, as in bf16 training, its two bmm too), the sdpa attention kernel, copies and
    casts, and everything else (elementwise: norms, activations, rotary, residual adds, the optimizer;
    Python). Shares of the profiled total."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    groups = {"matmul": 0.0, "attention": 0.0, "copies_and_casts": 0.0, "other": 0.0}
    for event in prof.key_averages():
        name = event.key
        group = ("matmul" if name in MATMUL_OPS else "attention" if name.startswith(ATTENTION_PREFIX)
                 else "copies_and_casts" if name in COPY_OPS else "other")
        groups[group] += event.self_cpu_time_total
    total = sum(groups.values())
    return {group: round(value / total, 3) for group, value in groups.items()}


def ours(cfg, lists, model, encoder, train_steps: int, eval_lists: int, warmup: int,
         split: bool = False) -> tuple[dict, list]:
    """The recipe's own module and datamodule: `train_steps` steps after warm-up, then `eval_lists` test lists
    (and, with `split`, the same lists once more under the profiler: `eval_time_split`)."""
    losses = active_losses(cfg)
    datamodule = RankingDataModule(
        lists.train_source, [], lists.test[:eval_lists], encoder, seed=cfg.seed, draws_per_epoch=train_steps + warmup,
        batch_size=cfg.train.batch_size, eval_batch_size=cfg.train.eval_batch_size,
        permute=any(loss.needs_permuted for loss in losses.values()))
    ranker = build_ranker(cfg, model, encoder, losses)
    clock = Clock(warmup)
    trainer_for(cfg, train_steps + warmup, clock).fit(ranker, datamodule=datamodule)
    train = clock.rate()
    batches = [batch for batch in datamodule.train_dataloader()]
    clock = Clock(1)
    trainer_for(cfg, 1, clock).test(ranker, datamodule=datamodule, verbose=False)
    measured = {"train": train, "eval": clock.rate()}
    if split:  # a few more training steps, then the same test lists, each under the profiler
        more = trainer_for(cfg, SPLIT_STEPS, Clock(0))
        measured["train_time_split"] = time_split(lambda: more.fit(ranker, datamodule=datamodule))
        measured["eval_time_split"] = time_split(
            lambda: trainer_for(cfg, 1, Clock(1)).test(ranker, datamodule=datamodule, verbose=False))
    return measured, batches


def padded_to(batches: list, length: int, pad_id: int) -> list:
    """The batches right-padded to `length` tokens (masked out): their readout positions stay where they were."""
    out = []
    for batch in batches:
        extra = length - int(batch["input_ids"].shape[1])
        out.append({**batch, "input_ids": F.pad(batch["input_ids"], (0, extra), value=pad_id),
                    "attention_mask": F.pad(batch["attention_mask"], (0, extra), value=0)})
    return out


def plain_loop(model, batches: list, rating_ids: list[int], *, compiled: bool, warmup: int, precision: str,
               pad_id: int) -> dict:
    """A bare transformers + peft step: decoder forward, rating logits at the readout positions,
    cross-entropy, backward, AdamW. Same model object and batches as ours (LoRA weights move; fine
    for a timing).

    Both loops take the batches of the full batch size only. Compiled, every batch is right-padded to one length
    (the longest batch's), so the decoder compiles once,
    statically, in the warm-up steps, where batches of their own lengths would recompile it for each new
    length inside the timed steps. It then multiplies more padding than ours, so the comparison with ours is
    per token processed, padding included (`padded_tokens_per_s`). `graphs_compiled_while_timed` counts what
    was still compiled after the warm-up; the comparison is like for like only when it is 0
    (`compiled_comparable`)."""
    from torch._dynamo.utils import counters

    decoder = model.get_decoder()
    run = torch.compile(decoder, dynamic=False) if compiled else decoder
    # the epoch's last batch may hold fewer lists; a new batch size would recompile inside the timed steps
    batches = [batch for batch in batches if batch["input_ids"].shape[0] == batches[0]["input_ids"].shape[0]]
    if compiled:
        batches = padded_to(batches, max(int(b["input_ids"].shape[1]) for b in batches), pad_id=pad_id)
    head = model.get_output_embeddings().weight
    ids = torch.tensor(rating_ids)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    autocast = precision.startswith("bf16")
    model.train()
    tokens, padded, seconds, loop_start = 0, 0, 0.0, time.perf_counter()
    for index, batch in enumerate(batches):
        if index == warmup:
            warmup_s = time.perf_counter() - loop_start
            graphs_at_warmup = counters["stats"]["unique_graphs"]
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            hidden = run(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         use_cache=False).last_hidden_state
            positions = batch["readout_positions"].clamp_min(0)
            rows = hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
            logits = F.linear(rows, head[ids]).float()
        targets = batch["rating_targets"]
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= warmup:
            seconds += time.perf_counter() - started
            tokens += int(batch["attention_mask"].sum())
            padded += int(batch["attention_mask"].numel())
    return {"compiled": compiled, "tokens": tokens, "padded_tokens": padded, "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1), "padded_tokens_per_s": round(padded / seconds, 1),
            "warmup_s": round(warmup_s, 1),
            "graphs_compiled_while_timed": counters["stats"]["unique_graphs"] - graphs_at_warmup}


# Levers measured on our own loop, each alone against the default (docs/results.md "Speed"): config overrides,
# or (UNFOLDED) the evaluation with LoRA left unfolded, the speed before `rankexp.models.folding.FoldedLora`,
# or (TORCH_DROPOUT) LoRA dropout 0.05 as peft's own `nn.Dropout`, where `lora_dropout_0.05` draws it with
# `rankexp.models.dropout.FastDropout` (the default runs without LoRA dropout),
# or (TRAIN_SDPA) training steps with the loaded sdpa kernel, before `rankexp.models.attention.AttentionByPhase`,
# or (EVAL_FP32_WEIGHTS) the folded weights left in fp32 while scoring under bf16 autocast (`FoldedLora.fold`).
UNFOLDED, TORCH_DROPOUT, TRAIN_SDPA = "eval_lora_unfolded", "lora_dropout_torch", "train_attn_sdpa"
EVAL_FP32_WEIGHTS = "eval_weights_fp32"
LEVERS = {TRAIN_SDPA: [], TORCH_DROPOUT: ["model.lora.dropout=0.05"],
          "lora_dropout_0.05": ["model.lora.dropout=0.05"], "eval_batch_16": ["train.eval_batch_size=16"],
          "eval_batch_4": ["train.eval_batch_size=4"], UNFOLDED: [], EVAL_FP32_WEIGHTS: [],
          "lora_all_layers": ["model.lora.top_layers=null"], "lora_top_8_layers": ["model.lora.top_layers=8"]}


def lever_context(name: str):
    """What a lever changes beyond its overrides: UNFOLDED turns folding off, TORCH_DROPOUT the fast dropout,
    TRAIN_SDPA the eager attention of bf16 training steps, EVAL_FP32_WEIGHTS the bf16 copy of the folded weights."""
    from contextlib import nullcontext
    from unittest import mock

    from rankexp.models.attention import AttentionByPhase
    from rankexp.models.base import RankerBase
    from rankexp.models.folding import FoldedLora

    if name == UNFOLDED:
        return mock.patch.object(FoldedLora, "applies", lambda self: False)
    if name == TORCH_DROPOUT:
        return mock.patch("rankexp.models.adapters.use_fast_lora_dropout", lambda model: 0)
    if name == EVAL_FP32_WEIGHTS:
        return mock.patch.object(RankerBase, "scoring_dtype", lambda self: None)
    if name == TRAIN_SDPA:
        return mock.patch.object(AttentionByPhase, "for_training", lambda self, precision, device: self.for_scoring())
    return nullcontext()


def as_plain(model) -> None:
    """The model as transformers + peft build it: their default attention (sdpa) and peft's `nn.Dropout`."""
    from rankexp.models.dropout import use_fast_lora_dropout

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.set_attn_implementation("sdpa")
    use_fast_lora_dropout(model, fast=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-steps", type=int, default=12, help="timed training steps (after warm-up)")
    parser.add_argument("--eval-lists", type=int, default=64, help="test lists scored for the eval rate")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps of every loop")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain transformers + peft loops")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip the compiled plain loop (its compilation takes minutes on 2 cores)")
    parser.add_argument("--levers", default=",".join(LEVERS), help=f"comma-separated subset of {','.join(LEVERS)} "
                        "(empty: none)")
    parser.add_argument("--out", default="bench_speed", help="name of the JSON under experiments/results/")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the default experiment")
    args = parser.parse_args()
    levers = [name for name in args.levers.split(",") if name]
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        parser.error(f"--levers: unknown {unknown}; known: {','.join(LEVERS)}")
    started = time.perf_counter()
    cfg, _data, lists, model, _tokenizer, encoder = setup("logger=none", *args.overrides, experiment=None)
    phases = {"setup_s": round(time.perf_counter() - started, 1)}
    bf16 = cpu_bf16_is_fast()
    shapes = {"qkvo": (300, 576, 576), "up": (300, 576, 1536), "down": (300, 1536, 576)}
    rates = {"fp32": matmul_rates(torch.float32, shapes)}
    if bf16:
        rates["bf16"] = matmul_rates(torch.bfloat16, shapes)
    precision = str(cfg.trainer.precision)
    limit = rates["bf16" if precision.startswith("bf16") else "fp32"]["up"]
    n = decoder_matmul_params(model.get_base_model().config if hasattr(model, "get_base_model") else model.config)

    layers = (model.get_base_model().config if hasattr(model, "get_base_model") else model.config).num_hidden_layers

    def train_flops(run_cfg) -> int:
        return train_flops_per_token(n, layers, run_cfg.model.get("lora"))

    def shares(measured: dict, train_flops: int) -> dict:
        return {"train_share_of_matmul": round(measured["train"]["tokens_per_s"] * train_flops / 1e9 / limit, 3),
                "eval_share_of_matmul": round(measured["eval"]["tokens_per_s"] * 2 * n / 1e9 / limit, 3)}

    started = time.perf_counter()
    measured, batches = ours(cfg, lists, model, encoder, args.train_steps, args.eval_lists, args.warmup, split=True)
    phases["ours_s"] = round(time.perf_counter() - started, 1)
    results = {
        "experiment": "default (alro_ml100k_candidate)", "overrides": args.overrides,
        "bf16_native": bf16, "precision": precision, "matmul_gflops": rates, "limit_gflops": limit,
        "limit_shape": "[300 x 576] @ [576 x 1536]",
        "lora": OmegaConf.to_container(cfg.model.lora), "decoder_matmul_params": n,
        "flops_per_token": {"train": train_flops(cfg), "eval": 2 * n},
        "ours": measured, **shares(measured, train_flops(cfg)),
    }
    # The matmul kernels' own rate in evaluation (their share of its time), and the eval share of the matmul
    # rate if every other op took no time: what faster attention, casts and elementwise work could reach.
    matmul_share = measured["eval_time_split"]["matmul"]
    results["eval_matmul_kernel_gflops"] = round(
        2 * n * measured["eval"]["padded_tokens"] / (matmul_share * measured["eval"]["seconds"]) / 1e9, 1)
    results["eval_share_if_only_matmul"] = round(results["eval_share_of_matmul"] / matmul_share, 3)
    if not args.no_plain:
        as_plain(model)
        rating_ids = list(encoder.rating_ids)
        pad_id = encoder.tokenizer.pad_token_id if encoder.tokenizer.pad_token_id is not None \
            else encoder.tokenizer.eos_token_id
        for compiled in (False,) if args.no_compile else (False, True):
            key = "plain_compiled" if compiled else "plain_eager"
            started = time.perf_counter()
            try:
                plain = plain_loop(model, batches, rating_ids, compiled=compiled, warmup=args.warmup,
                                   precision=precision, pad_id=pad_id)
                plain["share_of_matmul"] = round(plain["tokens_per_s"] * train_flops(cfg) / 1e9 / limit, 3)
                results[key] = plain
                # per token processed, padding included: the compiled loop pads every batch to one length
                ours_padded = measured["train"]["padded_tokens"] / measured["train"]["seconds"]
                results[f"ours_over_{key}"] = round(ours_padded / plain["padded_tokens_per_s"], 3)
                if compiled:
                    results["compiled_comparable"] = plain["graphs_compiled_while_timed"] == 0
            except Exception as error:  # noqa: BLE001 - e.g. no C compiler for inductor: record, keep the rest
                results[key] = {"error": f"{type(error).__name__}: {error}"}
            phases[f"{key}_s"] = round(time.perf_counter() - started, 1)
    del model
    results["levers"] = {}
    for name in levers:
        started = time.perf_counter()
        with lever_context(name):
            cfg, _data, lists, model, _tokenizer, encoder = setup("logger=none", *args.overrides, *LEVERS[name],
                                                                   experiment=None)
            lever, _ = ours(cfg, lists, model, encoder, args.train_steps, args.eval_lists, args.warmup)
        results["levers"][name] = {"overrides": LEVERS[name], **lever, "train_flops_per_token": train_flops(cfg),
                                   **shares(lever, train_flops(cfg)),
                                   "train_speedup": round(lever["train"]["tokens_per_s"]
                                                          / measured["train"]["tokens_per_s"], 3),
                                   "eval_speedup": round(lever["eval"]["tokens_per_s"]
                                                         / measured["eval"]["tokens_per_s"], 3)}
        del model
        phases[f"lever_{name}_s"] = round(time.perf_counter() - started, 1)
    results["phase_wall_s"] = phases
    save(args.out, results)


if __name__ == "__main__":
    main()
