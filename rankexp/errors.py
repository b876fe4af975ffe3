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


class RequestError(RankexpError):
    """A ranking request (`Ranker.rank`, `rankexp.predict`'s JSON) is malformed: the message names the field."""


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
    "`model.gradient_checkpointing=true` and `model.load_in_4bit=true` (needs bitsandbytes and a GPU); "
    "`python -m rankexp.plan <the same overrides> --gpu-mem <size>` estimates each before a run"
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


def user_error(err: BaseException | None) -> RankexpError | None:
    """The RankexpError behind `err`, also when Hydra's `instantiate` wrapped it.

    Hydra's and OmegaConf's own config errors (an unknown group option, a bad override,
    a missing key) are user errors too: they come back as a ConfigError with their text.
    """
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, RankexpError):
            return err
        if _is_config_library_error(err):
            return ConfigError(" ".join(str(err).split()))
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def _is_config_library_error(err: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if type(err).__name__ == "InstantiationException":  # a wrapper: the cause says what went wrong
        return False
    return isinstance(err, HydraException | OmegaConfBaseException)


def error_line(err: BaseException) -> str:
    """The one line every entry point prints for a user error: `error: <what, where, how to fix>`."""
    return f"error: {' '.join(str(err).split())}"


def exit_on_user_error(main):
    """Decorate an entry point: a user error prints one `error:` line and returns exit code 2.

    Anything else is a bug and keeps its traceback. Every entry point (`run`, `predict`,
    `report`, `data.summary`) goes through this one handler, so they answer alike.
    """
    import functools
    import logging
    import sys

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Exception as err:
            cause = user_error(err)
            if cause is None:
                raise
            logging.getLogger("rankexp").debug("%s: %s", type(cause).__name__, cause)
            sys.stderr.write(error_line(cause) + "\n")
            return 2

    return wrapper
