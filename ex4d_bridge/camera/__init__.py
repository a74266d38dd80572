"""Cameras: coordinate conventions, intrinsics, poses, trajectories and pose-path files.

Inside the library a pose is a 4x4 float64 camera-to-world matrix in OpenCV axes (x right,
y down, z forward), in the camera frame of source frame 0. Other conventions appear only at the
edges (files, the wire) and are converted with :mod:`.conventions`.
"""

from .conventions import (
    CoordinateSystem,
    convert_points,
    convert_pose,
    matrix_to_quaternion,
    pose_from_position_quaternion,
    pose_from_wire,
    pose_to_wire,
    position_quaternion_from_pose,
    quaternion_to_matrix,
)
from .intrinsics import Intrinsics
from .pose_path import load_pose_path, save_pose_path
from .poses import invert_rigid, is_rigid, look_at
from .trajectory import (
    TRAJECTORY_FORMS,
    Trajectory,
    dolly,
    parse_trajectory,
    reference_orbit,
    reference_surround,
    spiral,
    yaw_arc,
)

__all__ = [
    "TRAJECTORY_FORMS",
    "CoordinateSystem",
    "Intrinsics",
    "Trajectory",
    "convert_points",
    "convert_pose",
    "dolly",
    "invert_rigid",
    "is_rigid",
    "load_pose_path",
    "look_at",
    "matrix_to_quaternion",
    "parse_trajectory",
    "pose_from_position_quaternion",
    "pose_from_wire",
    "pose_to_wire",
    "position_quaternion_from_pose",
    "quaternion_to_matrix",
    "reference_orbit",
    "reference_surround",
    "save_pose_path",
    "spiral",
    "yaw_arc",
]
