"""The encoder core every prompt task uses: answer ids in context, label checks, the chat template.

One implementation of each, so a template change re-checks the label tokens the same way for
the listwise (ALRO), candidate-readout and RecRanker encoders:
- `after_newline`: ids of a string as it follows a newline (the end of every prompt);
  SentencePiece tokenizers (Llama) give a string-initial "A" a word-start piece ("▁A") but
  "A" after a newline a bare one, so tokenizing behind a newline gives the in-context ids.
- `label_token_ids`: each label must be exactly one token after a context string.
- `label_lines`: labels written one per line (the listwise answer) tokenize as label, newline, ...
- `chat_parts`: the chat template split around the user turn, so prompts can be assembled as
  head + text + tail (and as shared prefix + suffix for the hybrid's KV cache).
- `ListEncoder`: the protocol a readout's encoder follows (encode, collate, truncation count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from rankexp.errors import ConfigError


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def after_newline(tokenizer, text: str) -> list[int]:
    """Ids of `text` as it follows a newline; a tokenizer that merges the newline into it is refused."""
    lead = encode(tokenizer, "\n")
    ids = encode(tokenizer, "\n" + text)
    if ids[: len(lead)] != lead:
        raise ConfigError(f"the tokenizer merges a newline with {text[:8]!r}; use other `task.labels` / answers")
    return ids[len(lead):]


def label_token_ids(tokenizer, labels: Sequence[str], context_prefix: str = "\n") -> list[int]:
    """Token id of each label as it appears after `context_prefix` in a target string.

    Checked on the tokenized string itself: ``prefix + label + prefix`` must tokenize as the
    prefix's tokens, then exactly one token that decodes to the label (so the label merges with
    neither neighbour). SmolLM2 gives "A" after a newline the same id as "A" alone, while after
    ", " it is " A", another id.
    """
    prefix_ids = encode(tokenizer, context_prefix) if context_prefix else []
    ids = []
    for label in labels:
        full = encode(tokenizer, context_prefix + label + context_prefix)
        n = len(prefix_ids)
        if full[:n] != prefix_ids or len(full) <= n or tokenizer.decode([full[n]]) != label:
            pieces = [tokenizer.decode([i]) for i in full]
            raise ConfigError(f"`task.labels`: label {label!r} is not a single token after {context_prefix!r} "
                              f"(tokenized as {pieces}); use labels that are one token each, e.g. A..T")
        ids.append(full[n])
    if len(set(ids)) != len(ids):
        raise ConfigError(f"`task.labels` {list(labels)} map to repeated token ids {ids}; use distinct labels")
    return ids


def single_tokens(tokenizer, what: str, answers: Sequence[str]) -> list[int]:
    """One id per answer string as it follows a newline; several tokens or repeated ids are refused."""
    ids = []
    for answer in answers:
        pieces = after_newline(tokenizer, answer)
        if len(pieces) != 1:
            shown = [tokenizer.decode([i]) for i in pieces]
            raise ConfigError(f"{what} answer {answer!r} is {len(pieces)} tokens {shown}, not one; use "
                              f"single-token answers (ratings above 9 are binned to 1..n, see RatingBins)")
        ids.append(pieces[0])
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{what} answers {list(answers)} map to repeated token ids {ids}")
    return ids


def label_lines(tokenizer, labels: Sequence[str]) -> tuple[list[int], int]:
    """(label ids, newline id) of labels written one per line, the listwise answer format."""
    text = "\n".join(labels)
    ids = after_newline(tokenizer, text)
    if len(ids) != 2 * len(labels) - 1 or len(set(ids[1::2])) > 1:
        pieces = [tokenizer.decode([i]) for i in ids]
        raise ConfigError(f"`task.labels` must each be one token when written one per line; the tokenizer "
                          f"splits {text!r} into {pieces}")
    label_ids = ids[0::2]
    if len(set(label_ids)) != len(label_ids):
        raise ConfigError("`task.labels` map to repeated token ids; use distinct labels")
    newline = ids[1] if len(ids) > 1 else encode(tokenizer, "\n")[-1]
    return label_ids, newline


def chat_parts(tokenizer, enabled: bool, plain_tail: str = "\nAnswer:\n") -> tuple[str, str]:
    """(head, tail) around the user turn; without a chat template, ("", `plain_tail`)."""
    if not enabled or getattr(tokenizer, "chat_template", None) is None:
        return "", plain_tail
    marker = "\x00CONTENT\x00"
    text = tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False,
                                         add_generation_prompt=True)
    if text.count(marker) != 1:
        raise ConfigError("the chat template does not place the user turn verbatim; set `+task.chat_template=false`")
    head, tail = text.split(marker)
    return head, tail


class ListEncoder(Protocol):
    """What a listwise readout's encoder gives the datamodule, the scorers and the run's figures
    (`rankexp.models.readouts.Readout.encoder`): one example's ids, a batch of them, and how many prompts
    lost history lines to `model.max_length`."""

    tokenizer: Any
    labels: list[str]  # the slot names shown in example tables
    truncations: int

    def encode(self, example: Any, with_target: bool = True) -> Any: ...

    def collate(self, encoded: list[Any], pad_id: int, with_target: bool) -> dict[str, Any]: ...
