"""What every split of an export holds: its records (lazily), their count, and the schema's fields.

`Split` is the contract between the recipe-specific builders (`listwise`, `instructions`) and
the writer (`rankexp.export.jsonl`): the count is known before the first record is written, so
the schema line can state it and the writer can check it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rankexp.export.jsonl import plain

# Fields of every record, whatever the recipe.
COMMON_FIELDS = {
    "id": "unique within the file: <split>-<epoch>-<index> (train) or <split>-<list index> (val, test)",
    "user": "the dataset's own user id",
    "prompt": "the prompt text, decoded from prompt_ids (special tokens kept)",
    "prompt_ids": "the token ids the model is given (exact; the text is their decoding)",
    "text_exact": "true when tokenizing the text alone (no added special tokens) gives the ids",
}


@dataclass
class Split:
    """One file's records (an iterable, consumed once), how many there are, and their schema."""

    records: Iterable[dict[str, Any]]
    count: int
    fields: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


class RawIds:
    """The dataset's own user and item ids for the contiguous ids the pipeline uses."""

    def __init__(self, data) -> None:
        self.user_ids = np.asarray(data.user_ids)
        self.item_ids = data.items["item_id"].to_numpy()

    def user(self, user: int) -> Any:
        return plain(self.user_ids[int(user)])

    def item(self, item: int | None) -> Any:
        return None if item is None else plain(self.item_ids[int(item)])

    def items(self, items) -> list[Any]:
        return [self.item(i) for i in np.asarray(items).tolist()]
