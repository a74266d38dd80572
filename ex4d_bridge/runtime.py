"""Process-level tuning for CPU work.

glibc serves allocations above 128 KiB with fresh ``mmap`` pages and returns them on free, so
every large temporary tensor is page-faulted in again: on a 2-core CPU this made the geometry
stage's float32 arithmetic over ~500k faces about 2.5x slower than the arithmetic itself.
Raising the mmap and trim thresholds lets freed blocks be reused. The CLI and the benchmarks
call ``tune_allocator()``; library users can call it once at start-up. It changes only how
this process allocates memory, never results, and does nothing off glibc.

Threads. torch runs its CPU ops on an OpenMP (libgomp) team. libgomp's default makes a waiting
thread spin before it sleeps, so beside other work a 2-thread render waits on a teammate the
scheduler has parked while its own spinning takes the core that teammate needs. On the 2-core
development machine (``bench/results/contention_cpu.json``) a 512x512 render with two spinning
threads took 66 ms quiet and 238 ms beside one busy process (3.6x; 60x was seen with more
spinners), and the shortened demo went from 10 to 75 s beside two. The policy:

* waiting threads sleep (``OMP_WAIT_POLICY=passive``), which ``import ex4d_bridge`` sets when
  the environment names no policy and torch is not loaded yet (libgomp reads it once, when
  torch loads it);
* a render gets one intra-op thread: 78 ms quiet, 83 ms beside one busy process (1.06x) and
  121 ms beside two (1.55x; a fair share of two cores among three is 1.5x). The rasterizer is
  a chain of short ops: with passive waiting a second thread costs more in wake-ups than it
  saves (107 ms quiet), and renders run in parallel with each other instead (the server's
  render pools; two at once took 46 ms per render). The price is a single render stream on a
  quiet machine, where spinning threads are faster (61-66 ms). Other work (depth models,
  generation, training) keeps torch's default of all cores.

``EX4D_THREADS=N`` gives every render and CLI process N threads; a user's ``OMP_NUM_THREADS``,
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is kept as it is.

The compiled CPU renderer (``geometry.raster_numba``, the CPU default when numba is installed)
is a few long loops rather than a chain of short ops, so it does gain from a second core: it
takes ``compiled_render_threads()`` threads (``EX4D_THREADS``, else ``OMP_NUM_THREADS``, else
every core the process may use) on numba's ``workqueue`` layer, whose threads sleep on
condition variables and never spin. One render at a time runs in parallel; a render that
starts while another holds the threads runs on its own thread.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Literal

import torch

from .errors import InputError

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False

THREADS_ENV = "EX4D_THREADS"
# Intra-op threads per render when nothing in the environment says otherwise (see above).
RENDER_THREADS = 1


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


def _threads_from_env() -> int | None:
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InputError(
            f"{THREADS_ENV}={value!r} must be a positive whole number of threads, e.g. "
            f"{THREADS_ENV}=1; unset it for the default policy"
        )
    return int(value)


def render_threads() -> int | None:
    """Intra-op threads for one render: ``EX4D_THREADS``, else None when the user set
    ``OMP_NUM_THREADS`` (torch already follows it), else ``RENDER_THREADS``."""
    explicit = _threads_from_env()
    if explicit is not None:
        return explicit
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return None
    return RENDER_THREADS


def compiled_render_threads() -> int:
    """Threads for one render of the compiled CPU backend: ``EX4D_THREADS``, else a user's
    ``OMP_NUM_THREADS``, else every core this process may use."""
    explicit = _threads_from_env()
    if explicit is not None:
        return explicit
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) >= 1:
        return int(omp)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def apply_thread_policy(workload: Literal["render", "compute"] = "compute") -> int:
    """Set this process's torch intra-op threads at start-up and return the count.

    ``"render"`` (a process whose work is rendering, e.g. ``ex4d-bridge demo``): one thread.
    ``"compute"`` (depth models, generation, training): torch's default, all cores.
    ``EX4D_THREADS`` overrides both; a user's ``OMP_NUM_THREADS`` is kept."""
    if workload not in ("render", "compute"):
        raise InputError(f"workload must be 'render' or 'compute', got {workload!r}")
    n = render_threads() if workload == "render" else _threads_from_env()
    if n is not None:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def init_render_worker(threads: int = 0) -> int:
    """A render thread's start-up (a ``ThreadPoolExecutor`` initializer): this thread's torch
    ops use ``threads`` intra-op threads (0: ``render_threads()``). Returns the count.

    torch keeps the count per thread once a thread has used it, so concurrent renders each get
    their own; other threads of the process keep theirs."""
    n = threads or render_threads()
    before = torch.get_num_threads()  # this thread's count, from the process default
    if n is None or n == before:
        return before
    torch.set_num_threads(n)
    # set_num_threads also becomes the default for threads that have not used torch yet (the
    # host process's, when the server runs inside it); a short-lived thread puts the default
    # back without touching this thread's count.
    restore = threading.Thread(target=torch.set_num_threads, args=(before,))
    restore.start()
    restore.join()
    return n
