"""Render masks: which pixels of a source frame a novel camera would not see.

EX-4D trains on single videos: each source frame is masked where its surface would be hidden
from a novel viewpoint, and the model learns to restore it. A source pixel counts as *seen* when
its DW-Mesh vertex lies on real surface (at least one incident face is not occluded) and,
projected into the novel camera, is in the image, in front of it and not behind a nearer
surface (a depth test against the novel view's rendered depth). Border pixels, pushed to the far
closure, are never seen.
"""

from __future__ import annotations

import numpy as np
import torch

from ..camera.intrinsics import Intrinsics
from ..camera.trajectory import Trajectory, reference_orbit
from ..errors import InputError
from ..geometry import DWMesh, RenderOptions, render


def source_visibility(
    mesh: DWMesh,
    novel_pose: np.ndarray,
    intrinsics: Intrinsics | None = None,
    *,
    rel_tol: float = 0.01,
    backend: str = "auto",
) -> np.ndarray:
    """(H, W) bool over the mesh's source pixels: True where the novel camera sees them."""
    k = intrinsics or mesh.intrinsics
    out = render(mesh, novel_pose, k, RenderOptions(backend=backend, mask_style="face"))
    depth = np.asarray(out.depth.cpu() if isinstance(out.depth, torch.Tensor) else out.depth)
    m = mesh.numpy()
    h, w = m.height, m.width
    on_surface = np.zeros(len(m.vertices), bool)
    on_surface[m.faces[~m.occluded].ravel()] = True
    pts = m.vertices[: h * w].astype(np.float64)
    w2c = np.linalg.inv(np.asarray(novel_pose, dtype=np.float64))
    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        col = np.floor(k.fx * cam[:, 0] / z + k.cx)
        row = np.floor(k.fy * cam[:, 1] / z + k.cy)
    inside = (z > 0) & (col >= 0) & (col < k.width) & (row >= 0) & (row < k.height)
    ci = np.where(inside, col, 0).astype(np.int64)
    ri = np.where(inside, row, 0).astype(np.int64)
    seen = inside & (z <= depth[ri, ci] * (1.0 + rel_tol)) & on_surface[: h * w]
    seen = seen.reshape(h, w)
    seen[0, :] = seen[-1, :] = seen[:, 0] = seen[:, -1] = False
    return seen


def random_novel_trajectory(
    rng: np.random.Generator,
    min_depth: float,
    num_frames: int,
    *,
    max_angle_deg: float = 90.0,
    min_angle_deg: float = 15.0,
    intrinsics: Intrinsics | None = None,
) -> Trajectory:
    """A reference orbit to a random angle in ``[min, max]`` degrees, to either side."""
    if not (0.0 <= min_angle_deg <= max_angle_deg <= 90.0):
        raise InputError("need 0 <= min_angle_deg <= max_angle_deg <= 90")
    angle = float(rng.uniform(min_angle_deg, max_angle_deg)) * float(rng.choice([-1.0, 1.0]))
    return reference_orbit(min_depth, angle, num_frames, intrinsics)


def render_mask_clip(
    meshes, trajectory: Trajectory, *, backend: str = "auto", rel_tol: float = 0.01
) -> np.ndarray:
    """(T, H, W) bool, True where source frame t is seen from pose t of ``trajectory``."""
    masks = [
        source_visibility(mesh, trajectory.poses[t], backend=backend, rel_tol=rel_tol)
        for t, mesh in enumerate(meshes)
    ]
    if len(masks) != len(trajectory):
        raise InputError(f"{len(masks)} meshes for a {len(trajectory)}-pose trajectory")
    return np.stack(masks)
