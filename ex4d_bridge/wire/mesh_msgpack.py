"""A mesh's full buffers as msgpack (``MESH_FORMAT_MSGPACK`` of ExportMesh), encoder and decoder.

A map with ``format: "ex4d-dwmesh"``, ``version: 1``, ``num_vertices``, ``num_faces``,
``vertices`` (little-endian float32 x, y, z), ``faces`` (little-endian int32 triples),
``colors`` (uint8 RGB per vertex), ``occluded`` (numpy.packbits of one bit per face),
``intrinsics`` (fx, fy, cx, cy, width, height) and ``far_depth``.
"""

from __future__ import annotations

import msgpack
import numpy as np

from ..camera import Intrinsics
from ..errors import InputError

MESH_FORMAT = "ex4d-dwmesh"
MESH_VERSION = 1


def encode_mesh_msgpack(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray,
    occluded: np.ndarray,
    intrinsics: Intrinsics,
    far_depth: float,
) -> bytes:
    """(N, 3) vertices, (F, 3) faces, (N, 3) uint8 colours, (F,) occluded bits -> msgpack."""
    v = np.ascontiguousarray(vertices, "<f4").reshape(-1, 3)
    f = np.ascontiguousarray(faces, "<i4").reshape(-1, 3)
    c = np.ascontiguousarray(colors, np.uint8).reshape(-1, 3)
    occ = np.asarray(occluded, bool).reshape(-1)
    if len(c) != len(v) or len(occ) != len(f):
        raise InputError(
            f"{len(v)} vertices with {len(c)} colours, {len(f)} faces with {len(occ)} bits"
        )
    return msgpack.packb(
        {
            "format": MESH_FORMAT,
            "version": MESH_VERSION,
            "num_vertices": len(v),
            "num_faces": len(f),
            "vertices": v.tobytes(),
            "faces": f.tobytes(),
            "colors": c.tobytes(),
            "occluded": np.packbits(occ).tobytes(),
            "intrinsics": intrinsics.to_dict(),
            "far_depth": float(far_depth),
        }
    )


def decode_mesh_msgpack(data: bytes) -> dict:
    """msgpack -> ``{"vertices", "faces", "colors", "occluded", "intrinsics", "far_depth"}``
    (numpy arrays, :class:`Intrinsics`, float); InputError for anything malformed."""
    try:
        m = msgpack.unpackb(data, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise InputError(f"not a msgpack mesh: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != MESH_FORMAT:
        raise InputError(f"not a msgpack mesh (no 'format': '{MESH_FORMAT}')")
    if m.get("version") != MESH_VERSION:
        raise InputError(f"msgpack mesh version {m.get('version')!r} is not supported")
    try:
        nv, nf = int(m["num_vertices"]), int(m["num_faces"])
        arrays = {
            "vertices": (m["vertices"], "<f4", (nv, 3)),
            "faces": (m["faces"], "<i4", (nf, 3)),
            "colors": (m["colors"], np.uint8, (nv, 3)),
        }
        out: dict = {}
        for name, (raw, dtype, shape) in arrays.items():
            a = np.frombuffer(raw, dtype)
            if a.size != shape[0] * shape[1]:
                raise InputError(f"msgpack mesh: {name} has {a.size} values, expected {shape}")
            out[name] = a.reshape(shape).copy()
        occ = np.frombuffer(m["occluded"], np.uint8)
        if len(occ) != (nf + 7) // 8:
            raise InputError(f"msgpack mesh: occluded has {len(occ)} bytes for {nf} faces")
        out["occluded"] = np.unpackbits(occ, count=nf).astype(bool)
        out["intrinsics"] = Intrinsics.from_dict(m["intrinsics"])
        out["far_depth"] = float(m["far_depth"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"msgpack mesh is malformed: {exc}") from None
    return out
