"""An independent brute-force ray caster (Moller-Trumbore) used as ground truth for rendering."""

from __future__ import annotations

import numpy as np


def raycast(vertices, faces, cam_to_world, intrinsics, chunk: int = 512):
    """Nearest hit of every pixel-centre ray: (z-depth (H, W) with inf where empty, face (H, W)
    with -1 where empty). float64 throughout."""
    k = intrinsics
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    p0, p1, p2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    e1, e2 = p1 - p0, p2 - p0
    ys, xs = np.mgrid[0 : k.height, 0 : k.width]
    d_cam = np.stack(
        [(xs + 0.5 - k.cx) / k.fx, (ys + 0.5 - k.cy) / k.fy, np.ones_like(xs, float)], -1
    ).reshape(-1, 3)
    rot, origin = cam_to_world[:3, :3], cam_to_world[:3, 3]
    dirs = d_cam @ rot.T  # z-depth equals the ray parameter t since d_cam.z == 1
    depth = np.full(len(dirs), np.inf)
    face = np.full(len(dirs), -1, np.int64)
    s = origin - p0  # (F, 3)
    for start in range(0, len(dirs), chunk):
        d = dirs[start : start + chunk][:, None, :]  # (R, 1, 3)
        pvec = np.cross(d, e2[None])
        det = np.einsum("rfi,fi->rf", pvec, e1)
        ok = np.abs(det) > 1e-14
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        u = np.einsum("rfi,fi->rf", pvec, s) * inv
        q = np.cross(s, e1)  # (F, 3)
        vv = np.einsum("rfi,fi->rf", np.broadcast_to(d, pvec.shape), q) * inv
        t = np.einsum("fi,fi->f", q, e2)[None, :] * inv
        hit = ok & (u >= 0) & (vv >= 0) & (u + vv <= 1) & (t > 1e-9)
        t = np.where(hit, t, np.inf)
        best = t.argmin(1)
        tb = t[np.arange(len(best)), best]
        sel = np.isfinite(tb)
        idx = np.arange(start, start + len(best))
        depth[idx[sel]] = tb[sel]
        face[idx[sel]] = best[sel]
    return depth.reshape(k.height, k.width), face.reshape(k.height, k.width)
