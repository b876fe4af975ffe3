"""A new readout is a class and a yaml file: nothing in rankexp is edited to train with it and rank with it.

The toy readout below derives `Readout` directly: it reuses the listwise prompt, but its ranker scores each
candidate by the log-probability of its label among the m labels only (the shipped slot readout reports
the probability over the whole vocabulary). Its run trains 2 steps of `tiny_random` through `readout=toy`
found by `hydra.searchpath`, and `rankexp.Ranker` ranks with the saved adapter: the scores it returns are
the toy's (log-probabilities over m labels: <= 0, and their exponentials sum to 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.runs import TINY, TINY_PROTOCOL, explain, run_with_components, write_component

pytestmark = pytest.mark.slow

TOY = '''
import torch

from rankexp.models.ranker import ListwiseRanker
from rankexp.models.readouts import Readout
from rankexp.models.scoring import hidden_states, label_logits
from rankexp.prompts.listwise import ListwiseEncoder
from rankexp.prompts.style import labels_for


class LabelSoftmaxRanker(ListwiseRanker):
    def score(self, batch):
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])
        logits = label_logits(self.model, hidden, batch["slot_positions"][:, :1],
                              self.label_ids[: batch["gains"].shape[1]])[:, 0]
        return torch.log_softmax(logits, dim=-1)


class ToyReadout(Readout):
    name, prompt_shape = "toy", "listwise"

    def __init__(self, template=None, labels="ABCDEFGHIJ"):
        super().__init__(template)
        self.labels = labels

    def encoder(self, tokenizer, titles, style, max_length, *, m, rating_scale):
        return ListwiseEncoder(tokenizer, titles, labels_for(m, self.labels), style, max_length, False,
                               self.template)

    def ranker(self, model, encoder, losses, **settings):
        return LabelSoftmaxRanker(model, encoder.label_ids, losses, **settings)

    def max_candidates(self):
        return len(self.labels)
'''

REQUEST = {"history": [("Toy Story (1995)", 5), ("Heat (1995)", 2), ("Babe (1995)", 4)],
           "candidates": ["Casino (1995)", "Jumanji (1995)", "GoldenEye (1995)", "Sabrina (1995)"]}


def test_a_toy_readout_in_a_temp_dir_trains_and_ranks(tmp_path: Path, monkeypatch):
    write_component(tmp_path, "readout", "toy", "toy_readout_pkg", TOY,
                    "_target_: toy_readout_pkg.ToyReadout\ntemplate: ${prompt.listwise}\nlabels: ${task.labels}\n")
    run_dir = tmp_path / "run"
    proc = run_with_components(tmp_path, run_dir, "data=synthetic", *TINY, *TINY_PROTOCOL, "trainer.max_steps=2",
                               "trainer.val_check_interval=1", "readout=toy", "loss=[sft]",
                               "eval.position_bias_lists=0")
    assert proc.returncode == 0, explain(proc)
    assert "test/ndcg@5" in json.loads((run_dir / "results.json").read_text())
    manifest = json.loads((run_dir / "adapter" / "rankexp.json").read_text())
    assert manifest["scoring"] == "toy" and manifest["readout"]["_target_"] == "toy_readout_pkg.ToyReadout"

    monkeypatch.syspath_prepend(str(tmp_path))
    from rankexp import Ranker

    ranker = Ranker.from_pretrained(run_dir / "adapter")
    assert type(ranker.readout).__name__ == "ToyReadout" and ranker.max_candidates == len(manifest["labels"])
    ranked = ranker.rank(REQUEST["history"], REQUEST["candidates"])
    scores = np.array([r.score for r in ranked])
    assert sorted(r.title for r in ranked) == sorted(REQUEST["candidates"])
    assert np.all(scores <= 0) and np.exp(scores).sum() == pytest.approx(1.0, abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)
