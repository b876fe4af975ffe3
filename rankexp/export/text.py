"""Token ids -> the text a record shows, and whether that text tokenizes back to the very same ids.

The ids are what the model sees; the text is decoded from them (special tokens and spaces kept
as they are), never re-rendered, so it cannot drift from the encoder. Most prompts tokenize back
exactly; a prompt assembled from separately tokenized pieces (the candidate readout's lines)
may merge differently at a seam, which `text_exact` says per record.
"""

from __future__ import annotations

from typing import Any


def decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def exact(tokenizer, text: str, ids: list[int]) -> bool:
    """True when tokenizing `text` as the encoders do (no added special tokens) gives `ids`."""
    return tokenizer.encode(text, add_special_tokens=False) == list(ids)


def prompt_fields(tokenizer, ids: list[int]) -> dict[str, Any]:
    """`prompt`, `prompt_ids`, `text_exact` of one prompt."""
    text = decode(tokenizer, ids)
    return {"prompt": text, "prompt_ids": list(ids), "text_exact": exact(tokenizer, text, ids)}
