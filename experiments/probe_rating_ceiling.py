"""How far above the item mean can a train-only rating signal go on the explicit lists?

The candidate-readout LLM reads the item mean as a hint and stays below it (docs/results.md). Before
asking the 135M model to add something, this measures what a conventional personalized
predictor adds on the very same lists: biased MF (`rankexp.retrievers.rating`, ALS, shrunk
biases, train ratings only), its size and regularisation chosen on the validation lists, then
scored once on the 707 test lists, paired per list against the item mean.

    python experiments/probe_rating_ceiling.py   -> experiments/results/probe_rating_ceiling.json
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from _bench_common import save
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from rankexp.config.conf_dir import CONF_DIR
from rankexp.evaluation.baselines import item_mean
from rankexp.evaluation.metrics import ndcg_gain, ranking_metrics
from rankexp.evaluation.paired import paired_stats
from rankexp.recipes.lists import build_lists, candidate_matrix
from rankexp.retrievers.rating import fit_rating_model

DIMS, REGS = (0, 8, 16, 32, 64), (0.03, 0.1, 0.3)


def per_list_ndcg5(scores: torch.Tensor, gains: np.ndarray) -> np.ndarray:
    return ranking_metrics(scores, ndcg_gain(torch.as_tensor(gains)), (5,))["ndcg@5"].numpy()


def main() -> None:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=["+experiment=alro_ml100k_candidate", "train.max_val_lists=null",
                                        "task.hints=false"])
    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    n_users, n_items = int(data.ratings["user"].max()) + 1, int(data.ratings["item"].max()) + 1
    splits = {name: candidate_matrix(getattr(lists, name)) for name in ("val", "test")}
    users = {name: np.repeat([e.user for e in getattr(lists, name)], splits[name][0].shape[1])
             for name in splits}
    base = {name: per_list_ndcg5(item_mean(lists.train, cands), gains) for name, (cands, gains) in splits.items()}
    rows = []
    for dim, reg in itertools.product(DIMS, REGS):
        if dim == 0 and reg != REGS[0]:
            continue  # biases only: reg unused
        model = fit_rating_model(lists.train, n_users, n_items, dim, 20, reg, 10.0, int(cfg.seed))
        row = {"dim": dim, "reg": reg}
        for name, (cands, gains) in splits.items():
            scores = model(torch.tensor(users[name]), torch.tensor(cands.ravel())).reshape(cands.shape)
            ndcg = per_list_ndcg5(scores, gains)
            row[f"{name}_ndcg@5"] = float(ndcg.mean())
            row.update(paired_stats(ndcg - base[name]).keys(f"{name}_minus_item_mean"))
        rows.append(row)
        print(row, flush=True)
    best = max(rows, key=lambda r: r["val_ndcg@5"])  # chosen on validation; test read once for it
    save("probe_rating_ceiling", {
        "lists": {name: len(base[name]) for name in base},
        "item_mean_ndcg@5": {name: float(base[name].mean()) for name in base},
        "grid": [{k: v for k, v in r.items() if not k.startswith("test")} for r in rows],
        "chosen_on_val": best,
    })


if __name__ == "__main__":
    main()
