"""Intrinsics on the wire and the lens of a view (explicit intrinsics, OpenXR field-of-view
angles, a vertical field of view, or the scene's camera)."""

from __future__ import annotations

import math

from ..camera import Intrinsics
from ..errors import InputError
from ._proto import common_pb2 as pb

MAX_RESOLUTION = 4096


def intrinsics_to_msg(k: Intrinsics) -> pb.Intrinsics:
    return pb.Intrinsics(fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy, width=k.width, height=k.height)


def intrinsics_from_msg(msg: pb.Intrinsics, width: int = 0, height: int = 0) -> Intrinsics:
    """Intrinsics from the wire; a message without a size takes ``width`` x ``height``; one for
    another size is scaled to it."""
    w, h = int(msg.width) or width, int(msg.height) or height
    k = Intrinsics(msg.fx, msg.fy, msg.cx, msg.cy, w, h)
    if width and height and (w, h) != (width, height):
        k = k.scaled(width, height)
    return k


def check_resolution(width: int, height: int, what: str = "resolution") -> tuple[int, int]:
    if not (1 <= width <= MAX_RESOLUTION and 1 <= height <= MAX_RESOLUTION):
        raise InputError(
            f"{what} {width}x{height} is out of range: width and height must be 1..{MAX_RESOLUTION}"
        )
    return int(width), int(height)


def intrinsics_from_fov_angles(angles: pb.FovAngles, width: int, height: int) -> Intrinsics:
    """OpenXR-style asymmetric field of view (radians) -> pinhole intrinsics (y down)."""
    a = (angles.angle_left, angles.angle_right, angles.angle_up, angles.angle_down)
    if not all(math.isfinite(v) and abs(v) < math.pi / 2 for v in a):
        raise InputError("fov_angles must be finite and within (-90, 90) degrees")
    tl, tr, tu, td = (math.tan(v) for v in a)
    if tr - tl <= 1e-6 or tu - td <= 1e-6:
        raise InputError("fov_angles: angle_right must exceed angle_left and angle_up angle_down")
    fx, fy = width / (tr - tl), height / (tu - td)
    return Intrinsics(fx, fy, -tl * fx, tu * fy, width, height)


def view_intrinsics(
    width: int,
    height: int,
    scene_k: Intrinsics,
    intrinsics: pb.Intrinsics | None = None,
    fov_angles: pb.FovAngles | None = None,
    fov_y_deg: float = 0.0,
) -> Intrinsics:
    """The lens of a view: explicit intrinsics, else OpenXR angles, else a vertical field of
    view, else the scene's camera at the requested size (square pixels if the aspect differs)."""
    width, height = check_resolution(width, height)
    if intrinsics is not None:
        return intrinsics_from_msg(intrinsics, width, height)
    if fov_angles is not None:
        return intrinsics_from_fov_angles(fov_angles, width, height)
    if fov_y_deg:
        if not (math.isfinite(fov_y_deg) and 0.0 < fov_y_deg < 180.0):
            raise InputError(f"fov_y_deg {fov_y_deg} must be in (0, 180) degrees")
        return Intrinsics.from_fov(width, height, fov_y_deg=fov_y_deg)
    if width * scene_k.height == height * scene_k.width:
        return scene_k.scaled(width, height)
    f = scene_k.fy * height / scene_k.height
    return Intrinsics(f, f, width / 2.0, height / 2.0, width, height)
