"""Numpy <-> wire conversions shared by the server and the Python client.

Images, bit masks, depth maps, poses and intrinsics as the contract in ``proto/ex4d/v1``
defines them (see the comments there and docs/server.md). Pure data plumbing: nothing here
builds or renders geometry. Every malformed value raises :class:`InputError`, which the server
answers with INVALID_ARGUMENT.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .._proto import common_pb2 as pb
from ..camera import CoordinateSystem, Intrinsics, pose_from_wire, pose_to_wire
from ..errors import InputError

MAX_RESOLUTION = 4096
DEFAULT_JPEG_QUALITY = 85
UINT16_STEPS = 65534  # codes 0..65534 carry depth; 65535 is the far code
FAR_CODE = 65535
# Level 1 is ~4x faster than the default and, after the gradient predictor, within a few
# percent of its size on depth maps; masks and bit sets are tiny either way.
ZLIB_LEVEL = 1

SYSTEM_FROM_WIRE = {
    pb.COORDINATE_SYSTEM_OPENCV: CoordinateSystem.OPENCV,
    pb.COORDINATE_SYSTEM_OPENGL: CoordinateSystem.OPENGL,
    pb.COORDINATE_SYSTEM_UNITY: CoordinateSystem.UNITY,
    pb.COORDINATE_SYSTEM_UNREAL: CoordinateSystem.UNREAL,
}
SYSTEM_TO_WIRE = {v: k for k, v in SYSTEM_FROM_WIRE.items()}


# -- coordinate systems and poses -----------------------------------------------------------


def system_from_wire(value: int) -> CoordinateSystem:
    if value == pb.COORDINATE_SYSTEM_UNSPECIFIED:
        raise InputError(
            "coordinate_system is unspecified: set COORDINATE_SYSTEM_OPENCV, _OPENGL (OpenXR), "
            "_UNITY or _UNREAL"
        )
    try:
        return SYSTEM_FROM_WIRE[value]
    except KeyError:
        raise InputError(
            f"unknown coordinate_system {value}: use 1 (OpenCV), 2 (OpenGL/OpenXR), 3 (Unity) "
            "or 4 (Unreal)"
        ) from None


def system_to_wire(system: str | CoordinateSystem) -> int:
    return SYSTEM_TO_WIRE[CoordinateSystem.parse(system)]


def pose_from_msg(msg: pb.Pose, what: str = "pose") -> np.ndarray:
    """4x4 OpenCV camera-to-world matrix from a wire pose (validated)."""
    system = system_from_wire(msg.coordinate_system)
    p, q = msg.position, msg.rotation
    try:
        return pose_from_wire([p.x, p.y, p.z], [q.x, q.y, q.z, q.w], system)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None


def pose_to_msg(c2w_opencv: np.ndarray, system: str | CoordinateSystem = "opencv") -> pb.Pose:
    pos, quat = pose_to_wire(np.asarray(c2w_opencv, dtype=np.float64), system)
    return pb.Pose(
        position=pb.Vec3(x=pos[0], y=pos[1], z=pos[2]),
        rotation=pb.Quaternion(x=quat[0], y=quat[1], z=quat[2], w=quat[3]),
        coordinate_system=system_to_wire(system),
    )


# -- intrinsics and view lenses -------------------------------------------------------------


def intrinsics_to_msg(k: Intrinsics) -> pb.Intrinsics:
    return pb.Intrinsics(fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy, width=k.width, height=k.height)


def intrinsics_from_msg(msg: pb.Intrinsics, width: int = 0, height: int = 0) -> Intrinsics:
    """Intrinsics from the wire; a message without a size takes ``width`` x ``height``; one for
    another size is scaled to it."""
    w, h = int(msg.width) or width, int(msg.height) or height
    k = Intrinsics(msg.fx, msg.fy, msg.cx, msg.cy, w, h)
    if width and height and (w, h) != (width, height):
        k = k.scaled(width, height)
    return k


def check_resolution(width: int, height: int, what: str = "resolution") -> tuple[int, int]:
    if not (1 <= width <= MAX_RESOLUTION and 1 <= height <= MAX_RESOLUTION):
        raise InputError(
            f"{what} {width}x{height} is out of range: width and height must be 1..{MAX_RESOLUTION}"
        )
    return int(width), int(height)


def intrinsics_from_fov_angles(angles: pb.FovAngles, width: int, height: int) -> Intrinsics:
    """OpenXR-style asymmetric field of view (radians) -> pinhole intrinsics (y down)."""
    a = (angles.angle_left, angles.angle_right, angles.angle_up, angles.angle_down)
    if not all(math.isfinite(v) and abs(v) < math.pi / 2 for v in a):
        raise InputError("fov_angles must be finite and within (-90, 90) degrees")
    tl, tr, tu, td = (math.tan(v) for v in a)
    if tr - tl <= 1e-6 or tu - td <= 1e-6:
        raise InputError("fov_angles: angle_right must exceed angle_left and angle_up angle_down")
    fx, fy = width / (tr - tl), height / (tu - td)
    return Intrinsics(fx, fy, -tl * fx, tu * fy, width, height)


def view_intrinsics(
    width: int,
    height: int,
    scene_k: Intrinsics,
    intrinsics: pb.Intrinsics | None = None,
    fov_angles: pb.FovAngles | None = None,
    fov_y_deg: float = 0.0,
) -> Intrinsics:
    """The lens of a view: explicit intrinsics, else OpenXR angles, else a vertical field of
    view, else the scene's camera at the requested size (square pixels if the aspect differs)."""
    width, height = check_resolution(width, height)
    if intrinsics is not None:
        return intrinsics_from_msg(intrinsics, width, height)
    if fov_angles is not None:
        return intrinsics_from_fov_angles(fov_angles, width, height)
    if fov_y_deg:
        if not (math.isfinite(fov_y_deg) and 0.0 < fov_y_deg < 180.0):
            raise InputError(f"fov_y_deg {fov_y_deg} must be in (0, 180) degrees")
        return Intrinsics.from_fov(width, height, fov_y_deg=fov_y_deg)
    if width * scene_k.height == height * scene_k.width:
        return scene_k.scaled(width, height)
    f = scene_k.fy * height / scene_k.height
    return Intrinsics(f, f, width / 2.0, height / 2.0, width, height)


# -- images ---------------------------------------------------------------------------------


def encode_image(
    rgb: np.ndarray,
    encoding: int = pb.IMAGE_ENCODING_JPEG,
    quality: int = 0,
    compress_raw: bool = True,
) -> pb.Image:
    """(H, W, 3) uint8 RGB -> Image."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    if encoding in (pb.IMAGE_ENCODING_UNSPECIFIED, pb.IMAGE_ENCODING_JPEG):
        q = int(quality) or DEFAULT_JPEG_QUALITY
        if not 1 <= q <= 100:
            raise InputError(f"jpeg_quality {q} must be 1..100")
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q]
        )
        enc, data, comp = pb.IMAGE_ENCODING_JPEG, buf.tobytes(), pb.COMPRESSION_NONE
    elif encoding == pb.IMAGE_ENCODING_PNG:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        enc, data, comp = pb.IMAGE_ENCODING_PNG, buf.tobytes(), pb.COMPRESSION_NONE
    elif encoding == pb.IMAGE_ENCODING_RAW_RGB:
        ok, raw = True, rgb.tobytes()
        enc = pb.IMAGE_ENCODING_RAW_RGB
        if compress_raw:
            data, comp = zlib.compress(raw, ZLIB_LEVEL), pb.COMPRESSION_ZLIB
        else:
            data, comp = raw, pb.COMPRESSION_NONE
    else:
        raise InputError(f"unknown image encoding {encoding}: use JPEG, RAW_RGB or PNG")
    if not ok:
        raise InputError("image encoding failed")
    return pb.Image(encoding=enc, width=w, height=h, data=data, compression=comp)


def _inflate(data: bytes, compression: int, expected: int | None, what: str) -> bytes:
    if compression == pb.COMPRESSION_NONE:
        out = data
    elif compression == pb.COMPRESSION_ZLIB:
        d = zlib.decompressobj()
        try:
            # Bounded: a corrupt or hostile stream cannot inflate past what the header says.
            out = d.decompress(data, expected + 1 if expected is not None else 0)
        except zlib.error as exc:
            raise InputError(f"{what}: corrupt zlib data ({exc})") from None
    else:
        raise InputError(f"{what}: unknown compression {compression}")
    if expected is not None and len(out) != expected:
        raise InputError(f"{what}: expected {expected} bytes, got {len(out)}")
    return out


def decode_image(msg: pb.Image) -> np.ndarray:
    """Image -> (H, W, 3) uint8 RGB."""
    h, w = int(msg.height), int(msg.width)
    if msg.encoding == pb.IMAGE_ENCODING_RAW_RGB:
        raw = _inflate(msg.data, msg.compression, h * w * 3, "raw image")
        return np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy()
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[:2] != (h, w):
        raise InputError("image data does not decode to the stated size")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# -- bit sets -------------------------------------------------------------------------------


def pack_bits(bits: np.ndarray, compress: bool = True) -> pb.PackedBits:
    flat = np.ascontiguousarray(bits, dtype=bool).reshape(-1)
    data = np.packbits(flat).tobytes()
    if compress:
        return pb.PackedBits(
            count=flat.size, data=zlib.compress(data, ZLIB_LEVEL), compression=pb.COMPRESSION_ZLIB
        )
    return pb.PackedBits(count=flat.size, data=data, compression=pb.COMPRESSION_NONE)


def unpack_bits(msg: pb.PackedBits, shape: tuple[int, ...] | None = None) -> np.ndarray:
    n = int(msg.count)
    raw = _inflate(msg.data, msg.compression, (n + 7) // 8, "bit set")
    bits = np.unpackbits(np.frombuffer(raw, np.uint8), count=n).astype(bool)
    return bits.reshape(shape) if shape is not None else bits


# -- depth ----------------------------------------------------------------------------------


def uint16_error_bound(near: float, far: float) -> float:
    """Largest relative error of a depth decoded from DEPTH_ENCODING_UINT16_INVERSE (before
    float32 rounding): half a code step in inverse depth, at the far end."""
    return (far / near - 1.0) / (2 * UINT16_STEPS) if far > near else 0.0


def _gradient_residual(q: np.ndarray) -> np.ndarray:
    p = np.pad(q.astype(np.int64), ((1, 0), (1, 0)))
    r = p[1:, 1:] - p[1:, :-1] - p[:-1, 1:] + p[:-1, :-1]
    return (r & 0xFFFF).astype(np.uint16)


def _gradient_restore(r: np.ndarray) -> np.ndarray:
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
        raw = _gradient_residual(q).astype("<u2").tobytes()
    elif encoding in (pb.DEPTH_ENCODING_FLOAT16, pb.DEPTH_ENCODING_FLOAT32):
        half = encoding == pb.DEPTH_ENCODING_FLOAT16
        if half and valid.any() and float(d[valid].max()) > float(np.finfo(np.float16).max):
            raise InputError("depth exceeds the float16 range; use UINT16_INVERSE or FLOAT32")
        out = np.where(valid, d, np.float32(np.inf))
        msg.encoding = pb.DEPTH_ENCODING_FLOAT16 if half else pb.DEPTH_ENCODING_FLOAT32
        raw = out.astype("<f2" if half else "<f4").tobytes()
    else:
        raise InputError(f"unknown depth encoding {encoding}: use UINT16_INVERSE, FLOAT16, FLOAT32")
    if compress:
        msg.data, msg.compression = zlib.compress(raw, ZLIB_LEVEL), pb.COMPRESSION_ZLIB
    else:
        msg.data, msg.compression = raw, pb.COMPRESSION_NONE
    return msg


def decode_depth(msg: pb.DepthMap) -> np.ndarray:
    """DepthMap -> (H, W) float32 depth; far codes decode to ``far_code_depth``."""
    h, w = int(msg.height), int(msg.width)
    far_code = np.float32(msg.far_code_depth)
    if msg.encoding == pb.DEPTH_ENCODING_UINT16_INVERSE:
        raw = _inflate(msg.data, msg.compression, h * w * 2, "depth")
        q = np.frombuffer(raw, "<u2").reshape(h, w)
        if msg.predictor == pb.DEPTH_PREDICTOR_GRADIENT:
            q = _gradient_restore(q)
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
        raw = _inflate(msg.data, msg.compression, h * w * (2 if half else 4), "depth")
        out = np.frombuffer(raw, "<f2" if half else "<f4").reshape(h, w).astype(np.float32)
        out[~np.isfinite(out)] = far_code
        return out
    raise InputError(f"unknown depth encoding {msg.encoding}")


# -- files ----------------------------------------------------------------------------------

CHUNK_BYTES = 1 << 20


def iter_file_chunks(
    path: str | os.PathLike, name: str, content_type: str, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pb.FileChunk]:
    """A file as FileChunk messages of at most ``chunk_bytes`` (an empty file: one chunk)."""
    path = Path(path)
    total = path.stat().st_size
    offset = 0
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk_bytes)
            last = offset + len(data) >= total
            yield pb.FileChunk(
                name=name,
                content_type=content_type,
                offset=offset,
                total_size=total,
                data=data,
                last=last,
            )
            offset += len(data)
            if last:
                return


# -- request parsing ------------------------------------------------------------------------


class MalformedMessage:
    """What the server's tolerant deserializer hands over for bytes that are not a valid
    message, so the call is answered INVALID_ARGUMENT instead of a bare INTERNAL."""

    def __init__(self, type_name: str, error: str) -> None:
        self.type_name, self.error = type_name, error

    def raise_error(self) -> None:
        raise InputError(f"the request is not a valid {self.type_name} message: {self.error}")


def tolerant_parser(message_class):
    from google.protobuf.message import DecodeError

    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except DecodeError as exc:
            return MalformedMessage(message_class.DESCRIPTOR.full_name, str(exc))

    return parse


def checked(message):
    """``message``, or InputError if it arrived malformed."""
    if isinstance(message, MalformedMessage):
        message.raise_error()
    return message
