"""Bit sets (``PackedBits``): numpy.packbits order, most significant bit first."""

from __future__ import annotations

import numpy as np

from ._proto import common_pb2 as pb
from .compression import deflate, inflate


def pack_bits(bits: np.ndarray, compress: bool = True) -> pb.PackedBits:
    """Any bool array (flattened in C order) -> PackedBits."""
    flat = np.ascontiguousarray(bits, dtype=bool).reshape(-1)
    data, compression = deflate(np.packbits(flat).tobytes(), compress)
    return pb.PackedBits(count=flat.size, data=data, compression=compression)


def unpack_bits(msg: pb.PackedBits, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """PackedBits -> bool array of ``count`` bits, reshaped to ``shape`` when given."""
    n = int(msg.count)
    raw = inflate(msg.data, msg.compression, (n + 7) // 8, "bit set")
    bits = np.unpackbits(np.frombuffer(raw, np.uint8), count=n).astype(bool)
    return bits.reshape(shape) if shape is not None else bits
