"""The RecRanker stage: sample users, build instructions from TRAIN only, tune, select on val, test once.

    python -m rankexp.run +experiment=recranker_ml100k

Read top to bottom: users (adaptive / uniform sampler) -> instruction set (RecRankerTasks on the
train split, hints from train-only sources) -> token batches -> InstructionRanker (SFT) -> hybrid
evaluation of the retriever's top-m on val (checkpoint selection) and test (once).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rankexp.data import RatingData
from rankexp.data.hints import CROSS_FITTED, hint_values
from rankexp.data.recranker import PAIRWISE_ANSWERS, POINTWISE_ANSWERS, TASKS, FoldedHint
from rankexp.data.recranker_tasks import RecRankerTasks, held_out_rows
from rankexp.data.sampling import build_sampler, instruction_set_hash, liked_counts
from rankexp.errors import ConfigError
from rankexp.models.hybrid import HybridEvaluator, HybridOptions
from rankexp.models.instruction import InstructionRanker
from rankexp.models.readouts import readout_of
from rankexp.prompts.instruction_datamodule import InstructionDataModule, InstructionSet
from rankexp.prompts.instructions import InstructionEncoder
from rankexp.prompts.style import LABELS, PromptStyle, strip_years
from rankexp.recipes.lists import RankingLists
from rankexp.recipes.loop import build_trainer, fit_select_test, save_adapter_of

log = logging.getLogger(__name__)


def task_mix(task: DictConfig) -> dict[str, float]:
    """Training shares per task: `task.mix` (hybrid) or the one task named by `task.name`."""
    if task.get("mix") is not None:
        return {str(k): float(v) for k, v in task.mix.items() if float(v) > 0}
    if task.name in TASKS:
        return {task.name: 1.0}
    raise ConfigError(f"`task={task.name}` has no `task.mix`; use task=hybrid, pointwise, pairwise or listwise")


def _answers(task: DictConfig) -> tuple[list[str], list[str], list[str]]:
    """(pointwise answers, pairwise answers, listwise labels) from whichever task file is loaded."""
    answers = task.get("answers") or {}
    point = answers.get("pointwise") or (task.labels if task.name == "pointwise" else POINTWISE_ANSWERS)
    pair = answers.get("pairwise") or (task.labels if task.name == "pairwise" else PAIRWISE_ANSWERS)
    labels = task.labels if task.name in ("hybrid", "listwise") else LABELS
    return list(point), list(pair), list(labels)


def hint_functions(cfg: DictConfig, lists: RankingLists):
    """(predict_rating, score) of the EVALUATION prompts from train-only sources, or (None, None) without hints.

    item_mean: shrunk leave-one-out item mean. retriever_cv: the retriever fit on all of train (the
    training instances ask its fold copies: `training_hints`). retriever: the same in-sample model on
    training instances too, so their hints saw their labels (kept as the leaking control; it warns).
    """
    task = cfg.task
    if not task.hints:
        return None, None
    point_source, order_source = _sources(task)
    retriever = lists.retriever
    if "retriever" in (point_source, order_source):
        log.warning("hints from the retriever: it was fit on train, so hints on TRAINING instructions saw their "
                    "labels (docs/recranker.md); `task.hint_source=retriever_cv` is cross-fitted")
    if order_source != "item_mean" and getattr(retriever, "uses_history", False):
        raise ConfigError(f"`task.hint_source={order_source}` scores without a history; {retriever.name} needs "
                              "one: use `task.hint_source=item_mean`")
    return (hint_values(point_source, lists.train, retriever, "rating", "task.pointwise_hint_source", lists.cross_fit),
            hint_values(order_source, lists.train, retriever, "score", "task.hint_source", lists.cross_fit))


def _sources(task: DictConfig) -> tuple[str, str]:
    """(pointwise hint source, pairwise / listwise hint source)."""
    return task.pointwise_hint_source or task.hint_source, task.hint_source


def training_hints(cfg: DictConfig, lists: RankingLists, predict_rating, score):
    """(predict_rating, score, folds) for TRAINING instances: the evaluation functions, except that a
    `retriever_cv` source becomes a `FoldedHint` over the fold copies and `folds` the fold of each
    train row (rankexp.data.cross_fit)."""
    if not cfg.task.hints or lists.cross_fit is None:
        return predict_rating, score, None
    point_source, order_source = _sources(cfg.task)
    cv = lists.cross_fit
    if point_source == CROSS_FITTED:
        predict_rating = FoldedHint(cv.folded("rating"))
    if order_source == CROSS_FITTED:
        score = FoldedHint(cv.folded("score"))
    return predict_rating, score, cv.folds


def build_encoder(cfg: DictConfig, data: RatingData, tokenizer, block_hint=None) -> InstructionEncoder:
    """`block_hint`: the pointwise hint function (`hint_functions`), shown per candidate when
    `task.candidates_in_prefix` and `task.hints` are on."""
    task = cfg.task
    point, pair, labels = _answers(task)
    style = PromptStyle(item_noun=data.item_noun, title_max_chars=task.title_max_chars,
                        history_with_ratings=task.history_with_ratings, hints=bool(task.hints))
    titles = data.items["title"].to_numpy()
    if task.strip_year:
        titles = strip_years(titles)
    return readout_of(cfg).encoder(tokenizer, titles, style, int(cfg.model.max_length), m=int(cfg.protocol.m),
                                   rating_scale=data.rating_scale, labels=labels, pointwise_answers=point,
                                   pairwise_answers=pair, listwise_top=int(task.listwise_top),
                                   candidates_in_prefix=bool(task.candidates_in_prefix), block_hint=block_hint)


def build_tasks(cfg: DictConfig, data: RatingData, lists: RankingLists, predict_rating, score) -> RecRankerTasks:
    """The training instruction source (TRAIN rows only); `predict_rating` / `score` from `hint_functions`.

    A function of its own so that `python -m rankexp.export` builds the very instructions a run trains on.
    """
    task = cfg.task
    train_rating, train_score, folds = training_hints(cfg, lists, predict_rating, score)
    return RecRankerTasks(lists.train, data.n_items, data.like_threshold, task.dislike_threshold,
                          history_len=int(cfg.protocol.history_len), shuffle=bool(task.shuffle),
                          predict_rating=train_rating, score=train_score,
                          held_out=held_out_rows(data.ratings, lists.train),
                          block_size=int(cfg.protocol.m) if task.candidates_in_prefix else 0, folds=folds)


def hybrid_options(cfg: DictConfig, mix: dict[str, float]) -> HybridOptions:
    task = cfg.task
    return HybridOptions(tasks=tuple(t for t in TASKS if t in mix), pairs=task.pairs,
                         both_orders=bool(task.both_orders), form=task.form,
                         weights=tuple(task.weights), shuffle=bool(task.shuffle),
                         list_top=int(task.listwise_top), share_prefix=bool(cfg.eval.share_prefix),
                         chunk_size=int(cfg.eval.chunk_size), pad_waste=float(cfg.eval.pad_waste),
                         seed=int(cfg.seed))


def sample_users(cfg: DictConfig, data: RatingData, lists: RankingLists) -> np.ndarray:
    sampler = build_sampler(OmegaConf.to_container(cfg.sampler, resolve=True))
    budget = sampler.budget if sampler.budget is not None else int(cfg.train.draws_per_epoch)
    if sampler.budget is None:
        log.info("`sampler.budget` is null: Γ = train.draws_per_epoch = %d instructions", budget)
    embeddings = lists.retriever.user_embeddings() if sampler.name == "adaptive" else None
    liked = liked_counts(lists.train, data.n_users, data.like_threshold)
    return sampler.sample(liked, cfg.seed, embeddings, budget)


def build_ranker(cfg: DictConfig, model, evaluator) -> InstructionRanker:
    """The instruction ranker with the run's `optim.*` (schedule and its floor included) and `eval.*` keys."""
    optim = cfg.optim
    return readout_of(cfg).ranker(model, None, None, evaluator=evaluator, lr=optim.lr,
                                  weight_decay=optim.weight_decay, warmup_steps=optim.warmup_steps,
                                  schedule=optim.schedule, min_lr_ratio=optim.min_lr_ratio, ks=tuple(cfg.eval.ks),
                                  selection_metric=cfg.eval.selection_metric,
                                  score_misses=bool(cfg.eval.score_misses))


def run_recranker(cfg: DictConfig, data: RatingData, lists: RankingLists) -> dict[str, Any]:
    if cfg.protocol.name != "rerank_topk" or lists.retriever is None:
        raise ConfigError("RecRanker reranks a retriever's top-m: use `protocol=rerank_topk retriever=lightgcn` "
                          "(or mf, pop); e.g. `python -m rankexp.run +experiment=recranker_ml100k`")
    task, train_cfg = cfg.task, cfg.train
    mix = task_mix(task)
    users = sample_users(cfg, data, lists)
    predict_rating, score = hint_functions(cfg, lists)
    tasks = build_tasks(cfg, data, lists, predict_rating, score)

    model, tokenizer = instantiate(cfg.model).load()
    encoder = build_encoder(cfg, data, tokenizer, predict_rating)
    train_set = InstructionSet(tasks, users, encoder, cfg.seed, mix, task.mix_mode)
    val_lists = lists.val  # capped in build_lists
    test_lists = lists.test  # capped in build_lists
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    datamodule = InstructionDataModule(train_set, val_lists, test_lists, batch_size=train_cfg.batch_size, pad_id=pad_id)
    evaluator = HybridEvaluator(encoder, hybrid_options(cfg, mix), predict_rating, score)
    ranker = build_ranker(cfg, model, evaluator)
    metrics: dict[str, Any] = {
        "train/instruction_set_hash": instruction_set_hash(users),
        "train/instruction_users": float(len(users)),
        "train/distinct_users": float(len(np.unique(users))),
        **{f"train/instructions_{t}": float(n) for t, n in train_set.task_counts().items()},
    }
    log.info("RecRanker: %d instructions %s from %d distinct users (hash %s)", len(train_set), train_set.task_counts(),
             len(np.unique(users)), metrics["train/instruction_set_hash"][:12])
    trainer = build_trainer(cfg)
    metrics.update(fit_select_test(cfg, trainer, ranker, datamodule))
    metrics["prompt/truncated_prompts"] = float(encoder.truncations)
    if trainer.world_size == 1:  # under DDP each process holds only its share of the test users
        metrics.update(paired_to_retriever(ranker.test_results, cfg.eval.selection_metric))
    if trainer.is_global_zero:  # DDP: one writer for the adapter (pipeline writes results on rank 0 too)
        recranker_media(cfg, data, ranker.test_results, ranker.test_examples, metrics, trainer)
        save_adapter_of(ranker, Path(cfg.paths.output_dir) / "adapter", trainer, cfg=cfg, tokenizer=tokenizer)
    return metrics


def paired_to_retriever(results: list, metric: str) -> dict[str, float]:
    """`paired_test/<method>_minus_retriever/<metric>` (and `_se`, CI, p-values): per-user differences to the retriever's
    own order over all test users, misses included (their difference is 0, so the mean equals the
    difference of the two test means; the s.e. is the one to judge "beats its retriever" by)."""
    import torch

    from rankexp.evaluation.fusion import paired_difference

    if not results or "retriever" not in results[0].scores:
        return {}
    gains = torch.as_tensor(np.stack([r.gains for r in results]))
    stacked = lambda name: torch.as_tensor(np.stack([r.scores[name] for r in results]), dtype=torch.float32)
    out: dict[str, float] = {}
    for method in results[0].scores:
        if method != "retriever":
            stats = paired_difference(stacked(method), stacked("retriever"), gains, metric)
            out.update(stats.keys(f"paired_test/{method}_minus_retriever/{metric}"))
    return out


def recranker_media(cfg: DictConfig, data: RatingData, results: list, examples: list, metrics: dict[str, Any],
                    trainer) -> None:
    """The same media as an ALRO run: example rankings for each task (and the hybrid, the retriever) of
    users the model scored, and the hybrid's table (one row per method, the test metrics as columns):
    CSV in media/, W&B when on."""
    import pandas as pd

    from rankexp.report import media

    kept = [(r, e) for r, e in zip(results, examples) if r.scored]  # the model ranked these (eval.score_misses)
    n = min(int(cfg.eval.example_rankings or 0), len(kept))
    tables: dict[str, pd.DataFrame] = {}
    if n:
        shown, titles = [e for _, e in kept[:n]], data.items["title"].to_numpy()
        labels = [str(j + 1) for j in range(len(shown[0].candidates))]
        for method in kept[0][0].scores:
            scores = np.stack([np.asarray(r.scores[method], dtype=np.float64) for r, _ in kept[:n]])
            tables[f"example_rankings_{method}"] = media.example_rankings_table(shown, scores, titles, labels, n=n)
    rows = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "test":
            rows.setdefault(parts[1], {})[parts[2]] = value
    if rows:
        tables["hybrid_table"] = pd.DataFrame([{"method": m, **v} for m, v in rows.items()])
    if tables:
        media.log_media(trainer.loggers, Path(cfg.paths.output_dir), tables=tables)
