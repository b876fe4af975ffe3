"""Every numeric key of the shipped groups is checked before any work, with the allowed range.

Table-driven: for each numeric key of run.yaml, `optim`, `train`, `eval`, `protocol`, `task`
(the hybrid task, which has every task key) and `model.lora`, try 0, a negative number, NaN and
a string. Each either passes the schema or fails with a ConfigError naming the key; the values
that pass all run together in one real (tiny) run, so "passes" means "runs".
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from omegaconf import DictConfig, OmegaConf

from rankexp.config.check import validate_config
from rankexp.config.schema import schema_table
from rankexp.errors import ConfigError
from tests.helpers.runs import TINY, compose, explain, run_module

GROUPS = ("", "optim", "train", "eval", "protocol", "task", "model.lora")
TRIED = (0, -3, float("nan"), "abc")


def _numeric_keys() -> list[str]:
    cfg = compose("task=hybrid", "model=tiny_random")
    keys = []
    for group in GROUPS:
        node = OmegaConf.select(cfg, group) if group else cfg
        for name, value in node.items_ex(resolve=False):
            if isinstance(value, int | float) and not isinstance(value, bool):
                keys.append(f"{group}.{name}" if group else name)
    return keys


NUMERIC = _numeric_keys()
CASES = [(k, v) for k in NUMERIC for v in TRIED]


def _override(key: str, value) -> str:
    shown = "nan" if isinstance(value, float) and math.isnan(value) else value
    return f"{key}={shown}"


def _validate(key: str, value) -> DictConfig:
    cfg = compose("task=hybrid", "model=tiny_random", _override(key, value))
    validate_config(cfg)
    return cfg


def test_the_table_covers_the_groups():
    assert len(NUMERIC) >= 20
    for expected in ("seed", "optim.lr", "train.batch_size", "protocol.m", "protocol.history_len",
                     "task.title_max_chars", "model.lora.r", "model.lora.dropout"):
        assert expected in NUMERIC


# The keys where 0 (or a negative number) is a meaningful setting; every other numeric key must refuse it.
# Written out, not derived from the schema, so a rule that loosens or tightens fails here.
ZERO_ALLOWED = {"seed", "optim.weight_decay", "optim.warmup_steps", "optim.min_lr_ratio", "train.grad_norm_every",
                "eval.max_decode_lists", "eval.example_rankings", "eval.position_bias_lists", "eval.pad_waste",
                "protocol.min_history", "task.dislike_threshold", "model.lora.dropout"}
NEGATIVE_ALLOWED = {"task.dislike_threshold"}  # a rating threshold: below the scale = no dislikes


def _expected_to_pass(key: str, value) -> bool:
    if isinstance(value, str) or (isinstance(value, float) and math.isnan(value)):
        return False
    return key in (ZERO_ALLOWED if value == 0 else NEGATIVE_ALLOWED)


@pytest.mark.parametrize(("key", "value"), CASES, ids=[f"{k}={v}" for k, v in CASES])
def test_bad_numbers_fail_naming_the_key_or_are_allowed(key, value):
    if _expected_to_pass(key, value):
        _validate(key, value)
        return
    with pytest.raises(ConfigError) as err:
        _validate(key, value)
    assert f"`{key}` must be" in str(err.value), str(err.value)


def test_the_allowed_sets_name_real_keys():
    assert ZERO_ALLOWED <= set(NUMERIC) and NEGATIVE_ALLOWED <= ZERO_ALLOWED


@pytest.mark.parametrize(("override", "expected"), [
    ("train.batch_size=0", "`train.batch_size` must be an integer >= 1, got 0"),
    ("optim.lr=-0.1", "`optim.lr` must be a finite number in (0, 1], got -0.1"),
    ("protocol.history_len=-3", "`protocol.history_len` must be an integer >= 1, got -3"),
    ("protocol.m=25", "`protocol.m`=25 candidates need as many labels, but `task.labels` has 20"),
    ("task.tie_break=oldest", "`task.tie_break` must be one of random, time, got 'oldest'"),
    ("loss.soft_lambda.weight=-1", "`loss.soft_lambda.weight` must be a finite number >= 0"),
    ("trainer.max_steps=0", "`trainer.max_steps` must be an integer >= 1 (or -1), got 0"),
    # keys no code reads: a key under the wrong group, a typo, a key that does not exist
    ("+eval.validate_before_fit=false", ("`eval.validate_before_fit` is not a config key, so nothing would read "
                                         "it; it belongs under `train`: `train.validate_before_fit`")),
    ("+train.max_val_list=3", "did you mean `train.max_val_lists`"),
    ("+optim.momentum=0.9", "optim.* takes ['lr', 'min_lr_ratio', 'schedule', 'warmup_steps', 'weight_decay']"),
])
def test_the_issue_cases_are_caught_before_any_work(override, expected):
    with pytest.raises(ConfigError) as caught:
        validate_config(compose(override))
    assert expected in str(caught.value)


def test_every_shipped_experiment_passes_the_schema():
    from tests.helpers.runs import EXPERIMENTS

    for experiment in EXPERIMENTS:
        validate_config(compose(f"+experiment={experiment}"))


def test_schema_documents_every_key():
    table = schema_table()
    assert table.count("\n") > 40 and "`protocol.m` | an integer >= 2 |" in table


@pytest.mark.parametrize("module", ["rankexp.config", "rankexp.config_schema"])
def test_the_key_table_prints_from_the_command_line(module):
    """`python -m rankexp.config`, and its older spelling `rankexp.config_schema`, print the same table."""
    done = subprocess.run([sys.executable, "-m", module], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == schema_table() + "\n"


def test_cli_fails_in_the_first_seconds_without_traceback(tmp_path):
    done = run_module("rankexp.run", "data=synthetic", "model=tiny_random", "train.batch_size=0", "logger=csv",
                      f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2, explain(done)
    assert "error: `train.batch_size` must be an integer >= 1, got 0" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_accepted_edge_values_run(tmp_path):
    """Every 0 / negative value the schema allows, all at once, in one tiny real run."""
    accepted = [o for o in (_override(k, v) for k, v in CASES if not isinstance(v, str)) if _accepted(o)]
    in_listwise = [o for o in accepted if not o.startswith("task.")]
    assert "optim.warmup_steps=0" in in_listwise
    done = run_module("rankexp.run", "data=synthetic", *TINY, "protocol.m=6", "protocol.history_len=5",
                      *[o for o in in_listwise if not o.startswith("protocol.m=")], f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, explain(done)
    assert (tmp_path / "results.json").is_file()


def _accepted(override: str) -> bool:
    try:
        validate_config(compose("task=hybrid", "model=tiny_random", override))
    except ConfigError:
        return False
    return True


def test_the_model_rules_equal_what_loading_accepts_and_import_rankexp_loads_no_torch():
    """The schema writes the model's choices out so that `import rankexp` (which reads it) stays free of torch;
    they must stay the ones `rankexp.models.loading` accepts."""
    from dataclasses import fields

    from rankexp.config.schema import ModelSchema
    from rankexp.models.loading import ATTENTION, DTYPES, MIN_PROMPT_TOKENS, SOURCES

    rules = {spec.name: spec.metadata["rule"] for spec in fields(ModelSchema)}
    assert rules["source"].choices == SOURCES and rules["attn_implementation"].choices == ATTENTION
    assert rules["dtype"].choices == tuple(DTYPES) and rules["max_length"].low == MIN_PROMPT_TOKENS
    probe = "import sys, rankexp; from rankexp.config import schema; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False\n"
