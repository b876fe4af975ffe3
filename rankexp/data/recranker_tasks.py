"""RecRanker's instruction set: the three instance builders of `rankexp.data.recranker` drawn for a
sequence of sampled users (`rankexp.data.sampling`), one seeded rng per instance."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from rankexp.data.recranker import (
    MIX_MODES,
    TASKS,
    FoldedHint,
    PredictRating,
    Score,
    UserTrain,
    listwise_instance,
    pairwise_instance,
    pointwise_instance,
)
from rankexp.data.splits import ORDER
from rankexp.errors import ConfigError


def held_out_rows(ratings: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """The (user, item) rows of `ratings` that are not in `train`: every val / test interaction."""
    keys = pd.MultiIndex.from_frame(ratings[["user", "item"]])
    in_train = keys.isin(pd.MultiIndex.from_frame(train[["user", "item"]]))
    return ratings.loc[~in_train, ["user", "item"]]


BUILDERS = {"pointwise": pointwise_instance, "pairwise": pairwise_instance, "listwise": listwise_instance}


class RecRankerTasks:
    """Draws the three kinds of instances for a sequence of sampled users (from `sampling.py`).

    Every instance has its own rng, seeded by (seed, index), so one instance can be rebuilt alone
    and `build(users, seed + epoch)` re-draws all positions (position shifting) each epoch.
    `held_out`: the user's rows outside train (`held_out_rows`); their items are never drawn as
    unrated candidates or negatives. `block_size` > 0 (`task.candidates_in_prefix`): pointwise and
    pairwise instances show their items among that many candidates, as every evaluation prompt does.
    `folds` (aligned with `train`'s rows): the fold of each train row, needed when a hint is a
    `FoldedHint`.
    """

    def __init__(self, train: pd.DataFrame, n_items: int, like_threshold: float, dislike_threshold: float = 2,
                 history_len: int = 10, shuffle: bool = True, predict_rating: PredictRating | FoldedHint | None = None,
                 score: Score | FoldedHint | None = None, held_out: pd.DataFrame | None = None, block_size: int = 0,
                 folds: np.ndarray | None = None) -> None:
        if folds is not None:
            train = train.assign(fold=np.asarray(folds, dtype=np.int64))
        frame = train.sort_values(ORDER, kind="mergesort")
        users = frame["user"].to_numpy()
        bounds = np.flatnonzero(np.diff(users)) + 1
        items, ratings = frame["item"].to_numpy(np.int64), frame["rating"].to_numpy(np.float64)
        fold_rows = np.split(frame["fold"].to_numpy(np.int64), bounds) if folds is not None else None
        self.users = {int(u[0]): UserTrain(i, r, folds=None if fold_rows is None else fold_rows[n])
                      for n, (u, i, r) in enumerate(zip(np.split(users, bounds), np.split(items, bounds),
                                                        np.split(ratings, bounds))) if len(u)}
        if held_out is not None and len(held_out):
            for user, group in held_out.groupby("user", sort=False):
                if int(user) in self.users:
                    ut = self.users[int(user)]
                    self.users[int(user)] = replace(ut, held_out=group["item"].to_numpy(np.int64))
        self.options = {"n_items": n_items, "like_threshold": like_threshold, "dislike_threshold": dislike_threshold,
                            "history_len": history_len, "shuffle": shuffle}
        self.task_options = {"pointwise": {"predict_rating": predict_rating, "block_size": block_size},
                             "pairwise": {"score": score, "block_size": block_size}, "listwise": {"score": score}}

    def draw(self, task: str, user: int, rng: np.random.Generator):
        """One instance of `task` for `user`, or None when the user cannot form one."""
        if task not in BUILDERS:
            raise ConfigError(f"unknown RecRanker task {task!r} (config key `task.mix`); known: {', '.join(TASKS)}")
        ut = self.users.get(int(user))
        if ut is None:
            return None
        return BUILDERS[task](int(user), ut, rng, **self.options, **self.task_options[task])

    def build(self, users: np.ndarray, seed: int, mix: dict[str, float] | None = None,
              mix_mode: str = "sample") -> list[tuple[str, object]]:
        """(task, instance) per sampled user.

        mix_mode "sample": one instance per user, its task drawn with probabilities `mix` among the
        tasks the user can form (renormalised; a user who can form none is skipped).
        mix_mode "all": every task the user can form (the official code: up to 3 per user; `mix`
        keeps only tasks with a positive share).
        """
        mix = {t: float(w) for t, w in (mix or {t: 1.0 for t in TASKS}).items() if float(w) > 0}
        for task in mix:
            if task not in TASKS:
                raise ConfigError(f"unknown task {task!r} in `task.mix`; known: {', '.join(TASKS)}")
        if mix_mode not in MIX_MODES:
            raise ConfigError(f"`task.mix_mode` must be one of {', '.join(MIX_MODES)}, got {mix_mode!r}")
        out: list[tuple[str, object]] = []
        for index, user in enumerate(np.asarray(users).tolist()):
            rng = np.random.default_rng([abs(int(seed)), index, 31])
            if mix_mode == "all":
                out.extend((t, ex) for t in mix if (ex := self.draw(t, user, rng)) is not None)
                continue
            tasks, weights = list(mix), np.array(list(mix.values()))
            while tasks:
                k = int(rng.choice(len(tasks), p=weights / weights.sum()))
                example = self.draw(tasks[k], user, rng)
                if example is not None:
                    out.append((tasks[k], example))
                    break
                tasks.pop(k)
                weights = np.delete(weights, k)
        return out
