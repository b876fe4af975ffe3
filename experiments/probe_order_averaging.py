"""Probe: does averaging a trained candidate-readout ranker's scores over several candidate orders help?

The position-bias probe shows the scores move when the candidates are shown in another order
(top-1 agreement over 5 orders ~0.5). If that movement is noise, the mean score over K orders is a
better ranking from the same model, with K times the inference cost. This script reloads a run's
selected checkpoint, scores its first `--lists` test lists in K orders (order 0 = the run's own,
then seeded shuffles) with `rankexp.evaluation.order_averaging` (what `eval.test_orders` runs),
and reports NDCG@5 of one order vs the K-order mean, both paired to the item mean on the same lists. It touches the test lists of a run that is already finished and
reported; it does not select anything.

    python experiments/probe_order_averaging.py /work/runs/<run dir> --orders 5 --lists 300 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def paired(name: str, a: torch.Tensor, b: torch.Tensor) -> dict:
    """`name`: [mean, s.e.] of a - b over lists (as before), and `name_ci_low` ... `name_p_wilcoxon` beside it."""
    from rankexp.evaluation.paired import paired_stats

    keys = paired_stats(a - b).keys(name)  # the difference in float32, as before
    return {name: [keys.pop(name), keys.pop(name + "_se")], **keys}


# Keys added after some runs were made, with the value those runs used (the behaviour before the key).
KEYS_ADDED_SINCE = {"task.hint_format": "value"}


def load_run_config(run_dir: Path):
    """The finished run's own config, with keys the code has gained since filled by their old behaviour.

    Why not compose a fresh config: the probe must rebuild exactly the lists and prompts the run
    was trained and tested on, and only the run's `.hydra/config.yaml` records them."""
    from omegaconf import OmegaConf, open_dict

    path = run_dir / ".hydra" / "config.yaml"
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    for needed in (path, checkpoint):
        if not needed.is_file():
            raise SystemExit(f"{needed} not found: expected a finished `mode=train` run directory")
    cfg = OmegaConf.load(path)
    with open_dict(cfg):
        for dotted, old_value in KEYS_ADDED_SINCE.items():
            if OmegaConf.select(cfg, dotted) is None:
                OmegaConf.update(cfg, dotted, old_value)
    cfg.paths.output_dir = str(run_dir)  # the run's ${hydra:...} interpolations have no Hydra here
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--lists", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seed of the K-1 shuffled orders")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from hydra.utils import instantiate

    from rankexp.evaluation.baselines import item_mean
    from rankexp.evaluation.fusion import per_list
    from rankexp.evaluation.metrics import ndcg_gain
    from rankexp.evaluation.order_averaging import order_averaged_scores
    from rankexp.models.list_scores import make_score_fn
    from rankexp.recipes.alro import active_losses, build_encoder, build_ranker
    from rankexp.recipes.lists import build_lists

    cfg = load_run_config(args.run_dir)
    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    test = lists.test[: args.lists]
    model, tokenizer = instantiate(cfg.model).load()
    encoder = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length))
    ranker = build_ranker(cfg, model, encoder, active_losses(cfg))
    state = torch.load(args.run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    missing, unexpected = ranker.load_state_dict(state, strict=False)
    if unexpected or any("lora" in k for k in missing):
        raise SystemExit(f"checkpoint does not match the ranker: unexpected {unexpected[:3]}, missing lora "
                         f"{[k for k in missing if 'lora' in k][:3]}")
    score = make_score_fn(ranker, encoder, batch_size=args.batch)
    shown = score(test)  # the run's own order: the `test/*` row (here in fp32)
    averaged = order_averaged_scores(score, test, args.orders, args.seed, shown_scores=shown)
    gains = ndcg_gain(torch.as_tensor(np.stack([e.gains for e in test]), dtype=torch.float32))
    base = per_list(item_mean(lists.train, np.stack([e.candidates for e in test])), gains, "ndcg@5")
    single = per_list(torch.as_tensor(shown), gains, "ndcg@5")
    mean_k = per_list(torch.as_tensor(averaged), gains, "ndcg@5")
    out = {"run_dir": str(args.run_dir), "lists": len(test), "orders": args.orders, "seed": args.seed,
           "item_mean_ndcg@5": float(base.mean()), "one_order_ndcg@5": float(single.mean()),
           f"mean_of_{args.orders}_ndcg@5": float(mean_k.mean()),
           **paired("one_order_minus_item_mean", single, base),
           **paired(f"mean_of_{args.orders}_minus_one_order", mean_k, single),
           **paired(f"mean_of_{args.orders}_minus_item_mean", mean_k, base)}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
