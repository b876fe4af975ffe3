"""Label token ids in context, and single-pass label scoring against a plain full-logits forward."""

from __future__ import annotations

import pytest
import torch

from rankexp.errors import ConfigError
from rankexp.models.scoring import hidden_states, label_logits, label_token_ids, y_matrix
from tests.helpers.models import LORA, perturb_lora, right_padded_batch, tiny

LABELS = list("ABCDEFGHIJKLMNOPQRST")
TEXTS = [
    "<|im_start|>user\nRank: A. Heat B. Fargo C. Alien<|im_end|>\n<|im_start|>assistant\nC\nA\nB",
    "<|im_start|>user\nRank these three:\nA. Toy Story\nB. Se7en\nC. Babe<|im_end|>\n<|im_start|>assistant\nB\nC\nA",
]


def slot_positions(mask: torch.Tensor) -> torch.Tensor:
    """Positions whose next token is an answer label: each text ends "\nC\nA\nB" (right-padded)."""
    lengths = mask.sum(1)
    return torch.stack([lengths - 6, lengths - 4, lengths - 2], dim=1)  # the newlines before C, A, B


def test_labels_are_single_tokens_after_newline(tokenizer):
    ids = label_token_ids(tokenizer, LABELS, "\n")
    assert len(set(ids)) == len(LABELS)
    # Taken from the training string itself: "C\nA\nF" is C, \n, A, \n, F with these ids ...
    target = tokenizer.encode("C\nA\nF", add_special_tokens=False)
    assert target[0::2] == [ids[LABELS.index(c)] for c in "CAF"]
    # ... which for SmolLM2 are also the ids of the bare letters (the first slot follows the prompt).
    assert ids == [tokenizer.encode(label, add_special_tokens=False)[0] for label in LABELS]


def test_comma_context_gives_another_token(tokenizer):
    newline_a = label_token_ids(tokenizer, ["A"], "\n")[0]
    comma_a = tokenizer.encode("C, A", add_special_tokens=False)[-1]
    assert comma_a != newline_a  # " A", the LlamaRec pitfall
    with pytest.raises(ConfigError, match="task.labels"):
        label_token_ids(tokenizer, ["A"], ", ")  # the space merges into the label


def test_multi_token_or_repeated_labels_rejected(tokenizer):
    with pytest.raises(ConfigError, match="task.labels"):
        label_token_ids(tokenizer, ["A", "Xylophone42"], "\n")
    with pytest.raises(ConfigError, match="repeated"):
        label_token_ids(tokenizer, ["A", "A"], "\n")


@pytest.fixture(scope="module", params=["plain", "lora"])
def scored(request):
    model, tok = tiny(lora=LORA if request.param == "lora" else None)
    if request.param == "lora":
        perturb_lora(model)
    model.eval()
    ids, mask = right_padded_batch(tok, TEXTS)
    label_ids = torch.tensor(label_token_ids(tok, LABELS[:3]))
    positions = slot_positions(mask)
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask).logits  # [B, T, V]: the reference
    rows = torch.arange(ids.shape[0])[:, None]
    return model, ids, mask, positions, label_ids, full[rows, positions]


def test_positions_point_at_answer_labels(scored):
    _, ids, _, positions, label_ids, _ = scored
    rows = torch.arange(ids.shape[0])[:, None]
    assert torch.isin(ids[rows, positions + 1], label_ids).all()


def test_label_logits_match_full_logits(scored):
    model, ids, mask, positions, label_ids, full_at = scored
    with torch.no_grad():
        got = label_logits(model, hidden_states(model, ids, mask), positions, label_ids)
    assert got.shape == (2, 3, 3)
    torch.testing.assert_close(got, full_at[..., label_ids], rtol=1e-5, atol=1e-5)


def test_y_over_the_vocabulary_and_over_the_labels_match_full_logits(scored):
    model, ids, mask, positions, label_ids, full_at = scored
    with torch.no_grad():
        hidden = hidden_states(model, ids, mask)
        over_vocab = y_matrix(model, hidden, positions, label_ids, over="vocab")
        over_labels = y_matrix(model, hidden, positions, label_ids, over="labels")
    torch.testing.assert_close(over_vocab, full_at.softmax(-1)[..., label_ids], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(over_labels, full_at[..., label_ids].softmax(-1), rtol=1e-5, atol=1e-6)
    assert (over_vocab.sum(-1) < 1).all()  # full-vocabulary probabilities: labels share the mass


def test_left_padding_scores_like_unpadded(scored):
    model, ids, mask, positions, label_ids, _ = scored
    length = int(mask[0].sum())
    row = ids[:1, :length]
    left = torch.cat([torch.full((1, 5), 2), row], dim=1)
    left_mask = torch.cat([torch.zeros(1, 5, dtype=torch.long), torch.ones(1, length, dtype=torch.long)], dim=1)
    with torch.no_grad():
        plain = label_logits(model, hidden_states(model, row, torch.ones_like(row)), positions[:1], label_ids)
        shifted = label_logits(model, hidden_states(model, left, left_mask), positions[:1] + 5, label_ids)
    torch.testing.assert_close(shifted, plain, rtol=1e-4, atol=1e-5)


def test_gradients_reach_lora_only_through_label_rows():
    model, tok = tiny(lora=LORA)
    perturb_lora(model)
    ids, mask = right_padded_batch(tok, TEXTS)
    label_ids = torch.tensor(label_token_ids(tok, LABELS[:3]))
    out = y_matrix(model, hidden_states(model, ids, mask), slot_positions(mask), label_ids).log()
    out.sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads.values())


def test_bf16_autocast_close_to_fp32(scored):
    model, ids, mask, positions, label_ids, _ = scored
    with torch.no_grad():
        fp32 = y_matrix(model, hidden_states(model, ids, mask), positions, label_ids).log()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = y_matrix(model, hidden_states(model, ids, mask), positions, label_ids).log()
    assert bf16.dtype == torch.float32  # the softmax is taken in fp32
    torch.testing.assert_close(bf16, fp32, rtol=0, atol=0.05)
