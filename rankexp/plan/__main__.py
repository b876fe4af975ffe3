"""`python -m rankexp.plan +experiment=alro_ml1m [--gpu-mem 80GB] [--measure] [--json FILE]`

Prints the prompt tokens per list (real prompts of the configured data), the memory of one
training step line by line (weights, LoRA + AdamW, activations, autocast copies) for the chosen
batch, LoRA r, precision and checkpointing, and whether it fits each GPU size. `--measure` runs
one real step of the configured model here and prints its measured peak beside the estimate.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rankexp.errors import ConfigError, exit_on_user_error
from rankexp.io.quiet import quiet_dependencies

DEFAULT_SIZES = ("24GB", "40GB", "80GB")
EPILOG = """examples:
    python -m rankexp.plan +experiment=alro_ml1m                      # Llama-2-7B on ML-1M: fits 24/40/80 GB?
    python -m rankexp.plan +experiment=alro_ml1m --gpu-mem 48GB model.lora.r=16
    python -m rankexp.plan model=smollm2_135m trainer=cpu --measure   # estimate vs one real step here
    python -m rankexp.plan +experiment=alro_ml100k_candidate --json plan.json

Arguments with `=` are Hydra overrides, as for `python -m rankexp.run`. The estimate counts weights,
LoRA + AdamW states, activations per layer and autocast copies (docs/gpu.md explains it)."""


def _parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m rankexp.plan", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Tokens per list and a training step's memory, before a run; Hydra "
                                                 "overrides as for rankexp.run (e.g. +experiment=alro_ml1m).")
    parser.add_argument("--gpu-mem", action="append", default=None,
                        help="GPU size to check, e.g. 24GB (repeatable; default 24GB, 40GB and 80GB)")
    parser.add_argument("--lists", type=int, default=64, help="training lists to encode for the token counts")
    parser.add_argument("--measure", action="store_true", help="also run one real step here and measure it")
    parser.add_argument("--json", default=None, help="write the plan as JSON to this file")
    args, overrides = parser.parse_known_args(argv)
    loose = [a for a in overrides if "=" not in a]
    if loose:
        raise ConfigError(f"expected Hydra overrides such as `+experiment=alro_ml1m`, got {' '.join(loose)!r}")
    if args.lists < 1:
        raise ConfigError(f"`--lists {args.lists}`: encode at least one list")
    return args, overrides


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from rankexp.config.check import validate_config
    from rankexp.config.conf_dir import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=overrides)
    if cfg.get("model") is None:
        raise ConfigError("the plan needs a model: remove `~model`")
    validate_config(cfg)
    if cfg.recipe != "alro":
        raise ConfigError(f"`recipe={cfg.recipe}` (task.name={cfg.task.name}): the plan sizes ALRO's listwise rankers "
                          "(slot or candidate readout); RecRanker's instruction prompts are shorter and fit wherever "
                          "these do")
    return cfg


def plan(cfg, sizes: Sequence[str], n_lists: int, measure: bool) -> dict:
    """Everything the CLI prints, as one dict."""
    from rankexp.plan.architecture import architecture_of
    from rankexp.plan.memory import activation_bytes, estimate, parse_capacity, regime_of, saving_layers
    from rankexp.plan.tokens import load_tokenizer_for, token_stats, training_batches

    capacities = {size: parse_capacity(size) for size in sizes}
    tokenizer, tokenizer_name = load_tokenizer_for(cfg.model)
    arch = architecture_of(cfg.model, len(tokenizer))
    regime = regime_of(cfg)
    encoder, losses, batches = training_batches(cfg, tokenizer, n_lists)
    tokens, widest = token_stats(batches, tokenizer_name)
    lora = dict(cfg.model.lora) if cfg.model.get("lora") is not None else None
    count = activation_bytes(arch, cfg, regime, tokenizer, encoder, losses, widest)
    est = estimate(arch, regime, lora, count)
    out = {"architecture": arch.as_dict(), "params": arch.params(), "lora_params": arch.lora_params(lora) if lora else 0,
           "tokens": tokens.as_dict(), "regime": {"weights": str(regime.weights).removeprefix("torch."),
                                                   "autocast": str(regime.autocast).removeprefix("torch."),
                                                   "checkpointing": regime.checkpointing,
                                                   "load_in_4bit": regime.load_in_4bit, "cuda": regime.cuda},
           "per_layer_bytes": count.per_layer, "saving_layers": saving_layers(arch, regime, lora), "estimate": est.as_dict(),
           "fits": {size: est.fits(cap) for size, cap in capacities.items()},
           "spare_gib": {size: (cap - est.total) / 2**30 for size, cap in capacities.items()}}
    if measure:
        out["measured_step"] = _measure(cfg, regime, encoder, losses, widest)
        out["measured_over_estimate"] = out["measured_step"] / max(1, est.step)
    return out


def _measure(cfg, regime, encoder, losses, batch) -> int:
    import torch
    from hydra.utils import instantiate

    from rankexp.plan.measure import step_peak_bytes
    from rankexp.recipes.alro import build_ranker

    if regime.cuda and not torch.cuda.is_available():
        raise ConfigError("`--measure` with `trainer.accelerator=gpu` needs a CUDA GPU; none is visible here "
                          "(measure on CPU with `trainer=cpu`)")
    model, _ = instantiate(cfg.model).load()
    ranker = build_ranker(cfg, model.to(regime.weights), encoder, losses)
    if regime.cuda:
        ranker = ranker.cuda()
        batch = {k: v.cuda() if torch.is_tensor(v) else v for k, v in batch.items()}
    return step_peak_bytes(ranker, batch, regime)


def _gib(n: float) -> str:
    return f"{n / 2**30:7.2f} GiB"


def _header(p: dict) -> list[str]:
    a, t, r = p["architecture"], p["tokens"], p["regime"]
    model = (f"model       {a['layers']} layers, hidden {a['hidden']}, intermediate {a['intermediate']}, "
             f"{a['heads']} heads ({a['kv_heads']} kv), vocab {a['vocab']}: {p['params'] / 1e9:.2f} B params")
    prompts = (f"prompts     tokens per list over {t['lists']} training lists: mean {t['mean']:.0f}, "
               f"p95 {t['p95']:.0f}, max {t['max']}; a step: {t['rows']} rows x {t['width']} tokens (padded)")
    quantized = " (NF4 4-bit)" if r["load_in_4bit"] else ""
    regime = (f"regime      weights {r['weights']}{quantized}, autocast {r['autocast']}, "
              f"checkpointing {'on' if r['checkpointing'] else 'off'}, {'CUDA' if r['cuda'] else 'CPU'}")
    return [model, f"            (from {a['source']})", prompts, f"            tokenizer: {t['tokenizer']}", regime]


def render(p: dict) -> str:
    e = p["estimate"]
    recompute = " + one layer recomputed" if p["regime"]["checkpointing"] else ""
    layers = p["saving_layers"]
    lines = _header(p) + [
        f"  weights          {_gib(e['weights'])}",
        f"  LoRA + AdamW     {_gib(e['lora_states'])}  ({p['lora_params'] / 1e6:.2f} M params x 16 B)",
        f"  activations      {_gib(e['activations'])}  ({p['per_layer_bytes'] / 2**20:.1f} MiB x {layers} layers{recompute})",
        f"  autocast copies  {_gib(e['weight_copies'])}",
        f"  CUDA reserve     {_gib(e['reserve'])}",
        f"  total            {_gib(e['total'])}",
        "fits        " + " | ".join(f"{size}: {'yes' if ok else 'NO'} ({p['spare_gib'][size]:+.1f} GiB)"
                                    for size, ok in p["fits"].items()),
    ]
    if "measured_step" in p:
        lines.append(f"measured    one step here: {_gib(p['measured_step'])} vs estimated {_gib(e['step'])} "
                     f"(activations + copies + LoRA grads): ratio {p['measured_over_estimate']:.2f}")
    return "\n".join(lines)


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    args, overrides = _parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_dependencies()
    cfg = _compose(overrides)
    result = plan(cfg, args.gpu_mem or DEFAULT_SIZES, args.lists, args.measure)
    result["overrides"] = overrides
    sys.stdout.write(render(result) + "\n")
    if args.json:
        from rankexp.io import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
