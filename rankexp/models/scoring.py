"""The one place that runs the backbone and reads the LM head: hidden states, label logits, Y,
answer logits, and the hybrid's shared-prefix forwards.

Every ranker (slot verbalizer, candidate readout, RecRanker instructions) calls these; none
multiplies the LM head itself, so the head's bias, a soft cap and a LoRA-wrapped or quantized
head are handled once, in `lm_logits`.

ALRO's Y matrix (docs/alro.md, "The probability matrix Y") is P(identifier of item i at
output slot k) from one teacher-forced forward pass. Only m slots and m label tokens matter,
so the backbone runs once, its last hidden state is kept only at the slot positions
([B, S, H]), and only there is it multiplied by the LM head: by the m label rows for logits,
or by the whole head for a full-vocabulary log-softmax ([B, S, V], S small). The
[B, T, V] logits of a plain forward are never built (docs/protocols.md pitfall "score only what you need").

`positions[b, k]` is the index of the token whose *next* token is slot k (the datamodule's
`slot_positions`): logits at position p predict token p + 1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rankexp.prompts.core import label_token_ids  # noqa: F401  (re-exported: the label check the scores rely on)


def causal_lm(model):
    """The transformers `*ForCausalLM` inside a peft wrapper (LoRA layers are injected in place)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def hidden_states(model: nn.Module, input_ids: Tensor, attention_mask: Tensor | None) -> Tensor:
    """Final (post-norm) hidden states [B, T, H] of the decoder stack, one pass, no LM head.

    Position ids follow the attention mask, so left-padded rows score like unpadded ones.
    """
    position_ids = None
    if attention_mask is not None:
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    return model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               use_cache=False).last_hidden_state


def gather_rows(hidden: Tensor, positions: Tensor) -> Tensor:
    """hidden [B, T, d], positions [B, S] -> [B, S, d]."""
    positions = positions.to(hidden.device)
    return hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))


def lm_logits(model, hidden: torch.Tensor, token_ids: torch.Tensor | None = None) -> torch.Tensor:
    """LM-head logits of `hidden` [..., H] for `token_ids` only (or the whole vocabulary)."""
    lm = causal_lm(model)
    head = lm.get_output_embeddings()
    if token_ids is not None and type(head) is torch.nn.Linear:
        # Plain head: slice its rows. (A LoRA-wrapped or quantized head is applied whole, then indexed.)
        token_ids = token_ids.to(head.weight.device)
        bias = head.bias[token_ids] if head.bias is not None else None
        logits = F.linear(hidden, head.weight[token_ids], bias)
    else:
        logits = head(hidden)
        if token_ids is not None:
            logits = logits[..., token_ids.to(logits.device)]
    cap = getattr(lm.config, "final_logit_softcapping", None)  # Gemma-2 style; None for Llama
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def label_logits(model: nn.Module, hidden: Tensor, positions: Tensor, token_ids: Tensor) -> Tensor:
    """fp32 logits [B, S, L] of `token_ids` at `positions` of `hidden` [B, T, d]."""
    return lm_logits(model, gather_rows(hidden, positions), token_ids).float()


def vocab_probs(model: nn.Module, rows: Tensor, token_ids: Tensor) -> Tensor:
    """P(token | row) for `token_ids`, normalised over the full vocabulary: [..., L]."""
    return torch.softmax(lm_logits(model, rows).float(), dim=-1)[..., token_ids.to(rows.device)]


def y_matrix(model: nn.Module, hidden: Tensor, slot_positions: Tensor, label_ids: Tensor,
             over: str = "vocab") -> Tensor:
    """ALRO's Y [B, m, m]: probability of each candidate's label at each answer slot.

    over = vocab: the full-vocabulary softmax gathered at the labels (as sourced); labels: a
    softmax over the m label logits only.
    """
    m = slot_positions.shape[1]
    if over == "labels":
        return torch.softmax(label_logits(model, hidden, slot_positions, label_ids[:m]), dim=-1)
    return vocab_probs(model, gather_rows(hidden, slot_positions), label_ids[:m])


def answer_logits(model: nn.Module, hidden: Tensor, sft_labels: Tensor) -> tuple[Tensor, Tensor]:
    """Full-vocab fp32 logits only where the next token is an answer token: ([N, V], [N])."""
    next_labels = sft_labels[:, 1:]
    mask = next_labels != -100
    return lm_logits(model, hidden[:, :-1][mask]).float(), next_labels[mask]


def expected_rating(logits: Tensor, values: Tensor) -> Tensor:
    """Σ_r r·P(r), P the softmax over the R rating tokens' logits: [..., R] -> [...].

    The one way a rating is read: the candidate readout passes logits, RecRanker's pointwise answers
    pass the logs of their probabilities (a softmax of log-probabilities renormalises them). Always fp32,
    autocast or not: under bf16 autocast the product would come out in bf16, whose steps of 1/64 near a
    rating of 3 tie candidates that the fp32 expectation tells apart.
    """
    with torch.autocast(logits.device.type, enabled=False):
        return torch.softmax(logits.float(), dim=-1) @ values.to(logits.device, torch.float32)


def answer_probs(model: nn.Module, hidden: Tensor, token_ids: list[int]) -> np.ndarray:
    """Softmax over the answer tokens only (= full-vocab P renormalised over them): [N, len(ids)]."""
    logits = lm_logits(model, hidden, torch.tensor(token_ids, device=hidden.device))
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()


# ---- forwards ---------------------------------------------------------------------------------------

def _pad(rows: list[list[int]], pad_id: int, device) -> tuple[Tensor, Tensor, Tensor]:
    lengths = torch.tensor([len(r) for r in rows], device=device)
    ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, device=device)
    mask = (torch.arange(ids.shape[1], device=device)[None] < lengths[:, None]).long()
    return ids, mask, lengths


def length_groups(lengths: list[int], chunk_size: int, waste: float = 0.25) -> list[list[int]]:
    """Row indices in forward batches: sorted by length, at most `chunk_size` rows, and padding at most
    `waste` of the real tokens, so the one long listwise prompt never pads 55 short ones to its length
    (on a CPU cost follows tokens; on a GPU a larger `waste` trades padding for fewer forwards)."""
    groups: list[list[int]] = []
    group: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        real = sum(lengths[k] for k in group) + lengths[i]
        if group and (len(group) == chunk_size or (len(group) + 1) * lengths[i] > (1 + waste) * real):
            groups.append(group)
            group = []
        group.append(i)
    return groups + [group] if group else groups


def _cache_of(output):
    cache = output.get("cache") if hasattr(output, "get") else None
    return cache if cache is not None else output.past_key_values  # transformers < 5.2 name


def last_hidden_shared(decoder: nn.Module, prefix: list[int], suffixes: list[list[int]], pad_id: int,
                       chunk_size: int = 64, pad_waste: float = 0.25) -> tuple[Tensor, int]:
    """Hidden state at each [prefix; suffix]'s last token, running the prefix once: ([N, d], forwards)."""
    from transformers import DynamicCache

    device = decoder.get_input_embeddings().weight.device
    out = decoder(input_ids=torch.tensor([prefix], device=device), use_cache=True)
    layers = [(layer.keys, layer.values) for layer in _cache_of(out).layers]
    p, rows = len(prefix), [None] * len(suffixes)
    groups = length_groups([len(s) for s in suffixes], chunk_size, pad_waste)
    for group in groups:
        ids, mask, lengths = _pad([suffixes[i] for i in group], pad_id, device)
        n, s = ids.shape
        cache = DynamicCache(ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in layers],
                             config=decoder.config)
        attention = torch.cat([torch.ones((n, p), dtype=torch.long, device=device), mask], dim=1)
        positions = (p + torch.arange(s, device=device))[None].expand(n, -1)
        hidden = decoder(input_ids=ids, attention_mask=attention, position_ids=positions, cache=cache,
                         use_cache=True).last_hidden_state
        for i, row in zip(group, hidden[torch.arange(n, device=device), lengths - 1]):
            rows[i] = row
    return torch.stack(rows), 1 + len(groups)


def last_hidden_unshared(decoder: nn.Module, prefix: list[int], suffixes: list[list[int]], pad_id: int,
                         chunk_size: int = 64, pad_waste: float = 0.25) -> tuple[Tensor, int]:
    """The same hidden states from full [prefix; suffix] rows (right-padded): ([N, d], forwards)."""
    device = decoder.get_input_embeddings().weight.device
    rows = [None] * len(suffixes)
    groups = length_groups([len(prefix) + len(s) for s in suffixes], chunk_size, pad_waste)
    for group in groups:
        ids, mask, lengths = _pad([prefix + suffixes[i] for i in group], pad_id, device)
        hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        for i, row in zip(group, hidden[torch.arange(len(ids), device=device), lengths - 1]):
            rows[i] = row
    return torch.stack(rows), len(groups)
