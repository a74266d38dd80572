"""Coverage sets: camera paths chosen so their generated views complete a walking volume.

One camera path gives one pose per source frame, so the views generated along it complete each
frame from one side only. ``ex4d-bridge complete`` generates along a *set* of paths around the
source camera and fuses them into the scene's completion layers; the sets here say which.

Every path is in the OpenCV frame of source frame 0, looks at the reference pivot
``(0, 0, r)`` with ``r = min_depth + 0.15`` (the EX-4D reference orbit's), has one pose per
source frame, and starts at the source camera (frame 0 is the identity, as the reference's).
Angles are measured around the pivot: *yaw* turns the eye about the vertical axis through the
pivot (positive: to the right, +x), *pitch* raises it (positive: up, -y), and the distance to
the pivot stays ``r`` (``orbit_pose``).

- ``orbit``: the reference orbits to ±30, ±60 and ±90 degrees (6 paths).
- ``walk``: the orbits, plus up and down arcs to ±30 degrees of pitch, plus six "move early,
  then hold" paths that reach a novel pose within the first ``ramp`` frames (an eighth of the
  clip, at least 2) and hold it to the end: yaw ±45 at eye level, and yaw ±25 at pitch ±20.
  The orbits complete late frames from far to the side, the hold paths complete *every* frame
  from both sides and from above and below, so most frames get completions from several sides
  (14 paths).
- ``walk-small``: the four eye-level and pitched hold paths at yaw ±35 / pitch ±15 and nothing
  else (4 paths): the set ``ex4d-bridge demo`` uses to stay short on a CPU.

A pose file (``.json``/``.csv``, see :mod:`.pose_path`) or any trajectory spec
(``orbit:45``, ...) can stand in for a set or add to it (``coverage_paths``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import InputError
from .intrinsics import Intrinsics
from .poses import look_at
from .trajectory import (
    REFERENCE_NUM_FRAMES,
    REFERENCE_PIVOT_MARGIN,
    TRAJECTORY_FORMS,
    Trajectory,
    parse_trajectory,
    reference_orbit,
)

_OPENCV_UP = (0.0, -1.0, 0.0)

ORBIT_ANGLES = (30.0, -30.0, 60.0, -60.0, 90.0, -90.0)
ARC_PITCHES = (30.0, -30.0)
WALK_HOLDS = ((45.0, 0.0), (-45.0, 0.0), (25.0, 20.0), (-25.0, 20.0), (25.0, -20.0), (-25.0, -20.0))
SMALL_HOLDS = ((35.0, 15.0), (-35.0, 15.0), (35.0, -15.0), (-35.0, -15.0))

COVERAGE_SETS = ("walk", "orbit", "walk-small")
COVERAGE_FORMS = f"{', '.join(COVERAGE_SETS)}, a pose file (.json/.csv) or a trajectory spec"


def pivot_radius(min_depth: float) -> float:
    """The reference pivot distance ``min_depth + 0.15`` (the pivot is at (0, 0, r))."""
    d = float(min_depth)
    if not (math.isfinite(d) and d > 0):
        raise InputError(f"min_depth must be a positive finite number, got {min_depth!r}")
    return d + REFERENCE_PIVOT_MARGIN


def orbit_pose(
    radius: float,
    yaw_deg,
    pitch_deg,
    distance=None,
    look_offset_deg=(0.0, 0.0),
) -> np.ndarray:
    """Camera-to-world pose(s) on a sphere around the pivot (0, 0, ``radius``).

    The eye sits at ``distance`` (default ``radius``) from the pivot in the direction given by
    ``yaw_deg`` (to the right) and ``pitch_deg`` (up); yaw = pitch = 0 at distance ``radius``
    is the source camera. The camera looks at the pivot, turned by ``look_offset_deg`` (yaw,
    pitch) away from it. Array arguments broadcast: (N,) in, (N, 4, 4) out."""
    r = float(radius)
    yaw = np.radians(np.asarray(yaw_deg, dtype=np.float64))
    pitch = np.radians(np.asarray(pitch_deg, dtype=np.float64))
    dist = np.asarray(r if distance is None else distance, dtype=np.float64)
    yaw, pitch, dist = np.broadcast_arrays(yaw, pitch, dist)
    if np.any(np.abs(pitch) >= math.radians(89.0)):
        raise InputError("pitch must stay within (-89, 89) degrees")
    pivot = np.array([0.0, 0.0, r])
    # Direction from the pivot to the eye: (0, 0, -1) at yaw = pitch = 0.
    out = np.stack(
        [np.sin(yaw) * np.cos(pitch), -np.sin(pitch), -np.cos(yaw) * np.cos(pitch)], axis=-1
    )
    eye = pivot + dist[..., None] * out
    off = np.radians(np.asarray(look_offset_deg, dtype=np.float64))
    off_yaw, off_pitch = np.broadcast_arrays(off[..., 0], off[..., 1])
    # Turn the view direction (-out) by the offsets, in the same yaw/pitch terms.
    view_yaw = yaw + off_yaw
    view_pitch = pitch + off_pitch
    fwd = -np.stack(
        [
            np.sin(view_yaw) * np.cos(view_pitch),
            -np.sin(view_pitch),
            -np.cos(view_yaw) * np.cos(view_pitch),
        ],
        axis=-1,
    )
    poses = look_at(eye, eye + fwd, _OPENCV_UP)
    at_source = (np.abs(yaw) < 1e-12) & (np.abs(pitch) < 1e-12) & (np.abs(dist - r) < 1e-12)
    at_source &= (np.abs(off_yaw) < 1e-12) & (np.abs(off_pitch) < 1e-12)
    poses[at_source] = np.eye(4)  # bit-exact source camera
    return poses


def path_angles(trajectory: Trajectory, min_depth: float) -> np.ndarray:
    """(T, 3): yaw and pitch (degrees) of each eye around the pivot, and its distance to it."""
    r = pivot_radius(min_depth)
    rel = trajectory.positions - np.array([0.0, 0.0, r])
    dist = np.linalg.norm(rel, axis=-1)
    yaw = np.degrees(np.arctan2(rel[:, 0], -rel[:, 2]))
    pitch = np.degrees(np.arctan2(-rel[:, 1], np.hypot(rel[:, 0], rel[:, 2])))
    return np.stack([yaw, pitch, dist], axis=-1)


def _ease(n: int, ramp: int) -> np.ndarray:
    """0 at frame 0, 1 from frame ``ramp`` on, smoothstep in between."""
    s = np.clip(np.arange(n) / max(ramp, 1), 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def hold_ramp(num_frames: int) -> int:
    """Frames a hold path takes to reach its pose: an eighth of the clip, at least 2."""
    return max(2, round(num_frames / 8))


def hold_path(
    min_depth: float,
    yaw_deg: float,
    pitch_deg: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    intrinsics: Intrinsics | None = None,
    ramp: int | None = None,
) -> Trajectory:
    """Move from the source camera to (yaw, pitch) around the pivot within ``ramp`` frames
    (default ``hold_ramp``), then hold that pose to the last frame."""
    n = _count(num_frames)
    r = pivot_radius(min_depth)
    s = _ease(n, hold_ramp(n) if ramp is None else int(ramp))
    poses = orbit_pose(r, s * float(yaw_deg), s * float(pitch_deg))
    poses[0] = np.eye(4)
    return Trajectory(poses, intrinsics, name=f"hold:yaw{yaw_deg:+g}:pitch{pitch_deg:+g}")


def pitch_arc(
    min_depth: float,
    pitch_deg: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    intrinsics: Intrinsics | None = None,
) -> Trajectory:
    """An arc straight up (positive) or down (negative) around the pivot, linear in angle."""
    n = _count(num_frames)
    r = pivot_radius(min_depth)
    poses = orbit_pose(r, 0.0, np.linspace(0.0, float(pitch_deg), n))
    poses[0] = np.eye(4)
    return Trajectory(poses, intrinsics, name=f"arc:pitch{pitch_deg:+g}")


def _count(num_frames) -> int:
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise InputError(f"num_frames must be an integer, got {num_frames!r}")
    if num_frames < 1:
        raise InputError(f"num_frames must be at least 1, got {num_frames}")
    return int(num_frames)


def coverage_set(
    name: str,
    min_depth: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    intrinsics: Intrinsics | None = None,
) -> list[Trajectory]:
    """The named set of paths (``walk``, ``orbit`` or ``walk-small``; see the module)."""
    key = str(name).strip().lower()
    orbits = [reference_orbit(min_depth, a, num_frames, intrinsics) for a in ORBIT_ANGLES]
    if key == "orbit":
        return orbits
    if key == "walk":
        arcs = [pitch_arc(min_depth, p, num_frames, intrinsics) for p in ARC_PITCHES]
        holds = [hold_path(min_depth, y, p, num_frames, intrinsics) for y, p in WALK_HOLDS]
        return orbits + arcs + holds
    if key == "walk-small":
        return [hold_path(min_depth, y, p, num_frames, intrinsics) for y, p in SMALL_HOLDS]
    raise InputError(f"unknown coverage set {name!r}; use {COVERAGE_FORMS}")


def coverage_paths(
    specs: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    min_depth: float,
    num_frames: int = REFERENCE_NUM_FRAMES,
    intrinsics: Intrinsics | None = None,
) -> list[Trajectory]:
    """The paths of ``specs``: coverage set names, pose files and trajectory specs, in order,
    without repeating a path name. Paths from files keep their own length."""
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    paths: list[Trajectory] = []
    seen: dict[str, Trajectory] = {}
    for spec in specs:
        if isinstance(spec, str) and spec.strip().lower() in COVERAGE_SETS:
            found = coverage_set(spec, min_depth, num_frames, intrinsics)
        else:
            try:
                found = [
                    parse_trajectory(
                        spec, min_depth=min_depth, num_frames=num_frames, intrinsics=intrinsics
                    )
                ]
            except InputError as exc:
                if "valid forms" not in str(exc):
                    raise  # a pose file that is wrong: its own message names the problem
                raise InputError(
                    f"unknown coverage {str(spec)!r}; use {COVERAGE_FORMS} ({TRAJECTORY_FORMS})"
                ) from None
        for traj in found:
            same = seen.get(traj.name)
            if same is not None:
                if len(same) == len(traj) and np.allclose(same.poses, traj.poses):
                    continue
                raise InputError(
                    f"two different coverage paths are both named {traj.name!r}; rename one "
                    "(the name keys its completions)"
                )
            seen[traj.name] = traj
            paths.append(traj)
    if not paths:
        raise InputError(f"no coverage paths given; use {COVERAGE_FORMS}")
    return paths


def describe_paths(paths: Sequence[Trajectory], min_depth: float) -> list[dict]:
    """Per path: its name, pose count and the yaw/pitch range it reaches (degrees)."""
    out = []
    for traj in paths:
        a = path_angles(traj, min_depth)
        out.append(
            {
                "name": traj.name,
                "poses": len(traj),
                "yaw_deg": [round(float(a[:, 0].min()), 1), round(float(a[:, 0].max()), 1)],
                "pitch_deg": [round(float(a[:, 1].min()), 1), round(float(a[:, 1].max()), 1)],
            }
        )
    return out


__all__ = [
    "ARC_PITCHES",
    "COVERAGE_FORMS",
    "COVERAGE_SETS",
    "ORBIT_ANGLES",
    "SMALL_HOLDS",
    "WALK_HOLDS",
    "coverage_paths",
    "coverage_set",
    "describe_paths",
    "hold_path",
    "hold_ramp",
    "orbit_pose",
    "path_angles",
    "pitch_arc",
    "pivot_radius",
]
