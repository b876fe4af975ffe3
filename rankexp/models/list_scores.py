"""Score lists of examples with a trained ranker: `score(examples) -> [B, m]` for probes, media and predict."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rankexp.data.examples import ListwiseExample


def make_score_fn(ranker, encoder, batch_size: int = 8) -> Callable[[Sequence[ListwiseExample]], np.ndarray]:
    """`score(examples) -> [B, m]` with `ListwiseRanker.score` (eval mode, no grad, batched).

    Lists must share one m (as in a run); the ranker's train/eval mode is restored afterwards.
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
        try:
            with torch.no_grad():
                for start in range(0, len(examples), batch_size):
                    encoded = [encoder.encode(e, with_target=False) for e in examples[start:start + batch_size]]
                    batch = {k: v.to(device) for k, v in encoder.collate(encoded, pad, with_target=False).items()}
                    out.append(ranker.score(batch).float().cpu().numpy())
        finally:
            ranker.train(was_training)
        return np.concatenate(out)

    return score
