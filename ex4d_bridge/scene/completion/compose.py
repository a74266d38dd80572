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
layers of several generations show the same surface (the same voxel, about two pixels wide at
its distance), only the first keeps it, so a frame's mesh grows with the surface completed, not
with the number of generations. Step 2 rasterises only inside the image rectangle that the
frame's layers project to, through a camera cropped to it (the same pixel rays). Step 3 is one
render for all nearby frames together (torch and compiled CPU backends): only the faces whose
screen box meets an 8x8 tile holding a hole are drawn (tested in runs of 64 faces, then face by
face), and each frame's faces are scaled about the camera centre by a factor that puts them
behind every nearer frame's (a uniform scaling about the centre changes neither the picture
nor the perspective-correct interpolation, so the depth test orders by frame first, then
depth: the frame-by-frame result exactly). Where a face crosses the near plane, the depth range
is too wide for the scaling, or on nvdiffrast (whose z/w depth would lose its resolution; GPU
renders are cheap), step 3 renders frame by frame instead. Fused meshes (with their tensors on
the render device) are cached for ``max(cache_frames, 2 window + 2)`` frames, so a path sliding
through the frames fuses each once; source DW-Meshes for ``cache_frames``. Tensors stay on the
render device until the final image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

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


def voxel_keys(points: np.ndarray, focal: float) -> np.ndarray:
    """int64 key of the voxel of each world point (n, 3): the voxel edge is a power of two
    between one and two times ``_VOXEL_PIXELS`` pixel footprints (distance / focal) at the
    point's distance from the origin, so surfaces sampled at about one point per pixel put a
    point in every voxel they cross."""
    dist = np.linalg.norm(points, axis=1)
    level = np.floor(np.log2(np.maximum(dist * _VOXEL_PIXELS / focal, 1e-12)))
    q = np.floor(points / np.exp2(level)[:, None]).astype(np.int64) + (1 << 17)
    np.clip(q, 0, (1 << 18) - 1, out=q)
    lv = np.clip(level + 128, 0, 255).astype(np.int64)
    return (lv << 54) | (q[:, 0] << 36) | (q[:, 1] << 18) | q[:, 2]


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
    layer: CompletionLayer, keys: np.ndarray, covered: np.ndarray
) -> CompletionLayer | None:
    """``layer`` less the pixels whose voxel ``covered`` (sorted keys) already holds, keeping a
    one-pixel band beside what stays so the pieces overlap and no seam opens; cropped to what
    is left (None when nothing is)."""
    valid = keys >= 0
    if not covered.size:
        return layer
    at = np.minimum(np.searchsorted(covered, keys), covered.size - 1)
    redundant = valid & (covered[at] == keys)
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
# follow its pixel rows, so a run is a short strip of surface) before face by face.
_RUN = 64


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
    corners = mesh.vertices[mesh.faces]  # (F, 3, 3)
    pad = -len(corners) % _RUN
    if pad:
        corners = np.concatenate([corners, np.repeat(corners[-1:], pad, 0)])
    runs = corners.reshape(-1, _RUN * 3, 3)
    return _Band(
        frame,
        mesh,
        np.stack([mesh.vertices.min(0), mesh.vertices.max(0)]),
        np.ascontiguousarray(np.stack([runs.min(1), runs.max(1)], 1)),
    )


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


_TILE = 8
# The largest scale between the nearest and the farthest nearby frame's geometry in the one-pass
# fill (float32 depth keeps its relative precision, so only overflow limits it).
_MAX_SCALE = 1e30


class _HoleTiles:
    """Which 8x8-pixel tiles of an image (camera ``k``) hold a wanted pixel, as a summed-area
    table, to test screen boxes against."""

    def __init__(self, wanted: torch.Tensor, k: Intrinsics, w2c: np.ndarray, near: float):
        h, w = wanted.shape
        th, tw = -(-h // _TILE), -(-w // _TILE)
        tiles = torch.zeros(th * _TILE, tw * _TILE, dtype=torch.bool, device=wanted.device)
        tiles[:h, :w] = wanted
        tiles = tiles.view(th, _TILE, tw, _TILE).any(3).any(1)
        self.sat = torch.zeros(th + 1, tw + 1, dtype=torch.int32, device=wanted.device)
        self.sat[1:, 1:] = tiles.to(torch.int32).cumsum(0).cumsum(1)
        self.th, self.tw, self.k, self.near = th, tw, k, near
        dev = wanted.device
        self.rot = torch.as_tensor(w2c[:3, :3], dtype=torch.float32, device=dev)
        self.shift = torch.as_tensor(w2c[:3, 3], dtype=torch.float32, device=dev)

    def project(self, points: torch.Tensor):
        """Camera z and tile coordinates (pixel index / 8) of world points (..., 3)."""
        cam = points @ self.rot.T + self.shift
        z = cam[..., 2]
        k = self.k
        u = (cam[..., 0] / z) * (k.fx / _TILE) + (k.cx - 0.5) / _TILE
        v = (cam[..., 1] / z) * (k.fy / _TILE) + (k.cy - 0.5) / _TILE
        return z, u, v

    def meets(self, umin, umax, vmin, vmax) -> torch.Tensor:
        """Whether each screen box (tile units, pixel centres) holds a wanted tile."""
        th, tw = self.th, self.tw
        x0 = umin.floor().clamp(0, tw - 1).long()
        x1 = umax.floor().clamp(-1, tw - 1).long() + 1
        y0 = vmin.floor().clamp(0, th - 1).long()
        y1 = vmax.floor().clamp(-1, th - 1).long() + 1
        s = self.sat
        count = s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]
        return (x1 > x0) & (y1 > y0) & (umin < tw) & (vmin < th) & (count > 0)


def _faces_over(m: dict[str, torch.Tensor], tiles: _HoleTiles):
    """The faces of a band whose screen box meets a wanted tile: only these can cover a wanted
    pixel, and none of the others can hide one. Runs of faces are tested first (a run reaching
    behind the near plane passes), then the faces of the runs that pass; faces wholly behind
    the near plane are never drawn. None when a face that crosses the near plane remains (its
    screen box is unbounded)."""
    runs = m["runs"]
    corners = runs[:, _CORNERS_T.to(runs.device), torch.arange(3, device=runs.device)]
    z, u, v = tiles.project(corners)  # (R, 8)
    bounded = (z > tiles.near).all(1)
    keep = ~bounded | tiles.meets(
        u.min(1).values, u.max(1).values, v.min(1).values, v.max(1).values
    )
    run_ids = torch.nonzero(keep).squeeze(1)
    faces = m["faces"]
    if not len(run_ids):
        return faces[:0]
    ids = (run_ids[:, None] * _RUN + torch.arange(_RUN, device=faces.device)).reshape(-1)
    ids = ids[ids < len(faces)]
    zuv = torch.stack(tiles.project(m["vertices"]))  # (3, N): every vertex once
    f = faces.index_select(0, ids).T.contiguous()  # (3, K) corner rows
    fz, fu, fv = zuv.index_select(1, f.reshape(-1)).view(3, 3, -1)  # each (3 corners, K)
    front = (fz > tiles.near).T
    if bool((front.any(1) & ~front.all(1)).any()):
        return None
    fu, fv = fu.T, fv.T
    hit = front.all(1) & tiles.meets(
        fu.min(1).values, fu.max(1).values, fv.min(1).values, fv.max(1).values
    )
    return faces.index_select(0, ids[hit])


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
        self._sources = LRUCache(options.cache_frames)

    # -- per-frame data --------------------------------------------------------------------

    def _fused_band(self, t: int) -> _Band | None:
        """Frame ``t``'s fused layers (cached): each layer less the surface that the layers
        before it already hold (the same voxel, about two pixels wide), keeping a one-pixel
        overlap so no seam opens."""

        def build() -> _Band | None:
            opts, focal = self.scene.mesh_options, self.scene.intrinsics.fx
            covered = np.zeros(0, np.int64)
            meshes = []
            layers = self.completions.for_frame(t)
            for i, la in enumerate(layers):
                valid, world = _layer_world(la)
                keys = np.full(valid.shape, -1, np.int64)
                keys[valid] = voxel_keys(world, focal)
                piece = _without_covered(la, keys, covered)
                if piece is not None:
                    meshes.append(layer_mesh(piece, opts, i))
                if i + 1 < len(layers):
                    covered = np.union1d(covered, keys[valid])
            return _band(t, LayerMesh.concatenate(meshes))

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
            out = render_triangles(m["vertices"], m["faces"], m["colors"], pose, kc, opts.render)
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
        depth test then orders by frame first, depth second). Frame by frame instead where
        the geometry reaches behind the near plane or the depth range is too wide for it."""
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
        tiles = _HoleTiles(hole[y0:y1, x0:x1], kc, w2c, opts.near)
        device = hole.device
        parts = []  # (tensors, faces) nearest frame first
        for f in nearby:
            band = self._fused_band(f)
            if (
                band is None
                or _intersect(_screen_rect(band.bounds, w2c, k, opts.near), hole_rect) is None
            ):
                continue
            m = band.on(device)
            faces = _faces_over(m, tiles)
            if faces is None:
                return self._fill_frame_by_frame(nearby, pose, w2c, k, hole, color, depth, prov)
            if len(faces):
                parts.append((m, faces))
        if not parts:
            return
        vertices, faces, colors, rank = [], [], [], []
        offset = 0
        zmin, zmax = math.inf, 0.0
        for r, (m, f) in enumerate(parts):
            used, inverse = torch.unique(f.reshape(-1).long(), return_inverse=True)
            v = m["vertices"].index_select(0, used)
            z, _, _ = tiles.project(v)
            zmin, zmax = min(zmin, float(z.min())), max(zmax, float(z.max()))
            vertices.append(v)
            faces.append(inverse.view(-1, 3).to(torch.int32) + offset)
            colors.append(m["colors"].index_select(0, used))
            rank.append(torch.full((len(f),), r, dtype=torch.int64, device=device))
            offset += len(used)
        step = zmax / zmin * 1.01
        if step ** (len(parts) - 1) > _MAX_SCALE:
            return self._fill_frame_by_frame(nearby, pose, w2c, k, hole, color, depth, prov)
        scale = step ** torch.arange(len(parts), dtype=torch.float64, device=device)
        centre = torch.as_tensor(pose[:3, 3], dtype=torch.float64, device=device)
        per_vertex = torch.cat([scale[r].expand(len(v)) for r, v in enumerate(vertices)])[:, None]
        v = torch.cat(vertices).double()
        v = ((v - centre) * per_vertex + centre).to(torch.float32)
        out = render_triangles(v, torch.cat(faces), torch.cat(colors), pose, kc, opts)
        h = hole[y0:y1, x0:x1]
        fill = out.mask & h
        face_rank = torch.cat(rank)[out.face_id.clamp(min=0)]
        true_depth = (out.depth.double() / scale[face_rank]).to(torch.float32)
        color[y0:y1, x0:x1][fill] = out.color[fill]
        depth[y0:y1, x0:x1][fill] = true_depth[fill]
        prov[y0:y1, x0:x1][fill] = int(Provenance.NEARBY)
        h &= ~fill

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
        prov = np.where(mask, np.uint8(Provenance.SOURCE), np.uint8(Provenance.HOLE))
        depth = np.where(mask, depth, np.float32(np.inf)).astype(np.float32, copy=False)
        return CompletedRender(color, ~mask, prov.astype(np.uint8), depth)


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
