"""Geometry benchmark: DW-Mesh build and render per 512x512 frame, against baselines measured in
the same run. Prints JSON; ``--out FILE`` also writes it.

    python -m bench.geometry [--size 512] [--repeat 10] [--rounds 3] [--device cpu|cuda]
                             [--no-contention] [--no-compile] [--out FILE]

Renders on the CPU, at the source view and a 30 degree orbit: the compiled backend
(``backend="cpu"``, numba) with 1 and 2 threads, the torch backend with 1 and 2 threads, a
direct numba z-buffer (a plain scalar loop over the grid faces: depth and face id only, no
clipping, no tie rule, no shading) and the direct vectorised torch z-buffer. The variants take
turns in ``--rounds`` rounds, so a change in the machine's other work during the run weighs on
all of them alike; read the ratios, which compare numbers of the same run, and the load
averages beside them. ``contention``: the compiled backend and the torch backend beside one
busy process (``bench.contention``'s), as medians and ratios busy / quiet. ``compile``: the
first-call cost of the compiled backend in fresh processes, with an empty kernel cache and
with the cache on disk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from ex4d_bridge.camera import look_at
from ex4d_bridge.geometry import RenderOptions, build_dw_mesh, raster_numba, raster_nvdiffrast
from ex4d_bridge.geometry import render as render_mesh
from ex4d_bridge.geometry.rendering import projection
from ex4d_bridge.runtime import THREADS_ENV, apply_thread_policy
from ex4d_bridge.synthetic import SyntheticScene

from .baselines import build_dw_mesh_direct, rasterize_direct
from .common import emit, environment, timed
from .contention import OtherLoad, busy

TORCH = RenderOptions(backend="torch")
CPU = RenderOptions(backend="cpu")
NVDIFFRAST = RenderOptions(backend="nvdiffrast")


def timed_ms(fn, repeat: int, sync=None) -> float:
    return round(timed(fn, repeat, sync) * 1e3, 2)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the direct numba baseline --------------------------------------------------------------

try:
    from numba import njit
except ImportError:  # the compiled backend and its baseline need numba
    njit = None


def _direct_zbuffer(sx, sy, iw, faces, height, width, inv_depth, face_id):
    """A plain scalar z-buffer loop, as a first implementation would write it: per face its
    box, edge functions and 1/w, nearer wins. Grid faces only, every vertex in front of the
    camera (compiled with numba below)."""
    inv_depth[:] = 0.0
    face_id[:] = -1
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        x0, y0, x1, y1, x2, y2 = sx[a], sy[a], sx[b], sy[b], sx[c], sy[c]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area == 0.0:
            continue
        lo_x = max(int(np.ceil(min(x0, x1, x2))), 0)
        hi_x = min(int(np.floor(max(x0, x1, x2))), width - 1)
        lo_y = max(int(np.ceil(min(y0, y1, y2))), 0)
        hi_y = min(int(np.floor(max(y0, y1, y2))), height - 1)
        for y in range(lo_y, hi_y + 1):
            for x in range(lo_x, hi_x + 1):
                w1 = ((x - x0) * (y2 - y0) - (x2 - x0) * (y - y0)) / area
                w2 = ((x1 - x0) * (y - y0) - (x - x0) * (y1 - y0)) / area
                w0 = 1.0 - w1 - w2
                if w0 < 0 or w1 < 0 or w2 < 0:
                    continue
                z = w0 * iw[a] + w1 * iw[b] + w2 * iw[c]
                if z > inv_depth[y, x]:
                    inv_depth[y, x] = z
                    face_id[y, x] = f


if njit is not None:
    _direct_zbuffer = njit(cache=True, nogil=True, error_model="numpy")(_direct_zbuffer)


def render_direct_numba(mesh, pose, k):
    """Screen positions with numpy (the library's projection), then the scalar loop."""
    w2c = np.linalg.inv(pose).astype(np.float32)
    cam = mesh.vertices @ w2c[:3, :3].T + w2c[:3, 3]
    clip = cam @ projection(k, 1e-3, 1e3).numpy().astype(np.float32)[:, :3].T
    sx = (clip[:, 0] / clip[:, 3] + 1) * (k.width / 2) - 0.5
    sy = (clip[:, 1] / clip[:, 3] + 1) * (k.height / 2) - 0.5
    iw = 1.0 / clip[:, 3]
    inv_depth = np.empty((k.height, k.width), np.float32)
    face_id = np.empty((k.height, k.width), np.int64)
    grid = np.ascontiguousarray(mesh.faces[: mesh.num_grid_faces])
    _direct_zbuffer(sx, sy, iw, grid, k.height, k.width, inv_depth, face_id)
    return face_id


# -- renders --------------------------------------------------------------------------------


def cpu_threads(n: int):
    """The compiled backend with ``n`` threads (what ``EX4D_THREADS`` sets)."""

    def run(mesh, pose):
        os.environ[THREADS_ENV] = str(n)
        try:
            return render_mesh(mesh, pose, options=CPU)
        finally:
            os.environ.pop(THREADS_ENV, None)

    return run


def torch_threads(n: int):
    def run(mesh, pose):
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return render_mesh(mesh, pose, options=TORCH)
        finally:
            torch.set_num_threads(before)

    return run


def measure_rounds(variants: dict, poses: dict, mesh, repeat: int, rounds: int) -> dict:
    """Median ms of each variant at each pose; variants take turns, ``repeat`` renders each
    per round, after one unmeasured render."""
    samples = {p: {v: [] for v in variants} for p in poses}
    for pose in poses.values():
        for fn in variants.values():
            fn(mesh, pose)
    for r in range(rounds):
        names = list(variants)
        names = names[r % len(names) :] + names[: r % len(names)]
        for p, pose in poses.items():
            for name in names:
                fn = variants[name]
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    fn(mesh, pose)
                    samples[p][name].append(time.perf_counter() - t0)
    return {
        p: {v: round(statistics.median(s) * 1e3, 2) for v, s in row.items()}
        for p, row in samples.items()
    }


def agreement(mesh, pose) -> dict:
    """How much of the compiled backend's output equals the torch backend's, bit for bit."""
    out = {}
    for style in ("face", "reference"):
        a = render_mesh(mesh, pose, options=RenderOptions(backend="torch", mask_style=style))
        b = render_mesh(mesh, pose, options=RenderOptions(backend="cpu", mask_style=style))
        out[style] = {
            name: float((getattr(a, name) == getattr(b, name)).mean())
            for name in ("face_id", "mask", "color", "depth")
        }
    return out


def measure_contention(variants: dict, mesh, pose, repeat: int, rounds: int) -> dict:
    levels = (0, 1)
    samples = {v: {n: [] for n in levels} for v in variants}
    with OtherLoad() as other:
        for r in range(rounds):
            for n in levels:
                with busy(n):
                    names = list(variants)
                    names = names[r % len(names) :] + names[: r % len(names)]
                    for name in names:
                        variants[name](mesh, pose)  # settle after the change of load
                        for _ in range(repeat):
                            t0 = time.perf_counter()
                            variants[name](mesh, pose)
                            samples[name][n].append(time.perf_counter() - t0)
    out: dict = {}
    for name, by_level in samples.items():
        quiet = statistics.median(by_level[0]) * 1e3
        loaded = statistics.median(by_level[1]) * 1e3
        out[name] = {
            "quiet_ms": round(quiet, 2),
            "busy1_ms": round(loaded, 2),
            "ratio_busy1": round(loaded / quiet, 2),
        }
    out["other_load_cores"] = other.cores
    return out


_FIRST_CALL = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from ex4d_bridge.geometry import build_dw_mesh, raster_numba, render, RenderOptions
from ex4d_bridge.synthetic import SyntheticScene
imported = time.perf_counter() - t0
s = SyntheticScene(width=512, height=512, num_frames=1)
mesh = build_dw_mesh(s.depths()[0].copy(), s.frames()[0].copy(), s.intrinsics)
out = {"import_s": round(imported, 3)}
if sys.argv[1] == "warm_up":
    out["warm_up_s"] = round(raster_numba.warm_up(), 3)
t0 = time.perf_counter()
render(mesh, np.eye(4), options=RenderOptions(backend="cpu"))
out["first_render_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
t0 = time.perf_counter()
render(mesh, np.eye(4), options=RenderOptions(backend="cpu"))
out["second_render_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
print(json.dumps(out))
"""


def measure_first_call() -> dict:
    """Fresh processes with their own kernel cache directory: empty (numba compiles), then
    filled (it loads), with and without ``warm_up()`` first."""
    import json

    out: dict = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label, mode in (
            ("empty_cache_warm_up", "warm_up"),
            ("cached_warm_up", "warm_up"),
            ("cached_no_warm_up", "none"),
        ):
            run = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL, mode],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out[label] = json.loads(run.stdout.splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-contention", action="store_true")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    apply_thread_policy("render")  # as the CLI's render commands: one torch thread
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None

    scene = SyntheticScene(width=args.size, height=args.size, num_frames=2)
    depth, color, k = scene.depths()[0].copy(), scene.frames()[0].copy(), scene.intrinsics
    d_t, c_t = torch.from_numpy(depth).to(dev), torch.from_numpy(color).to(dev)
    mesh = build_dw_mesh(d_t, c_t, k)
    r = scene.min_depth() + 0.15
    poses = {
        "source": np.eye(4),
        "orbit30": look_at(
            (r * np.sin(np.radians(30)), 0.0, r - r * np.cos(np.radians(30))), (0.0, 0.0, r)
        ),
    }
    result: dict = {
        **environment("geometry", "numba"),
        "size": args.size,
        "device": str(dev),
        "mesh_faces": int(mesh.faces.shape[0]),
        "goal_ms": {
            "cpu_render_1_thread": 40,
            "cpu_render_1_thread_vs_torch": 0.45,
            "cpu_render_2_free_cores": 20,
            "cpu_build": 20,
            "gpu_build_plus_render": 2,
        },
        "build_ms": {
            "ours": timed_ms(lambda: build_dw_mesh(d_t, c_t, k), args.repeat, sync),
        },
    }
    if dev.type == "cpu":
        faces_np = mesh.faces.numpy()
        result["build_ms"]["baseline_direct_numpy"] = timed_ms(
            lambda: build_dw_mesh_direct(depth, k, faces_np), args.repeat
        )
    if dev.type == "cuda":
        result["render_ms"] = {}
        for name, pose in poses.items():
            row = {
                "ours_torch": timed_ms(lambda p=pose: render_mesh(mesh, p, options=TORCH), 10, sync)
            }
            if raster_nvdiffrast.available():
                row["ours_nvdiffrast"] = timed_ms(
                    lambda p=pose: render_mesh(mesh, p, options=NVDIFFRAST), 10, sync
                )
            result["render_ms"][name] = row
        emit(result, args.out)
        return

    if not raster_numba.available():
        raise SystemExit("the compiled backend needs numba (pip install numba)")
    import numba

    result["numba_warm_up_s"] = round(raster_numba.warm_up(), 3)
    result["numba_threading_layer"] = numba.threading_layer()
    mesh_np = mesh.numpy()
    variants = {
        "ours_cpu_1thread": cpu_threads(1),
        "ours_cpu_2threads": cpu_threads(2),
        "ours_torch_1thread": torch_threads(1),
        "ours_torch_2threads": torch_threads(2),
        "baseline_direct_numba_grid_only": lambda m, p: render_direct_numba(m, p, k),
    }
    result["load_average_before_renders"] = _load()
    with OtherLoad() as other:
        rows = measure_rounds(variants, poses, mesh_np, args.repeat, args.rounds)
    result["load_average_after_renders"] = _load()
    result["renders_other_load_cores"] = other.cores
    for name, pose in poses.items():
        # The vectorised torch z-buffer takes seconds per call on the cap: grid faces only.
        w2c = torch.from_numpy(np.linalg.inv(pose)).float()
        cam = mesh.vertices @ w2c[:3, :3].T + w2c[:3, 3]
        clip = cam @ projection(k, 1e-3, 1e3).float()[:, :3].T
        grid = mesh.faces[: mesh.num_grid_faces]
        rows[name]["baseline_direct_torch_grid_only"] = timed_ms(
            lambda c=clip, g=grid: rasterize_direct(c, g, k.height, k.width), 3
        )
        row = rows[name]
        row["ratio_cpu_1thread_vs_torch_1thread"] = round(
            row["ours_cpu_1thread"] / row["ours_torch_1thread"], 3
        )
        row["ratio_cpu_2threads_vs_cpu_1thread"] = round(
            row["ours_cpu_2threads"] / row["ours_cpu_1thread"], 3
        )
        row["ratio_cpu_1thread_vs_direct_numba"] = round(
            row["ours_cpu_1thread"] / row["baseline_direct_numba_grid_only"], 3
        )
        row["bitwise_equal_to_torch"] = agreement(mesh_np, pose)
    result["render_ms"] = rows
    if not args.no_contention:
        result["contention"] = {
            "what": (
                "the orbit30 render, quiet and beside one busy process (a Python spin loop); "
                "ratio_busy1 = busy1 / quiet; on 2 cores a fair share is 1.0 for one thread"
            ),
            "load_average_before": _load(),
            **measure_contention(
                {k_: variants[k_] for k_ in list(variants)[:3]},
                mesh_np,
                poses["orbit30"],
                max(3, args.repeat // 2),
                args.rounds,
            ),
            "load_average_after": _load(),
        }
    if not args.no_compile:
        result["first_call"] = measure_first_call()
    result["load_average_at_end"] = _load()
    emit(result, args.out)


if __name__ == "__main__":
    main()
