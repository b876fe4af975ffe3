"""`pip install .` (not editable) works, the installed package runs from any directory, and so do its scripts.

The fresh venv gets rankexp alone (`--no-deps`); its dependencies come from the dev venv
through a path entry (a plain path line, so the dev venv's editable-install hook is not run and
the import must find the installed copy). That checks what this test is about: the wheel holds
the code and the Hydra tree (`rankexp/conf`, package data).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_wheel_install_runs_from_another_directory(tmp_path: Path):
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    fresh_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           tmp_path).stdout.strip())
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()] or [sysconfig.get_paths()["purelib"]]
    (fresh_site / "dev_deps.pth").write_text("\n".join(deps) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    source = tmp_path / "src"  # the committed files only: no stale build/ or egg-info of the checkout
    files = _run(["git", "ls-files", "-z"], REPO).stdout.split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((REPO / name).read_bytes())
    install = _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", str(source)], tmp_path, env)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (fresh_site / "rankexp" / "conf" / "run.yaml").is_file(), "the Hydra tree is not in the wheel"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-c", "import rankexp; print(rankexp.__file__)"], elsewhere, env)
    assert where.stdout.strip().startswith(str(fresh_site)), where.stdout + where.stderr
    job = _run([str(python), "-m", "rankexp.run", "--cfg", "job", "+experiment=alro_ml100k"], elsewhere, env)
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-3000:]
    assert "soft_lambda" in job.stdout and "_target_: rankexp.data.movielens.load_movielens" in job.stdout
    script = _run([str(venv / "bin" / "rankexp-run"), "--cfg", "job", "+experiment=alro_ml100k_candidate"], elsewhere, env)
    assert script.returncode == 0 and "_target_: rankexp.models.readouts.CandidateReadout" in script.stdout, script.stderr[-3000:]
    bad = _run([str(venv / "bin" / "rankexp-run"), "seed=-1"], elsewhere, env)
    assert bad.returncode == 2 and "error: `seed`" in bad.stderr, bad.stderr[-2000:]
    for name in ("rankexp-predict", "rankexp-report"):
        helped = _run([str(venv / "bin" / name), "--help"], elsewhere, env)
        assert helped.returncode == 0 and "usage" in helped.stdout.lower(), (name, helped.stderr[-2000:])
    assert (fresh_site / "hydra_plugins" / "rankexp_sweepers" / "resumable_optuna.py").is_file()
    discover = ("from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper; "
                "print([p.__module__ for p in Plugins.instance().discover(Sweeper)])")
    found = _run([str(python), "-c", discover], elsewhere, env)
    assert "hydra_plugins.rankexp_sweepers.resumable_optuna" in found.stdout, found.stdout + found.stderr
    from_api = _run([str(python), "-c", "from rankexp import Ranker; print(Ranker.__module__)"], elsewhere, env)
    assert from_api.stdout.strip() == "rankexp.api", from_api.stderr[-2000:]
