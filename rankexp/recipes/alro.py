"""The LLM stage: build encoder, datamodule, ranker and trainer; fit on train, select on val, test once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rankexp.data import RatingData
from rankexp.errors import ConfigError
from rankexp.evaluation.comparison import Comparison, compare, write_per_list
from rankexp.losses import build_losses
from rankexp.models.base import RankerBase
from rankexp.models.readouts import Readout, readout_of
from rankexp.prompts.core import ListEncoder
from rankexp.prompts.datamodule import RankingDataModule
from rankexp.prompts.style import PromptStyle, strip_years
from rankexp.recipes.lists import RankingLists
from rankexp.recipes.loop import build_trainer, fit_select_test, save_adapter_of, val_curve_callback

log = logging.getLogger(__name__)


def active_losses(cfg: DictConfig):
    """Loss modules with a positive weight (β = 0 skips the permuted prompt entirely)."""
    losses = build_losses(OmegaConf.to_container(cfg.loss, resolve=True) if cfg.get("loss") else {})
    for name in [n for n, module in losses.items() if float(module.weight) == 0.0]:
        del losses[name]
    if not losses:
        raise ConfigError("every loss has weight 0; enable at least one of `loss=[sft,soft_lambda,perm_kl]`")
    return losses  # `protocol.m` >= 2, which the permuted copies need, is the schema's rule


def build_encoder(cfg: DictConfig, data: RatingData, tokenizer, max_length: int,
                  readout: Readout | None = None) -> ListEncoder:
    """The run's readout's encoder (`rankexp.models.readouts`) over the data's titles, in the task's style."""
    task = cfg.task
    readout = readout if readout is not None else readout_of(cfg)
    style = PromptStyle(
        item_noun=data.item_noun,
        title_max_chars=task.title_max_chars,
        history_with_ratings=task.history_with_ratings,
        rating_max=int(data.rating_scale[1]),
        hints=bool(task.hints),
    )
    titles = data.items["title"].to_numpy()
    if task.strip_year:
        titles = strip_years(titles)
    return readout.encoder(tokenizer, titles, style, max_length, m=int(cfg.protocol.m),
                           rating_scale=tuple(data.rating_scale))


def build_ranker(cfg: DictConfig, model, encoder, losses, readout: Readout | None = None) -> RankerBase:
    """The run's readout's LightningModule with the run's `optim.*`, `eval.*` and `train.*` settings."""
    explicit = cfg.protocol.name == "explicit_listwise"
    readout = readout if readout is not None else readout_of(cfg)
    return readout.ranker(
        model, encoder, losses,
        lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay, warmup_steps=cfg.optim.warmup_steps,
        schedule=cfg.optim.schedule, min_lr_ratio=cfg.optim.min_lr_ratio,
        ks=tuple(cfg.eval.ks), selection_metric=cfg.eval.selection_metric,
        report=("ndcg",) if explicit else ("ndcg", "hr", "mrr"), subset_metrics=not explicit,
        grad_norm_every=int(cfg.train.grad_norm_every or 0),
    )


def run_ranker(cfg: DictConfig, data: RatingData, lists: RankingLists) -> dict[str, Any]:
    spec = instantiate(cfg.model)
    model, tokenizer = spec.load()
    readout = readout_of(cfg)
    encoder = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length), readout)
    losses = active_losses(cfg)
    train_cfg = cfg.train
    val_lists = lists.val  # capped in build_lists
    test_lists = lists.test  # capped in build_lists
    datamodule = RankingDataModule(
        lists.train_source, val_lists, test_lists, encoder, seed=cfg.seed,
        draws_per_epoch=train_cfg.draws_per_epoch, batch_size=train_cfg.batch_size,
        eval_batch_size=train_cfg.eval_batch_size, permute=any(loss.needs_permuted for loss in losses.values()),
    )
    ranker = build_ranker(cfg, model, encoder, losses, readout)
    trainer = build_trainer(cfg)
    metrics: dict[str, Any] = {"train/draws_hash": draws_hash(lists.train_source, cfg.seed, train_cfg.draws_per_epoch)}
    metrics.update(fit_select_test(cfg, trainer, ranker, datamodule, lambda: learning_curve(cfg, trainer, lists)))
    if not trainer.is_global_zero:  # DDP: metrics are already synced; rank 0 alone decodes and writes
        return metrics
    methods = list(cfg.eval.methods)
    if set(methods) - {"verbalizer"}:
        from rankexp.models.decoding_eval import evaluate_decoding

        metrics.update(evaluate_decoding(ranker.model, encoder, test_lists, methods, cfg.eval.ks,
                                         cfg.eval.max_decode_lists))
    metrics["prompt/truncated_lists"] = encoder.truncations
    metrics.update(compare_on_test(cfg, ranker, encoder, lists))
    metrics.update(_media(cfg, data, ranker, encoder, trainer, test_lists))
    save_adapter_of(ranker, Path(cfg.paths.output_dir) / "adapter", trainer, cfg=cfg, tokenizer=tokenizer)
    return metrics


def _media(cfg: DictConfig, data: RatingData, ranker, encoder, trainer, test_lists) -> dict[str, float]:
    """Example rankings and the position-bias probe (PNG/CSV in the run dir, W&B when enabled)."""
    n_bias = int(cfg.eval.position_bias_lists or 0)
    n_examples = int(cfg.eval.example_rankings or 0)
    if not (n_bias or n_examples) or not test_lists:
        return {}
    from rankexp.evaluation.position_bias import bias_metrics, position_bias
    from rankexp.models.list_scores import make_score_fn
    from rankexp.report import media

    score = make_score_fn(ranker, encoder, batch_size=cfg.train.eval_batch_size)
    tested = tested_scores(ranker, len(test_lists))
    scores_of = (lambda n: tested[:n]) if tested is not None else (lambda n: score(test_lists[:n]))

    out = Path(cfg.paths.output_dir)
    tables, plots, metrics = {}, {}, {}
    if n_examples:
        shown = test_lists[:n_examples]
        tables["example_rankings"] = media.example_rankings_table(shown, scores_of(len(shown)),
                                                                  data.items["title"].to_numpy(), encoder.labels)
    if n_bias:
        probed = test_lists[:n_bias]
        bias = position_bias(score, probed, n_orders=5, seed=cfg.seed, presented_scores=scores_of(len(probed)))
        plots["position_bias"] = media.save_position_bias_plot(bias, out / "media" / "position_bias.png")
        metrics.update(bias_metrics(bias))
    media.log_media(trainer.loggers, out, tables=tables, plots=plots)
    return metrics


def tested_scores(ranker, n: int) -> torch.Tensor | None:
    """The test step's scores [n, m] of the n test lists, in list order; None when it scored other lists."""
    return torch.stack([ranker.test_scores[i] for i in range(n)]).float() if len(ranker.test_scores) == n else None


def draws_hash(source, seed: int, n: int) -> str:
    """Hash of the first epoch's training instances: equal seeds must give equal instruction sets."""
    import hashlib

    digest = hashlib.sha256()
    for index in range(n):
        example = source.draw(index, seed)
        for part in (example.history, example.candidates, example.target_slots):
            digest.update(part.astype("int64").tobytes())
    return digest.hexdigest()[:16]


def comparison_spec(cfg: DictConfig) -> Comparison:
    return Comparison(metric=cfg.eval.selection_metric, ks=tuple(cfg.eval.ks), test_orders=int(cfg.eval.test_orders),
                      fusion=str(cfg.eval.fusion), seed=int(cfg.seed),
                      ndcg_only=cfg.protocol.name == "explicit_listwise")


def compare_on_test(cfg: DictConfig, ranker, encoder, lists: RankingLists) -> dict[str, float]:
    """The post-test analysis (`rankexp.evaluation.comparison`) of the scores this run already has.

    The LLM's test scores are the ones `trainer.test` just computed. The validation scores are the
    ones the selected checkpoint's validation computed (scored again here, with the same weights, only
    when the run has none: `mode=eval`, no checkpointing, DDP shards); fusion picks its weight there and
    touches the test lists once.
    """
    from rankexp.models.list_scores import make_score_fn

    test = lists.test
    llm = tested_scores(ranker, len(test)) if test else None
    if llm is None:
        return {}
    score = make_score_fn(ranker, encoder, batch_size=cfg.train.eval_batch_size)

    def val_llm() -> np.ndarray:
        reused = ranker.selected_val_scores(len(lists.val))
        return reused.numpy() if reused is not None else np.asarray(score(lists.val))

    out, rows = compare(comparison_spec(cfg), lists.train, lists.val, test, llm, val_llm, score)
    write_per_list(Path(cfg.paths.output_dir) / "test_per_list.csv", test, cfg.eval.selection_metric, rows)
    return out


def learning_curve(cfg: DictConfig, trainer: L.Trainer, lists: RankingLists) -> dict[str, float]:
    """media/learning_curve.png with the val baselines on it (`fit_select_test` writes `val_curve/step_N`)."""
    from rankexp.report import media

    callback = val_curve_callback(trainer)
    if callback is None or not callback.curve or not trainer.is_global_zero:
        return {}
    metric = cfg.eval.selection_metric
    names = {"item mean": "item_mean", "random": "random", "retriever": "retriever"}
    references = {label: lists.metrics[f"baseline_val/{key}/{metric}"] for label, key in names.items()
                  if f"baseline_val/{key}/{metric}" in lists.metrics}
    out = Path(cfg.paths.output_dir)
    plot = media.save_learning_curve(callback.curve, out / "media" / "learning_curve.png", metric, references)
    media.log_media(trainer.loggers, out, plots={"learning_curve": plot})
    return {}


