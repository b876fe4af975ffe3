"""An accelerator out-of-memory error in `Ranker` (issue #30 item 6) is the same actionable message as
a run's (`rankexp.errors.out_of_memory`): what ran out, `rankexp.plan`, batch size, gradient
checkpointing, 4-bit. Simulated on CPU: the model's forward (or the load) raises torch.OutOfMemoryError."""

from __future__ import annotations

import pytest
import torch

from rankexp import Ranker
from rankexp.errors import OutOfMemoryHint, user_error

HISTORY = [("Toy Story (1995)", 5), ("Heat (1995)", 2)]
CANDIDATES = ["Babe (1995)", "Casino (1995)", "Jumanji (1995)"]
ADVICE = ("CUDA out of memory. Tried to allocate 2.00 GiB", "python -m rankexp.plan", "batch_size",
          "model.gradient_checkpointing=true", "model.load_in_4bit=true")


def out_of_memory(*_, **__):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_rank_out_of_memory_names_the_knobs(monkeypatch):
    ranker = Ranker.from_pretrained(model="tiny_random")
    monkeypatch.setattr(ranker.model.get_decoder(), "forward", out_of_memory)  # the pass every scorer makes
    for call in (lambda: ranker.rank(HISTORY, CANDIDATES),
                 lambda: ranker.rank_batch([{"history": HISTORY, "candidates": CANDIDATES}] * 2, batch_size=2)):
        with pytest.raises(OutOfMemoryHint) as caught:
            call()
        message = str(caught.value)
        assert all(part in message for part in ADVICE), message
        assert "Ranker.rank_batch scoring" in message and "pass a smaller batch_size" in message
        assert user_error(caught.value) is caught.value  # rankexp.predict prints it as one `error:` line
        assert isinstance(caught.value.__cause__, torch.OutOfMemoryError)


def test_from_pretrained_out_of_memory_names_the_knobs(monkeypatch):
    from rankexp.models.loading import ModelSpec

    monkeypatch.setattr(ModelSpec, "load", out_of_memory)
    with pytest.raises(OutOfMemoryHint, match="out of memory during Ranker.from_pretrained loading") as caught:
        Ranker.from_pretrained(model="tiny_random")
    assert all(part in str(caught.value) for part in ADVICE), caught.value
