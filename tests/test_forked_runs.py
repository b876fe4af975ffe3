"""tests/helpers/forked.py, which forks the end-to-end tests' runs from a server that has imported torch & co.,
must give what a new `python -m` interpreter gives: the same exit code, stdout and stderr (atexit output
included), the same cwd, argv, sys.path[0], `__main__` and environment, and a timeout that kills the run.
Each test uses the server's own environment plus a variable set at run time, so that it forks whatever the
tests before it changed in this process's environment."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import forked
from tests.helpers.runs import REPO, env

pytestmark = pytest.mark.skipif(not forked.enabled(), reason="runs are not forked here (RANKEXP_TEST_FORK=0)")


def server_env(**extra: str) -> dict[str, str]:
    forked.start(env())
    return forked.server_environment() | extra


def fresh(module: str, *args: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=environment, capture_output=True,
                          text=True, timeout=120, check=False)


def test_a_forked_run_is_what_a_new_interpreter_gives():
    environment = server_env(PROBE="set at run time")
    forked_run = forked.run("tests.helpers.process_probe", [], REPO, environment, timeout=120)
    assert forked_run is not None, f"the run was not forked: {forked.differing(environment)}"
    new = fresh("tests.helpers.process_probe", environment=environment)
    assert new.returncode == 3 and "atexit ran" in new.stderr, new
    assert json.loads(new.stdout)["probe"] == "set at run time"
    assert (forked_run.returncode, forked_run.stdout, forked_run.stderr) == (new.returncode, new.stdout, new.stderr)


def test_a_cli_error_is_the_same_line_and_exit_code_as_a_new_interpreter():
    args = ["+experiment=alro_ml100k", "stray_key=1"]
    environment = server_env()
    forked_run = forked.run("rankexp.run", args, REPO, environment, timeout=120)
    new = fresh("rankexp.run", *args, environment=environment)
    assert new.returncode == 2 and "stray_key" in new.stderr, new
    assert forked_run is not None
    assert (forked_run.returncode, forked_run.stdout, forked_run.stderr) == (new.returncode, new.stdout, new.stderr)


def test_a_variable_read_at_import_gets_a_new_interpreter():
    """Libraries read OMP_NUM_THREADS, HF_HUB_OFFLINE, PYTHONPATH, ... at import: such a run is not forked."""
    assert forked.run("tests.helpers.process_probe", [], REPO, server_env(OMP_NUM_THREADS="7"), timeout=120) is None
    assert forked.run("tests.helpers.process_probe", [], REPO, server_env(PYTHONPATH="/elsewhere"), timeout=120) is None


def test_what_libraries_set_in_the_test_process_does_not_stop_forking():
    """Lightning, scikit-learn and joblib set variables of IMPORT_TIME's families at import, torch's inductor when it
    looks up its cache (forked.SET_BY_LIBRARIES): a test worker that ran such code in-process must still fork its
    runs. Taken for a difference, they made every later run of the worker a new interpreter. Mutation checked by
    hand: `differing` without the exclusion fails here."""
    import lightning  # noqa: F401
    import sklearn  # noqa: F401
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    cache_dir()
    environment = env()
    forked.start(environment)
    assert not forked.differing(environment), f"runs would not be forked: {forked.differing(environment)}"


def test_a_run_past_its_timeout_is_killed():
    with pytest.raises(subprocess.TimeoutExpired):
        forked.run("tests.helpers.process_probe", ["sleep"], REPO, server_env(), timeout=3)
