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
from .coverage import (
    COVERAGE_SETS,
    coverage_paths,
    coverage_set,
    hold_path,
    orbit_pose,
    path_angles,
    pitch_arc,
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
    "COVERAGE_SETS",
    "TRAJECTORY_FORMS",
    "CoordinateSystem",
    "Intrinsics",
    "Trajectory",
    "convert_points",
    "convert_pose",
    "coverage_paths",
    "coverage_set",
    "dolly",
    "hold_path",
    "invert_rigid",
    "is_rigid",
    "load_pose_path",
    "look_at",
    "matrix_to_quaternion",
    "orbit_pose",
    "parse_trajectory",
    "path_angles",
    "pitch_arc",
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
