"""Workflow tests: config composition, end-to-end runs and sweeps, report, predict, media.

End-to-end tests run `python -m rankexp.run` in a subprocess with the tiny settings of
workflow_helpers.TINY (tiny random Llama, 4 steps, 8 val/test lists): ~20-30 s per run on 2 CPU cores.
"""

from __future__ import annotations

import pytest
from workflow_helpers import SMOL


@pytest.fixture(scope="module")
def tiny_lora_model():
    """(model, tokenizer): the tiny random Llama with LoRA (r=4), loaded once per module."""
    from rankexp.models.loading import load_model

    return load_model("tiny_random", **SMOL, lora={"r": 4, "alpha": 8, "dropout": 0.0, "bias": "none",
                                                   "target_modules": ["q_proj", "v_proj"]})
