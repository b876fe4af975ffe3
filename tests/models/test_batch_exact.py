"""Batching is exact (fp32, tiny random Llama): what a GPU batch of 8 computes is what batch 1 computes.

A batch of lists of different lengths, right-padded as the encoders collate it or left-padded as
a generation server would, must give each list the scores, Y and loss terms it gets alone: a
padding or position-id bug shows up on a GPU only as "batch 4 trains worse than batch 1".
Also: gradient checkpointing (non-reentrant, as `model.gradient_checkpointing=true` sets it)
gives the LoRA gradients of the plain backward.

Checked that these tests fail when `scoring.hidden_states` passes neither the attention mask nor
position ids (5 of 8 fail). Either one alone suffices here: transformers reads position ids that
restart at 0 as packed sequences and masks across them, and RoPE makes a uniform shift invisible.
"""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from rankexp.models.scoring import hidden_states, y_matrix
from rankexp.prompts.datamodule import RankingDataModule
from rankexp.recipes.alro import active_losses, build_encoder, build_ranker
from rankexp.recipes.lists import build_lists
from tests.helpers.runs import compose_cfg

COMMON = ["data=synthetic", "protocol.m=6", "protocol.history_len=5", "protocol.min_history=3", "model=tiny_random"]
SCORINGS = {
    "slot": ["readout=slot", "loss=[sft,soft_lambda,perm_kl]"],
    "candidate": ["readout=candidate", "task.hints=true", "loss=[rating_ce,soft_lambda,perm_kl]"],
}
TOKENS = ("input_ids", "attention_mask", "sft_labels")  # [B, T], shifted by left padding
POSITIONS = ("slot_positions", "readout_positions", "history_readout")  # indices into T (-1 = none)
ATOL = 1e-5


def assert_same(actual: torch.Tensor, expected: torch.Tensor, msg: str = "") -> None:
    """To 1e-5; probabilities (slot scores, Y: ~1/vocab for a random model) are compared as logs, i.e.
    relatively, since 1e-5 absolute would pass any pair of probabilities that small."""
    if bool((expected > 0).all()) and float(expected.max()) <= 1.0:
        actual, expected = actual.log(), expected.log()
    torch.testing.assert_close(actual, expected, rtol=0, atol=ATOL, msg=msg or None)


def left_padded(batch: dict, pad_id: int) -> dict:
    """The same batch with every row's tokens moved to the right end (positions shifted alike)."""
    out = dict(batch)
    lengths = batch["attention_mask"].sum(-1)
    width = batch["input_ids"].shape[1]
    for key in TOKENS:
        if key not in batch:
            continue
        fill = {"input_ids": pad_id, "attention_mask": 0, "sft_labels": -100}[key]
        moved = torch.full_like(batch[key], fill)
        for row, n in enumerate(lengths.tolist()):
            moved[row, width - n:] = batch[key][row, :n]
        out[key] = moved
    for key in POSITIONS:
        if key in batch:
            offset = (width - lengths)[:, None]
            out[key] = torch.where(batch[key] >= 0, batch[key] + offset, batch[key])
    return out


def rows(batch: dict, index: list[int]) -> dict:
    """A sub-batch of the given rows, trimmed to its own longest row (as if collated alone)."""
    width = int(batch["attention_mask"][index].sum(-1).max())
    out = {}
    for key, value in batch.items():
        if not torch.is_tensor(value) or value.dim() == 0 or len(value) != len(batch["input_ids"]):
            continue  # n_original, perm: the PSL bookkeeping of the whole batch
        value = value[index]
        out[key] = value[:, :width] if key in TOKENS else value
    return out


@pytest.fixture(scope="module", params=list(SCORINGS))
def setup(request):
    torch.manual_seed(0)
    cfg = compose_cfg(*COMMON, *SCORINGS[request.param], "model.dtype=float32")
    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    model, tokenizer = instantiate(cfg.model).load()
    with torch.no_grad():  # LoRA B starts at 0: make the adapter do something, so its path is tested too
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    encoder = build_encoder(cfg, data, tokenizer, 512)
    ranker = build_ranker(cfg, model, encoder, active_losses(cfg)).eval()
    dm = RankingDataModule(lists.train_source, lists.val[:8], lists.test[:8], encoder, seed=0, draws_per_epoch=8,
                           batch_size=4, eval_batch_size=8, permute=True)
    # Left padding fills with an ordinary token, not the pad id: the tiny model's pad embedding is zero
    # (nn.Embedding padding_idx) and would hide a missing attention mask.
    filler = tokenizer.encode(" the", add_special_tokens=False)[0]
    return request.param, ranker, dm, filler


def _y(ranker, batch):
    hidden = hidden_states(ranker.model, batch["input_ids"], batch["attention_mask"])
    return y_matrix(ranker.model, hidden, batch["slot_positions"], ranker.label_ids)


def test_batch_of_8_scores_like_batch_1_with_either_padding(setup):
    _, ranker, dm, pad = setup
    batch = next(iter(dm.val_dataloader()))
    lengths = batch["attention_mask"].sum(-1)
    assert len(batch["input_ids"]) == 8 and len(set(lengths.tolist())) > 1  # mixed lengths
    with torch.no_grad():
        together = ranker.score(batch)
        alone = torch.cat([ranker.score(rows(batch, [i])) for i in range(8)])
        left = ranker.score(left_padded(batch, pad))
    assert_same(together, alone)
    assert_same(left, alone)


def test_loss_terms_with_permuted_copies_do_not_depend_on_padding(setup):
    """The training batch (4 lists + their 4 shuffled PSL copies) right- vs left-padded: same terms."""
    _, ranker, dm, pad = setup
    batch = next(iter(dm.train_dataloader()))
    assert int(batch["n_original"]) == 4 and len(batch["input_ids"]) == 8
    with torch.no_grad():
        right = ranker.loss_terms(batch)
        left = ranker.loss_terms(left_padded(batch, pad))
    assert set(right) == set(left) and len(right) == 3
    for name in right:
        torch.testing.assert_close(left[name], right[name], rtol=1e-5, atol=ATOL, msg=name)


def test_a_list_and_its_copy_score_alike_in_and_out_of_the_training_batch(setup):
    """The PSL copies are scored in the same forward as the originals: each row as if alone (scores, and
    ALRO's Y at every answer slot, which needs the answer in the batch)."""
    scoring, ranker, dm, pad = setup
    batch = next(iter(dm.train_dataloader()))
    with torch.no_grad():
        together = ranker.score(batch)
        alone = torch.cat([ranker.score(rows(batch, [i])) for i in range(8)])
    assert_same(together, alone)
    if scoring == "slot":
        with torch.no_grad():
            y_together, y_left = _y(ranker, batch), _y(ranker, left_padded(batch, pad))
            y_alone = torch.cat([_y(ranker, rows(batch, [i])) for i in range(8)])
        assert y_together.shape == (8, 6, 6)
        assert_same(y_together, y_alone)
        assert_same(y_left, y_alone)


def test_gradient_checkpointing_gives_the_same_lora_gradients(setup):
    _, ranker, dm, _ = setup
    batch = next(iter(dm.train_dataloader()))
    base = ranker.model.get_base_model()

    def grads() -> dict[str, torch.Tensor]:
        ranker.zero_grad(set_to_none=True)
        ranker.train()
        sum(ranker.loss_terms(batch).values()).backward()
        out = {n: p.grad.detach().clone() for n, p in ranker.named_parameters() if p.grad is not None}
        ranker.eval()
        return out

    plain = grads()
    base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    try:
        assert base.is_activation_checkpointing
        checkpointed = grads()
    finally:
        base.activation_checkpointing_disable()
    assert plain and set(plain) == set(checkpointed) and all("lora_" in n for n in plain)
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-5, atol=1e-6, msg=name)
