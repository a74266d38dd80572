"""Straightforward implementations the benchmarks compare against, measured in the same run.

They compute the same things as the library in the most direct vectorised way (per-face vertex
gathers, arccos of every angle; a bounding-box z-buffer with per-candidate gathers and two
scatter passes), the way a first implementation would.
"""

from __future__ import annotations

import numpy as np
import torch


def build_dw_mesh_direct(depth: np.ndarray, intrinsics, faces: np.ndarray, min_angle_deg=2.5):
    h, w = depth.shape
    d = depth.astype(np.float32).copy()
    d[0, :] = d[-1, :] = d[:, 0] = d[:, -1] = 100.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    pts = np.stack(
        [
            (xs + 0.5 - intrinsics.cx) / intrinsics.fx * d,
            (ys + 0.5 - intrinsics.cy) / intrinsics.fy * d,
            d,
        ],
        -1,
    ).reshape(-1, 3)
    tri = pts[faces[: 2 * (h - 1) * (w - 1)]]
    angles = []
    for i in range(3):
        a = tri[:, (i + 1) % 3] - tri[:, i]
        b = tri[:, (i + 2) % 3] - tri[:, i]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return pts, np.min(angles, axis=0) < min_angle_deg


def rasterize_direct(pos: torch.Tensor, tri: torch.Tensor, height: int, width: int):
    """Depth and face id of the nearest triangle per pixel (no clipping: all w > 0)."""
    v = pos[tri.long()]
    sx = (v[..., 0] / v[..., 3] + 1) * width / 2 - 0.5
    sy = (v[..., 1] / v[..., 3] + 1) * height / 2 - 0.5
    x0 = torch.ceil(sx.amin(1)).clamp(0, width - 1).long()
    x1 = torch.floor(sx.amax(1)).clamp(0, width - 1).long()
    y0 = torch.ceil(sy.amin(1)).clamp(0, height - 1).long()
    y1 = torch.floor(sy.amax(1)).clamp(0, height - 1).long()
    bw, bh = (x1 - x0 + 1).clamp(min=0), (y1 - y0 + 1).clamp(min=0)
    n = bw * bh
    t = torch.repeat_interleave(torch.arange(len(n)), n)
    k = torch.arange(len(t)) - (torch.cumsum(n, 0) - n)[t]
    px, py = x0[t] + k % bw[t], y0[t] + k // bw[t]
    ax, ay, bx, by, cx, cy = sx[t, 0], sy[t, 0], sx[t, 1], sy[t, 1], sx[t, 2], sy[t, 2]
    area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
    w1 = ((px - ax) * (cy - ay) - (cx - ax) * (py - ay)) / area
    w2 = ((bx - ax) * (py - ay) - (px - ax) * (by - ay)) / area
    w0 = 1 - w1 - w2
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    iw = w0 / v[t, 0, 3] + w1 / v[t, 1, 3] + w2 / v[t, 2, 3]
    z = torch.where(inside, 1 / iw, torch.inf)
    pix = py * width + px
    zbuf = torch.full((height * width,), torch.inf).scatter_reduce(0, pix, z, "amin")
    win = inside & (z == zbuf[pix])
    fid = torch.full((height * width,), -1, dtype=torch.long)
    fid.scatter_reduce_(0, pix[win], t[win], "amax")
    return zbuf.view(height, width), fid.view(height, width)
