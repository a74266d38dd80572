"""Depth Watertight Mesh (DW-Mesh) construction, EX-4D's scene representation.

One vertex per pixel, unprojected along its camera ray (``X = depth * K^-1 [u, v, 1]`` at the
pixel centre, OpenCV camera frame), two triangles per pixel quad, the one-pixel border pushed to
a far depth and a fan of cap faces behind it, so the surface is closed (see ``topology``). Faces
that are not real surface are kept but flagged ``occluded``: rendering them gives hidden regions a
surface, the mask says they must be generated, not copied.

Occlusion rules (reference values as defaults):

* a face whose smallest 3D interior angle is below ``min_angle_deg`` (2.5 degrees): the sliver
  faces stretched across depth discontinuities and towards the far border;
* optionally, a face whose largest per-axis edge extent exceeds ``max_extent_ratio`` times the
  frame's depth range. The reference computes this test with 0.013 but never applies it, so it is
  off (``None``) by default to reproduce the reference's masks, which the adapter was trained on;
* faces touching a pixel without valid depth, faces spanned by border pixels alone (they lie
  on the far closure), and the cap faces.

Depth sanitising rule: a value that is NaN, +-inf, zero or negative means "no measured surface";
the pixel is placed at the far depth and every face touching it is occluded. The far depth is
``border_depth`` (100, as in the reference) unless the scene reaches beyond it, in which case it
becomes twice the farthest valid depth, so the closure stays behind the scene whatever its units.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from ..camera.intrinsics import Intrinsics
from ..errors import InputError
from .options import DWMeshOptions
from .topology import GridTopology, check_grid_size, grid_topology

Array = np.ndarray | torch.Tensor


@dataclass(eq=False)
class DWMesh:
    """A DW-Mesh. Arrays are numpy when it was built from numpy input, else torch tensors on the
    build device. ``vertices`` are in the OpenCV camera frame of the frame it was built from."""

    vertices: Array  # (N, 3) float32, N = H*W + 1 (the last is the cap centre)
    faces: Array  # (F, 3) int32, shared by every mesh of this resolution
    occluded: Array  # (F,) bool
    colors: Array  # (N, 3) uint8 RGB (the cap centre is black)
    intrinsics: Intrinsics
    far_depth: float
    depth: Array = field(repr=False)  # (H, W) float32 sanitised depth the vertices come from

    @property
    def height(self) -> int:
        return self.intrinsics.height

    @property
    def width(self) -> int:
        return self.intrinsics.width

    @property
    def num_grid_faces(self) -> int:
        return 2 * (self.height - 1) * (self.width - 1)

    @property
    def is_torch(self) -> bool:
        return isinstance(self.vertices, torch.Tensor)

    def tensors(self, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """The arrays as torch tensors (zero-copy for numpy on CPU)."""
        out = {}
        for name in ("vertices", "faces", "occluded", "colors", "depth"):
            value = getattr(self, name)
            if name == "faces" and isinstance(value, np.ndarray):
                # The shared topology tensor itself, not a fresh wrapper, so per-topology caches
                # (the rasterizer's corner table) see the same object every time.
                topo = grid_topology(self.height, self.width).faces
                if value.ctypes.data == topo.data_ptr() and value.shape == tuple(topo.shape):
                    value = topo
            t = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
            out[name] = t if device is None else t.to(device)
        return out

    def numpy(self) -> DWMesh:
        """The same mesh with numpy arrays."""
        if not self.is_torch:
            return self
        t = self.tensors("cpu")
        faces = t["faces"].numpy()
        # The faces are the topology shared by every mesh of this size: writing into them would
        # corrupt all of those, so the numpy view is read-only.
        faces.flags.writeable = False
        return DWMesh(
            t["vertices"].numpy(),
            faces,
            t["occluded"].numpy(),
            t["colors"].numpy(),
            self.intrinsics,
            self.far_depth,
            t["depth"].numpy(),
        )

    @cached_property
    def vertex_visible(self) -> Array:
        """(N,) bool: False for every vertex of an occluded face. The reference zeroes colour and
        alpha of those vertices, so its masks also lose about a pixel beside occluded regions."""
        t = self.tensors()
        visible = torch.ones(t["vertices"].shape[0], dtype=torch.bool, device=t["faces"].device)
        visible[t["faces"][t["occluded"]].long().reshape(-1)] = False
        return visible if self.is_torch else visible.numpy()

    def to_trimesh(self):
        """A ``trimesh.Trimesh`` (not processed, so topology is kept) with vertex colours and a
        ``face_attributes['occluded']`` array."""
        import trimesh

        m = self.numpy()
        rgba = np.concatenate([m.colors, np.full((len(m.colors), 1), 255, np.uint8)], 1)
        return trimesh.Trimesh(
            vertices=m.vertices,
            faces=m.faces,
            vertex_colors=rgba,
            face_attributes={"occluded": m.occluded},
            process=False,
            validate=False,
        )


def _as_tensor(x: Any, name: str, device: torch.device | None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if device is None else x.to(device)
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - anything not array-like is the caller's error
        raise InputError(f"{name} must be an array, got {type(x).__name__}") from exc
    with warnings.catch_warnings():
        # Read-only inputs (cached frames, memory maps) are fine: the mesh never writes to them.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(arr)).to(device or "cpu")


def sanitize_depth(
    depth: torch.Tensor, border_depth: float
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Apply the documented rule. Returns (depth with invalid pixels at the far depth, valid mask,
    far depth)."""
    if not (math.isfinite(border_depth) and border_depth > 0):
        raise InputError(f"border depth must be positive and finite, got {border_depth}")
    depth = depth.to(torch.float32)
    valid = torch.isfinite(depth) & (depth > 0)
    far = float(border_depth)
    if bool(valid.any()):
        deepest = float(depth[valid].max())
        if deepest >= far:
            far = 2.0 * deepest
    if not math.isfinite(far):
        raise InputError("the depth map is too large to place a far closure behind it")
    return torch.where(valid, depth, far), valid, far


def unproject(depth: torch.Tensor, intrinsics: Intrinsics) -> torch.Tensor:
    """(H, W) z-depth -> (H, W, 3) points in the OpenCV camera frame, through pixel centres."""
    h, w = depth.shape
    dev = depth.device
    x = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5 - intrinsics.cx) / intrinsics.fx
    y = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5 - intrinsics.cy) / intrinsics.fy
    return torch.stack([depth * x[None, :], depth * y[:, None], depth], dim=-1)


def _small_angle_faces(p: torch.Tensor, cos_limit: float) -> torch.Tensor:
    """(2Q,) bool: grid faces whose smallest interior angle is below the limit.

    Works on the grid's shared edges (horizontal, vertical, diagonal) instead of gathering the
    vertices of every face, so each edge length is computed once."""
    hor = p[:, 1:] - p[:, :-1]  # TL->TR along rows
    ver = p[1:, :] - p[:-1, :]  # TL->BL along columns
    dia = p[:-1, 1:] - p[1:, :-1]  # BL->TR
    hl = hor.square().sum(-1).sqrt()
    vl = ver.square().sum(-1).sqrt()
    dl = dia.square().sum(-1).sqrt()
    eps = 1e-12
    t_h, b_h = hor[:-1], hor[1:]
    l_v, r_v = ver[:, :-1], ver[:, 1:]
    t_hl, b_hl, l_vl, r_vl = hl[:-1], hl[1:], vl[:, :-1], vl[:, 1:]

    def too_small(a, b, la, lb):
        return (a * b).sum(-1) > cos_limit * (la * lb + eps)

    # Face [BL, TL, TR]: angles at TL (down, right), at BL (up, diagonal), at TR (left, -diag).
    first = (
        too_small(l_v, t_h, l_vl, t_hl)
        | too_small(-l_v, dia, l_vl, dl)
        | too_small(-t_h, -dia, t_hl, dl)
    )
    # Face [BL, TR, BR]: angles at BR (up, left), at BL (right, diagonal), at TR (down, -diag).
    second = (
        too_small(-r_v, -b_h, r_vl, b_hl)
        | too_small(b_h, dia, b_hl, dl)
        | too_small(r_v, -dia, r_vl, dl)
    )
    return torch.cat([first.reshape(-1), second.reshape(-1)])


def _large_extent_faces(p: torch.Tensor, ratio: float) -> torch.Tensor:
    z = p[..., 2]
    z_range = float(z.max() - z.min())
    if z_range <= 0:
        return torch.zeros(
            2 * (p.shape[0] - 1) * (p.shape[1] - 1), dtype=torch.bool, device=p.device
        )
    hor = (p[:, 1:] - p[:, :-1]).abs().amax(-1)
    ver = (p[1:, :] - p[:-1, :]).abs().amax(-1)
    dia = (p[:-1, 1:] - p[1:, :-1]).abs().amax(-1)
    first = torch.maximum(torch.maximum(ver[:, :-1], hor[:-1]), dia)
    second = torch.maximum(torch.maximum(ver[:, 1:], hor[1:]), dia)
    return torch.cat([first.reshape(-1), second.reshape(-1)]) > ratio * z_range


def _faces_within(region: torch.Tensor) -> torch.Tensor:
    """Grid faces whose three vertices all lie in ``region`` (H, W) bool."""
    tl, tr = region[:-1, :-1], region[:-1, 1:]
    bl, br = region[1:, :-1], region[1:, 1:]
    return torch.cat([(bl & tl & tr).reshape(-1), (bl & tr & br).reshape(-1)])


def _faces_touching(invalid: torch.Tensor) -> torch.Tensor:
    tl, tr = invalid[:-1, :-1], invalid[:-1, 1:]
    bl, br = invalid[1:, :-1], invalid[1:, 1:]
    return torch.cat([(bl | tl | tr).reshape(-1), (bl | tr | br).reshape(-1)])


def build_dw_mesh(
    depth: Array,
    color: Array | None,
    intrinsics: Intrinsics | None = None,
    options: DWMeshOptions | None = None,
    *,
    device: torch.device | str | None = None,
) -> DWMesh:
    """Build the DW-Mesh of one frame.

    ``depth`` (H, W) z-depth and ``color`` (H, W, 3) uint8 RGB (or None for grey), numpy arrays or
    torch tensors; ``intrinsics`` default to the reference camera (f = 500 px, centred). The
    result's arrays are numpy if ``depth`` was numpy, else tensors on ``device`` (default: the
    depth's device). ``options`` default to the reference's rules (``DWMeshOptions()``)."""
    opts = options if options is not None else DWMeshOptions()
    return_numpy = not isinstance(depth, torch.Tensor)
    dev = torch.device(device) if device is not None else None
    d = _as_tensor(depth, "depth", dev)
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if d.ndim != 2:
        raise InputError(f"depth must be an (H, W) array, got shape {tuple(d.shape)}")
    if not (
        d.dtype.is_floating_point or d.dtype in (torch.int32, torch.int64, torch.int16, torch.uint8)
    ):
        raise InputError(f"depth must hold numbers, got dtype {d.dtype}")
    h, w = int(d.shape[0]), int(d.shape[1])
    check_grid_size(h, w)
    if intrinsics is None:
        intrinsics = Intrinsics.reference(w, h)
    if (intrinsics.width, intrinsics.height) != (w, h):
        raise InputError(
            f"intrinsics are for {intrinsics.width}x{intrinsics.height} but depth is {w}x{h}; "
            "scale them with Intrinsics.scaled(width, height)"
        )
    topo: GridTopology = grid_topology(h, w, d.device)

    if color is None:
        c = torch.full((h, w, 3), 128, dtype=torch.uint8, device=d.device)
    else:
        c = _as_tensor(color, "color", d.device)
        if tuple(c.shape) != (h, w, 3):
            raise InputError(f"color must be (H, W, 3) = ({h}, {w}, 3), got {tuple(c.shape)}")
        if c.dtype != torch.uint8:
            raise InputError(f"color must be uint8 RGB, got dtype {c.dtype}")

    d, valid, far = sanitize_depth(d, opts.border_depth)
    d = torch.where(topo.border_pixels, torch.tensor(far, device=d.device), d)
    points = unproject(d, intrinsics)

    occluded_grid = _small_angle_faces(points, math.cos(math.radians(opts.min_angle_deg)))
    if opts.max_extent_ratio is not None:
        occluded_grid |= _large_extent_faces(points, opts.max_extent_ratio)
    if not bool(valid.all()):
        occluded_grid |= _faces_touching(~valid)
    # Faces spanned by border pixels alone (at two image corners) lie on the far closure: no
    # measured surface, though their angles are fine.
    occluded_grid |= _faces_within(topo.border_pixels)
    n_cap = topo.faces.shape[0] - occluded_grid.shape[0]
    occluded = torch.cat([occluded_grid, torch.ones(n_cap, dtype=torch.bool, device=d.device)])

    # The cap centre: the image centre's ray at the far depth, inside the (convex) border loop.
    cx = (w / 2.0 - intrinsics.cx) / intrinsics.fx * far
    cy = (h / 2.0 - intrinsics.cy) / intrinsics.fy * far
    cap = torch.tensor([[cx, cy, far]], dtype=torch.float32, device=d.device)
    vertices = torch.cat([points.reshape(-1, 3), cap])
    colors = torch.cat([c.reshape(-1, 3), torch.zeros(1, 3, dtype=torch.uint8, device=d.device)])
    mesh = DWMesh(vertices, topo.faces, occluded, colors, intrinsics, far, d)
    return mesh.numpy() if return_numpy else mesh
