"""Rendering a completed scene from any pose: the source DW-Mesh and completion layers,
composited by depth.

For source frame t seen from a camera:

1. **Source.** The DW-Mesh of frame t is rendered as always (``geometry.render``, face masks by
   default): this is exactly today's raw render, and when nothing else applies it is the whole
   cost and the whole result.
2. **This frame's completions.** All layers of frame t, fused into one mesh
   (``CompletedScene.frame_mesh``), are rendered with ``render_triangles``. A completion pixel
   wins where the source mask is False (the source shows nothing there, or an occluded face:
   a face stretched across a depth edge, which is no real surface), or where it is nearer than
   the visible source surface by more than ``depth_tolerance`` (relative: ``z_c < z_s (1 -
   tol)``). The source wins ties, so a completion lying on the source surface (the margin that
   closes seams, the same background seen twice) never flickers over it.
3. **Nearby frames.** Pixels still empty take the layers of frames t-1, t+1, t-2, t+2, ... up
   to t±``window``, nearest frame first (at equal distance the earlier frame first), each
   filling only pixels that are still empty, stopping as soon as none is left; within one
   frame the nearest surface wins. Why: what a disocclusion reveals is mostly static
   background, which a neighbouring frame's generation shows at the same place, while a moving
   object's completion is wrong a few frames away; the nearest frame is the best guess (even
   where a farther frame has a surface in front of it), and filling only holes means a
   neighbour's layer never covers this frame's own source or completions. The default window
   of 8 frames is a third of a second at 24 fps; beyond it, content that moves at all has
   moved.

Each pixel's provenance is ``Provenance.SOURCE``, ``COMPLETION`` (step 2), ``NEARBY`` (step 3)
or ``HOLE`` (nothing at all; black).

Cost. A frame without completions, and none nearby, costs the one source render. Fusing: where
layers of several generations show the same surface (within about a voxel two pixels wide at
its distance), only the first keeps it, so a frame's mesh grows with the surface completed, not
with the number of generations. Geometry is culled in runs of 32 consecutive faces (a strip of a
layer's pixel row) by their screen boxes, exactly (nothing culled could change a pixel): step 2
draws, inside the rectangle the frame's layers project to (through a camera cropped to it: the
same pixel rays), only runs not hidden behind the visible source surface (their nearest point
against the farthest source depth in their box, from a max pyramid of the source render, with
the tolerance; a box with an empty source pixel always passes). Step 3 is one render for all
nearby frames together (torch and compiled CPU backends) of the faces whose box holds a hole
pixel (runs first, then face by face, against a summed-area table of the holes), each frame's
faces scaled about the camera centre by a factor that puts them behind every nearer frame's: a
uniform scaling about the centre changes neither the picture nor the perspective-correct
interpolation, so the depth test orders by frame first, then depth, which is the frame-by-frame
result (faces that cross the near plane are cut at it first). Where the depth range is too wide
for the scaling, or on nvdiffrast (whose z/w depth would lose its resolution; GPU renders are
cheap), step 3 renders frame by frame instead. Fused meshes (with their tensors on the render
device) are cached for ``max(cache_frames, 2 window + 2)`` frames, so a path sliding through the
frames fuses each once; source DW-Meshes for ``cache_frames``. Tensors stay on the render device
until the final image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from ...cache import LRUCache
from ...camera.intrinsics import Intrinsics
from ...camera.trajectory import Trajectory
from ...errors import Cancelled, InputError
from ...geometry import DWMesh, RenderOptions, render, render_triangles
from ...geometry.rendering import choose_backend
from ..model import Scene
from ..trajectory_render import (
    cancel_check,
    is_source_camera,
    render_intrinsics,
    resolve_frame_indices,
    trajectory_tag,
)
from .layers import CompletionLayer, LayerMesh, Provenance, layer_mesh
from .store import Completions


@dataclass(frozen=True)
class CompositeOptions:
    """How completed renders are composited (see the module docstring).

    ``window``: nearby frames searched for pixels still empty (t±1 .. t±window, nearest first;
    0 turns it off); ``depth_tolerance``: relative depth margin by which a completion must be
    nearer than a visible source surface to win; ``render``: the backend, mask style, device
    and near plane of every render; ``cache_frames``: fused per-frame meshes (at least the
    window's ``2 window + 2``) and source DW-Meshes kept."""

    window: int = 8
    depth_tolerance: float = 0.02
    render: RenderOptions = field(default_factory=lambda: RenderOptions(mask_style="face"))
    cache_frames: int = 16

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 0:
            raise InputError(f"window must be an integer >= 0, got {self.window!r}")
        tol = self.depth_tolerance
        if not (isinstance(tol, int | float) and math.isfinite(tol) and 0 <= tol < 1):
            raise InputError(f"depth_tolerance must be in [0, 1), got {tol!r}")
        if not isinstance(self.render, RenderOptions):
            raise InputError(f"render must be a RenderOptions, got {type(self.render).__name__}")
        c = self.cache_frames
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise InputError(f"cache_frames must be an integer >= 1, got {c!r}")


@dataclass
class CompletedRender:
    color: np.ndarray  # (H, W, 3) uint8, black in holes
    holes: np.ndarray  # (H, W) bool: nothing at all
    provenance: np.ndarray  # (H, W) uint8 Provenance
    depth: np.ndarray  # (H, W) float32 camera z, inf in holes


@dataclass
class CompletedTrajectoryRender:
    colors: np.ndarray  # (N, H, W, 3) uint8, black in holes
    holes: np.ndarray  # (N, H, W) bool
    provenance: np.ndarray  # (N, H, W) uint8 Provenance
    trajectory: Trajectory
    intrinsics: Intrinsics
    frame_indices: np.ndarray  # (N,) source frame rendered at each pose

    @property
    def tag(self) -> str:
        return trajectory_tag(self.trajectory.name)


# -- fusion: layers without duplicates ---------------------------------------------------------

# A voxel's edge is about this many pixel footprints at the point's distance from the source
# camera (world origin), rounded down to a power of two so that nearby depths share a grid.
_VOXEL_PIXELS = 2.0


def _layer_world(layer: CompletionLayer) -> tuple[np.ndarray, np.ndarray]:
    """(valid (h, w) bool, world points (n, 3) float64 of the valid pixels, row-major)."""
    valid = layer.valid
    k = layer.crop_intrinsics()
    v, u = np.nonzero(valid)
    z = layer.depth[v, u].astype(np.float64)
    cam = np.stack([(u + 0.5 - k.cx) / k.fx * z, (v + 0.5 - k.cy) / k.fy * z, z], 1)
    return valid, cam @ layer.pose[:3, :3].T + layer.pose[:3, 3]


def _voxel_cells(points: np.ndarray, focal: float) -> tuple[np.ndarray, np.ndarray]:
    """(level (n,), position in voxels of that level (n, 3)) of world points: the voxel edge is
    a power of two between one and two times ``_VOXEL_PIXELS`` pixel footprints (distance /
    focal) at the point's distance from the origin, so surfaces sampled at about one point per
    pixel put a point in every voxel they cross."""
    dist = np.linalg.norm(points, axis=1)
    level = np.floor(np.log2(np.maximum(dist * _VOXEL_PIXELS / focal, 1e-12)))
    return level, points / np.exp2(level)[:, None]


def _pack(level: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """int64 keys of voxels (level (n,), integer cell (n, 3))."""
    q = np.clip(cell + (1 << 17), 0, (1 << 18) - 1)
    lv = np.clip(level + 128, 0, 255).astype(np.int64)
    return (lv << 54) | (q[:, 0] << 36) | (q[:, 1] << 18) | q[:, 2]


def voxel_keys(points: np.ndarray, focal: float) -> np.ndarray:
    """int64 key of the voxel of each world point (n, 3) (see ``_voxel_cells``)."""
    level, cells = _voxel_cells(points, focal)
    return _pack(level, np.floor(cells).astype(np.int64))


# The 2x2x2 voxels nearest to a point: per axis its own and the neighbour on its nearer side,
# i.e. floor(c - 1/2) and floor(c - 1/2) + 1.
_BLOCK = np.array([[(i >> a) & 1 for a in range(3)] for i in range(8)], np.int64)
# Layers larger than this are probed on every 16th point first; below 2% found covered, the
# whole test is skipped (layers that completion already kept apart, the usual case).
_PROBE_ABOVE = 4096


def _near_covered(world: np.ndarray, focal: float, covered: np.ndarray) -> np.ndarray:
    """(n,) bool: a point of ``covered`` (sorted voxel keys, repeats allowed) lies in the 2x2x2
    voxels nearest to each world point, so within about a voxel of it."""
    n = len(world)
    if not covered.size or not n:
        return np.zeros(n, bool)
    level, cells = _voxel_cells(world, focal)
    low = np.floor(cells - 0.5).astype(np.int64)

    def test(sel) -> np.ndarray:
        out = np.zeros(len(low[sel]), bool)
        for corner in _BLOCK:
            keys = _pack(level[sel], low[sel] + corner)
            at = np.minimum(np.searchsorted(covered, keys), covered.size - 1)
            out |= covered[at] == keys
        return out

    if n > _PROBE_ABOVE and test(slice(None, None, 16)).mean() < 0.02:
        return np.zeros(n, bool)
    return test(slice(None))


def _erode(mask: np.ndarray) -> np.ndarray:
    """3x3 erosion, outside counting as True."""
    p = np.pad(mask, 1, constant_values=True)
    h, w = mask.shape
    out = mask.copy()
    for dy in range(3):
        for dx in range(3):
            out &= p[dy : dy + h, dx : dx + w]
    return out


def _without_covered(
    layer: CompletionLayer, valid: np.ndarray, redundant: np.ndarray
) -> CompletionLayer | None:
    """``layer`` less its ``redundant`` pixels, keeping a one-pixel band of them beside what
    stays so the pieces overlap and no seam opens; cropped to what is left (None when
    nothing is)."""
    if not redundant.any():
        return layer
    kept = valid & ~(redundant & _erode(redundant | ~valid))
    if not kept.any():
        return None
    ys, xs = np.nonzero(kept.any(1))[0], np.nonzero(kept.any(0))[0]
    y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    d = np.where(kept, layer.depth, np.float32(np.inf))[y0:y1, x0:x1]
    c = layer.color[y0:y1, x0:x1]
    ox, oy = layer.region[0], layer.region[1]
    region = (ox + x0, oy + y0, ox + x1, oy + y1)
    d, c = np.ascontiguousarray(d), np.ascontiguousarray(c)
    return CompletionLayer(
        layer.frame_index, layer.generation, layer.pose, layer.intrinsics, region, d, c
    )


# Faces are culled against the holes in runs of this many consecutive faces (a layer's faces
# follow its pixel rows, so a run is a strip of surface about sixteen pixels long).
_RUN = 32


@dataclass
class _Band:
    """The completion geometry of one frame, ready to render (tensors per device)."""

    frame: int
    mesh: LayerMesh
    bounds: np.ndarray  # (2, 3) world min, max of its vertices
    runs: np.ndarray  # (R, 2, 3) world min, max of each run of _RUN faces
    tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def on(self, device: torch.device) -> dict[str, torch.Tensor]:
        key = str(device)
        if key not in self.tensors:
            t = {
                name: torch.from_numpy(getattr(self.mesh, name)).to(device)
                for name in ("vertices", "faces", "colors")
            }
            t["runs"] = torch.from_numpy(self.runs).to(device)
            self.tensors[key] = t
        return self.tensors[key]


def _band(frame: int, mesh: LayerMesh) -> _Band | None:
    if not mesh.num_faces:
        return None
    f = torch.from_numpy(mesh.faces).long()
    pad = -len(f) % _RUN
    if pad:
        f = torch.cat([f, f[-1:].expand(pad, 3)])
    corners = torch.from_numpy(mesh.vertices)[f.reshape(-1)].view(-1, _RUN * 3, 3)
    runs = torch.stack([corners.amin(1), corners.amax(1)], 1)
    bounds = np.stack([mesh.vertices.min(0), mesh.vertices.max(0)])
    return _Band(frame, mesh, bounds, runs.numpy())


# -- screen rectangles ---------------------------------------------------------------------------

# Corners of a box from its (2, 3) min/max: index bits pick min or max per axis.
_CORNERS = np.array([[(i >> a) & 1 for a in range(3)] for i in range(8)])
_CORNERS_T = torch.from_numpy(_CORNERS)


def _screen_rect(
    bounds: np.ndarray, w2c: np.ndarray, k: Intrinsics, near: float
) -> tuple[int, int, int, int] | None:
    """The pixel rectangle (x0, y0, x1, y1) that holds the projection of a world box, clipped
    to the image (None when it misses the image; the whole image when the box reaches behind
    the near plane, where perspective bounds do not hold)."""
    corners = bounds.astype(np.float64)[_CORNERS, np.arange(3)]
    cam = corners @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    if (z <= near).all():
        return None  # wholly behind the near plane: never drawn
    if (z <= near).any():
        return 0, 0, k.width, k.height
    u = k.fx * cam[:, 0] / z + k.cx
    v = k.fy * cam[:, 1] / z + k.cy
    x0, x1 = max(math.floor(u.min()) - 1, 0), min(math.ceil(u.max()) + 1, k.width)
    y0, y1 = max(math.floor(v.min()) - 1, 0), min(math.ceil(v.max()) + 1, k.height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def _mask_rect(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    rows, cols = mask.any(1), mask.any(0)
    if not bool(rows.any()):
        return None
    ys, xs = torch.nonzero(rows)[:, 0], torch.nonzero(cols)[:, 0]
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _intersect(a, b):
    if a is None or b is None:
        return None
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def _crop(k: Intrinsics, rect: tuple[int, int, int, int]) -> Intrinsics:
    x0, y0, x1, y1 = rect
    return Intrinsics(k.fx, k.fy, k.cx - x0, k.cy - y0, x1 - x0, y1 - y0)


# The largest scale between the nearest and the farthest nearby frame's geometry in the one-pass
# fill (float32 depth keeps its relative precision, so only overflow limits it).
_MAX_SCALE = 1e30


# Below this many faces passing the run test, they are drawn without a test face by face.
_FEW_FACES = 1 << 14
# Pixels whose centre lies this close outside a screen box count as inside (the rasterizers
# cover centres on an edge, with a little slack).
_BOX_SLACK = 1e-2


class _Screen:
    """A camera (``k``, world-to-camera ``w2c``) and per-pixel images to test screen boxes of
    geometry against: a summed-area table of ``wanted`` pixels (any in a box?) and, with
    ``depth``, a max pyramid of it (the farthest in a box, conservatively)."""

    def __init__(self, wanted, k: Intrinsics, w2c: np.ndarray, near: float, depth=None):
        h, w = wanted.shape
        dev = wanted.device
        self.sat = torch.zeros(h + 1, w + 1, dtype=torch.int32, device=dev)
        self.sat[1:, 1:] = wanted.to(torch.int32).cumsum(0).cumsum(1)
        self.h, self.w, self.k, self.near = h, w, k, near
        self.rot = torch.as_tensor(w2c[:3, :3], dtype=torch.float32, device=dev)
        self.shift = torch.as_tensor(w2c[:3, 3], dtype=torch.float32, device=dev)
        if depth is not None:
            levels, sizes = [depth.float()], [(h, w)]
            while max(sizes[-1]) > 1:
                x = torch.nn.functional.max_pool2d(levels[-1][None, None], 2, ceil_mode=True)
                levels.append(x[0, 0])
                sizes.append(tuple(x.shape[-2:]))
            self.levels = torch.cat([x.reshape(-1) for x in levels])
            n = torch.tensor([a * b for a, b in sizes], device=dev)
            self.offsets = torch.cumsum(n, 0) - n
            self.widths = torch.tensor([b for _, b in sizes], device=dev)

    def project(self, points: torch.Tensor):
        """Camera z and pixel coordinates (pixel (i, j) has its centre at (i, j)) of world
        points (..., 3)."""
        # Elementwise rather than a matmul: each point's numbers then do not depend on how many
        # points are projected together (BLAS blocking), so subsets project like the whole.
        r, p = self.rot, points
        cam = p[..., 0:1] * r[:, 0] + p[..., 1:2] * r[:, 1] + p[..., 2:3] * r[:, 2] + self.shift
        z = cam[..., 2]
        k = self.k
        return z, (cam[..., 0] / z) * k.fx + (k.cx - 0.5), (cam[..., 1] / z) * k.fy + (k.cy - 0.5)

    def boxes(self, umin, umax, vmin, vmax):
        """The pixel boxes x0 <= x < x1, y0 <= y < y1 that hold the pixel centres of screen
        boxes, clipped to the image (empty where they miss it)."""
        e = _BOX_SLACK
        x0 = (umin - e).ceil().clamp(0, self.w).long()
        x1 = ((umax + e).floor() + 1).clamp(0, self.w).long()
        y0 = (vmin - e).ceil().clamp(0, self.h).long()
        y1 = ((vmax + e).floor() + 1).clamp(0, self.h).long()
        return x0, x1, y0, y1

    def wanted_in(self, x0, x1, y0, y1) -> torch.Tensor:
        s = self.sat
        count = s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]
        return (x1 > x0) & (y1 > y0) & (count > 0)

    def farthest_in(self, x0, x1, y0, y1) -> torch.Tensor:
        """An upper bound of ``depth`` over each (non-empty) box: the level where the box
        spans at most two cells a side, four cells."""
        extent = torch.maximum(x1 - x0, y1 - y0).clamp(min=1)
        level = torch.ceil(torch.log2(extent.double())).long().clamp(max=len(self.widths) - 1)
        off, wid = self.offsets[level], self.widths[level]
        cx0, cx1 = x0.clamp(max=self.w - 1) >> level, (x1 - 1).clamp(0, self.w - 1) >> level
        cy0, cy1 = y0.clamp(max=self.h - 1) >> level, (y1 - 1).clamp(0, self.h - 1) >> level
        lv = self.levels
        return torch.maximum(
            torch.maximum(lv[off + cy0 * wid + cx0], lv[off + cy0 * wid + cx1]),
            torch.maximum(lv[off + cy1 * wid + cx0], lv[off + cy1 * wid + cx1]),
        )


def _runs_on_screen(m: dict[str, torch.Tensor], screen: _Screen):
    """Per run of faces: (wholly in front of the near plane, partly in front, pixel box)."""
    runs = m["runs"]
    corners = runs[:, _CORNERS_T.to(runs.device), torch.arange(3, device=runs.device)]
    z, u, v = screen.project(corners)  # (R, 8)
    front = z > screen.near
    box = screen.boxes(u.min(1).values, u.max(1).values, v.min(1).values, v.max(1).values)
    return front.all(1), front.any(1), box, z.min(1).values


def _run_faces(keep: torch.Tensor, num_faces: int) -> torch.Tensor:
    ids = torch.nonzero(keep).squeeze(1)[:, None] * _RUN
    ids = (ids + torch.arange(_RUN, device=keep.device)).reshape(-1)
    return ids[ids < num_faces]


def _faces_not_hidden(m: dict[str, torch.Tensor], screen: _Screen, tolerance: float):
    """The faces of the runs that may show somewhere: a run in front of the near plane whose
    nearest point is not nearer, by the tolerance, than the farthest visible source surface in
    its box (and whose box holds no pixel without source) can win no pixel (occlusion culling
    against the source render's depth, as a max pyramid)."""
    whole, some, (x0, x1, y0, y1), zmin = _runs_on_screen(m, screen)
    inside = (x1 > x0) & (y1 > y0)
    hidden = whole & inside & (zmin >= screen.farthest_in(x0, x1, y0, y1) * (1 - tolerance))
    keep = (some & ~whole) | (whole & inside & ~hidden)
    return _run_faces(keep, len(m["faces"]))


def _faces_over(m: dict[str, torch.Tensor], screen: _Screen):
    """The faces of a band that may cover a wanted pixel, as (faces in front of the near plane
    whose screen box holds a wanted pixel, faces that cross the near plane): no other face can
    cover a wanted pixel or hide one. Runs of faces are tested first (runs wholly behind the
    near plane are never drawn; runs reaching across it pass), then the faces of the runs that
    pass."""
    whole, some, box, _ = _runs_on_screen(m, screen)
    crossing = some & ~whole
    ids = _run_faces(crossing | (whole & screen.wanted_in(*box)), len(m["faces"]))
    if not len(ids) or (len(ids) <= _FEW_FACES and not bool(crossing.any())):
        return ids, ids[:0]  # few: the rasterizer's own box test costs less than another here
    f = m["faces"].index_select(0, ids).T.contiguous()  # (3, K) corner rows
    if 3 * len(ids) < len(m["vertices"]):  # few faces pass the runs: their corners only
        corners = m["vertices"].index_select(0, f.reshape(-1))
        fz, fu, fv = torch.stack(screen.project(corners)).view(3, 3, -1)
    else:
        zuv = torch.stack(screen.project(m["vertices"]))  # (3, N): every vertex once
        fz, fu, fv = zuv.index_select(1, f.reshape(-1)).view(3, 3, -1)  # each (3 corners, K)
    ahead = fz > screen.near
    f_whole, f_some = ahead.all(0), ahead.any(0)
    box = screen.boxes(fu.min(0).values, fu.max(0).values, fv.min(0).values, fv.max(0).values)
    return ids[f_whole & screen.wanted_in(*box)], ids[f_some & ~f_whole]


def _clip_near(v: torch.Tensor, c: torch.Tensor, dist: torch.Tensor):
    """Triangles (K, 3, 3) world corners with colours (K, 3, 3) float and signed distances
    (K, 3) to the near plane (>= 0 in front), each crossing it -> the triangles of their parts
    in front (M, 3, 3), colours (M, 3, 3). Corners on the plane interpolate linearly in 3D,
    which is what perspective-correct interpolation does inside the triangle."""
    out_v, out_c = [], []
    inside = dist >= 0
    n_in = inside.sum(1)
    for n in (1, 2):
        sel = n_in == n
        vs, cs, ds, ins = v[sel], c[sel], dist[sel], inside[sel]
        lone = ins if n == 1 else ~ins  # the inside corner of one, the outside corner of two
        k = lone.to(torch.int64).argmax(1)
        order = (k[:, None] + torch.arange(3, device=v.device)) % 3

        def corner(x, i, order=order):
            return torch.gather(x, 1, order[:, i, None, None].expand(-1, 1, x.shape[2]))[:, 0]

        (a, b, cc), (ca, cb, ccc) = ([corner(x, i) for i in range(3)] for x in (vs, cs))
        da, db, dc = (torch.gather(ds, 1, order[:, i, None])[:, 0:1] for i in range(3))
        t_ab, t_ac = da / (da - db), da / (da - dc)
        p_ab, p_ac = a + t_ab * (b - a), a + t_ac * (cc - a)
        q_ab, q_ac = ca + t_ab * (cb - ca), ca + t_ac * (ccc - ca)
        if n == 1:
            out_v.append(torch.stack([a, p_ab, p_ac], 1))
            out_c.append(torch.stack([ca, q_ab, q_ac], 1))
        else:  # a is behind: the part in front is the quad p_ab, b, c, p_ac
            out_v += [torch.stack([p_ab, b, cc], 1), torch.stack([p_ab, cc, p_ac], 1)]
            out_c += [torch.stack([q_ab, cb, ccc], 1), torch.stack([q_ab, ccc, q_ac], 1)]
    return torch.cat(out_v), torch.cat(out_c)


def _as_tensor(x) -> torch.Tensor:
    return torch.from_numpy(x) if isinstance(x, np.ndarray) else x


class CompletedScene:
    """A scene with its completion layers, rendered from any pose (see the module docstring).

    ``meshes``: where a frame's source DW-Mesh comes from (default: ``scene.mesh`` on the
    render device, cached); the server passes its own cache."""

    def __init__(
        self,
        scene: Scene,
        completions: Completions,
        options: CompositeOptions = CompositeOptions(),  # noqa: B008 - frozen, immutable
        *,
        meshes: Callable[[int], DWMesh] | None = None,
    ) -> None:
        if not isinstance(scene, Scene):
            raise InputError(f"scene must be a Scene, got {type(scene).__name__}")
        if not isinstance(completions, Completions):
            raise InputError(f"completions must be Completions, got {type(completions).__name__}")
        if not isinstance(options, CompositeOptions):
            raise InputError(f"options must be CompositeOptions, got {type(options).__name__}")
        frames = completions.frames()
        if frames and frames[-1] >= scene.num_frames:
            raise InputError(
                f"completions of frame {frames[-1]} do not belong to this scene of "
                f"{scene.num_frames} frames"
            )
        self.scene, self.completions, self.options = scene, completions, options
        self._meshes = meshes
        # Fused meshes: at least a window's worth, so that a path sliding through the frames
        # builds each frame's once (an LRU smaller than the window would rebuild most of them
        # at every frame).
        self._fused = LRUCache(max(options.cache_frames, 2 * options.window + 2))
        self._pieces = LRUCache(max(options.cache_frames, 2 * options.window + 2))
        self._sources = LRUCache(options.cache_frames)

    # -- per-frame data --------------------------------------------------------------------

    def frame_layers(self, t: int) -> list[tuple[int, CompletionLayer]]:
        """Frame ``t``'s layers as they are composited, cached: each layer of
        ``completions.for_frame(t)`` less the surface that the layers before it already hold
        (the same voxel, about two pixels wide), keeping a one-pixel overlap so no seam opens,
        cropped to what is left; as (index into ``for_frame(t)``, piece), pieces with nothing
        left dropped. ``frame_mesh`` is their ``layer_mesh``es; StreamGeometry sends them."""
        t = self._check_frame(t)

        def build() -> list[tuple[int, CompletionLayer]]:
            focal = self.scene.intrinsics.fx
            covered = np.zeros(0, np.int64)
            pieces = []
            layers = self.completions.for_frame(t)
            for i, la in enumerate(layers):
                valid, world = _layer_world(la)
                redundant = np.zeros(valid.shape, bool)
                redundant[valid] = _near_covered(world, focal, covered)
                piece = _without_covered(la, valid, redundant)
                if piece is not None:
                    pieces.append((i, piece))
                if i + 1 < len(layers):
                    # Two sorted runs: the stable sort merges them in linear time.
                    covered = np.concatenate([covered, np.unique(voxel_keys(world, focal))])
                    covered.sort(kind="stable")
            return pieces

        return self._pieces.get_or_build(t, build)

    def _fused_band(self, t: int) -> _Band | None:
        """Frame ``t``'s fused layers (``frame_layers`` as one mesh), ready to render; cached."""

        def build() -> _Band | None:
            opts = self.scene.mesh_options
            meshes, index = [], []
            for i, piece in self.frame_layers(t):
                mesh = layer_mesh(piece, opts)
                if mesh.num_faces:
                    meshes.append(mesh)
                    index.append(np.full(mesh.num_faces, i, np.int32))
            fused = LayerMesh.concatenate(meshes)
            if meshes:  # index into for_frame(t), whichever layers kept faces
                fused = replace(fused, face_layer=np.concatenate(index))
            return _band(t, fused)

        return self._fused.get_or_build(t, build)

    def frame_mesh(self, t: int) -> LayerMesh:
        """Every layer of frame ``t`` fused into one mesh: where layers of several generations
        show the same surface, the first keeps it, so the mesh grows with the surface completed
        rather than with the number of generations. ``face_layer`` indexes
        ``completions.for_frame(t)``. Cached."""
        band = self._fused_band(self._check_frame(t))
        return band.mesh if band is not None else LayerMesh.empty()

    def nearby_frames(self, t: int) -> list[int]:
        """The frames whose layers fill what frame ``t``'s leave empty, in the order they are
        tried: t-1, t+1, t-2, t+2, ... within the window and the scene."""
        t = self._check_frame(t)
        return [
            f
            for d in range(1, self.options.window + 1)
            for f in (t - d, t + d)
            if 0 <= f < self.scene.num_frames and self.completions.for_frame(f)
        ]

    def _source_mesh(self, t: int) -> DWMesh:
        if self._meshes is not None:
            return self._meshes(t)
        return self._sources.get_or_build(t, lambda: self.scene.mesh(t, self.options.render.device))

    def _check_frame(self, t) -> int:
        if isinstance(t, bool) or not isinstance(t, int | np.integer):
            raise InputError(f"frame index must be an integer, got {t!r}")
        t = int(t)
        if not 0 <= t < self.scene.num_frames:
            raise InputError(
                f"frame {t} is out of range: the scene has {self.scene.num_frames} frames "
                f"(0..{self.scene.num_frames - 1})"
            )
        return t

    # -- rendering -------------------------------------------------------------------------

    def render(self, t: int, pose, intrinsics: Intrinsics | None = None) -> CompletedRender:
        """Frame ``t`` from camera ``pose`` (4x4 camera-to-world, OpenCV axes) with
        ``intrinsics`` (default the scene's; their size is the output size)."""
        t = self._check_frame(t)
        k = intrinsics or self.scene.intrinsics
        if not isinstance(k, Intrinsics):
            raise InputError(f"intrinsics must be Intrinsics, got {type(k).__name__}")
        opts = self.options
        src = render(self._source_mesh(t), pose, k, opts.render)
        own = self._fused_band(t) if len(self.completions) else None
        nearby = self.nearby_frames(t) if len(self.completions) else []
        src_mask = np.asarray(src.mask) if isinstance(src.mask, np.ndarray) else None
        if own is None and (not nearby or (src_mask is not None and src_mask.all())):
            return self._source_only(src)
        # `render` checked the pose; the same float64 matrix serves the box projections.
        pose = np.asarray(
            pose.detach().cpu().numpy() if isinstance(pose, torch.Tensor) else pose, np.float64
        )
        w2c = np.linalg.inv(pose)
        near = opts.render.near
        own_rect = _screen_rect(own.bounds, w2c, k, near) if own is not None else None
        if own_rect is None and not nearby:
            return self._source_only(src)

        color, mask = _as_tensor(src.color).clone(), _as_tensor(src.mask)
        depth = torch.where(mask, _as_tensor(src.depth), float("inf"))
        device = color.device
        prov = torch.where(mask, int(Provenance.SOURCE), int(Provenance.HOLE)).to(torch.uint8)
        hole = ~mask
        if own_rect is not None:
            x0, y0, x1, y1 = own_rect
            m = own.on(device)
            kc = _crop(k, own_rect)
            screen = _Screen(hole[y0:y1, x0:x1], kc, w2c, near, depth[y0:y1, x0:x1])
            faces = m["faces"].index_select(0, _faces_not_hidden(m, screen, opts.depth_tolerance))
            out = render_triangles(m["vertices"], faces, m["colors"], pose, kc, opts.render)
            nearer = out.depth < depth[y0:y1, x0:x1] * (1.0 - opts.depth_tolerance)
            win = out.mask & (~mask[y0:y1, x0:x1] | nearer)
            color[y0:y1, x0:x1][win] = out.color[win]
            depth[y0:y1, x0:x1][win] = out.depth[win]
            prov[y0:y1, x0:x1][win] = int(Provenance.COMPLETION)
            hole[y0:y1, x0:x1] &= ~win
        if nearby:
            self._fill_from_nearby(nearby, pose, w2c, k, hole, color, depth, prov)
        color[hole] = 0
        return CompletedRender(
            color.cpu().numpy(), hole.cpu().numpy(), prov.cpu().numpy(), depth.cpu().numpy()
        )

    def _fill_from_nearby(self, nearby, pose, w2c, k, hole, color, depth, prov) -> None:
        """Fill ``hole`` (and the images) from the nearby frames' fused layers, nearest frame
        first: in one render, each frame's geometry (only its faces near a hole) scaled about
        the camera centre by a factor that puts it behind every nearer frame's (the picture
        and the perspective-correct interpolation do not change under such a scaling; the
        depth test then orders by frame first, depth second; faces crossing the near plane are
        cut at it first, so that the scaling cannot move what it clips). Frame by frame
        instead on nvdiffrast, or where the depth range is too wide for the scaling."""
        opts = self.options.render
        if choose_backend(opts.backend, hole.device) == "nvdiffrast":
            # nvdiffrast tests z/w, whose float32 resolution the scaling would spend (the torch
            # and compiled CPU rasterizers test 1/w, whose relative precision it keeps); on a
            # GPU a render per frame is cheap.
            return self._fill_frame_by_frame(nearby, pose, w2c, k, hole, color, depth, prov)
        hole_rect = _mask_rect(hole)
        if hole_rect is None:
            return
        x0, y0, x1, y1 = hole_rect
        kc = _crop(k, hole_rect)
        tiles = _Screen(hole[y0:y1, x0:x1], kc, w2c, opts.near)
        device = hole.device
        parts = []  # (rank, vertices, faces, colours), nearest frame first
        rank = 0
        rot = torch.as_tensor(w2c[2, :3], dtype=torch.float64, device=device)
        for f in nearby:
            band = self._fused_band(f)
            if (
                band is None
                or _intersect(_screen_rect(band.bounds, w2c, k, opts.near), hole_rect) is None
            ):
                continue
            m = band.on(device)
            front, cross = _faces_over(m, tiles)
            if len(front):
                used, inverse = torch.unique(m["faces"][front].reshape(-1), return_inverse=True)
                vs, cs = m["vertices"][used], m["colors"][used]
                parts.append((rank, vs, inverse.view(-1, 3).to(torch.int32), cs))
            if len(cross):
                # Cut at the near plane, so that the scaling cannot move what it clips.
                corners = m["faces"][cross].long()
                v = m["vertices"][corners].double()
                dist = v @ rot + (float(w2c[2, 3]) - opts.near * (1 + 1e-6))
                cv, cc = _clip_near(v, m["colors"][corners].double(), dist)
                n = len(cv)
                cs = cc.round().clamp(0, 255).to(torch.uint8).reshape(-1, 3)
                tri = torch.arange(3 * n, device=device, dtype=torch.int32).view(n, 3)
                parts.append((rank, cv.reshape(-1, 3).to(torch.float32), tri, cs))
            rank += bool(len(front) or len(cross))  # ranks only for frames that take part
        if not parts:
            return
        # One pass per group of frames whose scale factors stay in float32's range (usually a
        # single group; a far backdrop beside near geometry makes the factors grow fast).
        z = [tiles.project(v)[0] for _, v, _, _ in parts]
        zmin = min(float(x.min()) for x in z)
        zmax = max(float(x.max()) for x in z)
        step = zmax / zmin * 1.01
        per_group = max(1, int(math.log(_MAX_SCALE) / math.log(step)) + 1)
        h = hole[y0:y1, x0:x1]
        group: list = []
        for i, part in enumerate(parts):
            group.append(part)
            last = i + 1 == len(parts) or parts[i + 1][0] - group[0][0] >= per_group
            if not last:
                continue
            out_color, out_depth, covered = self._one_pass(group, pose, kc, step)
            fill = covered & h
            color[y0:y1, x0:x1][fill] = out_color[fill]
            depth[y0:y1, x0:x1][fill] = out_depth[fill]
            prov[y0:y1, x0:x1][fill] = int(Provenance.NEARBY)
            h &= ~fill
            group = []
            if not bool(h.any()):
                return

    def _one_pass(self, parts, pose, kc: Intrinsics, step: float):
        """Render the parts of several frames in one pass, nearer frames in front (see
        ``_fill_from_nearby``): (colour, true depth, covered)."""
        device = parts[0][1].device
        first = parts[0][0]
        ranks = torch.tensor([r - first for r, _, _, _ in parts], dtype=torch.float64)
        scale = (step**ranks).to(device)
        centre = torch.as_tensor(pose[:3, 3], dtype=torch.float64, device=device)
        vertices, faces, colors, part = [], [], [], []
        offset = 0
        for i, (_, v, f, c) in enumerate(parts):
            vertices.append(((v.double() - centre) * scale[i] + centre).to(torch.float32))
            faces.append(f + offset)
            colors.append(c)
            part.append(torch.full((len(f),), i, dtype=torch.int64, device=device))
            offset += len(v)
        out = render_triangles(
            torch.cat(vertices), torch.cat(faces), torch.cat(colors), pose, kc, self.options.render
        )
        won = torch.cat(part)[out.face_id.clamp(min=0)]
        true_depth = (out.depth.double() / scale[won]).to(torch.float32)
        return out.color, true_depth, out.mask

    def _fill_frame_by_frame(self, nearby, pose, w2c, k, hole, color, depth, prov) -> None:
        """The same fill, one render per nearby frame, stopping when no hole is left."""
        opts = self.options.render
        for f in nearby:
            hole_rect = _mask_rect(hole)
            if hole_rect is None:
                return  # nothing left to fill
            band = self._fused_band(f)
            if band is None:
                continue
            rect = _intersect(_screen_rect(band.bounds, w2c, k, opts.near), hole_rect)
            if rect is None:
                continue
            x0, y0, x1, y1 = rect
            h = hole[y0:y1, x0:x1]
            if not bool(h.any()):
                continue
            m = band.on(hole.device)
            kc = _crop(k, rect)
            out = render_triangles(m["vertices"], m["faces"], m["colors"], pose, kc, opts)
            fill = out.mask & h
            color[y0:y1, x0:x1][fill] = out.color[fill]
            depth[y0:y1, x0:x1][fill] = out.depth[fill]
            prov[y0:y1, x0:x1][fill] = int(Provenance.NEARBY)
            h &= ~fill

    @staticmethod
    def _source_only(src) -> CompletedRender:
        """The raw render as a completed one: nothing to composite."""
        color, mask, depth = (
            x.cpu().numpy() if isinstance(x, torch.Tensor) else x
            for x in (src.color, src.mask, src.depth)
        )
        assert (int(Provenance.HOLE), int(Provenance.SOURCE)) == (0, 1)
        prov = mask.astype(np.uint8)  # HOLE 0, SOURCE 1
        depth = np.where(mask, depth, np.float32(np.inf)).astype(np.float32, copy=False)
        return CompletedRender(color, ~mask, prov, depth)


def render_completed_trajectory(
    completed: CompletedScene,
    trajectory: Trajectory,
    *,
    frame_indices=None,
    progress=True,
    cancel=None,
) -> CompletedTrajectoryRender:
    """Render every pose of ``trajectory`` completed, as ``render_trajectory`` renders it raw:
    pose i shows source frame ``frame_indices[i]`` (default ``frame_schedule``), the path's
    own intrinsics or the scene's, the source frame itself at the source camera; ``progress``
    (True for a bar, or a function called with (done, total)) and ``cancel`` (an Event or a
    function; ``Cancelled`` before the next frame) as there."""
    if not isinstance(completed, CompletedScene):
        raise InputError(f"expected a CompletedScene, got {type(completed).__name__}")
    scene = completed.scene
    k = render_intrinsics(scene, trajectory)
    n = len(trajectory)
    idx = resolve_frame_indices(scene, n, frame_indices)
    colors = np.zeros((n, k.height, k.width, 3), np.uint8)
    holes = np.zeros((n, k.height, k.width), bool)
    provenance = np.zeros((n, k.height, k.width), np.uint8)
    cancelled = cancel_check(cancel)
    hook = progress if callable(progress) else None
    bar = tqdm(total=n, desc="render", unit="frame", disable=hook is not None or not progress)
    try:
        for i in range(n):
            if cancelled():
                raise Cancelled(f"rendering was cancelled after {i} of {n} frames")
            t, pose = int(idx[i]), trajectory.poses[i]
            if is_source_camera(pose, k, scene):
                colors[i], provenance[i] = scene.frames[t], int(Provenance.SOURCE)
            else:
                out = completed.render(t, pose, k)
                colors[i], holes[i], provenance[i] = out.color, out.holes, out.provenance
            bar.update(1)
            if hook is not None:
                hook(i + 1, n)
    finally:
        bar.close()
    return CompletedTrajectoryRender(colors, holes, provenance, trajectory, k, idx)


__all__ = [
    "CompletedRender",
    "CompletedScene",
    "CompletedTrajectoryRender",
    "CompositeOptions",
    "render_completed_trajectory",
]
