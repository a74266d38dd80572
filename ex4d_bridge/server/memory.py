"""Admission control for memory: every request's memory is estimated before its work starts,
requests that could never fit the server's budget are refused, and the large ones that run at
the same time are bounded so that their sum fits.

The estimates are measured peaks per output pixel on this code (tests/test_server_memory.py
re-measures them and fails if a real peak exceeds its estimate): a torch render of a W x H
view peaks at 130 to 230 bytes per pixel (z-buffer, face ids, barycentrics and their int64
scatter indices), the compiled CPU renderer at about 32; compositing completion layers adds
about half again. A generation job
keeps its render (colours and masks) and the generated frames for every pose (8 bytes per
pixel per pose) on top of one render; the model's own memory is not counted (it is loaded once
and stays). Budgets count the server's process memory, not the GPU's.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import Cancelled
from .errors import LimitError

GIB = 1 << 30
# Peak bytes per output pixel of one render, by backend (measured; see the module docstring).
RENDER_BYTES_PER_PIXEL = {"torch": 280, "nvdiffrast": 280, "cpu": 48}
COMPLETED_FACTOR = 1.5
# Per pose of a generation job: render colours (3) + mask (1) + generated colours (3) + slack.
GENERATION_BYTES_PER_PIXEL = 8
# Renders above this trim the heap when they finish, so the process shrinks back.
LARGE_BYTES = 256 << 20
DEFAULT_FRACTION = 0.6


def machine_memory_bytes() -> int:
    """Physical memory of the machine (0 when the platform does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def default_budget_bytes() -> int:
    """60% of the machine's memory (8 GiB when it cannot be read)."""
    total = machine_memory_bytes()
    return int(total * DEFAULT_FRACTION) if total else 8 * GIB


def release_memory() -> None:
    """Give freed heap memory back to the system after a large request: the allocator keeps
    big freed blocks otherwise (``runtime.tune_allocator`` raises its thresholds for speed),
    and the process would stay at its peak."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def render_bytes(width: int, height: int, backend: str, completed: bool = False) -> int:
    per_pixel = RENDER_BYTES_PER_PIXEL.get(backend, max(RENDER_BYTES_PER_PIXEL.values()))
    if completed:
        per_pixel *= COMPLETED_FACTOR
    return int(width * height * per_pixel)


def generation_bytes(num_poses: int, width: int, height: int, backend: str) -> int:
    return int(num_poses * width * height * GENERATION_BYTES_PER_PIXEL) + render_bytes(
        width, height, backend
    )


def trajectory_render_bytes(
    num_poses: int, width: int, height: int, backend: str, completed: bool
) -> int:
    """A walkthrough: every frame's colours kept for the video, plus one render at a time."""
    return int(num_poses * width * height * 4) + render_bytes(width, height, backend, completed)


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


class MemoryBudget:
    """The server's memory budget: ``check`` refuses what can never fit, ``reserve`` holds a
    request's estimate while it runs and waits (up to ``wait_s``) while others hold too much."""

    def __init__(self, total_bytes: int) -> None:
        if total_bytes <= 0:
            raise ValueError(f"the memory budget must be positive, got {total_bytes}")
        self.total = int(total_bytes)
        self._used = 0
        self._cond = threading.Condition()
        self.peak_used = 0

    @property
    def used(self) -> int:
        with self._cond:
            return self._used

    def check(self, nbytes: int, what: str) -> None:
        if nbytes > self.total:
            raise LimitError(
                f"{what} needs about {_gib(nbytes)} of memory, over the server's budget of "
                f"{_gib(self.total)} (--max-memory-gib): ask for a smaller size or fewer poses"
            )

    @contextmanager
    def reserve(
        self,
        nbytes: int,
        what: str,
        wait_s: float = 30.0,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[None]:
        self.check(nbytes, what)
        end = time.monotonic() + wait_s
        with self._cond:
            while self._used + nbytes > self.total:
                left = end - time.monotonic()
                if cancelled is not None and cancelled():
                    raise Cancelled(f"{what} was cancelled while waiting for memory")
                if left <= 0:
                    raise LimitError(
                        f"{what} needs about {_gib(nbytes)} of memory and other requests hold "
                        f"{_gib(self._used)} of the server's {_gib(self.total)} budget; "
                        "try again shortly"
                    )
                self._cond.wait(min(left, 0.1))
            self._used += nbytes
            self.peak_used = max(self.peak_used, self._used)
        try:
            yield
        finally:
            with self._cond:
                self._used -= nbytes
                self._cond.notify_all()
            if nbytes >= LARGE_BYTES:
                release_memory()


__all__ = [
    "MemoryBudget",
    "default_budget_bytes",
    "generation_bytes",
    "machine_memory_bytes",
    "release_memory",
    "render_bytes",
    "trajectory_render_bytes",
]
