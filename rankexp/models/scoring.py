"""Single-pass verbalizer scoring: label-token logits / log-probs at chosen positions.

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

import torch
import torch.nn.functional as F

from rankexp.errors import ConfigError


def label_token_ids(tokenizer, labels: list[str], context_prefix: str = "\n") -> list[int]:
    """Token id of each label as it appears after `context_prefix` in a target string.

    Checked on the tokenized string itself: ``prefix + label + prefix`` must tokenize as the
    prefix's tokens, then exactly one token that decodes to the label (so the label merges with
    neither neighbour). SmolLM2 gives "A" after a newline the same id as "A" alone, while after
    ", " it is " A", another id.
    """
    prefix_ids = tokenizer.encode(context_prefix, add_special_tokens=False) if context_prefix else []
    ids = []
    for label in labels:
        full = tokenizer.encode(context_prefix + label + context_prefix, add_special_tokens=False)
        n = len(prefix_ids)
        if full[:n] != prefix_ids or len(full) <= n or tokenizer.decode([full[n]]) != label:
            pieces = [tokenizer.decode([i]) for i in full]
            raise ConfigError(f"`task.labels`: label {label!r} is not a single token after {context_prefix!r} "
                              f"(tokenized as {pieces}); use labels that are one token each, e.g. A..T")
        ids.append(full[n])
    if len(set(ids)) != len(ids):
        raise ConfigError(f"`task.labels` {labels} map to repeated token ids {ids}; use distinct labels")
    return ids


def causal_lm(model):
    """The transformers `*ForCausalLM` inside a peft wrapper (LoRA layers are injected in place)."""
    from peft import PeftModel

    return model.get_base_model() if isinstance(model, PeftModel) else model


def hidden_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
              positions: torch.Tensor) -> torch.Tensor:
    """Final (post-norm) hidden states at `positions`: [B, S, H], one backbone pass.

    Position ids follow the attention mask, so left-padded rows score like unpadded ones.
    """
    lm = causal_lm(model)
    backbone = lm.base_model  # LlamaForCausalLM.model: the decoder stack without the LM head
    position_ids = None
    if attention_mask is not None:
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   use_cache=False)
    hidden = out.last_hidden_state
    rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
    return hidden[rows, positions.to(hidden.device)]


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


def gather_label_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                        positions: torch.Tensor, label_ids: torch.Tensor) -> torch.Tensor:
    """Logits of the label tokens at each slot: [B, S, L], from one forward pass."""
    return lm_logits(model, hidden_at(model, input_ids, attention_mask, positions), label_ids)


def full_vocab_log_softmax_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                              positions: torch.Tensor, label_ids: torch.Tensor,
                              renormalize: bool = False) -> torch.Tensor:
    """log P(label | slot) [B, S, L], normalised over the full vocabulary (ALRO's Y, as sourced).

    With `renormalize`, normalised over the labels only (the config option of docs/alro.md); that
    needs only the label rows, so the full-vocabulary head is skipped.
    """
    hidden = hidden_at(model, input_ids, attention_mask, positions)
    if renormalize:
        return lm_logits(model, hidden, label_ids).float().log_softmax(-1)
    log_probs = lm_logits(model, hidden).float().log_softmax(-1)  # [B, S, V]: S is small
    return log_probs[..., label_ids.to(log_probs.device)]
