"""Does the one decimal the prompt shows of the item-mean hint cost ranking quality?

The candidate-readout LLM reads "avg 3.9" and stays below the item mean it is shown (docs/results.md).
This scores the item mean itself rounded to 1 and 2 decimals (exact ties broken at random, 20
draws averaged) on the validation and the 707 test lists, paired per list against the unrounded
item mean: the part of the LLM's gap that the rounding alone would explain. No model is run.

    python experiments/probe_hint_rounding.py   -> experiments/results/probe_hint_rounding.json
"""

from __future__ import annotations

import numpy as np
import torch
from _bench_common import save
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from probe_rating_ceiling import per_list_ndcg5

from rankexp.config.conf_dir import CONF_DIR
from rankexp.evaluation.baselines import item_mean
from rankexp.evaluation.paired import paired_stats
from rankexp.recipes.lists import build_lists, candidate_matrix

DECIMALS, DRAWS = (1, 2), 20


def rounded_ndcg5(scores: torch.Tensor, gains: np.ndarray, decimals: int) -> np.ndarray:
    """Per-list NDCG@5 of the rounded scores, averaged over DRAWS random tie-breaks."""
    shown = torch.round(scores * 10**decimals) / 10**decimals
    draws = [per_list_ndcg5(shown + 1e-6 * torch.rand(shown.shape, generator=torch.Generator().manual_seed(d)), gains)
             for d in range(DRAWS)]
    return np.mean(draws, axis=0)


def main() -> None:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=["+experiment=alro_ml100k_candidate", "train.max_val_lists=null",
                                        "task.hints=false"])
    lists = build_lists(cfg, instantiate(cfg.data))
    out = {}
    for split in ("val", "test"):
        candidates, gains = candidate_matrix(getattr(lists, split))
        scores = item_mean(lists.train, candidates)
        exact = per_list_ndcg5(scores, gains)
        out[split] = {"lists": len(exact), "item_mean_ndcg@5": float(exact.mean())}
        for decimals in DECIMALS:
            shown = rounded_ndcg5(scores, gains, decimals)
            s = paired_stats(shown - exact)
            out[split][f"rounded_{decimals}"] = {"ndcg@5": float(shown.mean()), "minus_exact": s.mean, "se": s.se,
                                                 "ci": [s.ci_low, s.ci_high], "p_t": s.p_t, "p_wilcoxon": s.p_wilcoxon}
        print(split, out[split], flush=True)
    save("probe_hint_rounding", out)


if __name__ == "__main__":
    main()
