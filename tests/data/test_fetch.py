"""`data.fetch=auto`: a local copy when one exists, else a checked download; offline, one clear line.

The "official" server is a local HTTP server on 127.0.0.1 serving a zip of the ML-100K copy, and
`data.url` / `data.md5` point at it, so the whole download path (progress, md5, atomic rename,
extraction into the cache) runs for real without the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from rankexp.data import load_dataset
from rankexp.data.download import download
from rankexp.errors import DataError
from tests.helpers.runs import TINY, explain, run_module


class _Server:
    def __init__(self, folder: Path) -> None:
        self.requests = 0
        self.fail_next = 0  # answer this many GETs with 503 first
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                outer.requests += 1
                if outer.fail_next:
                    outer.fail_next -= 1
                    self.send_error(503, "busy")
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture()
def served_ml100k(data_root, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    archive = site / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("u.data", "u.item"):
            zf.write(data_root / "ml-100k" / name, f"ml-100k/{name}")
    server = _Server(site)
    yield server, f"{server.url}/ml-100k.zip", hashlib.md5(archive.read_bytes()).hexdigest()
    server.close()


@pytest.fixture()
def empty_machine(tmp_path, monkeypatch):
    """No RANKEXP_DATA_DIR and an empty cache: what a fresh clone on a new machine sees."""
    monkeypatch.delenv("RANKEXP_DATA_DIR", raising=False)
    monkeypatch.setenv("RANKEXP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_auto_downloads_once_into_the_cache(served_ml100k, empty_machine):
    server, url, md5 = served_ml100k
    data = load_dataset("ml100k", fetch="auto", url=url, md5=md5)
    assert len(data.ratings) == 100_000 and (empty_machine / "data" / "ml-100k" / "u.data").is_file()
    first = server.requests
    assert first >= 1
    load_dataset("ml100k", fetch="auto", url=url, md5=md5)
    assert server.requests == first  # the cached copy is used


def test_a_failed_request_is_retried_and_a_verified_copy_is_not_fetched_again(served_ml100k, tmp_path, capfd,
                                                                            monkeypatch):
    import pooch.core

    monkeypatch.setattr(pooch.core.time, "sleep", lambda seconds: None)  # pooch's wait between retries
    server, url, md5 = served_ml100k
    server.fail_next = 2
    dest = tmp_path / "downloads" / "ml-100k.zip"
    assert download(url, dest, md5) == dest and hashlib.md5(dest.read_bytes()).hexdigest() == md5
    assert server.requests == 3 and sorted(p.name for p in dest.parent.iterdir()) == ["ml-100k.zip"]
    assert "100%" in capfd.readouterr().err  # the progress bar
    download(url, dest, md5)
    assert server.requests == 3  # verified copy in place
    dest.write_bytes(b"changed on disk")
    download(url, dest, md5)
    assert server.requests == 4 and hashlib.md5(dest.read_bytes()).hexdigest() == md5


def test_a_local_copy_wins_over_the_download(served_ml100k, empty_machine, data_root, monkeypatch):
    server, url, md5 = served_ml100k
    monkeypatch.setenv("RANKEXP_DATA_DIR", str(data_root))
    load_dataset("ml100k", fetch="auto", url=url, md5=md5)
    assert server.requests == 0


def test_a_changed_archive_is_refused(served_ml100k, empty_machine):
    _, url, _ = served_ml100k
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("ml100k", fetch="auto", url=url, md5="0" * 32)
    assert not (empty_machine / "data" / "ml-100k").exists()


def test_offline_says_what_to_download_and_where(empty_machine):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataError) as caught:
        load_dataset("ml100k", fetch="auto", url=f"http://127.0.0.1:{port}/ml-100k.zip", md5="0" * 32)
    message = str(caught.value)
    assert "could not download" in message and "files.grouplens.org/datasets/movielens/ml-100k.zip" in message
    assert str(empty_machine / "data") in message


def test_fetch_false_never_downloads(served_ml100k, empty_machine):
    server, url, md5 = served_ml100k
    with pytest.raises(DataError, match="ml-100k"):
        load_dataset("ml100k", fetch=False, url=url, md5=md5)
    assert server.requests == 0


@pytest.mark.parametrize("name", ["bookcrossing", "amazon"])
def test_datasets_without_an_official_archive_refuse_fetch_true(name, empty_machine):
    with pytest.raises(DataError, match=r"`data.fetch=true`: .* no official archive"):
        load_dataset(name, fetch=True)


@pytest.mark.slow
def test_a_fresh_machine_downloads_and_runs(served_ml100k, empty_machine, tmp_path, monkeypatch):
    """What `make run` does on a machine with internet and nothing prepared (tiny model, 2 steps)."""
    _, url, md5 = served_ml100k
    proc = run_module("rankexp.run", *TINY, "trainer.max_steps=2", "trainer.val_check_interval=1",
                      f"data.url={url}", f"data.md5={md5}", f"hydra.run.dir={tmp_path / 'run'}", timeout=600,
                      env_overrides={"RANKEXP_DATA_DIR": None, "RANKEXP_CACHE_DIR": str(empty_machine)})
    assert proc.returncode == 0, explain(proc)
    assert (empty_machine / "data" / "ml-100k" / "u.data").is_file() and (tmp_path / "run" / "results.json").is_file()
