"""Provenance maps (``ProvenanceMap``): where each pixel of a completed view came from, one
byte per pixel (``Provenance``: hole, source, completion, nearby completion), zlib-compressed."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._proto import view_pb2
from .compression import deflate, inflate
from .lenses import check_resolution

PROVENANCE_VALUES = (
    view_pb2.PROVENANCE_HOLE,
    view_pb2.PROVENANCE_SOURCE,
    view_pb2.PROVENANCE_COMPLETION,
    view_pb2.PROVENANCE_NEARBY,
)


def encode_provenance(labels: np.ndarray, compress: bool = True) -> view_pb2.ProvenanceMap:
    """(H, W) uint8 Provenance values -> ProvenanceMap."""
    a = np.asarray(labels)
    if a.ndim != 2:
        raise InputError(f"a provenance map must be (H, W), got {a.shape}")
    if a.size and int(a.max()) > max(PROVENANCE_VALUES):
        raise InputError(f"provenance value {int(a.max())} is not a Provenance")
    data, compression = deflate(np.ascontiguousarray(a, np.uint8).tobytes(), compress)
    return view_pb2.ProvenanceMap(
        width=a.shape[1], height=a.shape[0], data=data, compression=compression
    )


def decode_provenance(msg: view_pb2.ProvenanceMap) -> np.ndarray:
    """ProvenanceMap -> (H, W) uint8 Provenance values (checked)."""
    check_resolution(msg.width, msg.height, "provenance map size")
    raw = inflate(msg.data, msg.compression, msg.width * msg.height, "provenance map")
    a = np.frombuffer(raw, np.uint8).reshape(msg.height, msg.width)
    if a.size and int(a.max()) > max(PROVENANCE_VALUES):
        raise InputError(f"provenance value {int(a.max())} is not a Provenance")
    return a


__all__ = ["PROVENANCE_VALUES", "decode_provenance", "encode_provenance"]
