"""Coordinate systems and poses (``Pose``): a position and a unit quaternion in a named
coordinate system; the library side is a 4x4 OpenCV camera-to-world matrix."""

from __future__ import annotations

import numpy as np

from ..camera import CoordinateSystem, pose_from_wire, pose_to_wire
from ..errors import InputError
from ._proto import common_pb2 as pb

SYSTEM_FROM_WIRE = {
    pb.COORDINATE_SYSTEM_OPENCV: CoordinateSystem.OPENCV,
    pb.COORDINATE_SYSTEM_OPENGL: CoordinateSystem.OPENGL,
    pb.COORDINATE_SYSTEM_UNITY: CoordinateSystem.UNITY,
    pb.COORDINATE_SYSTEM_UNREAL: CoordinateSystem.UNREAL,
}
SYSTEM_TO_WIRE = {v: k for k, v in SYSTEM_FROM_WIRE.items()}


def system_from_wire(value: int) -> CoordinateSystem:
    if value == pb.COORDINATE_SYSTEM_UNSPECIFIED:
        raise InputError(
            "coordinate_system is unspecified: set COORDINATE_SYSTEM_OPENCV, _OPENGL (OpenXR), "
            "_UNITY or _UNREAL"
        )
    try:
        return SYSTEM_FROM_WIRE[value]
    except KeyError:
        raise InputError(
            f"unknown coordinate_system {value}: use 1 (OpenCV), 2 (OpenGL/OpenXR), 3 (Unity) "
            "or 4 (Unreal)"
        ) from None


def system_to_wire(system: str | CoordinateSystem) -> int:
    return SYSTEM_TO_WIRE[CoordinateSystem.parse(system)]


def pose_from_msg(msg: pb.Pose, what: str = "pose") -> np.ndarray:
    """4x4 OpenCV camera-to-world matrix from a wire pose (validated)."""
    system = system_from_wire(msg.coordinate_system)
    p, q = msg.position, msg.rotation
    try:
        return pose_from_wire([p.x, p.y, p.z], [q.x, q.y, q.z, q.w], system)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None


def pose_to_msg(c2w_opencv: np.ndarray, system: str | CoordinateSystem = "opencv") -> pb.Pose:
    """A wire pose in ``system`` from a 4x4 OpenCV camera-to-world matrix."""
    pos, quat = pose_to_wire(np.asarray(c2w_opencv, dtype=np.float64), system)
    return pb.Pose(
        position=pb.Vec3(x=pos[0], y=pos[1], z=pos[2]),
        rotation=pb.Quaternion(x=quat[0], y=quat[1], z=quat[2], w=quat[3]),
        coordinate_system=system_to_wire(system),
    )
