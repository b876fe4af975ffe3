"""Score lists of examples with a trained ranker: `score(examples) -> [B, m]` for probes, media and predict."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rankexp.data.examples import ListwiseExample


def make_score_fn(ranker, encoder, batch_size: int = 8) -> Callable[[Sequence[ListwiseExample]], np.ndarray]:
    """`score(examples) -> [B, m]` with `ListwiseRanker.score` (eval mode, no grad, batched).

    Lists must share one m (as in a run); the ranker's train/eval mode is restored afterwards. A ranker
    attached to a trainer scores the way its test step did: under the trainer's precision (bf16 autocast
    on a CPU with native bf16), with LoRA folded and the scoring attention kernel (`RankerBase.begin_scoring`),
    so the position-bias probe compares its shuffled orders with the test scores of the same arithmetic, at
    the test step's speed. A bare ranker (`rankexp.api.Ranker`) scores in its weights' dtype, unfolded.
    """
    import torch

    def score(examples: Sequence[ListwiseExample]) -> np.ndarray:
        examples = list(examples)
        if not examples:
            return np.zeros((0, 0))
        device = next(ranker.parameters()).device
        pad = encoder.tokenizer.pad_token_id if encoder.tokenizer.pad_token_id is not None else 0
        was_training = ranker.training
        ranker.eval()
        out = []
        scoring = attached(ranker) and hasattr(ranker, "begin_scoring")
        try:
            with torch.no_grad(), precision_of(ranker):
                if scoring:
                    ranker.begin_scoring()
                for start in range(0, len(examples), batch_size):
                    encoded = [encoder.encode(e, with_target=False) for e in examples[start:start + batch_size]]
                    batch = {k: v.to(device) for k, v in encoder.collate(encoded, pad, with_target=False).items()}
                    out.append(ranker.score(batch).float().cpu().numpy())
        finally:
            if scoring:
                ranker.end_scoring()
            ranker.train(was_training)
        return np.concatenate(out)

    return score


def attached(ranker) -> bool:
    """Whether the ranker belongs to a trainer (Lightning's `trainer` property raises when it does not)."""
    return getattr(ranker, "_trainer", None) is not None


def precision_of(ranker):
    """The attached trainer's forward context (its autocast), or nothing for a bare ranker."""
    from contextlib import nullcontext

    return ranker._trainer.precision_plugin.forward_context() if attached(ranker) else nullcontext()
