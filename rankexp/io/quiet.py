"""What pinned dependencies print that a user cannot act on, and how each line is printed once.

`quiet_dependencies`: their deprecation warnings, Lightning's "litlogger" tip and bitsandbytes'
note about an optional CPU kernel are dropped for the whole process (the entry points call it
first thing); rankexp's own warnings and every error still show.
`single_log_lines`: Lightning hangs its own `INFO: ...` handler on the `lightning` logger and
still lets records propagate, so under Hydra's root handler every Lightning line came out twice.
`quiet_loading`: the same silence, scoped, for library callers (`Ranker.from_pretrained`), whose
process-wide warning filters and logger levels are theirs and are restored afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

DEPENDENCIES = r"(lightning|lightning_fabric|pytorch_lightning|torch|transformers|peft|hydra|omegaconf|wandb|torchmetrics|pluggy|bitsandbytes)"
# bitsandbytes (imported by peft) logs on every CPU import that an optional 4-bit kernel is absent
NOISY_LOGGERS = ("bitsandbytes",)
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                     "pytorch_lightning.utilities.rank_zero")


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _filter_warnings() -> None:
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=DEPENDENCIES)
    warnings.filterwarnings("ignore", message=r".*(is deprecated|will be removed).*", module=DEPENDENCIES)
    # peft/transformers return the model in eval mode; rankexp's rankers switch it to train mode themselves
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")


def quiet_dependencies() -> None:
    """Silence, for the whole process, what pinned dependencies print that a user cannot act on."""
    _filter_warnings()
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in RANK_ZERO_LOGGERS:
        logging.getLogger(name).addFilter(_DropTips())


def single_log_lines() -> None:
    """Route Lightning's records through the root handlers only (Hydra's console + job log file).

    Lightning's import adds a bare StreamHandler to `lightning` (and, when the root had no handler
    yet, to `lightning.pytorch`/`lightning.fabric` with propagation off, which would keep its lines
    out of the job's log file). Once the root logger has a handler those are dropped and every
    record propagates, so each line is printed once and lands in the log file. Without a root
    handler nothing changes: Lightning's own handler is then the only one.
    """
    import lightning  # noqa: F401 - its import installs the handlers removed here

    if not logging.getLogger().handlers:
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:  # Lightning's own; a FileHandler is a user's choice
                logger.removeHandler(handler)
        logger.propagate = True


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Inside: dependencies' deprecation warnings, bitsandbytes' notes and transformers' progress bars and
    info lines are off; outside, the caller's warning filters, logger levels and transformers verbosity."""
    from transformers.utils import logging as hf_logging

    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    with warnings.catch_warnings():
        _filter_warnings()
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            yield
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
