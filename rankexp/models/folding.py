"""LoRA folded into the frozen base while a ranker only scores (validation and test), then unfolded exactly.

Its own module: `models.base` uses it, and `models.adapters` (saving and loading) sits above the rankers.
"""

from __future__ import annotations

import torch


class FoldedLora:
    """LoRA folded into the frozen base weights while the model only scores, and the base put back bit for bit.

    Unfolded, each adapted projection is the base matmul plus the adapter's two thin matmuls, a scale and an
    add; folded (`W + s B A`, peft's `merge_adapter`), it is the base matmul alone. On the 2-core AVX2 CPU the
    default run's 707 test lists took 408 s folded against 505 s unfolded (`make run`, experiments/results/
    make_commands.json; `python experiments/bench_speed.py`, lever `eval_lora_unfolded`). peft's
    `unmerge_adapter` subtracts the update again, which leaves the base off by rounding (~1e-7), so training
    after a validation would continue from other weights: the base weights are copied before folding and
    copied back after. Folding is skipped where it does not pay or would be lossy: off the CPU, and for a
    quantized base (4-bit weights cannot take the update exactly). Under bf16 autocast the projections LoRA does
    not adapt (below `model.lora.top_layers`) are held in bf16 while scoring too, and put back afterwards.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.saved: list[tuple[object, torch.Tensor]] | None = None
        self.cast: list[tuple[torch.nn.Linear, torch.Tensor]] = []  # unadapted projections cast while scoring
        self.decided = False  # fold() ran in this loop: later batches return at once, folded or not

    def layers(self) -> list:
        from peft.tuners.tuners_utils import BaseTunerLayer

        return [m for m in self.model.modules() if isinstance(m, BaseTunerLayer)]

    def applies(self) -> bool:
        if getattr(self.model, "merge_adapter", None) is None:
            return False
        layers = self.layers()
        weights = [layer.get_base_layer().weight for layer in layers]
        return bool(weights) and all(w.device.type == "cpu" and w.dtype.is_floating_point for w in weights)

    def fold(self, cast_to: torch.dtype | None = None) -> None:
        """Called at every batch; decides once per loop (`applies` walks every module).

        `cast_to`: the dtype the scoring matmuls run in (bf16 under bf16 autocast). The folded weights are then
        stored in it for the loop, so autocast does not cast ~100 M frozen weights again at every forward (it
        caches casts only of weights that require grad). The cast rounds as autocast's own cast does, so the
        scores are bit for bit those of fp32 weights under autocast.
        """
        if self.decided:
            return
        self.decided = True
        if not self.applies():
            return
        # Never under autocast: peft's B @ A would come out in bf16 and fold a rounded update into the base.
        with torch.no_grad(), torch.autocast("cpu", enabled=False):
            self.saved = [(layer, layer.get_base_layer().weight.detach().clone()) for layer in self.layers()]
            self.model.merge_adapter()
            if cast_to is not None:
                for layer in self.layers():
                    weight = layer.get_base_layer().weight
                    if weight.dtype != cast_to:
                        weight.data = weight.data.to(cast_to)
                # The projections LoRA does not adapt (the layers below `model.lora.top_layers`) are cast too, for
                # the same reason; their fp32 weights are kept and put back by `unfold`.
                for linear in self.unadapted_linears():
                    if linear.weight.dtype != cast_to:
                        self.cast.append((linear, linear.weight.data))
                        linear.weight.data = linear.weight.data.to(cast_to)

    def unadapted_linears(self) -> list[torch.nn.Linear]:
        """The frozen `nn.Linear`s of the decoder layers that hold no adapter (the head and embeddings stay)."""
        adapted = {id(module) for layer in self.layers() for module in layer.modules()}  # base layer and LoRA's own
        return [module for name, module in self.model.named_modules()
                if isinstance(module, torch.nn.Linear) and ".layers." in f".{name}."
                and id(module) not in adapted and not module.weight.requires_grad]

    def unfold(self) -> None:
        self.decided = False
        if self.saved is None:
            return
        with torch.no_grad():
            for layer, weight in self.saved:
                base = layer.get_base_layer().weight
                if base.dtype == weight.dtype:
                    base.copy_(weight)
                else:  # folded and cast (`fold(cast_to=...)`): the saved copy becomes the weight again
                    base.data = weight
                layer.merged_adapters.clear()  # what peft's unmerge ends with, without its subtraction
            for linear, weight in self.cast:
                linear.weight.data = weight
        self.saved, self.cast = None, []
