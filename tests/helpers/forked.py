"""`python -m module args` for the tests, forked from a process that has already imported the heavy libraries.

Why: a fresh interpreter pays ~10 s on 2 cores importing torch, Lightning (which imports torchmetrics, scipy and
torch._dynamo), transformers and peft before a run does any work, and the end-to-end tests start about a hundred
runs. The standard library's forkserver imports those libraries once per test worker; each run is then forked
from it and executes its module as `python -m` does (`runpy`, `__main__`, `sys.argv`), with its own cwd,
environment, stdout and stderr, exit code and timeout. rankexp itself is not preloaded: each run imports it
fresh, so a run sees the code, and the recorders of tests/evaluation/recorded_run.py patch it, exactly as in a
new interpreter.

A run whose environment differs from the server's in a variable read at import (IMPORT_TIME: e.g. OMP_NUM_THREADS,
HF_HUB_OFFLINE, PYTHONPATH) is not forked: `run` returns None and the caller starts a real subprocess.
`RANKEXP_TEST_FORK=0` turns forking off. Import-time warnings of the preloaded libraries are printed once by
the server, not by each run.

This module imports the standard library only: the child unpickles its target from here before rankexp loads.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

PRELOAD = ["torch", "numpy", "pandas", "scipy.stats", "omegaconf", "hydra", "hydra.utils", "lightning", "transformers",
           "transformers.models.llama.modeling_llama", "peft"]

# Variables that the interpreter or a preloaded library reads at startup or import (threads, caches and offline
# switches, paths, locale): a run that differs from the server in one of these gets a new interpreter. The others
# (RANKEXP_*, WANDB_*, PL_GLOBAL_SEED, PYTEST_CURRENT_TEST, ...) are set in the forked run before it starts.
IMPORT_TIME = ("PYTHON", "LD_", "OMP_", "KMP_", "GOMP_", "MKL_", "OPENBLAS_", "NUMEXPR_", "TORCH", "PYTORCH_", "CUDA",
               "NVIDIA_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "BITSANDBYTES_", "BNB_", "MPL",
               "XDG_", "HOME", "TMPDIR", "TEMP", "TMP", "LANG", "LC_")

# Variables of IMPORT_TIME's families that libraries set in the test process itself as they work, and that no
# preloaded library reads at import: scikit-learn and joblib set KMP_DUPLICATE_LIB_OK / KMP_INIT_AT_FORK at import
# (read by Intel's OpenMP; torch here runs on GNU libgomp), Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK at import
# (read when CUDA is probed), torch's inductor sets TORCHINDUCTOR_CACHE_DIR when it first looks up its cache (read when
# it compiles). They differ from the server's environment in any worker that has run such code in-process; taken
# for a real difference, every later run of that worker was a new interpreter (~8 s more each, make test 1073 s).
SET_BY_LIBRARIES = frozenset({"KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK", "PYTORCH_NVML_BASED_CUDA_CHECK",
                              "TORCHINDUCTOR_CACHE_DIR"})

_context: multiprocessing.context.BaseContext | None = None
_server_env: dict[str, str] | None = None
_base_env: dict[str, str] | None = None


def enabled() -> bool:
    return os.environ.get("RANKEXP_TEST_FORK", "1") != "0" and sys.platform == "linux"


def remember(environment: dict[str, str]) -> None:
    """The environment the server will start with (tests/conftest.py gives the plain test environment at session
    start, before any test changes it). The server itself starts on the first run, so a session without runs
    pays nothing."""
    global _base_env
    _base_env = _base_env or dict(environment)


def start(environment: dict[str, str]) -> None:
    """Start the server, with the remembered environment or else `environment`; it imports PRELOAD while the
    first run waits. Later runs must match that environment in the variables read at import."""
    global _context, _server_env
    if _context is not None or not enabled():
        return
    from multiprocessing import forkserver

    server_env = dict(_base_env or environment)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(server_env)  # the server inherits the environment of the moment it starts
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    _context, _server_env = context, server_env


def differing(environment: dict[str, str]) -> set[str]:
    """The variables read at import (IMPORT_TIME, less SET_BY_LIBRARIES) whose values differ between `environment`
    and the server's."""
    server = _server_env or {}
    return {k for k in environment.keys() | server.keys()
            if k.startswith(IMPORT_TIME) and k not in SET_BY_LIBRARIES and environment.get(k) != server.get(k)}


def server_environment() -> dict[str, str] | None:
    return None if _server_env is None else dict(_server_env)


def _child(module: str, args: list[str], cwd: str, environment: dict[str, str], out: str, err: str) -> None:
    """In the forked process: become `python -m module args` with its output in two files, then exit."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environment)
    for fd, path in ((1, out), (2, err)):
        sys.stdout.flush(), sys.stderr.flush()
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.path[0:0] = [cwd]  # `python -m` puts the working directory first
    code = 0
    try:
        import runpy

        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException as error:  # noqa: BLE001 - printed as the interpreter prints an uncaught exception
        sys.excepthook(type(error), error, error.__traceback__)
        code = 1
    try:
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(code)


def run(module: str, args: list[str], cwd: Path, environment: dict[str, str],
        timeout: float) -> subprocess.CompletedProcess | None:
    """`python -m module args` as a fork of the server, or None when this run cannot be forked (see above)."""
    if not enabled():
        return None
    start(environment)
    if _context is None or differing(environment):
        return None
    context = _context
    command = [sys.executable, "-m", module, *args]
    with tempfile.TemporaryDirectory(prefix="rankexp-fork-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        process = context.Process(target=_child, args=(module, list(args), str(cwd), environment, str(out), str(err)))
        process.start()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(command, timeout, _read(out), _read(err))
        return subprocess.CompletedProcess(command, process.exitcode, _read(out), _read(err))


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else ""
