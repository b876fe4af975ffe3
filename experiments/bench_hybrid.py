"""Benchmark: RecRanker's per-user inference cost, shared prefix vs unshared vs one listwise pass.

SmolLM2-135M (LoRA attached, untrained: the cost is the same) on ML-100K, the retriever's top-10
for the first N test users. Per user, interleaved so machine load hits every variant alike:
- hybrid, shared prefix: 10 pointwise + 45 pairwise + 1 listwise prompts, prefix KV run once;
- hybrid, unshared: the same 56 prompts, each [prefix; suffix] in full;
- official-size hybrid (pairs=matching, both_orders: 10 + 10 + 1 = 21 prompts), shared;
- one listwise pass: the listwise prompt alone, one forward (the ALRO / LlamaRec cost);
- both hybrids again with `task.candidates_in_prefix=true` (history + labelled candidates shared, short
  questions naming labels).
Also checks that the shared and unshared scores agree.

    RANKEXP_DATA_DIR=../shared/data .venv/bin/python experiments/bench_hybrid.py [--users 10] [--retriever pop]
writes experiments/results/bench_hybrid.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "bench_hybrid.json"


def compose(retriever: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from rankexp.run import CONF_DIR

    overrides = ["data=ml100k", "protocol=rerank_topk", f"retriever={retriever}", "task=hybrid",
                 "model=smollm2_135m", "protocol.m=10", "protocol.history_len=10",
                 # as conf/experiment/recranker_ml100k.yaml: hints from the leave-one-out item mean
                 "task.hints=true", "task.hint_source=item_mean", "task.pointwise_hint_source=item_mean"]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return hydra_compose("run", overrides=overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--unshared-users", type=int, default=2,
                        help="users timed on the unshared path too (it costs ~5x the shared path)")
    parser.add_argument("--retriever", default="pop")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: on a shared machine OpenMP spin-waits make 2+ threads erratic)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        torch.set_num_threads(args.threads)

    from hydra.utils import instantiate

    from rankexp.models.hybrid import HybridEvaluator, HybridOptions
    from rankexp.recipes.lists import build_lists
    from rankexp.recipes.recranker import build_encoder, hint_functions

    cfg = compose(args.retriever)
    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    started = time.perf_counter()
    model, tokenizer = instantiate(cfg.model).load()
    load_s = time.perf_counter() - started
    model.eval()
    encoder = build_encoder(cfg, data, tokenizer)
    block_cfg = cfg.copy()
    block_cfg.task.candidates_in_prefix = True
    predict_rating, score = hint_functions(cfg, lists)
    block_encoder = build_encoder(block_cfg, data, tokenizer, predict_rating)
    official = {"pairs": "matching", "both_orders": True}
    variants = {
        "hybrid_shared": (HybridOptions(share_prefix=True), True, encoder),
        "hybrid_unshared": (HybridOptions(share_prefix=False), False, encoder),
        "hybrid21_shared": (HybridOptions(**official), True, encoder),
        "listwise_one_pass": (HybridOptions(tasks=("listwise",)), False, encoder),
        "hybrid_block_shared": (HybridOptions(), True, block_encoder),
        "hybrid21_block_shared": (HybridOptions(**official), True, block_encoder),
    }
    evaluators = {k: HybridEvaluator(e, o, predict_rating, score) for k, (o, _, e) in variants.items()}
    users = lists.test[: args.users + 1]
    rows: dict[str, list[dict]] = {k: [] for k in variants}
    max_diff = 0.0
    for index, example in enumerate(users):  # user 0 warms up (allocator, kernels) and is not counted
        if index == 0:
            names = ["hybrid21_shared", "listwise_one_pass"]
        else:
            names = [k for k in variants if k != "hybrid_unshared" or index <= args.unshared_users]
        results = {k: evaluators[k].evaluate(model, example, 2, share_prefix=variants[k][1]) for k in names}
        if "hybrid_unshared" in results:
            for method, values in results["hybrid_shared"].scores.items():
                max_diff = max(max_diff, float(np.abs(values - results["hybrid_unshared"].scores[method]).max()))
        print(f"user {index}: " + ", ".join(f"{k} {r.seconds:.2f} s" for k, r in results.items()), flush=True)
        if index == 0:
            continue
        for k, r in results.items():
            rows[k].append({"seconds": r.seconds, "forwards": r.forwards, "prompts": r.prompts, "tokens": r.tokens})
    summary = {}
    for k, values in rows.items():
        seconds = np.array([v["seconds"] for v in values])
        summary[k] = {"mean_s": float(seconds.mean()), "median_s": float(np.median(seconds)),
                      "forwards": float(np.mean([v["forwards"] for v in values])),
                      "prompts": float(np.mean([v["prompts"] for v in values])),
                      "tokens": float(np.mean([v["tokens"] for v in values]))}
    base = summary["listwise_one_pass"]["median_s"]
    for values in summary.values():
        values["x_listwise_pass"] = values["median_s"] / base
    payload = {
        "model": "SmolLM2-135M-Instruct (LoRA r=8 q,v)", "data": "ml100k", "retriever": args.retriever,
        "users_timed": len(users) - 1, "users_timed_unshared": len(rows["hybrid_unshared"]), "m": int(cfg.protocol.m), "history_len": int(cfg.protocol.history_len),
        "variants": summary, "max_abs_score_diff_shared_vs_unshared": max_diff, "model_load_s": load_s,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()), "platform": platform.platform(), "torch": torch.__version__,
        "device": "cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    for k, s in summary.items():
        print(f"{k:20s} {s['median_s']:7.3f} s/user (median)  {s['x_listwise_pass']:5.2f}x listwise  "
              f"{s['forwards']:.0f} forwards  {s['prompts']:.0f} prompts  {s['tokens']:.0f} tokens")
    print(f"max |shared - unshared| score difference: {max_diff:.2e}; wrote {args.out}")


if __name__ == "__main__":
    main()
