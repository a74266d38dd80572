"""The fixed triangle topology of a DW-Mesh, built once per resolution and reused.

Vertex ``i * W + j`` is pixel (row i, column j); vertex ``H * W`` is the centre of the far cap.
Faces, in this order (the same per-quad split as the EX-4D reference):

1. ``(H-1)(W-1)`` faces ``[BL, TL, TR]`` of every pixel quad,
2. ``(H-1)(W-1)`` faces ``[BL, TR, BR]``,
3. ``2(H+W) - 4`` cap faces: a fan from the cap centre over the border loop, which closes the
   mesh behind the scene. The reference closes it with two corner triangles, which leaves
   T-junctions along the border; the fan shares every border edge, so the mesh is watertight.

Grid faces run the border loop clockwise on the image (top row left to right); cap faces run it
the other way, so every edge is used once in each direction (consistent winding).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from ..errors import InputError


@dataclass(frozen=True)
class GridTopology:
    height: int
    width: int
    faces: torch.Tensor  # (F, 3) int32
    border_loop: torch.Tensor  # (L,) int64 vertex ids of the border, clockwise on the image
    border_pixels: torch.Tensor  # (H, W) bool

    @property
    def num_quads(self) -> int:
        return (self.height - 1) * (self.width - 1)

    @property
    def num_grid_faces(self) -> int:
        return 2 * self.num_quads

    @property
    def num_vertices(self) -> int:
        return self.height * self.width + 1

    @property
    def cap_vertex(self) -> int:
        return self.height * self.width


def check_grid_size(height: int, width: int) -> None:
    if height < 2 or width < 2:
        raise InputError(
            f"a DW-Mesh needs a depth map of at least 2x2 pixels, got {height}x{width}"
        )


@lru_cache(maxsize=16)
def _topology(height: int, width: int, device: str) -> GridTopology:
    check_grid_size(height, width)
    idx = torch.arange(height * width, dtype=torch.int64, device=device).view(height, width)
    tl, tr = idx[:-1, :-1].reshape(-1), idx[:-1, 1:].reshape(-1)
    bl, br = idx[1:, :-1].reshape(-1), idx[1:, 1:].reshape(-1)
    top = idx[0, :]
    right = idx[1:, -1]
    bottom = idx[-1, :-1].flip(0)
    left = idx[1:-1, 0].flip(0)
    loop = torch.cat([top, right, bottom, left])
    cap = torch.full_like(loop, height * width)
    faces = torch.cat(
        [
            torch.stack([bl, tl, tr], 1),
            torch.stack([bl, tr, br], 1),
            torch.stack([cap, loop.roll(-1), loop], 1),
        ]
    ).to(torch.int32)
    border = torch.zeros(height, width, dtype=torch.bool, device=device)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    return GridTopology(height, width, faces, loop, border)


def grid_topology(height: int, width: int, device: torch.device | str = "cpu") -> GridTopology:
    """The shared topology for an ``height`` x ``width`` depth map on ``device`` (cached)."""
    return _topology(int(height), int(width), str(torch.device(device)))
