"""`task.hint_format`: how a hint is written in the listwise prompts."""

from __future__ import annotations

import numpy as np
import pytest

from rankexp.data.hints import HintText, ranks_within
from rankexp.errors import ConfigError


def _fixed(values):
    return lambda user, items: np.asarray(values, dtype=float)


def test_ranks_are_one_for_the_best_and_shared_by_exact_ties():
    assert ranks_within(np.array([3.9, 4.2, 3.9, 1.0])).tolist() == [2, 1, 2, 4]
    assert ranks_within(np.array([])).tolist() == []


@pytest.mark.parametrize("fmt, expected", [
    ("value", ["avg 3.9", "avg 3.9", "avg 4.5"]),
    ("value_rank", ["avg 3.9, #2", "avg 3.9, #3", "avg 4.5, #1"]),
    ("rank", ["#2", "#3", "#1"]),
])
def test_each_format(fmt, expected):
    # 3.94 and 3.86 print alike; the rank still orders them
    assert HintText(_fixed([3.94, 3.86, 4.5]), "avg", fmt)(0, np.arange(3)) == expected


def test_unknown_format_names_the_key():
    with pytest.raises(ConfigError, match="task.hint_format"):
        HintText(_fixed([1.0]), "avg", "ranked")


def test_recranker_refuses_a_rank_format():
    """RecRanker's tasks show hint values; a rank format there would be silently ignored (checked before loading)."""
    from rankexp.config.check import check_cross_keys
    from tests.helpers.runs import compose_cfg

    with pytest.raises(ConfigError, match="task.hint_format=rank"):
        check_cross_keys(compose_cfg("+experiment=recranker_ml100k", "task.hint_format=rank"))
