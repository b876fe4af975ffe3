"""The ranker module on a tiny random Llama: Y matrix, gradients, losses, a short fit."""

from __future__ import annotations

import numpy as np
import torch

from rankexp.losses import build_losses
from rankexp.models.ranker import ListwiseRanker
from rankexp.prompts.datamodule import RankingDataModule
from rankexp.prompts.listwise import ListwiseEncoder
from rankexp.prompts.style import PromptStyle, labels_for


def _setup(tiny_model, synthetic, lists, losses=("sft", "soft_lambda", "perm_kl"), batch_size=2):
    model, tokenizer = tiny_model
    encoder = ListwiseEncoder(tokenizer, synthetic.items["title"].to_numpy(), labels_for(6), PromptStyle(), 1024)
    dm = RankingDataModule(lists.train_source, lists.val[:4], lists.test[:4], encoder, seed=0, draws_per_epoch=4,
                           batch_size=batch_size, eval_batch_size=4, permute="perm_kl" in losses)
    ranker = ListwiseRanker(model, encoder.label_ids, build_losses(list(losses)))
    return ranker, dm


def test_y_matrix_matches_full_logits(tiny_model, synthetic, synthetic_lists):
    _, lists = synthetic_lists
    ranker, dm = _setup(tiny_model, synthetic, lists)
    batch = next(iter(dm.train_dataloader()))
    from rankexp.models.scoring import hidden_states, y_matrix

    hidden = hidden_states(ranker.model, batch["input_ids"], batch["attention_mask"])
    y = y_matrix(ranker.model, hidden, batch["slot_positions"], ranker.label_ids)
    assert y.shape == (4, 6, 6)  # 2 originals + 2 permuted copies, m = 6
    logits = ranker.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    probs = torch.softmax(logits.float(), -1)
    for b in range(4):
        for k in range(6):
            expected = probs[b, batch["slot_positions"][b, k], ranker.label_ids[:6]]
            torch.testing.assert_close(y[b, k], expected, rtol=1e-4, atol=1e-6)


def test_gradients_reach_lora_weights_only(tiny_model, synthetic, synthetic_lists):
    _, lists = synthetic_lists
    ranker, dm = _setup(tiny_model, synthetic, lists)
    batch = next(iter(dm.train_dataloader()))
    terms = ranker.loss_terms(batch)
    assert set(terms) == {"sft", "soft_lambda", "perm_kl"}
    sum(terms.values()).backward()
    for name, param in ranker.named_parameters():
        if "lora_" in name:
            assert param.requires_grad
        else:
            assert not param.requires_grad and param.grad is None, name
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in ranker.named_parameters() if "lora_B" in n)


def test_permuted_copy_ranks_the_same_items(tiny_model, synthetic, synthetic_lists):
    _, lists = synthetic_lists
    _, dm = _setup(tiny_model, synthetic, lists)
    batch = next(iter(dm.train_dataloader()))
    n, perm = int(batch["n_original"]), batch["perm"]
    for b in range(n):
        original_gains, permuted_gains = batch["gains"][b], batch["gains"][n + b]
        assert torch.equal(permuted_gains, original_gains[perm[b]])
        # slot k of the permuted answer names the same item as slot k of the original answer
        assert torch.equal(perm[b][batch["target_slots"][n + b]], batch["target_slots"][b])


def test_training_steps_lower_the_loss_on_a_fixed_batch(tiny_model, synthetic, synthetic_lists):
    _, lists = synthetic_lists
    ranker, dm = _setup(tiny_model, synthetic, lists, losses=("sft", "soft_lambda"))
    batch = next(iter(dm.train_dataloader()))
    optimizer = torch.optim.AdamW([p for p in ranker.parameters() if p.requires_grad], lr=1e-2)
    first = None
    for _ in range(30):
        loss = sum(ranker.loss_terms(batch).values())
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # random tiny model: the full-vocabulary SFT term starts near ln(49152) and falls ~0.6 in 30 steps
    assert loss.item() < first - 0.3


def test_verbalizer_scores_are_label_probabilities(tiny_model, synthetic, synthetic_lists):
    _, lists = synthetic_lists
    ranker, dm = _setup(tiny_model, synthetic, lists)
    batch = next(iter(dm.val_dataloader()))
    scores = ranker.score(batch)
    assert scores.shape == (4, 6) and (scores > 0).all() and (scores.sum(1) <= 1).all()
    logits = ranker.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    last = batch["prompt_lengths"] - 1
    expected = torch.softmax(logits[torch.arange(4), last].float(), -1)[:, ranker.label_ids[:6]]
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-7)
    assert np.isfinite(scores.detach().numpy()).all()


def test_nan_loss_stops_with_the_step_and_batch(tiny_model, synthetic, synthetic_lists):
    import pytest

    from rankexp.errors import TrainingDivergedError

    _, lists = synthetic_lists
    ranker, dm = _setup(tiny_model, synthetic, lists, losses=("sft", "soft_lambda"))
    lora_a = next(p for n, p in ranker.named_parameters() if "lora_A" in n)
    with torch.no_grad():
        lora_a.fill_(float("nan"))  # what a blown-up optimizer step leaves behind
    batch = next(iter(dm.train_dataloader()))
    with pytest.raises(TrainingDivergedError, match=r"loss is nan at global step 0, batch 7 .*optim.lr"):
        ranker.training_step(batch, 7)


def test_a_checkpoint_of_other_adapted_layers_is_refused_naming_top_layers(synthetic, synthetic_lists):
    """Resuming (`ckpt_path`) a checkpoint trained on every layer into a config that adapts the top layer only is a
    ConfigError naming both layer spans and `model.lora.top_layers`, not a state-dict traceback."""
    import pytest

    from rankexp.errors import ConfigError
    from rankexp.models.loading import load_model
    from tests.helpers.models import LORA, SMOL

    lists = synthetic_lists[1]
    every, _ = _setup(load_model("tiny_random", **SMOL, lora=LORA), synthetic, lists)
    top, _ = _setup(load_model("tiny_random", **SMOL, lora={**LORA, "top_layers": 1}), synthetic, lists)
    checkpoint = {"state_dict": every.state_dict()}
    every.on_save_checkpoint(checkpoint)
    every.on_load_checkpoint(checkpoint)  # its own checkpoint loads
    with pytest.raises(ConfigError, match=r"saved 0-1, this config's 1-1 \(`model\.lora\.top_layers`\)"):
        top.on_load_checkpoint(checkpoint)
