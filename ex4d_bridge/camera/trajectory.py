"""Camera trajectories: sequences of OpenCV camera-to-world poses in the frame of source frame 0.

The reference paths follow EX-4D: with ``r = min_depth + 0.15`` (the nearest depth of frame 0
plus a margin) the camera always looks at the pivot ``(0, 0, r)`` with "up" = -y, and frame 0 is
the source camera (the identity pose).

- ``reference_orbit``: a = linspace(0, angle, T), eye = (r sin a, 0.2 r (|cos a| - 1),
  r - r |cos a|); negative angles mirror the orbit to the left (eye x < 0).
- ``reference_surround``: a = linspace(0, 2 pi, T), eye = (r sin a, 0.2 r (cos a - 1), 0).

Distances of the other paths (``dolly``, ``spiral``) are in scene units, the units of depth.
"""

from __future__ import annotations

import json
import math
import operator
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from .conventions import CoordinateSystem, matrix_to_quaternion, pose_from_position_quaternion
from .intrinsics import Intrinsics
from .poses import invert_rigid, is_rigid, look_at

REFERENCE_NUM_FRAMES = 49
REFERENCE_PIVOT_MARGIN = 0.15
# Poses read from float32 sources are only orthonormal to ~1e-7; anything worse is a bug.
_RIGID_TOLERANCE = 1e-5
_OPENCV_UP = (0.0, -1.0, 0.0)
_GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(eq=False)
class Trajectory:
    """A camera path: ``poses`` (T, 4, 4) float64 camera-to-world matrices, OpenCV axes.

    ``intrinsics`` is the camera to render with, if the path fixes one; ``fov_y_deg`` is a
    vertical field of view for paths that know the lens but not the image size (a headset).
    ``fps`` is a playback rate and ``times`` (T,) optional time stamps in seconds.
    """

    poses: np.ndarray
    intrinsics: Intrinsics | None = None
    name: str = "custom"
    fps: float | None = None
    times: np.ndarray | None = None
    fov_y_deg: float | None = None

    def __post_init__(self) -> None:
        try:
            poses = np.array(self.poses, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("trajectory poses must be a numeric (T, 4, 4) array") from None
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < 1:
            raise InputError(
                f"trajectory poses must have shape (T, 4, 4) with T >= 1, got {poses.shape}"
            )
        if not is_rigid(poses, _RIGID_TOLERANCE):
            raise InputError(
                "trajectory poses must be rigid camera-to-world matrices (orthonormal rotation "
                "with det +1, bottom row 0 0 0 1) with finite entries"
            )
        self.poses = poses
        if self.intrinsics is not None and not isinstance(self.intrinsics, Intrinsics):
            raise InputError(
                f"trajectory intrinsics must be an Intrinsics, got {type(self.intrinsics).__name__}"
            )
        if self.fps is not None:
            self.fps = _positive_finite(self.fps, "trajectory fps")
        if self.fov_y_deg is not None:
            fov = float(self.fov_y_deg)
            if not (0.0 < fov < 180.0):
                raise InputError(f"fov_y_deg {self.fov_y_deg} must be in (0, 180) degrees")
            self.fov_y_deg = fov
        if self.times is not None:
            times = np.array(self.times, dtype=np.float64)
            if times.shape != (len(poses),):
                raise InputError(
                    f"trajectory times must have one entry per pose ({len(poses)}), "
                    f"got shape {times.shape}"
                )
            if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
                raise InputError("trajectory times must be finite and non-decreasing")
            self.times = times

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    @property
    def positions(self) -> np.ndarray:
        """(T, 3) camera centres in the OpenCV world."""
        return self.poses[:, :3, 3].copy()

    def w2c_opengl(self) -> np.ndarray:
        """(T, 4, 4) world-to-camera matrices with OpenGL camera axes (x right, y up, z back).

        The world is still the OpenCV world of source frame 0; this is the form in which the
        EX-4D reference stores its cameras.
        """
        return _GL_FROM_CV @ invert_rigid(self.poses)

    @classmethod
    def from_w2c_opengl(cls, w2c: np.ndarray, **kwargs) -> Trajectory:
        """Inverse of :meth:`w2c_opengl`; extra keyword arguments go to the constructor."""
        w = np.asarray(w2c, dtype=np.float64)
        if w.ndim != 3 or w.shape[1:] != (4, 4):
            raise InputError(f"world-to-camera matrices must have shape (T, 4, 4), got {w.shape}")
        if not is_rigid(w, _RIGID_TOLERANCE):
            raise InputError("world-to-camera matrices must be rigid with finite entries")
        return cls(invert_rigid(_GL_FROM_CV @ w), **kwargs)

    def intrinsics_for(self, width: int, height: int) -> Intrinsics | None:
        """Intrinsics for rendering at ``width`` x ``height``, or None if the path fixes none.

        Explicit intrinsics are rescaled to the size; otherwise ``fov_y_deg`` gives square
        pixels with the principal point at the centre.
        """
        if self.intrinsics is not None:
            if (self.intrinsics.width, self.intrinsics.height) == (width, height):
                return self.intrinsics
            return self.intrinsics.scaled(width, height)
        if self.fov_y_deg is not None:
            return Intrinsics.from_fov(width, height, fov_y_deg=self.fov_y_deg)
        return None

    def resampled(self, num_frames: int) -> Trajectory:
        """The same path with ``num_frames`` poses evenly spaced in frame index.

        Positions (and time stamps) are interpolated linearly, rotations by slerp; the first and
        last poses are kept exactly.
        """
        n = _frame_count(num_frames)
        t = len(self)
        s = np.linspace(0.0, t - 1.0, n)
        i0 = np.clip(np.floor(s).astype(np.int64), 0, t - 1)
        i1 = np.minimum(i0 + 1, t - 1)
        u = s - i0
        q = matrix_to_quaternion(self.poses[:, :3, :3])
        quat = _slerp(q[i0], q[i1], u)
        pos = self.poses[i0, :3, 3] * (1 - u)[:, None] + self.poses[i1, :3, 3] * u[:, None]
        poses = pose_from_position_quaternion(pos, quat)
        poses[0] = self.poses[0]
        if n > 1:
            poses[-1] = self.poses[-1]
        times = None
        if self.times is not None:
            times = self.times[i0] * (1 - u) + self.times[i1] * u
        return replace(self, poses=poses, times=times)

    def to_json_dict(self, system: str | CoordinateSystem = CoordinateSystem.OPENCV) -> dict:
        """The pose-path JSON object (see :mod:`ex4d_bridge.camera.pose_path`) in ``system``."""
        from .pose_path import pose_path_to_dict

        return pose_path_to_dict(self, system)

    @classmethod
    def from_json_dict(
        cls, data: dict, default_system: str | CoordinateSystem = CoordinateSystem.OPENCV
    ) -> Trajectory:
        """Parse a pose-path JSON object; ``default_system`` applies if it names none."""
        from .pose_path import pose_path_from_dict

        return pose_path_from_dict(data, source="trajectory JSON", default_system=default_system)

    def save(self, path: str | os.PathLike, system: str | CoordinateSystem = "opencv") -> None:
        """Write the pose-path JSON file (written atomically: a crash leaves the old file)."""
        from .pose_path import write_text_atomic

        write_text_atomic(Path(path), json.dumps(self.to_json_dict(system), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectory:
        """Read a pose-path file (JSON, or CSV when the name ends in .csv)."""
        from .pose_path import load_pose_path

        return load_pose_path(path)


def _slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where((dot < 0)[:, None], -q1, q1)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin_t = np.sin(theta)
    near = sin_t < 1e-9
    safe = np.where(near, 1.0, sin_t)
    w0 = np.where(near, 1.0 - u, np.sin((1.0 - u) * theta) / safe)
    w1 = np.where(near, u, np.sin(u * theta) / safe)
    q = w0[:, None] * q0 + w1[:, None] * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _positive_finite(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"{what} must be a positive finite number, got {value!r}")
    return v


def _finite(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{what} must be finite, got {value!r}")
    return v


def _frame_count(num_frames) -> int:
    try:
        n = operator.index(num_frames)
    except TypeError:
        raise InputError(f"num_frames must be an integer, got {num_frames!r}") from None
    if isinstance(num_frames, bool) or n < 1:
        raise InputError(f"num_frames must be at least 1, got {num_frames!r}")
    return n


def _pivot_distance(min_depth) -> float:
    return _positive_finite(min_depth, "min_depth (nearest depth of frame 0)") + (
        REFERENCE_PIVOT_MARGIN
    )


def _looking_at_pivot(eye: np.ndarray, r: float) -> np.ndarray:
    poses = look_at(eye, np.array([0.0, 0.0, r]), _OPENCV_UP)
    # The source view must be reproduced bit for bit (its mask is all ones by definition).
    poses[0] = np.eye(4)
    return poses


def reference_orbit(
    min_depth: float,
    angle_deg: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    intrinsics: Intrinsics | None = None,
) -> Trajectory:
    """EX-4D's angle-mode orbit around the pivot (0, 0, min_depth + 0.15), up to 90 degrees.

    Positive angles move the camera to the right (+x), negative ones mirror it to the left.
    """
    angle = _finite(angle_deg, "orbit angle")
    if abs(angle) > 90.0:
        raise InputError(
            f"orbit angle {angle:g} is outside [-90, 90] degrees; use surround for a full circle"
        )
    n = _frame_count(num_frames)
    r = _pivot_distance(min_depth)
    a = np.linspace(0.0, math.radians(angle), n)
    cos_abs = np.abs(np.cos(a))
    eye = np.stack([r * np.sin(a), 0.2 * r * (cos_abs - 1.0), r - r * cos_abs], axis=-1)
    return Trajectory(_looking_at_pivot(eye, r), intrinsics, name=f"orbit:{angle:g}")


def reference_surround(
    min_depth: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    intrinsics: Intrinsics | None = None,
) -> Trajectory:
    """EX-4D's surround mode: one full loop of the eye in the plane z = 0 around the pivot."""
    n = _frame_count(num_frames)
    r = _pivot_distance(min_depth)
    a = np.linspace(0.0, 2.0 * math.pi, n)
    eye = np.stack([r * np.sin(a), 0.2 * r * (np.cos(a) - 1.0), np.zeros_like(a)], axis=-1)
    return Trajectory(_looking_at_pivot(eye, r), intrinsics, name="surround")


def yaw_arc(
    angle_deg: float, num_frames: int = REFERENCE_NUM_FRAMES, intrinsics: Intrinsics | None = None
) -> Trajectory:
    """The camera stays at the origin and pans about its vertical axis from 0 to ``angle_deg``.

    Positive angles turn the view to the right (the optical axis swings toward +x).
    """
    angle = _finite(angle_deg, "yaw angle")
    n = _frame_count(num_frames)
    a = np.linspace(0.0, math.radians(angle), n)
    poses = np.tile(np.eye(4), (n, 1, 1))
    c, s = np.cos(a), np.sin(a)
    poses[:, 0, 0], poses[:, 0, 2] = c, s
    poses[:, 2, 0], poses[:, 2, 2] = -s, c
    return Trajectory(poses, intrinsics, name=f"yaw:{angle:g}")


def dolly(
    distance: float, num_frames: int = REFERENCE_NUM_FRAMES, intrinsics: Intrinsics | None = None
) -> Trajectory:
    """The camera moves straight along its optical axis from 0 to ``distance`` (negative: back)."""
    dist = _finite(distance, "dolly distance")
    n = _frame_count(num_frames)
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, 2, 3] = np.linspace(0.0, dist, n)
    return Trajectory(poses, intrinsics, name=f"dolly:{dist:g}")


def spiral(
    radius: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    turns: float = 2.0,
    depth: float = 0.0,
    pivot_depth: float = 1.0,
    intrinsics: Intrinsics | None = None,
) -> Trajectory:
    """An outward spiral of the eye in the image plane, always looking at (0, 0, pivot_depth).

    With t = linspace(0, 1, T), rho = radius * t and phi = 2 pi turns t, the eye is at
    (rho cos phi, -rho sin phi, depth * t): it starts at the origin, so frame 0 is exactly the
    identity, circles counter-clockwise on screen (right, then up) while moving outward, and
    moves forward by ``depth`` in total.
    """
    rad = _finite(radius, "spiral radius")
    n_turns = _finite(turns, "spiral turns")
    fwd = _finite(depth, "spiral depth")
    pivot = _positive_finite(pivot_depth, "spiral pivot_depth")
    if fwd >= pivot:
        raise InputError(
            f"spiral depth {fwd:g} must stay in front of the pivot at {pivot:g}; "
            "use a smaller depth or a farther pivot"
        )
    n = _frame_count(num_frames)
    t = np.linspace(0.0, 1.0, n)
    rho, phi = rad * t, 2.0 * math.pi * n_turns * t
    eye = np.stack([rho * np.cos(phi), -rho * np.sin(phi), fwd * t], axis=-1)
    return Trajectory(_looking_at_pivot(eye, pivot), intrinsics, name=f"spiral:{rad:g}")


TRAJECTORY_FORMS = (
    "orbit:DEG (-90..90), surround, yaw:DEG (-90..90), dolly:DIST (-2r..min_depth), "
    "spiral:RADIUS (-r..r; r = min_depth + 0.15), file:PATH, "
    "or a PATH ending in .json or .csv"
)


def _bad_spec(spec: str, why: str) -> InputError:
    return InputError(f"{why} in trajectory {spec!r}; valid forms: {TRAJECTORY_FORMS}")


def parse_trajectory(
    spec: str | os.PathLike,
    *,
    min_depth: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    intrinsics: Intrinsics | None = None,
) -> Trajectory:
    """A trajectory from a short spec (see TRAJECTORY_FORMS).

    ``min_depth`` is the nearest depth of source frame 0 and places the pivot of orbit,
    surround and spiral at (0, 0, min_depth + 0.15). Paths read from a file keep their own
    number of poses (``num_frames`` is ignored; use :meth:`Trajectory.resampled`) and their
    own intrinsics or field of view; ``intrinsics`` fills in only when the file has neither.
    """
    if isinstance(spec, os.PathLike):
        return _from_file(Path(spec), intrinsics)
    if not isinstance(spec, str):
        raise InputError(
            f"trajectory spec must be a string, got {type(spec).__name__}; "
            f"valid forms: {TRAJECTORY_FORMS}"
        )
    text = spec.strip()
    kind, sep, arg = text.partition(":")
    kind = kind.strip().lower()
    arg = arg.strip()
    if kind == "file" and sep:
        if not arg:
            raise _bad_spec(spec, "missing path after 'file:'")
        return _from_file(Path(arg), intrinsics)
    if text.lower().endswith((".json", ".csv")):
        return _from_file(Path(text), intrinsics)

    if kind == "surround":
        if arg:
            raise _bad_spec(spec, "surround takes no argument")
        if _frame_count(num_frames) < 2:
            raise InputError(
                "trajectory 'surround' needs at least 2 frames: frame 0 is the source view, so "
                "a 1-frame scene would render only the source view"
            )
        return reference_surround(min_depth, num_frames, intrinsics)
    makers = {
        "orbit": lambda v: reference_orbit(min_depth, v, num_frames, intrinsics),
        "yaw": lambda v: yaw_arc(v, num_frames, intrinsics),
        "dolly": lambda v: dolly(v, num_frames, intrinsics),
        "spiral": lambda v: spiral(
            v, num_frames, pivot_depth=_pivot_distance(min_depth), intrinsics=intrinsics
        ),
    }
    if kind not in makers:
        raise _bad_spec(spec, "unknown kind")
    if not arg:
        raise _bad_spec(spec, f"{kind} needs a number after ':'")
    try:
        value = float(arg)
    except ValueError:
        raise _bad_spec(spec, f"{arg!r} is not a number") from None
    if not math.isfinite(value):
        raise _bad_spec(spec, f"{arg!r} is not a finite number")
    _check_range(spec, kind, value, min_depth)
    if _frame_count(num_frames) < 2 and value != 0.0:
        raise InputError(
            f"trajectory {spec!r} needs at least 2 frames: frame 0 of every path is the source "
            "view, so a 1-frame scene would render only the source view; use a video of 2 or "
            "more frames"
        )
    return makers[kind](value)


# Ranges of the spec forms (parse_trajectory only; the functions themselves take any value).
# yaw: past 90 degrees the pan turns away from everything the source camera saw (all of it lies
# at z > 0), so the last frames render black. dolly: forward the camera must stay in front of
# the nearest surface of frame 0 (min_depth); backward, beyond DOLLY_BACK_RADII pivot radii
# (r = min_depth + 0.15) the scene shrinks to a small patch in a large empty frame, and the
# rasterizer pays for every pixel of the far backdrop with nothing gained. spiral: the lateral
# offset is bounded by the pivot radius, the lateral reach of orbit:90.
YAW_LIMIT_DEG = 90.0
DOLLY_BACK_RADII = 2.0
SPIRAL_LIMIT_RADII = 1.0


def _check_range(spec: str, kind: str, value: float, min_depth) -> None:
    if kind == "yaw" and abs(value) > YAW_LIMIT_DEG:
        raise InputError(
            f"yaw angle {value:g} in trajectory {spec!r} is outside [-{YAW_LIMIT_DEG:g}, "
            f"{YAW_LIMIT_DEG:g}] degrees: beyond that the camera faces away from the scene and "
            "renders black"
        )
    if kind not in ("dolly", "spiral"):
        return
    near = _positive_finite(min_depth, "min_depth (nearest depth of frame 0)")
    r = _pivot_distance(near)
    if kind == "dolly" and not (-DOLLY_BACK_RADII * r <= value < near):
        raise InputError(
            f"dolly distance {value:g} in trajectory {spec!r} is outside "
            f"[{-DOLLY_BACK_RADII * r:.3g}, {near:.3g}): forward the camera must stay in front of "
            f"the nearest surface (depth {near:.3g}); backward at most {DOLLY_BACK_RADII:g}x the "
            f"pivot distance {r:.3g}"
        )
    if kind == "spiral" and abs(value) > SPIRAL_LIMIT_RADII * r:
        raise InputError(
            f"spiral radius {value:g} in trajectory {spec!r} is outside "
            f"[-{SPIRAL_LIMIT_RADII * r:.3g}, {SPIRAL_LIMIT_RADII * r:.3g}] (the pivot distance "
            "min_depth + 0.15): a wider spiral looks at the scene from outside what the source "
            "view saw"
        )


def _from_file(path: Path, intrinsics: Intrinsics | None) -> Trajectory:
    from .pose_path import load_pose_path

    traj = load_pose_path(path)
    if traj.intrinsics is None and traj.fov_y_deg is None and intrinsics is not None:
        traj = replace(traj, intrinsics=intrinsics)
    return traj
