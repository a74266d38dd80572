"""Geometry benchmark: DW-Mesh build and render per 512x512 frame, against baselines measured in
the same run. Prints JSON; ``--out FILE`` also writes it.

    python -m bench.geometry [--size 512] [--repeat 10] [--device cpu|cuda] [--out FILE]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ex4d_bridge.camera import look_at
from ex4d_bridge.geometry import RenderOptions, build_dw_mesh, raster_nvdiffrast, render
from ex4d_bridge.geometry.rendering import projection
from ex4d_bridge.synthetic import SyntheticScene

from .baselines import build_dw_mesh_direct, rasterize_direct
from .common import emit, environment, timed

TORCH = RenderOptions(backend="torch")
NVDIFFRAST = RenderOptions(backend="nvdiffrast")


def timed_ms(fn, repeat: int, sync=None) -> float:
    return round(timed(fn, repeat, sync) * 1e3, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
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
        **environment("geometry"),
        "size": args.size,
        "device": str(dev),
        "mesh_faces": int(mesh.faces.shape[0]),
        "goal_ms": {"cpu_render": 40, "cpu_build": 20, "gpu_build_plus_render": 2},
        "build_ms": {
            "ours": timed_ms(lambda: build_dw_mesh(d_t, c_t, k), args.repeat, sync),
        },
        "render_ms": {},
    }
    if dev.type == "cpu":
        faces_np = mesh.faces.numpy()
        result["build_ms"]["baseline_direct_numpy"] = timed_ms(
            lambda: build_dw_mesh_direct(depth, k, faces_np), args.repeat
        )
    for name, pose in poses.items():
        row = {
            "ours_torch": timed_ms(lambda p=pose: render(mesh, p, options=TORCH), args.repeat, sync)
        }
        if dev.type == "cpu":
            w2c = torch.from_numpy(np.linalg.inv(pose)).float()
            cam = mesh.vertices @ w2c[:3, :3].T + w2c[:3, 3]
            clip = cam @ projection(k, 1e-3, 1e3).float()[:, :3].T
            # The baseline rasterizes the grid faces only (no closing cap), as a first
            # implementation would; it would take seconds with the cap's long thin triangles.
            grid = mesh.faces[: mesh.num_grid_faces]
            row["baseline_direct_torch_grid_only"] = timed_ms(
                lambda c=clip, g=grid: rasterize_direct(c, g, k.height, k.width), args.repeat
            )
        if dev.type == "cuda" and raster_nvdiffrast.available():
            row["ours_nvdiffrast"] = timed_ms(
                lambda p=pose: render(mesh, p, options=NVDIFFRAST), args.repeat, sync
            )
        result["render_ms"][name] = row
    emit(result, args.out)


if __name__ == "__main__":
    main()
