"""Security: no remote code, no pickle execution, downloads only from official URLs with checksums.

The source scan is deliberately plain (regex over rankexp/*.py): a new call site that loads
pickles, trusts remote code or parses YAML unsafely fails here and must be justified.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rankexp.errors import DataError

PACKAGE = Path(__file__).resolve().parents[1] / "rankexp"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _calls(pattern: str) -> list[str]:
    hits = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(pattern, code):
                hits.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    return hits


def test_the_scan_sees_the_package():
    assert len(SOURCES) > 40 and any(p.name == "loading.py" for p in SOURCES)


def test_remote_code_is_never_trusted():
    assert _calls(r"trust_remote_code\s*=\s*True") == []
    # every explicit mention passes False
    assert _calls(r"trust_remote_code") and all("False" in hit for hit in _calls(r"trust_remote_code"))


def test_torch_load_is_weights_only_and_no_pickle_loads():
    loads = _calls(r"\btorch\.load\(")
    assert loads, "the checkpoint loader should be found"
    assert all("weights_only=True" in hit for hit in loads), loads
    assert _calls(r"\bpickle\.loads?\(|\bdill\.|\bjoblib\.load\(|\bnp\.load\(.*allow_pickle\s*=\s*True") == []


def test_no_eval_exec_or_unsafe_yaml():
    assert _calls(r"(?<![.\w])(eval|exec)\(") == []
    assert _calls(r"\byaml\.load\(") == [] and _calls(r"yaml\.unsafe_load|yaml\.Loader\b") == []


def test_downloads_are_official_https_urls_with_checksums():
    from rankexp.data.movielens import SOURCES as MOVIELENS

    for name, source in MOVIELENS.items():
        assert source["url"].startswith("https://files.grouplens.org/datasets/movielens/"), name
        assert re.fullmatch(r"[0-9a-f]{32}", source["md5"]), name


def test_a_download_without_a_checksum_is_refused(tmp_path):
    from rankexp.data.download import download

    with pytest.raises(DataError, match=r"no checksum.*data\.md5.*allow_unverified"):
        download("http://www2.informatik.uni-freiburg.de/~cziegler/BX/BX-CSV-Dump.zip", tmp_path / "bx.zip", None)
    assert list(tmp_path.iterdir()) == []  # nothing was fetched or left behind
