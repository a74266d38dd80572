"""The scene bundle (ExportScene / an UploadScene with ``is_bundle``): one msgpack map.

``{"format": "ex4d-scene-bundle", "version": 1, "manifest": {...}, "frames": ARRAY,
"depth": ARRAY, "completions": [...]}`` where ARRAY is ``{"shape": [...], "dtype": "|u1",
"<f4", ..., "zlib": bytes}`` (C order); frames are (T, H, W, 3) uint8 RGB and depth (T, H, W)
float32. The manifest is the scene store's (name, intrinsics, fps, source, mesh options, ...);
the store turns it back into a scene.

``completions`` (optional: bundles written before completion layers existed have none, and
readers that predate it ignore it, so the version stays 1) lists the scene's stored generations:
``{"generation": str, "meta": {...}, "created_unix_s": float, "arrays": {NAME: ARRAY}}`` with the
six packed arrays of ``COMPLETION_ARRAYS`` (their meaning is
``ex4d_bridge.scene.completion.store``'s; this module checks only names, types and sizes).

Bundles are untrusted input: every size is checked before anything is inflated; frames and
depth are checked together against the total limit before either is inflated, and the
completions together may not hold more than what is left of it (nor the per-array limit).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from ..errors import Ex4dError, InputError

BUNDLE_FORMAT = "ex4d-scene-bundle"
BUNDLE_VERSION = 1
MAX_DIM = 1 << 20
MAX_GENERATIONS = 4096

# The packed arrays of one generation's completion layers: name -> (dtype, ndim). Per layer:
# frame_index (L,), pose (L, 4, 4), intrinsics (L, 6), region (L, 4); per crop pixel of every
# layer: depth (P,), color (P, 3).
COMPLETION_ARRAYS: dict[str, tuple[str, int]] = {
    "frame_index": ("<i4", 1),
    "pose": ("<f8", 3),
    "intrinsics": ("<f8", 2),
    "region": ("<i4", 2),
    "depth": ("<f4", 1),
    "color": ("|u1", 2),
}


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


def declared_bytes(
    d: Any, dtype: str, ndim: int, what: str, *, allow_empty: bool = False
) -> tuple[list[int], int]:
    """(shape, bytes) that one packed ARRAY (untrusted) declares, checked without inflating."""
    if not isinstance(d, dict) or d.get("dtype") != dtype or not isinstance(d.get("zlib"), bytes):
        raise InputError(f"scene bundle: {what} is missing or not a {dtype} array")
    shape = d.get("shape")
    least = 0 if allow_empty else 1
    if (
        not isinstance(shape, list)
        or len(shape) != ndim
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and least <= s <= MAX_DIM for s in shape
        )
    ):
        raise InputError(f"scene bundle: {what} has a malformed shape {shape!r}")
    return shape, int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize


def unpack_array(
    d: Any, dtype: str, ndim: int, max_bytes: int, what: str, *, allow_empty: bool = False
) -> np.ndarray:
    """One packed ARRAY (untrusted) -> a writable numpy array; ``allow_empty`` admits
    dimensions of 0."""
    shape, n = declared_bytes(d, dtype, ndim, what, allow_empty=allow_empty)
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


@dataclass
class BundleCompletions:
    """One generation's completion layers in a bundle: the packed arrays, unvalidated beyond
    their names, types and sizes."""

    generation: str
    arrays: dict[str, np.ndarray]  # COMPLETION_ARRAYS
    meta: dict[str, Any] = field(default_factory=dict)
    created_unix_s: float = 0.0


@dataclass
class SceneBundle:
    manifest: dict[str, Any]
    frames: np.ndarray  # (T, H, W, 3) uint8
    depth: np.ndarray  # (T, H, W) float32
    completions: list[BundleCompletions] = field(default_factory=list)


def _pack_completions(c: BundleCompletions) -> dict[str, Any]:
    if set(c.arrays) != set(COMPLETION_ARRAYS):
        raise InputError(f"completion arrays must be exactly {sorted(COMPLETION_ARRAYS)}")
    return {
        "generation": str(c.generation),
        "meta": dict(c.meta),
        "created_unix_s": float(c.created_unix_s),
        "arrays": {
            name: pack_array(np.asarray(c.arrays[name]).astype(dtype))
            for name, (dtype, _) in COMPLETION_ARRAYS.items()
        },
    }


def encode_bundle(
    manifest: dict[str, Any],
    frames: np.ndarray,
    depth: np.ndarray,
    completions: list[BundleCompletions] | None = None,
) -> bytes:
    """(T, H, W, 3) uint8 frames and (T, H, W) depth with their manifest, and the scene's
    completion layers if any -> bundle bytes."""
    b: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "manifest": manifest,
        "frames": pack_array(np.asarray(frames, np.uint8)),
        "depth": pack_array(np.asarray(depth).astype("<f4")),
    }
    if completions:
        b["completions"] = [_pack_completions(c) for c in completions]
    return msgpack.packb(b)


def _unpack_completions(entries: Any, max_bytes: int) -> list[BundleCompletions]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InputError("scene bundle: completions must be a list")
    if len(entries) > MAX_GENERATIONS:
        raise BundleLimitError(
            f"scene bundle: {len(entries)} generations of completions, over the limit of "
            f"{MAX_GENERATIONS}"
        )
    out, seen, budget = [], set(), max_bytes
    for i, e in enumerate(entries):
        what = f"completions[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("arrays"), dict):
            raise InputError(f"scene bundle: {what} is not a generation of completion layers")
        generation, meta = e.get("generation"), e.get("meta", {})
        created = e.get("created_unix_s", 0.0)
        if not isinstance(generation, str) or not generation or generation in seen:
            raise InputError(f"scene bundle: {what} has a missing or repeated generation id")
        if not isinstance(meta, dict):
            raise InputError(f"scene bundle: {what}.meta must be a map")
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise InputError(f"scene bundle: {what}.created_unix_s must be a number")
        seen.add(generation)
        arrays = {}
        for name, (dtype, ndim) in COMPLETION_ARRAYS.items():
            a = unpack_array(
                e["arrays"].get(name), dtype, ndim, budget, f"{what}.{name}", allow_empty=True
            )
            budget -= a.nbytes
            arrays[name] = a
        out.append(BundleCompletions(generation, arrays, meta, float(created)))
    return out


def read_bundle(
    data: bytes, max_array_bytes: int, *, max_total_bytes: int | None = None
) -> SceneBundle:
    """Bundle bytes (untrusted) -> SceneBundle (completions empty for bundles without them).
    InputError for anything malformed; BundleLimitError for an array over ``max_array_bytes``,
    completions over it together, or all arrays together over ``max_total_bytes`` (frames
    and depth are checked together before either is inflated)."""
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
    total = max_array_bytes * 3 if max_total_bytes is None else max_total_bytes
    _, frame_bytes = declared_bytes(b.get("frames"), "|u1", 4, "frames")
    _, depth_bytes = declared_bytes(b.get("depth"), "<f4", 3, "depth")
    if frame_bytes + depth_bytes > total:
        raise BundleLimitError(
            f"scene bundle: frames ({frame_bytes} bytes) and depth ({depth_bytes} bytes) "
            f"together are over the limit of {total} bytes"
        )
    frames = unpack_array(b.get("frames"), "|u1", 4, max_array_bytes, "frames")
    depth = unpack_array(b.get("depth"), "<f4", 3, max_array_bytes, "depth")
    left = min(max_array_bytes, total - frame_bytes - depth_bytes)
    completions = _unpack_completions(b.get("completions"), left)
    return SceneBundle(m, frames, depth, completions)


def decode_bundle(
    data: bytes, max_array_bytes: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Bundle bytes (untrusted) -> (manifest, frames, depth), ignoring completions (see
    ``read_bundle``). InputError for anything malformed; BundleLimitError for an array over
    ``max_array_bytes``."""
    b = read_bundle(data, max_array_bytes)
    return b.manifest, b.frames, b.depth
