"""An analytic, textured, moving scene with exactly known depth.

It is the ground truth for geometry and rendering tests and the default input of
``ex4d-bridge demo``: a static source camera at the world origin (identity pose, OpenCV axes:
x right, y down, z forward) films

- a brick-textured back wall, the plane z = ``WALL_Z``, of finite extent;
- a tiled floor, the plane y = ``FLOOR_Y`` (below the camera), running up to the wall;
- a sphere rolling on the floor from left to right at z = 2.2 (radius 0.45);
- a smaller sphere bobbing up and down at z = 3.0 (radius 0.3).

Every colour is a function of the 3D surface point (and of time, for the spheres' own rotation
and the floor's contact shadows), never of the viewing ray, so the same point has the same
colour from every camera: novel-view renders can be compared with the analytic scene directly.

Rays are cast through pixel centres with direction ``R @ K^-1 [u, v, 1]``, so the ray parameter
of a hit *is* the camera z-depth; rays that hit nothing get depth ``+inf`` and colour black.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..camera.intrinsics import REFERENCE_FOCAL_PX, Intrinsics
from ..errors import InputError

WALL_Z = 4.0
FLOOR_Y = 0.9
# The wall covers the whole source view (half-extent 2.05 m at z = 4 for the reference field of
# view) with margin; novel views that look past its edges or over its top see nothing (+inf).
WALL_X_RANGE = (-3.5, 3.5)
WALL_Y_RANGE = (-2.6, FLOOR_Y)
FLOOR_X_RANGE = WALL_X_RANGE
FLOOR_Z_RANGE = (-1.5, WALL_Z)

WALL, FLOOR, ROLLING_SPHERE, BOBBING_SPHERE = 0, 1, 2, 3
OBJECT_NAMES = ("wall", "floor", "rolling_sphere", "bobbing_sphere")
NO_HIT = -1

# Reference image width at which the focal length is REFERENCE_FOCAL_PX.
REFERENCE_WIDTH = 512

# Fixed direction towards a distant light (up, left and towards the camera); shading by the
# surface normal only, so it does not depend on the viewer.
_LIGHT = np.array([-0.35, -0.8, -0.5]) / np.linalg.norm([-0.35, -0.8, -0.5])
_HIT_EPS = 1e-9


@dataclass(frozen=True)
class Sphere:
    """A sphere at one frame; ``rotation`` maps sphere-local axes to world axes."""

    centre: np.ndarray
    radius: float
    rotation: np.ndarray
    object_id: int


@dataclass
class SceneRender:
    """One analytic render: colour, z-depth, which object each pixel sees, and the hit points."""

    color: np.ndarray  # uint8 [H, W, 3]
    depth: np.ndarray  # float32 [H, W], +inf where no hit
    object_id: np.ndarray  # int32 [H, W], NO_HIT (-1) where no hit
    points: np.ndarray  # float64 [H, W, 3] world hit points, NaN where no hit


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - np.float32(edge0)) * np.float32(1.0 / (edge1 - edge0)), 0.0, 1.0)
    return t * t * (np.float32(3.0) - np.float32(2.0) * t)


def _line_mask(coord: np.ndarray, period: float, half_width: float, soft: float) -> np.ndarray:
    """1 on thin lines at multiples of ``period``, 0 elsewhere, with soft edges (no aliasing)."""
    dist = np.abs(coord - np.float32(period) * np.round(coord * np.float32(1.0 / period)))
    return np.float32(1.0) - _smoothstep(half_width, half_width + soft, dist)


def _hash01(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A pseudo-random value in [0, 1) per integer cell (a, b), in exact integer arithmetic so
    it is identical however the cell is reached (no floating-point rounding differences)."""
    h = (a.astype(np.int64) * 73856093) ^ (b.astype(np.int64) * 19349663)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h >> 8) & 0xFFFF).astype(np.float32) * np.float32(1.0 / 65536.0)


def _rgb(r: float, g: float, b: float) -> np.ndarray:
    return np.array([r, g, b], dtype=np.float32)


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


# Colour functions take hit points as float32 rows (x, y, z), each [M], and return [3, M] RGB in
# [0, 1]; float32 halves their cost and the patterns need no more precision.


def _wall_color(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Staggered bricks with a per-brick tint over a warm-to-cool gradient, light mortar lines.

    The tint and the row offset jump at brick edges, but the mortar covers every edge, so the
    colour is continuous and sampling it from any viewpoint gives the same value.
    """
    brick_h, brick_w = 0.25, 0.5
    row = np.floor(y * np.float32(1.0 / brick_h))
    xs = x + np.float32(0.5 * brick_w) * (row % 2)
    col = np.floor(xs * np.float32(1.0 / brick_w))
    span = WALL_X_RANGE[1] - WALL_X_RANGE[0]
    g = np.clip((x - np.float32(WALL_X_RANGE[0])) * np.float32(1.0 / span), 0.0, 1.0)
    # Minus the distance to the nearest brick edge, horizontal or vertical (0 on the edge).
    dist = np.maximum(
        np.abs(y - np.float32(brick_h) * (row + np.float32(0.5))) - np.float32(0.5 * brick_h),
        np.abs(xs - np.float32(brick_w) * (col + np.float32(0.5))) - np.float32(0.5 * brick_w),
    )
    mortar = np.float32(1.0) - _smoothstep(-0.008, -0.02, dist)
    scale = (np.float32(0.78) + np.float32(0.3) * _hash01(row, col)) * (
        np.float32(1.0) + np.float32(0.05) * y
    )
    brick = scale * (np.float32(1.0) - mortar)
    warm, cool, grout = _rgb(0.80, 0.42, 0.28), _rgb(0.45, 0.50, 0.78), _rgb(0.82, 0.80, 0.74)
    return (warm[:, None] + (cool - warm)[:, None] * g) * brick + grout[:, None] * mortar


def _floor_color(x: np.ndarray, y: np.ndarray, z: np.ndarray, spheres: list[Sphere]) -> np.ndarray:
    """Soft-edged checker tiles with a depth gradient and blob contact shadows of the spheres."""
    k = np.float32(np.pi / 0.5)  # tiles of 0.5 m
    check = np.sin(k * x) * np.sin(k * z)
    c = np.float32(0.5) + np.float32(0.5) * np.tanh(check * np.float32(12.0))
    shade = np.float32(0.85) + np.float32(0.15 / 5.5) * np.clip(
        z - np.float32(FLOOR_Z_RANGE[0]), 0.0, 5.5
    )
    # Dark seams every 2 m along x, fading in with distance.
    shade *= np.float32(1.0) - np.float32(0.5) * _line_mask(x, 2.0, 0.01, 0.015) * _smoothstep(
        0.0, 1.0, z
    )
    for s in spheres:
        height = FLOOR_Y - float(s.centre[1])  # distance of the centre above the floor
        d2 = (x - np.float32(s.centre[0])) ** 2 + (z - np.float32(s.centre[2])) ** 2
        spread = (s.radius * (0.8 + 0.5 * height / s.radius)) ** 2
        strength = 0.55 * s.radius / max(height, s.radius)
        shade *= np.float32(1.0) - np.float32(strength) * np.exp(d2 * np.float32(-1.0 / spread))
    light, dark = _rgb(0.86, 0.84, 0.76), _rgb(0.22, 0.42, 0.44)
    return (dark[:, None] + (light - dark)[:, None] * c) * shade


def _sphere_color(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, sphere: Sphere, palette: tuple
) -> np.ndarray:
    """Longitude segments and latitude bands in the sphere's own frame (pole = local z), so the
    pattern turns with the sphere; Lambert shading by the world normal only."""
    cx, cy, cz = (np.float32(v) for v in sphere.centre)
    inv_r = np.float32(1.0 / sphere.radius)
    n = np.stack([(x - cx) * inv_r, (y - cy) * inv_r, (z - cz) * inv_r])
    local = sphere.rotation.T.astype(np.float32) @ n  # world -> sphere-local
    lon = np.arctan2(local[0], local[1])
    lat = np.arcsin(np.clip(local[2], -1.0, 1.0))
    seg = np.float32(0.5) + np.float32(0.5) * np.tanh(np.float32(5.0) * np.sin(4 * lon))
    bands = np.float32(0.8) + np.float32(0.2) * np.cos(6 * lat)
    equator = _line_mask(lat, 2.0 * np.pi, 0.05, 0.05)
    lambert = np.clip(_LIGHT.astype(np.float32) @ n, 0.0, 1.0)
    shade = np.float32(0.45) + np.float32(0.55) * lambert
    a, b = palette
    col = (a[:, None] + (b - a)[:, None] * seg) * (bands * (np.float32(1.0) - equator))
    return (col + _rgb(0.95, 0.95, 0.9)[:, None] * equator) * shade


_PALETTES = {
    ROLLING_SPHERE: (_rgb(0.92, 0.72, 0.15), _rgb(0.75, 0.15, 0.18)),
    BOBBING_SPHERE: (_rgb(0.25, 0.75, 0.35), _rgb(0.20, 0.30, 0.80)),
}

# Geometry stays float64: the depth, points and object ids are ground truth for other tests.
# Ray directions are [3, N] rows (contiguous per axis).


def _intersect_plane(
    origin: np.ndarray, dirs: np.ndarray, axis: int, value: float, bounds: dict[int, tuple]
) -> np.ndarray:
    """Ray parameter of the hit with the plane ``X[axis] = value`` inside ``bounds``, else inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (value - origin[axis]) / dirs[axis]
        ok = (t > _HIT_EPS) & (t < np.inf)
        for ax, (lo, hi) in bounds.items():
            coord = origin[ax] + t * dirs[ax]  # NaN or inf on misses, which compare False
            ok &= (coord >= lo - 1e-9) & (coord <= hi + 1e-9)
    return np.where(ok, t, np.inf)


def _intersect_sphere(
    origin: np.ndarray, dirs: np.ndarray, dir_sq: np.ndarray, sphere: Sphere
) -> np.ndarray:
    """Nearest positive ray parameter of the hit with ``sphere``, else inf.

    ``dir_sq`` is the squared length of each direction. Only rays whose discriminant is
    non-negative (a small fraction) get the square roots.
    """
    oc = origin - sphere.centre
    half_b = oc @ dirs
    c = float(oc @ oc) - sphere.radius**2
    disc = half_b * half_b - dir_sq * c
    idx = np.flatnonzero(disc >= 0.0)
    out = np.full(dirs.shape[1], np.inf)
    if idx.size:
        hb, a = half_b[idx], dir_sq[idx]
        root = np.sqrt(disc[idx])
        t_near = (-hb - root) / a
        t = np.where(t_near > _HIT_EPS, t_near, (-hb + root) / a)
        out[idx] = np.where(t > _HIT_EPS, t, np.inf)
    return out


def _check_pose(cam_to_world: np.ndarray) -> np.ndarray:
    pose = np.asarray(cam_to_world, dtype=np.float64)
    if pose.shape != (4, 4):
        raise InputError(
            f"cam_to_world must be a 4x4 camera-to-world matrix, got shape {pose.shape}"
        )
    if not np.all(np.isfinite(pose)):
        raise InputError("cam_to_world contains NaN or inf; pass a finite 4x4 pose")
    rot = pose[:3, :3]
    if not np.allclose(rot.T @ rot, np.eye(3), atol=1e-5):
        raise InputError("the rotation part of cam_to_world is not orthonormal; fix the pose")
    return pose


@functools.lru_cache(maxsize=8)
def _camera_rays(K: Intrinsics) -> np.ndarray:
    """[3, H*W] camera-frame rays through pixel centres (z = 1), cached per camera (read-only)."""
    rays = np.ascontiguousarray(K.pixel_rays().reshape(-1, 3).T)
    rays.flags.writeable = False
    return rays


@dataclass(frozen=True)
class SyntheticScene:
    """The analytic scene filmed by a static camera at the origin; see the module docstring.

    ``intrinsics`` is the reference pinhole (principal point at the image centre) with the focal
    length scaled by ``width / 512`` (500 px at 512 wide), so small test scenes keep the same
    field of view (about 54 degrees horizontally) and therefore the same content.
    """

    width: int = 512
    height: int = 512
    num_frames: int = 49
    fps: float = 16.0
    intrinsics: Intrinsics = field(init=False)
    _frames: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _depths: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("width", "height", "num_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name}={value!r} must be a positive integer")
        if not isinstance(self.fps, (int, float)) or not (math.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"fps={self.fps!r} must be a positive number")
        # Frozen: the scene's size fixes its intrinsics and its cached source frames.
        for name in ("width", "height", "num_frames"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "fps", float(self.fps))
        focal = REFERENCE_FOCAL_PX * self.width / REFERENCE_WIDTH
        object.__setattr__(
            self, "intrinsics", Intrinsics.reference(self.width, self.height, focal=focal)
        )

    # -- motion ----------------------------------------------------------------------------

    def _check_frame(self, frame_index: int) -> int:
        if isinstance(frame_index, bool) or not isinstance(frame_index, (int, np.integer)):
            raise InputError(f"frame_index must be an integer, got {frame_index!r}")
        if not 0 <= frame_index < self.num_frames:
            raise InputError(
                f"frame_index {frame_index} is out of range: the scene has "
                f"{self.num_frames} frames (0..{self.num_frames - 1})"
            )
        return int(frame_index)

    def phase(self, frame_index: int) -> float:
        """Normalised time in [0, 1]: the motion spans the clip whatever its length."""
        frame_index = self._check_frame(frame_index)
        return frame_index / (self.num_frames - 1) if self.num_frames > 1 else 0.0

    def spheres(self, frame_index: int) -> list[Sphere]:
        """The two spheres at ``frame_index`` (centre, radius, rotation, object id)."""
        s = self.phase(frame_index)
        r_roll = 0.45
        x = -1.0 + 2.0 * s
        # Rolling without slipping on the floor (+y is down): spin about +z by distance / radius.
        rolling = Sphere(
            centre=np.array([x, FLOOR_Y - r_roll, 2.2]),
            radius=r_roll,
            # Pole along x at the start, tumbling as it rolls.
            rotation=_rot_z((x + 1.0) / r_roll) @ _rot_y(0.5 * math.pi),
            object_id=ROLLING_SPHERE,
        )
        r_bob = 0.3
        bobbing = Sphere(
            centre=np.array([0.75, 0.1 + 0.35 * math.sin(2.0 * math.pi * 1.5 * s), 3.0]),
            radius=r_bob,
            # Poles on the vertical axis, spinning a full turn about it over the clip.
            rotation=_rot_y(2.0 * math.pi * s) @ _rot_x(-0.5 * math.pi),
            object_id=BOBBING_SPHERE,
        )
        return [rolling, bobbing]

    def source_pose(self, frame_index: int = 0) -> np.ndarray:
        """The source camera's camera-to-world pose: the identity for every frame."""
        self._check_frame(frame_index)
        return np.eye(4)

    def source_poses(self) -> np.ndarray:
        """(T, 4, 4) source poses (all identity)."""
        return np.repeat(np.eye(4)[None], self.num_frames, axis=0)

    # -- rendering -------------------------------------------------------------------------

    def render_view_full(
        self, frame_index: int, cam_to_world: np.ndarray, intrinsics: Intrinsics | None = None
    ) -> SceneRender:
        """Ray-cast the scene at ``frame_index`` from ``cam_to_world`` (OpenCV, 4x4)."""
        frame_index = self._check_frame(frame_index)
        pose = _check_pose(cam_to_world)
        K = self.intrinsics if intrinsics is None else intrinsics
        if not isinstance(K, Intrinsics):
            raise InputError(f"intrinsics must be an Intrinsics, got {type(K).__name__}")
        h, w = K.height, K.width
        origin = pose[:3, 3].copy()
        # Camera rays have z = 1, so the parameter t of a hit is its camera z-depth.
        dirs = pose[:3, :3] @ _camera_rays(K)
        dir_sq = np.einsum("ij,ij->j", dirs, dirs)
        spheres = self.spheres(frame_index)

        t = _intersect_plane(origin, dirs, 2, WALL_Z, {0: WALL_X_RANGE, 1: WALL_Y_RANGE})
        obj = np.where(t < np.inf, WALL, NO_HIT).astype(np.int32)
        floor_t = _intersect_plane(origin, dirs, 1, FLOOR_Y, {0: FLOOR_X_RANGE, 2: FLOOR_Z_RANGE})
        others = [(FLOOR, floor_t)]
        others += [(s.object_id, _intersect_sphere(origin, dirs, dir_sq, s)) for s in spheres]
        for oid, t_obj in others:
            closer = t_obj < t
            obj[closer] = oid
            t = np.where(closer, t_obj, t)
        hit = t < np.inf

        points = origin[:, None] + np.where(hit, t, np.nan) * dirs
        color = np.zeros((3, h * w), dtype=np.float32)
        for oid in (WALL, FLOOR, ROLLING_SPHERE, BOBBING_SPHERE):
            idx = np.flatnonzero(obj == oid)
            if idx.size == 0:
                continue
            x, y, z = points[:, idx].astype(np.float32)
            if oid == WALL:
                color[:, idx] = _wall_color(x, y, z)
            elif oid == FLOOR:
                color[:, idx] = _floor_color(x, y, z, spheres)
            else:
                sphere = spheres[oid - ROLLING_SPHERE]
                color[:, idx] = _sphere_color(x, y, z, sphere, _PALETTES[oid])
        color *= np.float32(255.0)
        color8 = np.clip(np.rint(color, out=color), 0, 255, out=color).astype(np.uint8)
        depth = np.where(hit, t, np.inf).astype(np.float32)
        return SceneRender(
            color=np.ascontiguousarray(color8.T).reshape(h, w, 3),
            depth=depth.reshape(h, w),
            object_id=obj.reshape(h, w),
            points=np.ascontiguousarray(points.T).reshape(h, w, 3),
        )

    def render_view(
        self, frame_index: int, cam_to_world: np.ndarray, intrinsics: Intrinsics | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(colour uint8 [H, W, 3], z-depth float32 [H, W] with +inf where nothing is hit)."""
        r = self.render_view_full(frame_index, cam_to_world, intrinsics)
        return r.color, r.depth

    def _render_source(self) -> None:
        t, h, w = self.num_frames, self.height, self.width
        frames = np.empty((t, h, w, 3), dtype=np.uint8)
        depths = np.empty((t, h, w), dtype=np.float32)
        for i in range(t):
            frames[i], depths[i] = self.render_view(i, np.eye(4))
        frames.flags.writeable = False
        depths.flags.writeable = False
        object.__setattr__(self, "_frames", frames)
        object.__setattr__(self, "_depths", depths)

    def frames(self) -> np.ndarray:
        """Source video, uint8 [T, H, W, 3] (rendered once, then cached read-only)."""
        if self._frames is None:
            self._render_source()
        assert self._frames is not None
        return self._frames

    def depths(self) -> np.ndarray:
        """Source z-depth, float32 [T, H, W] (cached read-only alongside ``frames``)."""
        if self._depths is None:
            self._render_source()
        assert self._depths is not None
        return self._depths

    def min_depth(self, frame: int = 0) -> float:
        """Smallest finite source depth of ``frame`` (sets the reference trajectory radius)."""
        frame = self._check_frame(frame)
        depth = (
            self._depths[frame]
            if self._depths is not None
            else (self.render_view(frame, np.eye(4))[1])
        )
        return float(np.min(depth[np.isfinite(depth)]))
