"""`python -m rankexp.plan`: the memory estimate against a measured step, the architecture arithmetic,
and the answers for the GPU config.

The estimate counts activations on small replicas of the model and scales them up; the slow tests
measure a real SmolLM2 step on this CPU (peak resident set, `rankexp.plan.measure`) and ask for the
estimate within 30% (measured: docs/gpu.md's table, 0.87-1.02). Checked that the fp32 case and the GPU-config case fail when the replicas'
bytes are taken at the replica's width instead of extrapolated to the model's (713 MB measured
vs 111 MB estimated).
"""

from __future__ import annotations

import contextlib
import json

import pytest
import torch

from rankexp.errors import ConfigError
from rankexp.plan.architecture import KNOWN, Architecture, from_hf_config
from rankexp.plan.memory import parse_capacity
from tests.helpers.runs import explain, run_module

LLAMA2_7B_PARAMS = 6_738_415_616  # the published count of meta-llama/Llama-2-7b-hf


def test_known_llama2_7b_has_its_published_parameter_count():
    arch = Architecture(**KNOWN["meta-llama/Llama-2-7b-hf"], source="table")
    assert arch.params() == LLAMA2_7B_PARAMS
    # LlamaRec's LoRA (r 8 on q_proj and v_proj): 32 layers x 2 modules x 8 x (4096 + 4096)
    assert arch.lora_params({"r": 8, "target_modules": ["q_proj", "v_proj"]}) == 4_194_304


def test_tiny_llama_counts_equal_the_real_modules():
    from rankexp.models.adapters import add_lora
    from rankexp.models.loading import TINY_DEFAULTS, tiny_random_llama

    model = tiny_random_llama(500, num_key_value_heads=1, intermediate_size=96)
    arch = from_hf_config(model.config.to_dict(), "tiny")
    assert arch.params() == sum(p.numel() for p in model.parameters())
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "down_proj"], "bias": "none"}
    adapted = add_lora(model, lora)
    assert arch.lora_params(lora) == sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    assert TINY_DEFAULTS["num_hidden_layers"] == arch.layers
    top = {**lora, "top_layers": 1}  # the top layer only: half of the two layers' adapter
    adapted = add_lora(tiny_random_llama(500, num_key_value_heads=1, intermediate_size=96), top)
    assert arch.lora_params(top) == sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    assert arch.lora_params(top) * 2 == arch.lora_params(lora)


def test_only_the_adapted_layers_keep_activations_and_weight_copies():
    """`model.lora.top_layers`: the frozen layers below run a backward-free forward, so the estimate counts the
    per-layer activations and autocast's saved weight copies of the adapted layers only."""
    from rankexp.plan.memory import ActivationCount, Regime, estimate

    arch = Architecture(**KNOWN["meta-llama/Llama-2-7b-hf"], source="table")
    count = ActivationCount(per_layer=1000, outside=77, recompute=0, weight_copy_bytes_per_param=2.0)
    regime = Regime(torch.bfloat16, None, False, False, True)
    lora = {"r": 8, "target_modules": ["q_proj", "v_proj"]}
    every = estimate(arch, regime, lora, count)
    top = estimate(arch, regime, {**lora, "top_layers": 8}, count)
    assert every.activations == 32 * 1000 + 77 and top.activations == 8 * 1000 + 77
    assert top.weight_copies * 4 == every.weight_copies == round(2.0 * arch.linear_params())
    assert top.lora_states * 4 == every.lora_states
    assert estimate(arch, regime, {**lora, "top_layers": 40}, count).activations == every.activations


def test_unknown_lora_target_and_bad_sizes_are_errors():
    arch = Architecture(**KNOWN["meta-llama/Llama-2-7b-hf"], source="table")
    with pytest.raises(ConfigError, match="model.lora.target_modules"):
        arch.lora_params({"r": 8, "target_modules": ["qkv"]})
    assert parse_capacity("80GB") == 80 * 2**30 and parse_capacity("40 GiB") == 40 * 2**30
    for bad in ("lots", "-3GB"):
        with pytest.raises(ConfigError, match="--gpu-mem"):
            parse_capacity(bad)


@pytest.mark.parametrize("weights, autocast", [(torch.bfloat16, None), (torch.float32, torch.bfloat16),
                                               (torch.float16, None)], ids=["bf16", "bf16_autocast", "fp16"])
def test_counting_in_fp32_kernels_saves_what_the_low_precision_step_saves(weights, autocast):
    """Fp32Kernels (how the estimate counts fast on CPUs without native bf16) changes no saved byte,
    no dtype and no shape of the step; only the arithmetic is fp32. Checked that returning the fp32
    result uncast fails all three cases."""
    from rankexp.models.adapters import add_lora
    from rankexp.models.loading import tiny_random_llama
    from rankexp.plan.memory import Fp32Kernels, SavedTensors

    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "down_proj"], "bias": "none"}
    ids = torch.randint(0, 300, (2, 24), generator=torch.Generator().manual_seed(0))

    def step(mode) -> tuple[SavedTensors, list]:
        model = add_lora(tiny_random_llama(300, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                                           num_key_value_heads=2, num_hidden_layers=2).to(weights), lora)
        saved = SavedTensors(model)
        with saved.hooks(), mode, torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=bool(autocast)):
            logits = model(input_ids=ids).logits
        logits.float().logsumexp(-1).sum().backward()
        grads = [(p.grad.dtype, p.grad.shape) for p in model.parameters() if p.grad is not None]
        return saved, [logits.dtype, logits.shape, *grads]

    plain, plain_out = step(contextlib.nullcontext())
    counted, counted_out = step(Fp32Kernels())
    assert plain.activation_bytes > 0 and counted.activation_bytes == plain.activation_bytes
    assert counted.weight_copy_bytes == plain.weight_copy_bytes
    assert counted_out == plain_out


def _plan(tmp_path, *args: str) -> dict:
    out = tmp_path / "plan.json"
    proc = run_module("rankexp.plan", *args, "--json", str(out))
    assert proc.returncode == 0, explain(proc)
    return json.loads(out.read_text()) | {"stdout": proc.stdout}


@pytest.mark.slow
def test_gpu_config_plan_fits_80gb_and_not_8gb(tmp_path, data_root):
    """alro_ml1m (Llama-2-7B, m = H = 20, batch 4 + PSL copies, checkpointing) on ML-100K's prompts."""
    plan = _plan(tmp_path, "+experiment=alro_ml1m", "data=ml100k", "--lists", "8", "--gpu-mem", "80GB",
                 "--gpu-mem", "8GB")
    assert plan["params"] == LLAMA2_7B_PARAMS and plan["architecture"]["source"].startswith("rankexp's table")
    assert plan["tokens"]["rows"] == 8  # batch 4, each list with its shuffled copy
    assert 400 < plan["tokens"]["mean"] < 1000
    est = plan["estimate"]
    assert est["weights"] == LLAMA2_7B_PARAMS * 2  # bf16
    # checkpointing keeps one bf16 hidden state per token per layer (+ small change): 8 rows x width x 4096 x 2 B
    per_token = plan["per_layer_bytes"] / (plan["tokens"]["rows"] * plan["tokens"]["width"])
    assert 4096 * 2 <= per_token < 4096 * 2 * 1.2
    assert plan["fits"] == {"80GB": True, "8GB": False}
    assert "80GB: yes" in plan["stdout"] and "8GB: NO" in plan["stdout"]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    ["trainer.precision=32-true"],
    ["trainer.precision=32-true", "train.batch_size=2", "loss=[rating_ce,perm_kl]", "model.gradient_checkpointing=true"],
], ids=["fp32", "psl_batch2_checkpointing"])
def test_estimate_is_within_30_percent_of_a_measured_smollm2_step(tmp_path, data_root, overrides):
    plan = _plan(tmp_path, "+experiment=alro_ml100k_candidate", *overrides, "--lists", "8", "--measure")
    ratio = plan["measured_over_estimate"]
    assert 0.7 <= ratio <= 1.3, f"measured {plan['measured_step']} vs estimated {plan['estimate']['step']}"
    assert plan["measured_step"] > 50 * 2**20  # a real step, not an empty measurement


def test_plan_cli_errors_are_one_line(tmp_path):
    proc = run_module("rankexp.plan", "+experiment=alro_ml100k_candidate", "stray")
    assert proc.returncode == 2 and "error:" in proc.stderr and "stray" in proc.stderr, explain(proc)
    proc = run_module("rankexp.plan", "+experiment=recranker_ml100k")
    assert proc.returncode == 2 and "task.name" in proc.stderr and "Traceback" not in proc.stderr, explain(proc)
