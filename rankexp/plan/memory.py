"""The memory of one LoRA training step, line by line, and whether it fits a GPU.

weights + LoRA (params, grads, AdamW's two moments: 16 B each) + activations + autocast's weight
copies (+ a CUDA context reserve). Activations are not a textbook constant: what autograd keeps
depends on transformers' Llama code, peft's LoRA dropout copies, the precision and the attention
kernel. So they are *counted*: `activation_bytes` builds small random replicas of the configured
architecture (the same heads, the widths divided by k), runs the real training batch through the
real ranker's loss, and adds up the tensors autograd saves (`torch.autograd.graph.
saved_tensors_hooks`). Saved bytes are linear in 1/k (every activation is tokens x a width; the
LoRA rank and the head count do not scale), so two scales and two depths give the full model's
bytes per layer and outside the layers exactly. Caveat: the replicas run on this machine's
attention kernel; CPU and CUDA SDPA both keep only a logsumexp per head (no tokens^2 matrix),
but an eager attention implementation would keep the full matrix.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch
from omegaconf import DictConfig
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map_only

from rankexp.errors import ConfigError
from rankexp.plan.architecture import Architecture

GiB = 2**30
DTYPE_BYTES = {torch.float32: 4, torch.bfloat16: 2, torch.float16: 2}
PRECISIONS = {  # trainer.precision -> (weights cast to, autocast dtype)
    "32-true": (None, None), "32": (None, None),
    "bf16-mixed": (None, torch.bfloat16), "16-mixed": (None, torch.float16),
    "bf16-true": (torch.bfloat16, None), "16-true": (torch.float16, None),
}
CUDA_RESERVE = int(0.75 * GiB)  # CUDA context + cuBLAS workspace, measured ~0.5-0.8 GB on A100/H100


@dataclass(frozen=True)
class Regime:
    """How a step computes: weight dtype, autocast, checkpointing, 4-bit, device."""

    weights: torch.dtype
    autocast: torch.dtype | None
    checkpointing: bool
    load_in_4bit: bool
    cuda: bool

    def autocast_context(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda" if self.cuda else "cpu", dtype=self.autocast)


def regime_of(cfg: DictConfig) -> Regime:
    from rankexp.models.loading import DTYPES

    precision = str(cfg.trainer.precision)
    if precision not in PRECISIONS:
        raise ConfigError(f"`trainer.precision`={precision!r}: the estimator knows {sorted(PRECISIONS)}")
    cast, autocast = PRECISIONS[precision]
    return Regime(weights=cast or DTYPES[cfg.model.dtype], autocast=autocast,
                  checkpointing=bool(cfg.model.gradient_checkpointing), load_in_4bit=bool(cfg.model.load_in_4bit),
                  cuda=str(cfg.trainer.accelerator) in ("gpu", "cuda"))


def train_step(ranker, batch: dict, regime: Regime, optimizer=None, hooks=None) -> None:
    """One forward + backward of the ranker's summed loss terms (+ an optimizer step)."""
    with regime.autocast_context(), (hooks or contextlib.nullcontext()):
        loss = sum(ranker.loss_terms(batch).values())
    loss.backward()
    if optimizer is not None:
        optimizer.step()
    ranker.zero_grad(set_to_none=True)


class SavedTensors:
    """Bytes autograd saves for backward, split into activations and copies of weights.

    Parameters are skipped (they are counted as weights); a saved tensor shaped like a weight but
    not a parameter is an autocast cast of one.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.params = {p.untyped_storage().data_ptr() for p in module.parameters()}
        self.weight_shapes = {tuple(p.shape) for p in module.parameters() if p.dim() == 2}
        self.activation: dict[int, int] = {}
        self.weight_copies: dict[int, int] = {}

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self.params:
            into = self.weight_copies if tuple(tensor.shape) in self.weight_shapes else self.activation
            into[key] = max(into.get(key, 0), storage.nbytes())
        return tensor

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)

    @property
    def activation_bytes(self) -> int:
        return sum(self.activation.values())

    @property
    def weight_copy_bytes(self) -> int:
        return sum(self.weight_copies.values())


class Fp32Kernels(TorchDispatchMode):
    """Runs bf16/fp16 matmuls and attention in fp32 and returns what the low-precision kernel would.

    Counting saved bytes needs the shapes and dtypes of a step, not its values. A CPU without native
    bf16 emulates bf16 matmuls at 1-3 GFLOP/s against ~150 in fp32 (2-core AVX2, measured), which made
    counting a Llama-2-7B step take minutes. The mode sits below autograd and autocast, so the graph,
    the tensors it saves and every output's shape and dtype (read from the op's meta kernel) are those
    of the low-precision step; only the arithmetic is fp32.
    """

    OPS = frozenset({
        torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default,
        torch.ops.aten.baddbmm.default,
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward.default,
    })
    LOW = (torch.bfloat16, torch.float16)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if func not in self.OPS or not any(t.dtype in self.LOW for t in tensors):
            return func(*args, **kwargs)

        def meta(t: torch.Tensor) -> torch.Tensor:
            return t.to("meta")

        def wide(t: torch.Tensor) -> torch.Tensor:
            return t.float() if t.dtype in self.LOW else t

        like = func(*tree_map_only(torch.Tensor, meta, args), **tree_map_only(torch.Tensor, meta, kwargs))
        out = func(*tree_map_only(torch.Tensor, wide, args), **tree_map_only(torch.Tensor, wide, kwargs))
        if isinstance(out, torch.Tensor):
            return out.to(like.dtype)
        return type(out)(o.to(m.dtype) if isinstance(o, torch.Tensor) else o for o, m in zip(out, like))


def _scales(arch: Architecture) -> tuple[int, int]:
    """Two divisors k of the widths leaving even head dims of 4 and 8 (or 2 and 4)."""
    for small, large in ((4, 8), (2, 4)):
        if arch.head_dim % large == 0 and arch.hidden % (arch.head_dim // small) == 0:
            return arch.head_dim // small, arch.head_dim // large
    raise ConfigError(f"head_dim {arch.head_dim} of the model cannot be scaled down evenly for the estimate")


def replica_architecture(arch: Architecture, k: int, layers: int) -> Architecture:
    """The configured model with every width divided by k (heads kept), `layers` deep."""
    return Architecture(layers, arch.hidden // k, max(2, round(arch.intermediate / k)), arch.heads, arch.kv_heads,
                        arch.head_dim // k, arch.vocab, arch.tied, f"replica 1/{k}")


def _replica(arch: Architecture, k: int, layers: int, cfg: DictConfig, regime: Regime, tokenizer):
    from rankexp.models.adapters import add_lora
    from rankexp.models.loading import tiny_random_llama

    small = replica_architecture(arch, k, layers)
    model = tiny_random_llama(len(tokenizer), tokenizer, hidden_size=small.hidden,
                              intermediate_size=small.intermediate, num_hidden_layers=layers,
                              num_attention_heads=small.heads, num_key_value_heads=small.kv_heads,
                              head_dim=small.head_dim, tie_word_embeddings=small.tied).to(regime.weights)
    if regime.checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    lora = cfg.model.get("lora")
    if lora is None:
        return model
    # Every replica layer is adapted: the counts are per adapted layer, and `estimate` multiplies them by the
    # layers `model.lora.top_layers` adapts (a 2-layer replica with top_layers=1 would measure a frozen layer).
    return add_lora(model, {key: value for key, value in dict(lora).items() if key != "top_layers"})


def _count(arch, k, layers, cfg, regime, tokenizer, encoder, losses, batch) -> SavedTensors:
    from rankexp.recipes.alro import build_ranker

    ranker = build_ranker(cfg, _replica(arch, k, layers, cfg, regime, tokenizer), encoder, losses).train()
    saved = SavedTensors(ranker)
    with Fp32Kernels():
        train_step(ranker, batch, regime, hooks=saved.hooks())
    return saved


@dataclass(frozen=True)
class ActivationCount:
    per_layer: int  # bytes saved per decoder layer for the batch
    outside: int  # embeddings, head, loss
    recompute: int  # with checkpointing: one layer's full activations, rebuilt during backward
    weight_copy_bytes_per_param: float  # autocast casts of the base weights, per linear parameter


def activation_bytes(arch: Architecture, cfg: DictConfig, regime: Regime, tokenizer, encoder, losses,
                     batch: dict) -> ActivationCount:
    """Saved bytes of the full model for `batch`, extrapolated from four replicas (see the module doc)."""
    k1, k2 = _scales(arch)

    def per_scale(k: int, checkpointing: bool) -> tuple[float, float, SavedTensors]:
        case = Regime(regime.weights, regime.autocast, checkpointing, False, False)
        one, two = (_count(arch, k, n, cfg, case, tokenizer, encoder, losses, batch) for n in (1, 2))
        layer = two.activation_bytes - one.activation_bytes
        return layer, one.activation_bytes - layer, two

    def extrapolate(f1: float, f2: float) -> int:  # f(x) = W x + C with x = 1/k; the model is x = 1
        x1, x2 = 1 / k1, 1 / k2
        slope = (f1 - f2) / (x1 - x2)
        return max(0, round(slope + f1 - slope * x1))

    layer1, out1, two = per_scale(k1, regime.checkpointing)
    layer2, out2, _ = per_scale(k2, regime.checkpointing)
    recompute = 0
    if regime.checkpointing:
        full1, _, _ = per_scale(k1, False)
        full2, _, _ = per_scale(k2, False)
        recompute = extrapolate(full1, full2)
    replica_linear = replica_architecture(arch, k1, 2).linear_params()
    copies = two.weight_copy_bytes / replica_linear if replica_linear else 0.0
    return ActivationCount(extrapolate(layer1, layer2), extrapolate(out1, out2), recompute, copies)


@dataclass(frozen=True)
class Estimate:
    """Bytes per GPU for one training step, line by line."""

    weights: int
    lora_states: int  # LoRA params, grads and AdamW moments, fp32
    lora_grads: int  # the grads alone (part of lora_states; freed after every step)
    activations: int
    weight_copies: int
    reserve: int  # CUDA context (0 on CPU)

    @property
    def total(self) -> int:
        return self.weights + self.lora_states + self.activations + self.weight_copies + self.reserve

    @property
    def step(self) -> int:
        """What one step allocates on top of the loaded model and its optimizer state (what --measure reads)."""
        return self.activations + self.weight_copies + self.lora_grads

    def fits(self, capacity: int) -> bool:
        return self.total <= capacity

    def as_dict(self) -> dict:
        return asdict(self) | {"total": self.total, "step": self.step}


def weight_bytes(arch: Architecture, regime: Regime) -> int:
    if regime.load_in_4bit:  # NF4 with double quantization: 4 bits + ~0.127 bits of scales per weight
        linear = arch.linear_params()
        return round(linear * (4 + 0.127) / 8) + (arch.params() - linear) * 2
    return arch.params() * DTYPE_BYTES[regime.weights]


def saving_layers(arch: Architecture, regime: Regime, lora: dict | None) -> int:
    """The decoder layers whose activations a step keeps: the adapted ones, or every layer under checkpointing
    (see `estimate`)."""
    return arch.layers if regime.checkpointing else arch.adapted_layers(lora)


def estimate(arch: Architecture, regime: Regime, lora: dict | None, count: ActivationCount) -> Estimate:
    """The step's bytes from the counted replicas. With `model.lora.top_layers` K only the top K layers save
    activations and autocast's weight copies for a backward: the layers below run with nothing that requires grad,
    so autograd keeps nothing of them. Under activation checkpointing a measured SmolLM2 step with the top 15 of 30
    layers adapted took as much as one with every layer (0.16 vs 0.17 GiB, fp32), so there every layer's
    checkpointed input is counted."""
    lora_params = arch.lora_params(lora) if lora is not None else 0
    adapted = arch.adapted_layers(lora)
    activations = saving_layers(arch, regime, lora) * count.per_layer + count.outside + count.recompute
    copies = 0 if regime.load_in_4bit else round(count.weight_copy_bytes_per_param * arch.linear_params()
                                                 * adapted / arch.layers)
    return Estimate(weights=weight_bytes(arch, regime), lora_states=16 * lora_params, lora_grads=4 * lora_params,
                    activations=activations, weight_copies=copies, reserve=CUDA_RESERVE if regime.cuda else 0)


def parse_capacity(text: str) -> int:
    """'24GB' / '80GB' / '40 GiB' -> bytes, GB read as GiB (an "80GB" H100 reports 79.6 GiB)."""
    value = text.strip().upper().replace(" ", "").removesuffix("IB").removesuffix("B").removesuffix("G")
    try:
        number = float(value)
    except ValueError as error:
        raise ConfigError(f"`--gpu-mem {text}`: expected a size such as 24GB, 40GB or 80GB") from error
    if number <= 0:
        raise ConfigError(f"`--gpu-mem {text}`: the size must be positive")
    return int(number * GiB)
