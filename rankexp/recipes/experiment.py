"""One experiment, top to bottom: data -> protocol lists -> baselines -> ranker -> results.

Read this file to see the whole run; each step is a function of the config.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rankexp.config.check import validate_config
from rankexp.config.idle import command_line_overrides, warn_idle_overrides
from rankexp.data import RatingData
from rankexp.data.summary import summarize
from rankexp.evaluation.baselines import evaluate_baselines
from rankexp.evaluation.metrics import ndcg_gain, ranking_metrics
from rankexp.io.results import write_results
from rankexp.recipes import model_stage
from rankexp.recipes.lists import RankingLists, build_lists, candidate_matrix
from rankexp.report.wandb_run import finish_run

log = logging.getLogger(__name__)


def run_experiment(cfg: DictConfig) -> dict[str, Any]:
    """Check the config, run the experiment and write results.json into the output dir."""
    validate_config(cfg)  # before any data, model or Lightning work
    warn_idle_overrides(cfg, command_line_overrides())  # a typed key this recipe never reads is said so
    results: dict[str, Any] | None = None
    try:
        results = _run(cfg)
    finally:  # every job closes its W&B run, a failed one too: the next sweep job starts its own
        finish_run(results, failed=results is None)
    return results


def _run(cfg: DictConfig) -> dict[str, Any]:
    started = time.time()
    L.seed_everything(cfg.seed, workers=True)
    data: RatingData = instantiate(cfg.data)
    metrics: dict[str, Any] = {f"data/{k}": v for k, v in summarize(data).items()}
    if cfg.mode != "data":
        lists = build_lists(cfg, data)
        metrics.update(lists.metrics)
        if cfg.eval.baselines:
            baselines = list_baselines(cfg, lists)
            lists.metrics.update(baselines)  # the learning-curve plot draws them beside the LLM
            metrics.update(baselines)
        stage = model_stage(cfg.recipe)
        if stage is not None and cfg.mode in ("train", "eval") and cfg.get("model") is not None:
            metrics.update(run_with_oom_hint(stage, cfg, data, lists))
    if not is_global_zero():  # a DDP worker: rank 0 writes the one results.json
        return metrics
    out = Path(cfg.paths.output_dir)
    payload = write_results(out / "results.json", metrics, cfg, time.time() - started,
                            extra={"mode": cfg.mode, "task_name": cfg.task_name})
    log.info("results: %s", out / "results.json")
    return payload


def is_global_zero() -> bool:
    """False in the extra processes DDP launches (Lightning sets the rank from LOCAL_RANK/RANK)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def run_with_oom_hint(stage, cfg: DictConfig, data: RatingData, lists: RankingLists) -> dict[str, Any]:
    """Run a model stage; an accelerator OOM becomes a message naming the keys that shrink the run."""
    from rankexp.errors import out_of_memory

    try:
        return stage(cfg, data, lists)
    except torch.OutOfMemoryError as err:
        raise out_of_memory(err, f"the {cfg.task.name} stage on {cfg.trainer.accelerator}") from err


def list_baselines(cfg: DictConfig, lists: RankingLists) -> dict[str, float]:
    """Non-LLM rankers on the very lists the LLM ranks (docs/alro.md: always report them)."""
    ks = tuple(cfg.eval.ks)
    out: dict[str, float] = {}
    for split, examples in (("val", lists.val), ("test", lists.test)):
        if not examples:
            continue
        candidates, gains = candidate_matrix(examples)
        graded = ndcg_gain(torch.as_tensor(gains))
        values = evaluate_baselines(lists.train, candidates, graded, ks=ks, prefix=f"baseline_{split}")
        if cfg.protocol.name == "explicit_listwise":  # every graded list has a positive: HR/MRR are trivially 1
            values = {k: v for k, v in values.items() if "/ndcg@" in k}
        out.update(values)
        if examples[0].prior_scores is not None:
            prior = torch.as_tensor(np.stack([e.prior_scores for e in examples]), dtype=torch.float32)
            values = ranking_metrics(prior, graded, ks)
            out.update({f"baseline_{split}/retriever/{k}": float(v.mean()) for k, v in values.items()})
    return out


def config_tree(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=False)
