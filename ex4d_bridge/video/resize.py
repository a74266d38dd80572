"""Output-size rules shared by every reader, and the one resize used for frames."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import InputError


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even, which would make 8.5 -> 8 but 9.5 -> 10.
    return int(math.floor(x + 0.5))


def resolve_size(
    width: int,
    height: int,
    *,
    max_size: int | None = None,
    multiple_of: int | None = None,
    size: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """The ``(width, height)`` a ``width x height`` source is resized to.

    ``size=(W, H)`` is exact and cannot be combined with the other two. Otherwise ``max_size``
    first caps the longest side (never enlarging, aspect kept), then ``multiple_of`` rounds each
    side to the nearest multiple, at least one multiple. When both are given the rounding never
    breaks the cap: a side that would round above ``max_size`` rounds down instead.
    """
    if size is not None:
        if max_size is not None or multiple_of is not None:
            raise InputError(
                "size=(W, H) is an exact output size; do not combine it with max_size or "
                "multiple_of"
            )
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise InputError(f"size must be a (width, height) pair, got {size!r}")
        return _positive_int(size[0], "size width"), _positive_int(size[1], "size height")

    w, h = int(width), int(height)
    if max_size is not None:
        cap = _positive_int(max_size, "max_size")
        scale = min(1.0, cap / max(w, h))
        w, h = max(1, _round_half_up(w * scale)), max(1, _round_half_up(h * scale))
    if multiple_of is not None:
        m = _positive_int(multiple_of, "multiple_of")
        if max_size is not None and m > max_size:
            raise InputError(f"multiple_of={m} is larger than max_size={max_size}")

        def snap(side: int) -> int:
            snapped = max(m, _round_half_up(side / m) * m)
            if max_size is not None and snapped > max_size:
                snapped = max(m, (side // m) * m)
            return snapped

        w, h = snap(w), snap(h)
    return w, h


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an ``[H, W, C]`` uint8 image; area averaging when shrinking (no aliasing)."""
    src_h, src_w = image.shape[:2]
    if (src_w, src_h) == (width, height):
        return image
    shrinking = width <= src_w and height <= src_h
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    out = cv2.resize(image, (width, height), interpolation=interpolation)
    if out.ndim == 2 and image.ndim == 3:  # cv2 drops a trailing channel axis of size 1
        out = out[..., None]
    return out
