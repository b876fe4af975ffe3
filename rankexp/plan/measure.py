"""Peak memory of one real training step, to check the estimate (`python -m rankexp.plan --measure`).

CUDA: `torch.cuda.max_memory_allocated` around the step. CPU has no allocator statistics, so the
process's peak resident set is read: glibc is told to serve every allocation over 128 KiB by mmap
and to give freed memory back at once (`mallopt`), so the resident set follows the live tensors;
the kernel's peak counter (VmHWM) is reset before the step by writing 5 to /proc/self/clear_refs.
"""

from __future__ import annotations

import ctypes
import gc
import re
from pathlib import Path

import torch

from rankexp.plan.memory import Regime, train_step

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def _status(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}: the CPU measurement needs Linux")
    return int(match.group(1)) * 1024


def follow_live_tensors() -> None:
    """Make the resident set track live allocations (glibc only; a no-op where mallopt is missing)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    libc.mallopt(M_TRIM_THRESHOLD, 0)
    libc.malloc_trim(0)  # what the heap already holds free goes back too


def step_peak_bytes(ranker, batch: dict, regime: Regime) -> int:
    """Bytes one step adds at its peak on top of the loaded model and its (warmed) optimizer state."""
    params = [p for p in ranker.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6)
    ranker.train()
    if not regime.cuda:
        follow_live_tensors()  # before the warm step: its freed memory must not be reused unseen
    train_step(ranker, batch, regime, optimizer)  # creates AdamW's moments: they belong to the baseline
    gc.collect()
    if regime.cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        train_step(ranker, batch, regime, optimizer)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    follow_live_tensors()
    base = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    train_step(ranker, batch, regime, optimizer)
    return _status("VmHWM") - base
