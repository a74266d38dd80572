"""Thread policy under contention: a 512x512 DW-Mesh render (alone, and two at once as the
server's View pool runs them) and a shortened demo, quiet and beside one or two busy processes,
for several torch thread counts and OpenMP wait policies. Reports medians and the ratio
contended / quiet per variant. Prints JSON; ``--out FILE`` also writes it.

    python -m bench.contention [--repeat 5] [--rounds 4] [--demo-frames 7] [--no-demo]
                               [--variants policy,t1,...] [--out FILE]

Each variant runs in its own process because libgomp reads ``OMP_WAIT_POLICY`` and
``GOMP_SPINCOUNT`` once, when torch loads it. The busy processes are plain ``while True: pass``
loops started and killed here. Every round measures every variant at every number of busy
processes, so the rest of the machine's work, which changes during a run, weighs on all of them
alike; it is reported as ``*_other_load_cores`` beside the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_OMP_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")

# The environment of each variant; every other OpenMP variable is removed. "policy" is what
# ex4d-bridge does by itself; the others pin the knobs it chooses between. libgomp's default
# (no OMP_WAIT_POLICY) spins 300000 times before sleeping, which is what t2_spin states.
VARIANTS: dict[str, dict[str, str]] = {
    "policy": {},
    "t1": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"},
    "t2_spin": {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "300000"},
    "t2_active": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "active"},
    "t2_passive": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "passive"},
    "t2_spin10k": {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "10000"},
}
DEMO_VARIANTS = ("policy", "t1", "t2_spin", "t2_passive")


def _variant_env(name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _OMP_VARS and k != "EX4D_THREADS"}
    env.update(VARIANTS[name])
    return env


@contextmanager
def busy(n: int):
    """``n`` processes spinning in pure Python, as other work on the machine would."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.3 if n else 0.0)  # let the scheduler see them as running
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


# -- worker: one process per variant, measuring when the parent says so --------------------


def _worker(repeat: int) -> None:
    # First: importing the package sets the wait policy, which libgomp reads when torch loads.
    import ex4d_bridge  # noqa: F401, I001

    import numpy as np
    import torch

    from ex4d_bridge.camera import look_at
    from ex4d_bridge.geometry import RenderOptions, build_dw_mesh, render
    from ex4d_bridge.runtime import apply_thread_policy, init_render_worker, tune_allocator
    from ex4d_bridge.synthetic import SyntheticScene

    tune_allocator()
    apply_thread_policy("render")  # as `ex4d-bridge demo` and `render` do
    torch_backend = RenderOptions(backend="torch")
    scene = SyntheticScene(width=512, height=512, num_frames=2)
    depth, color = scene.depths()[0].copy(), scene.frames()[0].copy()
    mesh = build_dw_mesh(torch.from_numpy(depth), torch.from_numpy(color), scene.intrinsics)
    r = scene.min_depth() + 0.15
    a = np.radians(30)
    pose = look_at((r * np.sin(a), 0.0, r - r * np.cos(a)), (0.0, 0.0, r))

    def one() -> float:
        t0 = time.perf_counter()
        render(mesh, pose, options=torch_backend)  # the OpenMP policy is about torch
        return time.perf_counter() - t0

    def pair() -> float:
        # Two renders at once on their own threads, set up as the server's View pool is.
        def run() -> None:
            init_render_worker()
            for _ in range(repeat):
                one()

        threads = [threading.Thread(target=run) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return (time.perf_counter() - t0) / (2 * repeat)

    one()
    pair()
    print(
        json.dumps(
            {
                "torch_threads": torch.get_num_threads(),
                **{k: os.environ.get(k) for k in _OMP_VARS},
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        if line.strip() == "render":
            print(json.dumps([one() for _ in range(repeat)]), flush=True)
        elif line.strip() == "pair":
            print(json.dumps([pair()]), flush=True)


# -- parent ---------------------------------------------------------------------------------


class Worker:
    """A worker process for one variant, stopped (SIGSTOP) between measurements: with
    ``OMP_WAIT_POLICY=active`` an idle OpenMP team spins for good, and would be one more busy
    process beside the others' quiet measurements."""

    def __init__(self, name: str, repeat: int) -> None:
        cmd = [sys.executable, "-m", "bench.contention", "--worker", "--repeat", str(repeat)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=_variant_env(name),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ready(self) -> dict:
        seen = json.loads(self.proc.stdout.readline())
        self.proc.send_signal(signal.SIGSTOP)
        return seen

    def ask(self, case: str) -> list[float]:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.stdin.write(case + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        self.proc.send_signal(signal.SIGSTOP)
        return reply

    def close(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.stdin.close()
        self.proc.wait()


class OtherLoad:
    """CPU time the machine spent outside this benchmark, in cores: the rest of the machine's
    work also slows every number, quiet ones included, and must be read alongside them."""

    def __enter__(self) -> OtherLoad:
        self.t0, self.busy0, self.ours0 = time.perf_counter(), _machine_busy_s(), _ours_s()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.t0
        other = (_machine_busy_s() - self.busy0) - (_ours_s() - self.ours0)
        self.cores = round(max(other, 0.0) / wall, 2)


def _machine_busy_s() -> float:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _ours_s() -> float:
    # Children count once reaped; every worker and busy process is reaped before it is read.
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e3, 1)


def _summary(by_level: dict[int, list[float]], unit=_ms) -> dict:
    out = {("quiet" if n == 0 else f"busy{n}"): unit(s) for n, s in by_level.items()}
    for n in by_level:
        if n:
            out[f"ratio_busy{n}"] = round(out[f"busy{n}"] / out["quiet"], 2)
    return out


def _rotated(names: list[str], r: int) -> list[str]:
    # Each round starts with another variant, so no variant always runs first after a change.
    k = r % len(names)
    return names[k:] + names[:k]


def measure_renders(names: list[str], repeat: int, rounds: int, levels: list[int]) -> dict:
    workers = {name: Worker(name, repeat) for name in names}
    cases = ("render", "pair")
    samples = {name: {c: {n: [] for n in levels} for c in cases} for name in names}
    try:
        seen = {name: w.ready() for name, w in workers.items()}
        # Every variant is measured at every level in every round, so a change in the
        # machine's other work during the run affects all variants alike.
        for r in range(rounds):
            for n in levels:
                with busy(n):
                    for name in _rotated(names, r):
                        for c in cases:
                            samples[name][c][n] += workers[name].ask(c)
    finally:
        for w in workers.values():
            w.close()
    return {
        name: {
            "env": VARIANTS[name],
            "seen": seen[name],
            "render_ms": _summary(samples[name]["render"]),
            "two_concurrent_ms_per_render": _summary(samples[name]["pair"]),
        }
        for name in names
    }


def measure_demo(names: list[str], frames: int, rounds: int, levels: list[int]) -> dict:
    seconds = {name: {n: [] for n in levels} for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ex4d_bridge", "demo", "--quiet", "--frames", str(frames)]
        for r in range(rounds):
            for n in levels:
                with busy(n):
                    for name in _rotated(names, r):
                        t0 = time.perf_counter()
                        subprocess.run(
                            [*cmd, "--out", str(Path(tmp) / name)],
                            cwd=ROOT,
                            env=_variant_env(name),
                            check=True,
                            stdout=subprocess.DEVNULL,
                        )
                        seconds[name][n].append(time.perf_counter() - t0)
    unit = lambda s: round(statistics.median(s), 2)  # noqa: E731
    return {name: _summary(seconds[name], unit) for name in names}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5, help="renders per measurement")
    ap.add_argument("--rounds", type=int, default=4, help="passes over all busy levels")
    ap.add_argument("--busy", default="0,1,2", help="numbers of busy processes, 0 first")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--demo-frames", type=int, default=7)
    ap.add_argument("--demo-rounds", type=int, default=2)
    ap.add_argument("--demo-busy", default="0,2")
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.repeat)
        return

    from .common import emit, environment

    names = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    result: dict = {
        **environment("contention"),
        "repeat": args.repeat,
        "rounds": args.rounds,
        "what": (
            "render_ms: one 512x512 DW-Mesh render at a 30 degree orbit, median; "
            "two_concurrent_ms_per_render: wall time of two renders at once on two Python "
            "threads (as the server's View pool runs them) per render, median; demo_s: "
            "`ex4d-bridge demo --frames N` wall seconds, median; busyN: beside N busy "
            "processes; ratio_busyN: busyN / quiet; other_load_cores: CPU the rest of the "
            "machine used meanwhile"
        ),
    }
    with OtherLoad() as other:
        result["variants"] = measure_renders(names, args.repeat, args.rounds, _ints(args.busy))
    result["renders_other_load_cores"] = other.cores
    if not args.no_demo:
        demo_names = [n for n in names if n in DEMO_VARIANTS]
        result["demo_frames"] = args.demo_frames
        result["demo_rounds"] = args.demo_rounds
        with OtherLoad() as other:
            result["demo_s"] = measure_demo(
                demo_names, args.demo_frames, args.demo_rounds, _ints(args.demo_busy)
            )
        result["demo_other_load_cores"] = other.cores
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    emit(result, args.out)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


if __name__ == "__main__":
    main()
