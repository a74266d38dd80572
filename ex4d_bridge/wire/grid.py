"""The DW-Mesh grid in numpy: topology ``TOPOLOGY_GRID_FAN_V1`` and the unprojection a client
rebuilds vertices with. The same mesh ``ex4d_bridge.geometry`` builds in torch (a test checks
both agree), without torch.

Vertex ``i * W + j`` is pixel (row i, column j) at ``depth * K^-1 [j + 0.5, i + 0.5, 1]``;
vertex ``H * W`` is the centre of the far cap. Faces, in order: ``[BL, TL, TR]`` of every pixel
quad, then ``[BL, TR, BR]`` of every quad, then a fan from the cap centre over the border loop
(clockwise on the image, starting at the top-left pixel).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..camera import Intrinsics
from ..errors import InputError


def check_grid_size(height: int, width: int) -> None:
    if height < 2 or width < 2:
        raise InputError(
            f"a DW-Mesh needs a depth map of at least 2x2 pixels, got {height}x{width}"
        )


def num_vertices(height: int, width: int) -> int:
    return height * width + 1


def num_grid_faces(height: int, width: int) -> int:
    return 2 * (height - 1) * (width - 1)


def num_faces(height: int, width: int) -> int:
    """Grid faces plus the cap fan over the ``2 (H + W) - 4`` border pixels."""
    return num_grid_faces(height, width) + 2 * (height + width) - 4


@lru_cache(maxsize=16)
def _faces(height: int, width: int) -> np.ndarray:
    check_grid_size(height, width)
    idx = np.arange(height * width, dtype=np.int64).reshape(height, width)
    tl, tr = idx[:-1, :-1].reshape(-1), idx[:-1, 1:].reshape(-1)
    bl, br = idx[1:, :-1].reshape(-1), idx[1:, 1:].reshape(-1)
    loop = np.concatenate([idx[0, :], idx[1:, -1], idx[-1, :-1][::-1], idx[1:-1, 0][::-1]])
    cap = np.full_like(loop, height * width)
    faces = np.concatenate(
        [
            np.stack([bl, tl, tr], 1),
            np.stack([bl, tr, br], 1),
            np.stack([cap, np.roll(loop, -1), loop], 1),
        ]
    ).astype(np.int32)
    faces.flags.writeable = False  # shared by every mesh of this size
    return faces


def grid_faces(height: int, width: int) -> np.ndarray:
    """(F, 3) int32 faces of the ``height`` x ``width`` grid (cached and read-only)."""
    return _faces(int(height), int(width))


def unproject(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(H, W) z-depth -> (H, W, 3) float32 points in the OpenCV camera frame, through pixel
    centres; float32 operations in the order the server uses, so the points are bit-exact."""
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise InputError(f"depth must be (H, W), got {d.shape}")
    h, w = d.shape
    k = intrinsics
    f32 = np.float32
    x = (np.arange(w, dtype=f32) + f32(0.5) - f32(k.cx)) / f32(k.fx)
    y = (np.arange(h, dtype=f32) + f32(0.5) - f32(k.cy)) / f32(k.fy)
    return np.stack([d * x[None, :], d * y[:, None], d], axis=-1)
