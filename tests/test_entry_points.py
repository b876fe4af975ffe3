"""Every entry point answers bad input alike: exit code 2, one `error:` line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

UITEM = "1|Toy Story (1995)|01-Jan-1995||url" + "|0" * 19 + "\n"


def _ml100k(root: Path, udata: bytes, uitem: bytes = UITEM.encode("latin-1")) -> Path:
    (root / "ml-100k").mkdir(parents=True)
    (root / "ml-100k" / "u.data").write_bytes(udata)
    (root / "ml-100k" / "u.item").write_bytes(uitem)
    return root


def _data_faults(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (data root, text the error must contain)."""
    return {
        "missing-data-root": (tmp_path / "nowhere", "missing data file"),
        "empty-ratings-file": (_ml100k(tmp_path / "empty", b""), "u.data: the file is empty"),
        "rating-outside-the-scale": (_ml100k(tmp_path / "scale", b"1\t1\t9\t100\n"), "outside the scale"),
        "item-file-cut-inside-a-line": (_ml100k(tmp_path / "cut", b"1\t1\t5\t100\n", UITEM.encode()[:-9]),
                                        "u.item line 1: the file ends inside this line"),
        "item-missing-from-the-item-file": (_ml100k(tmp_path / "unknown", b"1\t1\t5\t100\n1\t7\t4\t101\n"),
                                            "item '7' is not in the item file"),
    }


def _run(module: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    env.pop("RANKEXP_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False,
                          timeout=300, env=env, cwd=cwd)


def _assert_one_error_line(done: subprocess.CompletedProcess, expected: str) -> None:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert expected in errors[0]


FAULTS = ["missing-data-root", "empty-ratings-file", "rating-outside-the-scale", "item-file-cut-inside-a-line",
          "item-missing-from-the-item-file"]


@pytest.mark.parametrize("fault", FAULTS)
def test_data_summary_reports_data_faults_in_one_line(tmp_path, fault):
    root, expected = _data_faults(tmp_path)[fault]
    _assert_one_error_line(_run("rankexp.data.summary", "data=ml100k", f"data.root={root}", "data.fetch=false"),
                           expected)


@pytest.mark.parametrize("fault", ["missing-data-root", "item-missing-from-the-item-file"])
def test_run_reports_data_faults_in_one_line(tmp_path, fault):
    root, expected = _data_faults(tmp_path)[fault]
    done = _run("rankexp.run", "data=ml100k", f"data.root={root}", "data.fetch=false", "logger=csv",
                f"hydra.run.dir={tmp_path / 'run'}")
    _assert_one_error_line(done, expected)


def test_data_summary_reports_a_bad_override_in_one_line():
    _assert_one_error_line(_run("rankexp.data.summary", "data=nosuchdata"), "nosuchdata")


def test_predict_reports_a_bad_request_in_one_line(tmp_path):
    request = tmp_path / "request.json"
    request.write_text('{"history": [')
    _assert_one_error_line(_run("rankexp.predict", "--input", str(request), "--model", "tiny_random"), "request.json")


def test_report_reports_a_missing_dir_in_one_line(tmp_path):
    _assert_one_error_line(_run("rankexp.report", str(tmp_path / "missing")), "missing")
