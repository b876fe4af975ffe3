"""Probe: what the retriever's hint knows about a training prompt's label, in-sample vs cross-fitted.

    .venv/bin/python experiments/probe_cross_fit.py [--folds 5] [--seed 0]
writes experiments/results/probe_cross_fit.json.

`recranker_ml100k`'s LightGCN (ML-100K, leave-one-out split, a cold cache in a temp dir) is fit on
all of train and as K fold copies (the fit seconds are the cost of `task.hint_source=retriever_cv`).
RecRanker's training instructions are then drawn for every train user, and each hint is scored
against the instruction's own label:
- pointwise: RMSE of the hinted rating;
- pairwise: how often the hint names the liked item;
- listwise: how many of the 5 rated candidates the hint's top 5 holds (the other 5 are unrated).
In-sample hints come from the retriever fit on all of train (it trained on every label);
cross-fitted ones from the copy that held the asked rows out. The same retriever's pointwise RMSE
on the held-out (val + test) ratings is what an honest hint can do on unseen rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from _bench_common import save
from hydra import compose, initialize_config_dir

from rankexp.config.conf_dir import CONF_DIR
from rankexp.data import load_dataset
from rankexp.data.recranker_tasks import RecRankerTasks, held_out_rows
from rankexp.recipes.lists import build_lists
from rankexp.recipes.recranker import hint_functions, training_hints


def _label_agreement(instances) -> dict[str, float]:
    point = [(ex.hint, ex.rating) for t, ex in instances if t == "pointwise"]
    pair = [ex.hint == (ex.first if ex.first_preferred else ex.second) for t, ex in instances if t == "pairwise"]
    lists = [sum(bool(h) and g > 0 for h, g in zip(ex.hints, ex.gains)) / 5 for t, ex in instances if t == "listwise"]
    hinted, rated = np.array(point, dtype=np.float64).T
    return {"pointwise_rmse": float(np.sqrt(np.mean((hinted - rated) ** 2))), "pointwise_n": len(point),
            "pairwise_hint_names_liked": float(np.mean(pair)), "pairwise_n": len(pair),
            "listwise_rated_in_hint_top5": float(np.mean(lists)), "listwise_n": len(lists)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="probe_cross_fit_")
    overrides = ["+experiment=recranker_ml100k", f"seed={args.seed}", f"paths.cache_dir={cache}",
                 "task.hint_source=retriever_cv", "task.pointwise_hint_source=retriever_cv",
                 f"task.hint_folds={args.folds}"]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=overrides)
    data = load_dataset("ml100k", cfg.data.root, item_noun="movie")
    start = time.perf_counter()
    lists = build_lists(cfg, data)
    total_s = time.perf_counter() - start
    cv_s = lists.metrics["hints/cv_fit_s"]
    held_out = held_out_rows(data.ratings, lists.train)
    users = np.tile(np.unique(lists.train["user"].to_numpy()), 3)
    predict_rating, score = hint_functions(cfg, lists)
    options = {"like_threshold": data.like_threshold, "held_out": held_out}
    in_sample = RecRankerTasks(lists.train, data.n_items, predict_rating=predict_rating, score=score, **options)
    train_rating, train_score, folds = training_hints(cfg, lists, predict_rating, score)
    cross_fitted = RecRankerTasks(lists.train, data.n_items, predict_rating=train_rating, score=train_score,
                                  folds=folds, **options)
    rows = data.ratings.merge(held_out, on=["user", "item"])
    with torch.no_grad():
        unseen = lists.retriever.predict_rating(torch.as_tensor(rows["user"].to_numpy()),
                                                torch.as_tensor(rows["item"].to_numpy())).numpy()
    save("probe_cross_fit", {
        "command": f"python experiments/probe_cross_fit.py --folds {args.folds} --seed {args.seed}",
        "retriever": "lightgcn (recranker_ml100k), ML-100K leave-one-out split, cold cache",
        "fit_s": {"full_retriever_and_lists": total_s - cv_s, f"{args.folds}_fold_copies": cv_s},
        "training_instructions": {
            "in_sample": _label_agreement(in_sample.build(users, args.seed, mix_mode="all")),
            "cross_fitted": _label_agreement(cross_fitted.build(users, args.seed, mix_mode="all")),
        },
        "held_out_rows_pointwise_rmse": float(np.sqrt(np.mean((unseen - rows["rating"].to_numpy()) ** 2))),
        "held_out_rows": len(rows),
    })


if __name__ == "__main__":
    main()
