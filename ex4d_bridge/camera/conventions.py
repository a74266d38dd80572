"""Coordinate-system conventions and pose conversions between them.

The library works in one frame: the OpenCV camera frame of source frame 0 (x right, y down,
z forward). Clients speak other conventions; every conversion here is a change of axes that
keeps the same origin and the same physical meaning of "right", "up" and "forward":

============  ==============================  ==================  ===========
system        axes (world and camera)         camera looks along  handedness
============  ==============================  ==================  ===========
``opencv``    x right, y down, z forward      +z                  right
``opengl``    x right, y up, z backward       -z                  right
``unity``     x right, y up, z forward        +z                  left
``unreal``    x forward, y right, z up        +x                  left
============  ==============================  ==================  ===========

OpenXR uses the OpenGL axes, so ``openxr`` is an alias of ``opengl``. In every system the world
axes are the camera axes of the source camera (frame 0), so the source camera has the identity
pose in all of them. Positions are in scene units (the depth model's units) in every system:
nothing is rescaled, not even for Unreal, whose engine unit is the centimetre; scale on the
client if needed.

A pose is a 4x4 camera-to-world matrix ``c2w`` (``p_world = c2w @ p_camera``). Changing systems
changes both the world axes and the camera axes, ``c2w_dst = W @ c2w_src @ W^T`` with ``W`` the
axis change, so the rotation block stays a proper rotation (det +1) even between a
right-handed and a left-handed system. A rotation is applied with the usual matrix and
quaternion formulas in every system (as Unity and Unreal do); handedness only decides which way
a positive angle looks on screen.

Quaternions are ``(x, y, z, w)``, scalar last: the order of Unity, Unreal's ``FQuat`` and
``scipy.spatial.transform.Rotation``. Quaternions read from outside are normalised: any finite
quaternion whose norm is at least ``QUAT_MIN_NORM`` (1e-6) is divided by its norm, so float32
rounding and unnormalised engine output are accepted; a shorter one is rejected as zero-length.
Quaternions produced here are unit length with ``w >= 0``.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from ..errors import InputError

QUAT_MIN_NORM = 1e-6
# How far a rotation block may be from orthonormal before it is refused as "not a rotation".
ROTATION_TOLERANCE = 1e-4


class CoordinateSystem(StrEnum):
    """A convention for world and camera axes; see the module docstring for the table.

    A ``str`` enum (``StrEnum``): members compare equal to, and format as, their names.
    """

    OPENCV = "opencv"
    OPENGL = "opengl"
    UNITY = "unity"
    UNREAL = "unreal"

    @classmethod
    def parse(cls, name: str | CoordinateSystem) -> CoordinateSystem:
        """A system from its name or an alias, case-insensitive (``"openxr"``, ``"UE"``, ...)."""
        if isinstance(name, CoordinateSystem):
            return name
        if not isinstance(name, str):
            raise InputError(
                f"coordinate system must be a name, got {type(name).__name__}: "
                f"use one of {_valid_names()}"
            )
        key = name.strip().lower()
        if key not in _ALIASES:
            raise InputError(f"unknown coordinate system {name!r}: use one of {_valid_names()}")
        return _ALIASES[key]

    @property
    def axes_from_opencv(self) -> np.ndarray:
        """3x3 ``A`` with ``v_self = A @ v_opencv`` for points and directions (a copy)."""
        return _AXES[self].copy()

    @property
    def right_handed(self) -> bool:
        return bool(np.linalg.det(_AXES[self]) > 0)

    @property
    def forward(self) -> np.ndarray:
        """Unit vector, in this system's axes, along which an unrotated camera looks."""
        return _AXES[self] @ np.array([0.0, 0.0, 1.0])

    @property
    def up(self) -> np.ndarray:
        return _AXES[self] @ np.array([0.0, -1.0, 0.0])

    @property
    def right(self) -> np.ndarray:
        return _AXES[self] @ np.array([1.0, 0.0, 0.0])


_AXES: dict[CoordinateSystem, np.ndarray] = {
    CoordinateSystem.OPENCV: np.eye(3),
    CoordinateSystem.OPENGL: np.diag([1.0, -1.0, -1.0]),
    CoordinateSystem.UNITY: np.diag([1.0, -1.0, 1.0]),
    # Unreal: x = forward = z_cv, y = right = x_cv, z = up = -y_cv.
    CoordinateSystem.UNREAL: np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
}

_ALIASES: dict[str, CoordinateSystem] = {
    "opencv": CoordinateSystem.OPENCV,
    "cv": CoordinateSystem.OPENCV,
    "opengl": CoordinateSystem.OPENGL,
    "gl": CoordinateSystem.OPENGL,
    "openxr": CoordinateSystem.OPENGL,
    "xr": CoordinateSystem.OPENGL,
    "unity": CoordinateSystem.UNITY,
    "unreal": CoordinateSystem.UNREAL,
    "ue": CoordinateSystem.UNREAL,
    "ue4": CoordinateSystem.UNREAL,
    "ue5": CoordinateSystem.UNREAL,
}


def _valid_names() -> str:
    return (
        "opencv (alias cv), opengl (aliases gl, openxr, xr), unity, unreal (aliases ue, ue4, ue5)"
    )


def _axis_change(src: str | CoordinateSystem, dst: str | CoordinateSystem) -> np.ndarray:
    s, d = CoordinateSystem.parse(src), CoordinateSystem.parse(dst)
    # Axis matrices are signed permutations, so the inverse is the transpose.
    return _AXES[d] @ _AXES[s].T


def _as_array(x, last: tuple[int, ...], what: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric, got {type(x).__name__}") from None
    if arr.ndim < len(last) or arr.shape[arr.ndim - len(last) :] != last:
        shape = "x".join(map(str, last))
        raise InputError(f"{what} must have shape (..., {shape}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} contains NaN or infinite values")
    return arr


def convert_pose(
    c2w: np.ndarray, src: str | CoordinateSystem, dst: str | CoordinateSystem
) -> np.ndarray:
    """Camera-to-world matrices (..., 4, 4) from system ``src`` to ``dst``.

    Both the world axes and the camera axes change (``W @ c2w @ W^T``); positions keep their
    scene units (no centimetre scaling for Unreal).
    """
    m = _as_array(c2w, (4, 4), "pose")
    w = np.eye(4)
    w[:3, :3] = _axis_change(src, dst)
    return w @ m @ w.T


def convert_points(
    points: np.ndarray, src: str | CoordinateSystem, dst: str | CoordinateSystem
) -> np.ndarray:
    """World points or directions (..., 3) from system ``src`` to ``dst``."""
    p = _as_array(points, (3,), "points")
    return p @ _axis_change(src, dst).T


def quaternion_to_matrix(quat_xyzw: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from quaternions (..., 4) in (x, y, z, w) order.

    Normalises the input; raises InputError for NaN/inf or zero-length quaternions.
    """
    q = _as_array(quat_xyzw, (4,), "quaternion")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < QUAT_MIN_NORM):
        raise InputError(
            "quaternion has (nearly) zero length; give a unit rotation quaternion [qx, qy, qz, qw]"
        )
    x, y, z, w = np.moveaxis(q / norm, -1, 0)
    r = np.empty(q.shape[:-1] + (3, 3))
    r[..., 0, 0] = 1.0 - 2.0 * (y * y + z * z)
    r[..., 0, 1] = 2.0 * (x * y - z * w)
    r[..., 0, 2] = 2.0 * (x * z + y * w)
    r[..., 1, 0] = 2.0 * (x * y + z * w)
    r[..., 1, 1] = 1.0 - 2.0 * (x * x + z * z)
    r[..., 1, 2] = 2.0 * (y * z - x * w)
    r[..., 2, 0] = 2.0 * (x * z - y * w)
    r[..., 2, 1] = 2.0 * (y * z + x * w)
    r[..., 2, 2] = 1.0 - 2.0 * (x * x + y * y)
    return r


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4), (x, y, z, w) with w >= 0, from rotation matrices (..., 3, 3).

    Raises InputError when a matrix is not a proper rotation (within ROTATION_TOLERANCE).
    """
    r = _as_array(rotation, (3, 3), "rotation")
    rtr = np.swapaxes(r, -1, -2) @ r
    if np.any(np.abs(rtr - np.eye(3)) > ROTATION_TOLERANCE) or np.any(np.linalg.det(r) <= 0):
        raise InputError(
            "pose rotation is not a proper rotation (orthonormal with determinant +1); "
            "scale or mirroring cannot be sent as a quaternion"
        )
    r00, r01, r02 = r[..., 0, 0], r[..., 0, 1], r[..., 0, 2]
    r10, r11, r12 = r[..., 1, 0], r[..., 1, 1], r[..., 1, 2]
    r20, r21, r22 = r[..., 2, 0], r[..., 2, 1], r[..., 2, 2]
    # Four candidate (unnormalised) quaternions, each a multiple of the answer; the one built on
    # the largest diagonal term (4*q_k^2) divides by the largest number, so it is the stable one.
    cands = np.stack(
        [
            np.stack([1 + r00 - r11 - r22, r01 + r10, r02 + r20, r21 - r12], axis=-1),
            np.stack([r01 + r10, 1 - r00 + r11 - r22, r12 + r21, r02 - r20], axis=-1),
            np.stack([r02 + r20, r12 + r21, 1 - r00 - r11 + r22, r10 - r01], axis=-1),
            np.stack([r21 - r12, r02 - r20, r10 - r01, 1 + r00 + r11 + r22], axis=-1),
        ],
        axis=-2,
    )
    diag = np.stack(
        [1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22, 1 + r00 + r11 + r22],
        axis=-1,
    )
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def pose_from_position_quaternion(position: np.ndarray, quat_xyzw: np.ndarray) -> np.ndarray:
    """4x4 camera-to-world matrices (..., 4, 4) from positions (..., 3) and quaternions (..., 4).

    Works in whatever system the caller's numbers are in; no axes change here.
    """
    p = _as_array(position, (3,), "position")
    r = quaternion_to_matrix(quat_xyzw)
    try:
        batch = np.broadcast_shapes(p.shape[:-1], r.shape[:-2])
    except ValueError:
        raise InputError(
            f"positions {p.shape} and quaternions {np.shape(quat_xyzw)} have different counts"
        ) from None
    m = np.zeros(batch + (4, 4))
    m[..., :3, :3] = r
    m[..., :3, 3] = p
    m[..., 3, 3] = 1.0
    return m


def position_quaternion_from_pose(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions (..., 3), unit quaternions (..., 4) xyzw with w >= 0) of poses (..., 4, 4)."""
    m = _as_array(c2w, (4, 4), "pose")
    return m[..., :3, 3].copy(), matrix_to_quaternion(m[..., :3, :3])


def pose_to_wire(
    c2w_opencv: np.ndarray, system: str | CoordinateSystem
) -> tuple[np.ndarray, np.ndarray]:
    """Library poses (OpenCV c2w) as (position, quaternion xyzw) in ``system``."""
    return position_quaternion_from_pose(convert_pose(c2w_opencv, CoordinateSystem.OPENCV, system))


def pose_from_wire(
    position: np.ndarray, quat_xyzw: np.ndarray, system: str | CoordinateSystem
) -> np.ndarray:
    """OpenCV c2w matrices from (position, quaternion xyzw) given in ``system``."""
    return convert_pose(
        pose_from_position_quaternion(position, quat_xyzw), system, CoordinateSystem.OPENCV
    )
