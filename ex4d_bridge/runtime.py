"""Process-level tuning for CPU work.

glibc serves allocations above 128 KiB with fresh ``mmap`` pages and returns them on free, so
every large temporary tensor is page-faulted in again: on a 2-core CPU this made the geometry
stage's float32 arithmetic over ~500k faces about 2.5x slower than the arithmetic itself.
Raising the mmap and trim thresholds lets freed blocks be reused. The CLI and the benchmarks
call ``tune_allocator()``; library users can call it once at start-up. It changes only how
this process allocates memory, never results, and does nothing off glibc.
"""

from __future__ import annotations

import ctypes
import sys

import torch

from .errors import InputError

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def tune_allocator(mmap_threshold: int = 1 << 30, trim_threshold: int = 1 << 31) -> bool:
    """Returns True when the allocator was tuned (Linux with glibc), else False."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
        ok &= libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
    except (OSError, AttributeError):
        return False
    _done = bool(ok)
    return _done


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; asking for CUDA without one is an error."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        message = f"device {device!r} is not a torch device; use auto, cpu or cuda"
        raise InputError(message) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"device {device!r} was requested but no CUDA GPU is available; use device='cpu'"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InputError(
                f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)"
            )
    elif resolved.type != "cpu":
        raise InputError(f"device {device!r} is not supported; use auto, cpu or cuda")
    return resolved
