"""Each log line once, and no dependency noise around loading a model (rankexp/io/quiet.py)."""

from __future__ import annotations

import io
import logging
import warnings

import pytest

from rankexp.io.quiet import LIGHTNING_LOGGERS, quiet_loading, single_log_lines

RANK_ZERO = "lightning.pytorch.utilities.rank_zero"


@pytest.fixture
def logging_state():
    """Lightning's loggers and the root logger as they were: these tests rewire them."""
    import lightning  # noqa: F401 - installs Lightning's own handlers, as in a run

    names = ["", *LIGHTNING_LOGGERS]
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate) for n in names}
    yield
    for name, (handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def _handlers_reached(name: str) -> list[logging.Handler]:
    """Every handler a record of logger `name` goes through (logging's own walk up the tree)."""
    logger, reached = logging.getLogger(name), []
    while logger is not None:
        reached += logger.handlers
        logger = logger.parent if logger.propagate else None
    return reached


def test_a_lightning_line_reaches_only_the_root_handlers(logging_state):
    root_out = io.StringIO()
    hydra_like = logging.StreamHandler(root_out)  # what Hydra's job_logging puts on the root
    logging.getLogger().addHandler(hydra_like)
    lightning_own = [h for n in LIGHTNING_LOGGERS for h in logging.getLogger(n).handlers]
    assert lightning_own, "Lightning no longer installs a handler of its own: this test guards nothing"
    assert set(lightning_own) & set(_handlers_reached(RANK_ZERO))  # the duplicate, before

    single_log_lines()

    reached = _handlers_reached(RANK_ZERO)
    assert hydra_like in reached
    assert not set(lightning_own) & set(reached)
    assert all(h in logging.getLogger().handlers for h in reached)
    logging.getLogger(RANK_ZERO).info("Seed set to 0")
    assert root_out.getvalue().count("Seed set to 0") == 1


def test_without_a_root_handler_lightning_keeps_its_own(logging_state):
    logging.getLogger().handlers[:] = []
    before = list(logging.getLogger("lightning").handlers)
    single_log_lines()
    assert logging.getLogger("lightning").handlers == before


def test_quiet_loading_drops_dependency_notes_and_restores_the_callers_settings(caplog):
    from transformers.utils import logging as hf_logging

    bnb = logging.getLogger("bitsandbytes.backends.cpu.ops")
    verbosity, bnb_level = hf_logging.get_verbosity(), logging.getLogger("bitsandbytes").level
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with caplog.at_level(logging.INFO), quiet_loading():
            bnb.warning("Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'")
            warnings.warn_explicit("`is_gradient_checkpointing` is deprecated and will be removed in v6.",
                                   FutureWarning, "modeling_utils.py", 1, module="transformers.modeling_utils")
            assert not hf_logging.is_progress_bar_enabled()
            logging.getLogger("rankexp.api").info("our own line")
        warnings.warn("the caller's warning", UserWarning)
    assert [r.getMessage() for r in caplog.records] == ["our own line"]
    assert [str(w.message) for w in seen] == ["the caller's warning"]
    assert hf_logging.get_verbosity() == verbosity and hf_logging.is_progress_bar_enabled()
    assert logging.getLogger("bitsandbytes").level == bnb_level
