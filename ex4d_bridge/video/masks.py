"""Lossless mask videos.

Masks are stored as single-channel 8-bit frames, 0 for False and 255 for True:

* ``.mkv`` -> FFV1 (``gray``): lossless by design; the default choice.
* ``.mp4`` -> H.264 (libx264, ``gray`` 4:0:0, ``qp=0``): x264's lossless mode, for tools that
  only take mp4. No chroma planes, so odd sizes need no padding.

Both decode to exactly the values written, so :func:`read_mask_video` returns the identical
masks. Reading thresholds the luma at 128, which also accepts masks saved lossily by other tools
(such as the reference implementation's ``mask_*.mp4``).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from .output import atomic_output, encode_all, fps_fraction
from .reader import decode_frames

MASK_SUFFIXES = (".mkv", ".mp4")


def _check_masks(masks: object) -> np.ndarray:
    if not isinstance(masks, np.ndarray):
        raise InputError(f"masks must be a numpy array, got {type(masks).__name__}")
    if masks.ndim != 3:
        raise InputError(f"masks must have shape [T, H, W], got {tuple(masks.shape)}")
    if masks.dtype != np.bool_:
        raise InputError(
            f"masks must be bool, got {masks.dtype}; convert explicitly (e.g. masks > 0.5)"
        )
    if min(masks.shape) < 1:
        raise InputError(f"masks are empty: shape {tuple(masks.shape)}")
    return masks


def write_mask_video(path: str | os.PathLike, masks: np.ndarray, fps: float | Fraction) -> Path:
    """Store bool ``[T, H, W]`` masks losslessly (FFV1 in .mkv or lossless H.264 in .mp4)."""
    masks = _check_masks(masks)
    rate = fps_fraction(fps)
    _, height, width = masks.shape
    out = Path(path)
    with atomic_output(out, MASK_SUFFIXES, "a mask video") as tmp:
        container = av.open(str(tmp), mode="w")
        try:
            if out.suffix.lower() == ".mkv":
                stream = container.add_stream("ffv1", rate=rate)
            else:
                stream = container.add_stream("libx264", rate=rate)
                stream.options = {"qp": "0", "preset": "medium"}
            stream.width, stream.height = width, height
            stream.pix_fmt = "gray"
            planes = (np.where(mask, np.uint8(255), np.uint8(0)) for mask in masks)
            encode_all(
                container, stream, (av.VideoFrame.from_ndarray(p, format="gray") for p in planes)
            )
        finally:
            container.close()
    return out


def read_mask_video(path: str | os.PathLike) -> np.ndarray:
    """Read a mask video back as bool ``[T, H, W]`` (luma >= 128 is True)."""
    frames = decode_frames(path, pixel_format="gray")
    return frames >= 128
