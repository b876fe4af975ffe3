"""Errors a user can act on.

Every error raised for bad input is a :class:`RankexpError`; the entry points
catch it and print its message without a traceback, so the message must say
what was wrong, where (file, line, config key) and how to fix it.
"""

from __future__ import annotations


class RankexpError(Exception):
    """Base class for errors caused by input or configuration, not by a bug."""


class DataError(RankexpError):
    """A dataset file is missing, corrupt or malformed."""


class ConfigError(RankexpError):
    """A config value is out of range or names something unknown."""


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...], key: str) -> ConfigError:
    """Build the error for an unknown registry name, listing the known ones."""
    return ConfigError(
        f"unknown {kind} {name!r} (config key `{key}`); known: {', '.join(sorted(known))}"
    )


class TrainingDivergedError(RankexpError):
    """The training loss became NaN or infinite; names the step and batch so the run can be replayed."""


class OutOfMemoryHint(RankexpError):
    """The accelerator ran out of memory; the message lists the config keys that shrink the run."""


OOM_ADVICE = (
    "lower `train.batch_size` / `train.eval_batch_size`, shorten prompts (`protocol.m`, "
    "`protocol.history_len`, `task.title_max_chars`), or save memory with "
    "`model.gradient_checkpointing=true` and `model.load_in_4bit=true` (needs bitsandbytes and a GPU)"
)


def diverged(loss: float, step: int, batch_idx: int, terms: dict[str, float]) -> TrainingDivergedError:
    """The error for a non-finite loss: what, where (global step, batch) and how to fix it."""
    return TrainingDivergedError(
        f"training loss is {loss} at global step {step}, batch {batch_idx} (terms: {terms}); "
        "lower `optim.lr`, raise `optim.warmup_steps`, or check that batch's data"
    )


def out_of_memory(err: BaseException, stage: str) -> OutOfMemoryHint:
    """Turn an OOM into an actionable message (the original text stays in the message)."""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return OutOfMemoryHint(f"out of memory during {stage} ({first_line}); {OOM_ADVICE}")
