"""Rating cross-entropy (`loss.rating_ce`, the default recipe's only loss) against a hand-written loop.

weight * (mean CE over candidate lines + history_weight * mean CE over the *real* history lines):
padded history slots (mask False) must add nothing, neither to the sum nor to the count.
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch

from rankexp.losses.rating_ce import RatingCELoss, rating_cross_entropy


def ce(row: list[float], target: int) -> float:
    """-log softmax(row)[target], written out."""
    top = max(row)
    return -(row[target] - top - math.log(sum(math.exp(v - top) for v in row)))


def reference(cand_logits, cand_targets, hist_logits, hist_targets, hist_mask, weight, history_weight) -> float:
    """Literal loops over lists and lines."""
    cand = [ce(cand_logits[b][s].tolist(), int(cand_targets[b][s]))
            for b in range(len(cand_logits)) for s in range(len(cand_logits[b]))]
    loss = sum(cand) / len(cand)
    hist = [ce(hist_logits[b][s].tolist(), int(hist_targets[b][s]))
            for b in range(len(hist_logits)) for s in range(len(hist_logits[b])) if bool(hist_mask[b][s])]
    if history_weight and hist:
        loss += history_weight * sum(hist) / len(hist)
    return weight * loss


def _batch(seed: int = 0, b: int = 3, m: int = 4, h: int = 5, r: int = 5):
    gen = torch.Generator().manual_seed(seed)
    cand_logits = torch.randn(b, m, r, generator=gen) * 2
    cand_targets = torch.randint(0, r, (b, m), generator=gen)
    hist_logits = torch.randn(b, h, r, generator=gen) * 2
    hist_targets = torch.randint(0, r, (b, h), generator=gen)
    lengths = [5, 2, 0][:b]  # right-padded history, one list without any
    hist_mask = torch.tensor([[s < n for s in range(h)] for n in lengths])
    return cand_logits, cand_targets, hist_logits, hist_targets, hist_mask


@pytest.mark.parametrize("weight, history_weight", [(1.0, 0.0), (1.0, 0.5), (0.7, 2.0)])
def test_loss_equals_the_hand_loop(weight, history_weight):
    batch = _batch()
    loss = RatingCELoss(weight=weight, history_weight=history_weight)(*batch)
    assert loss.item() == pytest.approx(reference(*batch, weight, history_weight), rel=1e-5)


def test_padded_history_lines_add_nothing():
    cand_logits, cand_targets, hist_logits, hist_targets, hist_mask = _batch()
    loss = RatingCELoss(history_weight=0.5)
    before = loss(cand_logits, cand_targets, hist_logits, hist_targets, hist_mask)
    garbage_logits, garbage_targets = hist_logits.clone(), hist_targets.clone()
    garbage_logits[~hist_mask] = torch.tensor([50.0, -50.0, 0.0, 0.0, 0.0])  # sure of rating 1 ...
    garbage_targets[~hist_mask] = 1  # ... where the "target" says 2: a huge CE if it were counted
    after = loss(cand_logits, cand_targets, garbage_logits, garbage_targets, hist_mask)
    assert after.item() == pytest.approx(before.item(), rel=1e-6)
    # the history mean is over the 7 real lines, not the 15 slots
    hist = [ce(hist_logits[b][s].tolist(), int(hist_targets[b][s])) for b in range(3) for s in range(5)
            if hist_mask[b][s]]
    assert len(hist) == 7
    only_history = rating_cross_entropy(hist_logits, hist_targets, hist_mask)
    assert only_history.item() == pytest.approx(sum(hist) / 7, rel=1e-5)


def test_history_is_ignored_without_weight_or_without_lines():
    cand_logits, cand_targets, hist_logits, hist_targets, hist_mask = _batch(seed=1)
    candidates_only = reference(cand_logits, cand_targets, hist_logits, hist_targets, hist_mask, 1.0, 0.0)
    assert RatingCELoss()(cand_logits, cand_targets, hist_logits, hist_targets, hist_mask).item() == \
        pytest.approx(candidates_only, rel=1e-5)
    none = torch.zeros_like(hist_mask)
    assert RatingCELoss(history_weight=3.0)(cand_logits, cand_targets, hist_logits, hist_targets, none).item() == \
        pytest.approx(candidates_only, rel=1e-5)


def test_term_reads_the_forward_outputs():
    cand_logits, cand_targets, hist_logits, hist_targets, hist_mask = _batch(seed=2)
    out = SimpleNamespace(rating_logits=cand_logits, rating_targets=cand_targets, history_logits=hist_logits,
                          history_targets=hist_targets, history_mask=hist_mask)
    loss = RatingCELoss(weight=0.3, history_weight=0.25)
    expected = reference(cand_logits, cand_targets, hist_logits, hist_targets, hist_mask, 0.3, 0.25)
    assert loss.term(out).item() == pytest.approx(expected, rel=1e-5)


def test_the_candidate_rankers_term_on_a_padded_batch_equals_the_loop_over_the_models_logits(tiny_model, synthetic):
    """End to end on the tiny model: three lists with 5, 3 and 1 history lines (so the batch pads the
    history), the loss the ranker trains on vs CE read straight off the LM's logits at each line's readout."""
    from rankexp.recipes.alro import active_losses, build_encoder, build_ranker
    from rankexp.recipes.lists import build_lists
    from tests.helpers.runs import compose_cfg

    model, tokenizer = tiny_model
    cfg = compose_cfg("data=synthetic", "protocol.m=6", "protocol.history_len=5", "protocol.min_history=3",
                      "readout=candidate", "task.hints=false", "loss=[rating_ce]",
                      "loss.rating_ce.history_weight=0.5")
    lists = build_lists(cfg, synthetic)
    encoder = build_encoder(cfg, synthetic, tokenizer, 512)
    ranker = build_ranker(cfg, model, encoder, active_losses(cfg)).eval()
    examples = []
    for example, keep in zip(lists.val[:3], (5, 3, 1)):
        assert len(example.history) == 5
        examples.append(dataclasses.replace(example, history=example.history[-keep:],
                                            history_ratings=example.history_ratings[-keep:]))
    encoded = [encoder.encode(e) for e in examples]
    batch = {**encoder.collate(encoded, 0, with_target=True), "n_original": torch.tensor(3)}  # as the datamodule
    assert (batch["history_readout"] < 0).sum() == 2 + 4  # padded slots exist
    with torch.no_grad():
        term = ranker.loss_terms(batch)["rating_ce"]
        logits = ranker.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    values = list(encoder.rating_values)
    cand, hist = [], []
    for row, (example, enc) in enumerate(zip(examples, encoded)):
        for position, gain in zip(enc.readout, example.gains):
            cand.append(ce(logits[row, position, encoder.rating_ids].tolist(), values.index(int(gain))))
        for position, rating in zip(enc.history_readout, example.history_ratings):
            hist.append(ce(logits[row, position, encoder.rating_ids].tolist(), values.index(int(rating))))
    assert len(cand) == 18 and len(hist) == 9
    expected = sum(cand) / len(cand) + 0.5 * sum(hist) / len(hist)
    assert term.item() == pytest.approx(expected, rel=1e-4)
