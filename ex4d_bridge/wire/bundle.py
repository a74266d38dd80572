"""The scene bundle (ExportScene / an UploadScene with ``is_bundle``): one msgpack map.

``{"format": "ex4d-scene-bundle", "version": 1, "manifest": {...}, "frames": ARRAY,
"depth": ARRAY}`` where ARRAY is ``{"shape": [...], "dtype": "|u1" or "<f4", "zlib": bytes}``
(C order); frames are (T, H, W, 3) uint8 RGB and depth (T, H, W) float32. The manifest is the
scene store's (name, intrinsics, fps, source, mesh options, ...); the store turns it back into a
scene. Bundles are untrusted input: every size is checked before anything is inflated.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgpack
import numpy as np

from ..errors import Ex4dError, InputError

BUNDLE_FORMAT = "ex4d-scene-bundle"
BUNDLE_VERSION = 1
MAX_DIM = 1 << 20


class BundleLimitError(Ex4dError):
    """A bundle array is larger than the caller's limit (the server answers
    RESOURCE_EXHAUSTED)."""


def pack_array(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    return {
        "shape": list(a.shape),
        "dtype": a.dtype.str,
        "zlib": zlib.compress(a.tobytes(), 1),
    }


def unpack_array(d: Any, dtype: str, ndim: int, max_bytes: int, what: str) -> np.ndarray:
    if not isinstance(d, dict) or d.get("dtype") != dtype or not isinstance(d.get("zlib"), bytes):
        raise InputError(f"scene bundle: {what} is missing or not a {dtype} array")
    shape = d.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != ndim
        or not all(isinstance(s, int) and 0 < s <= MAX_DIM for s in shape)
    ):
        raise InputError(f"scene bundle: {what} has a malformed shape {shape!r}")
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if n > max_bytes:
        raise BundleLimitError(
            f"scene bundle: {what} holds {n} bytes, over the limit of {max_bytes}"
        )
    dec = zlib.decompressobj()
    try:
        raw = dec.decompress(d["zlib"], n + 1)
    except zlib.error as exc:
        raise InputError(f"scene bundle: {what} is corrupt ({exc})") from None
    if len(raw) != n:
        raise InputError(f"scene bundle: {what} has {len(raw)} bytes, expected {n}")
    return np.frombuffer(raw, dtype).reshape(shape).copy()


def encode_bundle(manifest: dict[str, Any], frames: np.ndarray, depth: np.ndarray) -> bytes:
    """(T, H, W, 3) uint8 frames and (T, H, W) depth with their manifest -> bundle bytes."""
    return msgpack.packb(
        {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "manifest": manifest,
            "frames": pack_array(np.asarray(frames, np.uint8)),
            "depth": pack_array(np.asarray(depth).astype("<f4")),
        }
    )


def decode_bundle(
    data: bytes, max_array_bytes: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Bundle bytes (untrusted) -> (manifest, frames, depth). InputError for anything malformed;
    BundleLimitError for an array over ``max_array_bytes``."""
    try:
        b = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as exc:
        raise InputError(f"not a scene bundle: {exc}") from None
    if not isinstance(b, dict) or b.get("format") != BUNDLE_FORMAT:
        raise InputError(f"not a scene bundle (no 'format': '{BUNDLE_FORMAT}')")
    if b.get("version") != BUNDLE_VERSION:
        raise InputError(f"scene bundle version {b.get('version')!r} is not supported")
    m = b.get("manifest")
    if not isinstance(m, dict):
        raise InputError("scene bundle has no manifest")
    frames = unpack_array(b.get("frames"), "|u1", 4, max_array_bytes, "frames")
    depth = unpack_array(b.get("depth"), "<f4", 3, max_array_bytes, "depth")
    return m, frames, depth
