"""The hints an adapter was trained to read, derived again from a dataset, for ranking by title.

An adapter trained with `task.hints=true` saw a train-only signal next to every title (the
shrunk leave-one-out item mean). Ranking without it, or with values computed another way,
shows the model prompts unlike its training ones. `DataHints` rebuilds the run's train split
from the adapter's `rankexp.json` (`protocol`), computes the hint text with the same code the
run used (`rankexp.data.hints.hint_text`), and looks titles up in the dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rankexp.data.hints import hint_text
from rankexp.data.splits import train_rows
from rankexp.errors import ConfigError, RankexpError


class HintLookupError(RankexpError):
    """A title or user of a request is not in the dataset the hints come from."""


def load_data(data: Any):
    """A `RatingData` as given, or built from a conf/data name (`"ml100k"`) or a data config mapping."""
    from rankexp.data import RatingData

    if isinstance(data, RatingData):
        return data
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    if isinstance(data, str):
        from rankexp.config.conf_dir import CONF_DIR

        path = CONF_DIR / "data" / f"{data}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml"))
            raise ConfigError(f"unknown dataset config {data!r}; known: {', '.join(known)} (or pass a RatingData)")
        data = OmegaConf.load(path)
    elif isinstance(data, Mapping):
        data = OmegaConf.create(dict(data))
    if not OmegaConf.is_config(data) or "_target_" not in data:
        raise ConfigError(f"`data` must be a RatingData, a conf/data name or a data config with _target_, got {data!r}")
    return instantiate(data)


class DataHints:
    """`texts(history, candidates, user)`: the hint text of each title, as the adapter's run wrote it."""

    def __init__(self, data: Any, manifest: Mapping[str, Any]) -> None:
        if not manifest["style"]["hints"]:
            raise ConfigError("this adapter was trained without hints (rankexp.json style.hints); rank without data")
        source = manifest.get("hint_source")
        if source != "item_mean":
            raise ConfigError(f"the adapter's hints come from `task.hint_source={source}` (a fitted retriever); "
                              "deriving them needs that run's retriever: pass `hints=` to rank()")
        protocol = manifest.get("protocol")
        if not protocol:
            raise ConfigError("the adapter's rankexp.json does not record its protocol (saved by an older rankexp); "
                              "pass `hints=` to rank(), or re-save it with a run")
        self.data = load_data(data)
        train = train_rows(protocol, self.data.ratings, self.data.like_threshold)
        self.hints = hint_text(source, train, fmt=manifest.get("hint_format") or "value")
        titles = self.data.items["title"].astype(str).str.strip().to_numpy()
        self._items: dict[str, list[int]] = {}
        for index, title in enumerate(titles):
            self._items.setdefault(title, []).append(index)
        self._users = {str(u): i for i, u in enumerate(self.data.user_ids)}

    def item_of(self, title: str) -> int:
        items = self._items.get(title.strip())
        if not items:
            raise HintLookupError(f"{title!r} is not a title of {self.data.name}; hints come from that data "
                                  "(pass `hints=` for titles outside it)")
        if len(items) > 1:
            raise HintLookupError(f"{title!r} names {len(items)} items of {self.data.name} "
                                  f"(ids {[self.data.items['item_id'].iloc[i] for i in items]}); its hint is ambiguous")
        return items[0]

    def user_of(self, user: Any) -> int:
        """The dataset's own user id (as in its ratings file) -> its row index; None = a new user (-1)."""
        if user is None:
            return -1
        index = self._users.get(str(user))
        if index is None:
            raise HintLookupError(f"user {user!r} is not in {self.data.name}; omit `user` for a new user")
        return index

    def texts(self, history: Sequence[str], candidates: Sequence[str], user: Any = None) -> tuple[list[str], list[str]]:
        """Hint text for the history titles and for the candidates (each block ranked on its own, as in
        the run; the user's own train ratings are left out of the item means, as in the run)."""
        who = self.user_of(user)
        history_items = np.array([self.item_of(t) for t in history], dtype=np.int64)
        candidate_items = np.array([self.item_of(t) for t in candidates], dtype=np.int64)
        return self.hints(who, history_items), self.hints(who, candidate_items)
