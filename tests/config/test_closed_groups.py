"""Every config group is closed: an unknown key is one error naming it and the closest real key.

`task` is checked against the keys the shipped tasks set; `data`, `model`, `trainer`, `sampler`
and each callback against their `_target_`'s signature; a run that could never stop is refused.
"""

from __future__ import annotations

import pytest

from rankexp.config.check import validate_config
from rankexp.errors import ConfigError
from tests.helpers.runs import EXPERIMENTS, compose, explain, run_module


@pytest.mark.parametrize(("override", "expected"), [
    ("+task.hint_fromat=rank", ("`task.hint_fromat` is not a config key, so nothing would read it; did you mean "
                                "`task.hint_format`")),
    ("+data.like_treshold=3.5", "did you mean `data.like_threshold`?"),
    ("+model.max_lenght=512", "did you mean `model.max_length`?"),
    ("+trainer.max_step=3", "did you mean `trainer.max_steps`"),
    ("+sampler.budjet=10", "did you mean `sampler.budget`?"),
    ("+callbacks.model_checkpoint.monitr=x", "did you mean `callbacks.model_checkpoint.monitor`?"),
    ("+model.zzz=1", "model.* takes ["),
])
def test_an_unknown_key_in_any_group_is_refused_naming_the_closest(override: str, expected: str):
    with pytest.raises(ConfigError) as err:
        validate_config(compose(override))
    assert expected in str(err.value), str(err.value)


def test_a_run_that_never_stops_is_refused_naming_both_keys():
    with pytest.raises(ConfigError, match=r"`trainer.max_steps=-1` trains until `trainer.max_epochs`, and "
                                          r"`trainer.max_epochs=-1` never ends"):
        validate_config(compose("trainer.max_steps=-1"))
    validate_config(compose("trainer.max_steps=-1", "trainer.max_epochs=2"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_shipped_experiment_sets_only_known_keys(experiment: str):
    validate_config(compose(f"+experiment={experiment}"))


def test_the_command_line_gets_one_line_and_exit_2(tmp_path):
    proc = run_module("rankexp.run", "+task.hint_fromat=rank", f"hydra.run.dir={tmp_path}", timeout=300)
    assert proc.returncode == 2, explain(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "did you mean `task.hint_format`" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("override", "expected"), [
    ("data=null", "error: the command line does not compose: Config group override must be a string or a list"),
    ("model=nope", "Could not find 'model/nope' Available options in 'model': llama2_7b smollm2_135m tiny_random"),
    ("seed=[1", "error: the command line does not compose: no viable alternative at input '[1'"),
    ("hydra.run.dir=/proc/no/such/dir", "error: the run dir /proc/no/such/dir cannot be created"),
])
def test_composition_errors_are_one_line_and_exit_2(override: str, expected: str, tmp_path):
    proc = run_module("rankexp.run", override, "mode=data", timeout=300)
    assert proc.returncode == 2, explain(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr[-2000:]
