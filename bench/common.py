"""What every benchmark shares: timing, the machine's description, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ex4d_bridge.runtime import tune_allocator


def timed(fn: Callable[[], object], repeat: int, sync: Callable[[], None] | None = None) -> float:
    """Median seconds over ``repeat`` runs after one warm-up (``sync`` waits for a device)."""
    fn()
    times = []
    for _ in range(repeat):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 6)


def environment(benchmark: str, *modules: str) -> dict:
    """The run's description: machine, threads, library versions, and the load average, since
    other work on the machine slows every number and must be read alongside it. Tunes the
    allocator as the CLI does, so the numbers are what users get."""
    info: dict = {
        "benchmark": benchmark,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "allocator_tuned": tune_allocator(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    for name in modules:
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            pass
    return info


def emit(result: dict, out: str | os.PathLike | None) -> None:
    """Print the result as JSON, and write it to ``out`` when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
