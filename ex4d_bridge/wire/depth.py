"""Depth maps (``DepthMap``): 16-bit inverse depth with a gradient predictor, float16 or
float32, each optionally zlib-compressed. Empty pixels travel as a far code."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ._proto import common_pb2 as pb
from .compression import deflate, inflate

UINT16_STEPS = 65534  # codes 0..65534 carry depth; 65535 is the far code
FAR_CODE = 65535


def uint16_error_bound(near: float, far: float) -> float:
    """Largest relative error of a depth decoded from DEPTH_ENCODING_UINT16_INVERSE (before
    float32 rounding): half a code step in inverse depth, at the far end."""
    return (far / near - 1.0) / (2 * UINT16_STEPS) if far > near else 0.0


def gradient_residual(q: np.ndarray) -> np.ndarray:
    """The GRADIENT predictor: each code minus (left + up - up-left), modulo 2^16."""
    p = np.pad(q.astype(np.int64), ((1, 0), (1, 0)))
    r = p[1:, 1:] - p[1:, :-1] - p[:-1, 1:] + p[:-1, :-1]
    return (r & 0xFFFF).astype(np.uint16)


def gradient_restore(r: np.ndarray) -> np.ndarray:
    """Inverse of :func:`gradient_residual` (a 2D prefix sum modulo 2^16)."""
    acc = np.cumsum(np.cumsum(r.astype(np.int64), axis=0), axis=1)
    return (acc & 0xFFFF).astype(np.uint16)


def encode_depth(
    depth: np.ndarray,
    encoding: int = pb.DEPTH_ENCODING_UINT16_INVERSE,
    far_code_depth: float = math.inf,
    compress: bool = True,
) -> pb.DepthMap:
    """(H, W) z-depth -> DepthMap. Pixels at or beyond ``far_code_depth`` and non-finite or
    non-positive ones get the far code, which decodes to ``far_code_depth``."""
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise InputError(f"depth must be (H, W), got {d.shape}")
    h, w = d.shape
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d > 0) & (d < far_code_depth)
    msg = pb.DepthMap(width=w, height=h, far_code_depth=far_code_depth)
    if encoding in (pb.DEPTH_ENCODING_UNSPECIFIED, pb.DEPTH_ENCODING_UINT16_INVERSE):
        vals = d[valid].astype(np.float64)
        near, far = (float(vals.min()), float(vals.max())) if vals.size else (1.0, 1.0)
        span = 1.0 / near - 1.0 / far
        q = np.full((h, w), FAR_CODE, np.uint16)
        if span > 0:
            inv = 1.0 / d[valid].astype(np.float64)
            codes = np.rint((inv - 1.0 / far) * (UINT16_STEPS / span))
            q[valid] = np.clip(codes, 0, UINT16_STEPS).astype(np.uint16)
        else:
            q[valid] = 0
        msg.encoding = pb.DEPTH_ENCODING_UINT16_INVERSE
        msg.near, msg.far = near, far
        msg.predictor = pb.DEPTH_PREDICTOR_GRADIENT
        raw = gradient_residual(q).astype("<u2").tobytes()
    elif encoding in (pb.DEPTH_ENCODING_FLOAT16, pb.DEPTH_ENCODING_FLOAT32):
        half = encoding == pb.DEPTH_ENCODING_FLOAT16
        if half and valid.any() and float(d[valid].max()) > float(np.finfo(np.float16).max):
            raise InputError("depth exceeds the float16 range; use UINT16_INVERSE or FLOAT32")
        out = np.where(valid, d, np.float32(np.inf))
        msg.encoding = pb.DEPTH_ENCODING_FLOAT16 if half else pb.DEPTH_ENCODING_FLOAT32
        raw = out.astype("<f2" if half else "<f4").tobytes()
    else:
        raise InputError(f"unknown depth encoding {encoding}: use UINT16_INVERSE, FLOAT16, FLOAT32")
    msg.data, msg.compression = deflate(raw, compress)
    return msg


def decode_depth(msg: pb.DepthMap) -> np.ndarray:
    """DepthMap -> (H, W) float32 depth; far codes decode to ``far_code_depth``."""
    h, w = int(msg.height), int(msg.width)
    far_code = np.float32(msg.far_code_depth)
    if msg.encoding == pb.DEPTH_ENCODING_UINT16_INVERSE:
        raw = inflate(msg.data, msg.compression, h * w * 2, "depth")
        q = np.frombuffer(raw, "<u2").reshape(h, w)
        if msg.predictor == pb.DEPTH_PREDICTOR_GRADIENT:
            q = gradient_restore(q)
        elif msg.predictor != pb.DEPTH_PREDICTOR_NONE:
            raise InputError(f"unknown depth predictor {msg.predictor}")
        near, far = float(msg.near), float(msg.far)
        if not (near > 0 and far >= near):
            raise InputError(f"depth range near={near}, far={far} is invalid")
        inv = 1.0 / far + q.astype(np.float64) * ((1.0 / near - 1.0 / far) / UINT16_STEPS)
        out = (1.0 / inv).astype(np.float32)
        out[q == FAR_CODE] = far_code
        return out
    if msg.encoding in (pb.DEPTH_ENCODING_FLOAT16, pb.DEPTH_ENCODING_FLOAT32):
        half = msg.encoding == pb.DEPTH_ENCODING_FLOAT16
        raw = inflate(msg.data, msg.compression, h * w * (2 if half else 4), "depth")
        out = np.frombuffer(raw, "<f2" if half else "<f4").reshape(h, w).astype(np.float32)
        out[~np.isfinite(out)] = far_code
        return out
    raise InputError(f"unknown depth encoding {msg.encoding}")
