"""Which attention kernel a ranker runs in each phase: eager for bf16 training steps on a CPU, sdpa elsewhere.

Measured on the 2-core AVX512-BF16 CPU with the default recipe (SmolLM2-135M, ~320-token training rows,
batch-8 test lists of ~600 tokens), alternating the two kernels in one process:
- training steps under bf16 autocast: torch's sdpa kernel spends ~19% of a step in its CPU flash attention
  (its backward alone ~15%, torch.profiler); transformers' eager attention (two bmm and a softmax) ~9%:
  222-269 against 181 tokens/s;
- evaluation under bf16 autocast (no backward): sdpa 937-1008 against eager 700-805 tokens/s;
- training in fp32: the two within noise (1.58-1.65 s against 1.65-1.69 s per step).
So a model loaded with sdpa (`model.attn_implementation`, transformers' default) trains with eager attention
only where that pays, and scores with sdpa. A model loaded with another kernel keeps it in every phase.
"""

from __future__ import annotations

from torch import nn


class AttentionByPhase:
    """Switches a transformers model between its loaded kernel and eager attention (see the module)."""

    def __init__(self, model: nn.Module) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.base = base if hasattr(base, "set_attn_implementation") else None
        self.loaded = base.config._attn_implementation if self.base is not None else None

    def for_training(self, precision: str, device_type: str) -> None:
        """Eager attention while a CPU trains under bf16 autocast, when the model was loaded with sdpa."""
        fast = self.loaded == "sdpa" and device_type == "cpu" and str(precision).startswith("bf16")
        self._use("eager" if fast else self.loaded)

    def for_scoring(self) -> None:
        """The loaded kernel (sdpa by default) while the model only scores."""
        self._use(self.loaded)

    @property
    def current(self) -> str | None:
        return self.base.config._attn_implementation if self.base is not None else None

    def _use(self, kernel: str | None) -> None:
        if self.base is not None and kernel is not None and kernel != self.current:
            self.base.set_attn_implementation(kernel)
