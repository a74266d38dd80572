"""Sane magnitudes for the numbers of a request: every float field of a request message is
checked against a bound for its name before any arithmetic sees it, so a finite but absurd
value (``time_s=1e308``, ``cx=1e300``, ``fov_y_deg=1e-300``) is an InputError naming the
field, never an overflow deep inside rendering.

Quaternions only stand for a direction in 4D, so instead of a bound their components are
rescaled (largest magnitude 1) when they are so large or small that squaring them would
overflow or underflow; the rotation they stand for is unchanged.
"""

from __future__ import annotations

import math

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ..errors import InputError

# Scene units (the depth's): positions beyond this are no camera of any scene.
MAX_POSITION = 1e9
# Seconds: about 30 years of video.
MAX_TIME_S = 1e9
MAX_FPS = 1e4
# Pixels: a focal length of 1e7 px is a field of view of 0.02 degrees at 4096 px.
MAX_PIXELS = 1e7
MIN_FOCAL_PX = 1e-3
MIN_FOV_DEG = 1e-3
MAX_ANY = 1e12
# Quaternion components outside this range are rescaled before anyone normalises them.
_QUAT_SAFE = (1e-100, 1e100)

# field name -> (largest magnitude, smallest non-zero magnitude or 0)
FIELD_BOUNDS: dict[str, tuple[float, float]] = {
    "time_s": (MAX_TIME_S, 0.0),
    "client_time_s": (MAX_ANY, 0.0),
    "fps": (MAX_FPS, 0.0),
    "fov_y_deg": (180.0, MIN_FOV_DEG),
    "fov_x_deg": (180.0, MIN_FOV_DEG),
    "fx": (MAX_PIXELS, MIN_FOCAL_PX),
    "fy": (MAX_PIXELS, MIN_FOCAL_PX),
    "cx": (MAX_PIXELS, 0.0),
    "cy": (MAX_PIXELS, 0.0),
    "focal_px": (MAX_PIXELS, MIN_FOCAL_PX),
    "angle_left": (math.pi, 0.0),
    "angle_right": (math.pi, 0.0),
    "angle_up": (math.pi, 0.0),
    "angle_down": (math.pi, 0.0),
    "depth_scale": (1e9, 1e-9),
    "guidance_scale": (1e3, 0.0),
}
# Fields of these messages are bounded by the message, not by their own names.
MESSAGE_BOUNDS: dict[str, tuple[float, float]] = {
    "ex4d.v1.Vec3": (MAX_POSITION, 0.0),
}
_FLOAT_TYPES = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


def check_number(value: float, name: str, bounds: tuple[float, float]) -> None:
    """InputError naming ``name`` unless ``value`` is finite, at most ``bounds[0]`` in
    magnitude and, when non-zero, at least ``bounds[1]``."""
    largest, smallest = bounds
    if not math.isfinite(value):
        raise InputError(f"{name} = {value} must be a finite number")
    size = abs(value)
    if size > largest or (value != 0.0 and size < smallest):
        low = f" and, unless 0, at least {smallest:g}" if smallest else ""
        raise InputError(
            f"{name} = {value:g} is out of range: its magnitude must be at most {largest:g}{low}"
        )


def rescale_quaternion(q: Message, name: str) -> None:
    """Scale a ``Quaternion`` message in place so its largest component has magnitude 1 when
    its components would overflow or underflow on squaring (same rotation)."""
    values = (q.x, q.y, q.z, q.w)
    for axis, v in zip("xyzw", values, strict=True):
        if not math.isfinite(v):
            raise InputError(f"{name}.{axis} = {v} must be a finite number")
    big = max(abs(v) for v in values)
    if big == 0.0 or _QUAT_SAFE[0] <= big <= _QUAT_SAFE[1]:
        return
    q.x, q.y, q.z, q.w = (v / big for v in values)


def check_numbers(msg: Message, path: str | None = None) -> None:
    """Check every float field that is set in ``msg`` and its sub-messages (see the module
    doc); the error names the field's path, e.g. ``ViewRequest.pose.position.x``."""
    desc = msg.DESCRIPTOR
    path = path or desc.name
    if desc.full_name == "ex4d.v1.Quaternion":
        rescale_quaternion(msg, path)
        return
    by_message = MESSAGE_BOUNDS.get(desc.full_name)
    for field, value in msg.ListFields():
        name = f"{path}.{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue
            if field.is_repeated:
                for i, item in enumerate(value):
                    check_numbers(item, f"{name}[{i}]")
            else:
                check_numbers(value, name)
        elif field.type in _FLOAT_TYPES:
            bounds = by_message or FIELD_BOUNDS.get(field.name, (MAX_ANY, 0.0))
            if field.is_repeated:
                for i, v in enumerate(value):
                    check_number(v, f"{name}[{i}]", bounds)
            else:
                check_number(value, name, bounds)


__all__ = [
    "FIELD_BOUNDS",
    "MAX_FPS",
    "MAX_PIXELS",
    "MAX_POSITION",
    "MAX_TIME_S",
    "check_number",
    "check_numbers",
    "rescale_quaternion",
]
