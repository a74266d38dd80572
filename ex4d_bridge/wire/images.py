"""Colour images (``Image``): JPEG, PNG or raw RGB (optionally zlib), all through Pillow so the
server and a client without OpenCV encode and decode the same way."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

from ..errors import InputError
from ._proto import common_pb2 as pb
from .compression import deflate, inflate

DEFAULT_JPEG_QUALITY = 85
_PIL_FORMATS = {
    pb.IMAGE_ENCODING_UNSPECIFIED: ("JPEG", "PNG"),
    pb.IMAGE_ENCODING_JPEG: ("JPEG",),
    pb.IMAGE_ENCODING_PNG: ("PNG",),
}
# What Pillow raises for data that is not a well-formed image of the named format.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"an image must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    return rgb


def encode_image(
    rgb: np.ndarray,
    encoding: int = pb.IMAGE_ENCODING_JPEG,
    quality: int = 0,
    compress_raw: bool = True,
) -> pb.Image:
    """(H, W, 3) uint8 RGB -> Image. ``quality`` 0 means :data:`DEFAULT_JPEG_QUALITY`."""
    rgb = _check_rgb(rgb)
    h, w = rgb.shape[:2]
    comp = pb.COMPRESSION_NONE
    if encoding in (pb.IMAGE_ENCODING_UNSPECIFIED, pb.IMAGE_ENCODING_JPEG):
        q = int(quality) or DEFAULT_JPEG_QUALITY
        if not 1 <= q <= 100:
            raise InputError(f"jpeg_quality {q} must be 1..100")
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=q)
        enc, data = pb.IMAGE_ENCODING_JPEG, buf.getvalue()
    elif encoding == pb.IMAGE_ENCODING_PNG:
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, "PNG")
        enc, data = pb.IMAGE_ENCODING_PNG, buf.getvalue()
    elif encoding == pb.IMAGE_ENCODING_RAW_RGB:
        enc = pb.IMAGE_ENCODING_RAW_RGB
        data, comp = deflate(rgb.tobytes(), compress_raw)
    else:
        raise InputError(f"unknown image encoding {encoding}: use JPEG, RAW_RGB or PNG")
    return pb.Image(encoding=enc, width=w, height=h, data=data, compression=comp)


def decode_image(msg: pb.Image) -> np.ndarray:
    """Image -> (H, W, 3) uint8 RGB."""
    h, w = int(msg.height), int(msg.width)
    if msg.encoding == pb.IMAGE_ENCODING_RAW_RGB:
        raw = inflate(msg.data, msg.compression, h * w * 3, "raw image")
        return np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy()
    formats = _PIL_FORMATS.get(msg.encoding)
    if formats is None:
        raise InputError(f"unknown image encoding {msg.encoding}: use JPEG, RAW_RGB or PNG")
    rgb = None
    try:
        with Image.open(io.BytesIO(msg.data), formats=formats) as img:
            # The header alone gives the size: nothing is decoded for a wrong one.
            if img.size == (w, h):
                rgb = np.array(img.convert("RGB"))
    except _DECODE_ERRORS:
        rgb = None
    if rgb is None or rgb.shape != (h, w, 3):
        raise InputError("image data does not decode to the stated size")
    return rgb
