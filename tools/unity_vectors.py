"""Shared test vectors for the Unity client's engine-independent C# core, and its build.

The C# core (``unity_client/Runtime/Core``) must agree with this library on every pose
conversion and every decoded mesh frame. This script writes what the library computes as JSON
(binary arrays as base64, little-endian) and the C# test runner checks every value:

    python tools/unity_vectors.py vectors --out DIR        # DIR/core_vectors.json
    python tools/unity_vectors.py check                    # vectors + compile + run (mono)
    python tools/unity_vectors.py bench [--out FILE]       # 512x512 decode benchmark, JSON
    python tools/unity_vectors.py metas                    # add missing Unity .meta files

Payloads are encoded with the server's own encoders (``ex4d_bridge.wire``:
``encode_depth``, ``encode_image``, ``pack_bits``), so the vectors are what a client receives.
The one variant the server never sends, UINT16_INVERSE without the GRADIENT predictor, is
derived from the server's payload by undoing its predictor with the server's restore function.
Expected geometry comes from ``build_dw_mesh`` (vertices, faces, occluded bits) and expected
decoded depth from ``wire.decode_depth``.

``tests/test_unity_core.py`` drives the same functions; they need ``mcs`` and ``mono``
(Debian: ``apt-get install -y mono-mcs mono-runtime``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the package importable
    sys.path.insert(0, str(REPO_ROOT))

from ex4d_bridge import wire  # noqa: E402
from ex4d_bridge.camera import CoordinateSystem, Intrinsics  # noqa: E402
from ex4d_bridge.camera.conventions import (  # noqa: E402
    convert_points,
    convert_pose,
    pose_from_position_quaternion,
    pose_from_wire,
    pose_to_wire,
)
from ex4d_bridge.geometry import build_dw_mesh, grid_topology, render  # noqa: E402
from ex4d_bridge.synthetic import SyntheticScene  # noqa: E402
from ex4d_bridge.wire import common_pb2 as pb  # noqa: E402

UNITY_ROOT = REPO_ROOT / "unity_client"
CORE_SOURCES = UNITY_ROOT / "Runtime" / "Core"
TEST_SOURCES = UNITY_ROOT / "Tests" / "Core"
BENCH_SOURCES = UNITY_ROOT / "Tests" / "Bench"
VECTORS_FILE = "core_vectors.json"
BENCH_FRAME_FILE = "bench_frame.json"
# mcs 6.8 accepts language versions up to 7.2; the core stays within C# 7.3 for Unity.
LANG_VERSION = "7.2"
SYSTEMS = ("opencv", "opengl", "unity", "unreal")
# float32 rounding of a decoded depth and of the product depth * ray, relative.
FLOAT32_SLACK = 2.0**-22


def b64(array: np.ndarray | bytes) -> str:
    data = array if isinstance(array, bytes) else np.ascontiguousarray(array).tobytes()
    return base64.b64encode(data).decode("ascii")


def f32(a) -> str:
    return b64(np.asarray(a, dtype="<f4"))


# -- poses ----------------------------------------------------------------------------------


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def pose_vectors(seed: int = 6) -> dict:
    """Poses given in every system, with what the library makes of them in every system."""
    rng = np.random.default_rng(seed)
    s = math.sqrt(0.5)
    inputs: list[tuple[list[float], list[float]]] = [
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]),
        ([1.0, -2.0, 3.0], [0.0, 0.0, 0.0, -1.0]),  # negative w: same rotation
        # Half turns (w = 0): the sign of the quaternion is a convention, compared up to sign.
        ([0.5, 0.25, -1.0], [1.0, 0.0, 0.0, 0.0]),
        ([0.0, 1.5, 0.0], [0.0, 1.0, 0.0, 0.0]),
        ([-0.3, 0.0, 2.0], [0.0, 0.0, 1.0, 0.0]),
        ([0.1, 0.2, 0.3], [0.0, s, 0.0, s]),  # 90 degrees about y
        ([2.0, 0.0, -1.0], [s, 0.0, 0.0, s]),
    ]
    for _ in range(24):
        q = _random_rotation(rng) * rng.uniform(0.4, 3.0)  # unnormalised on purpose
        inputs.append((rng.normal(scale=2.0, size=3).tolist(), q.tolist()))
    cases = []
    for src in SYSTEMS:
        for pos, quat in inputs:
            c2w_cv = pose_from_wire(pos, quat, src)
            m_src = pose_from_position_quaternion(pos, quat)
            expected = []
            for dst in SYSTEMS:
                p, q = pose_to_wire(c2w_cv, dst)
                expected.append(
                    {
                        "system": dst,
                        "position": p.tolist(),
                        "rotation": q.tolist(),
                        "matrix": convert_pose(m_src, src, dst).reshape(-1).tolist(),
                    }
                )
            cases.append(
                {
                    "system": src,
                    "position": list(pos),
                    "rotation": list(quat),
                    "matrix": m_src.reshape(-1).tolist(),
                    "expected": expected,
                }
            )
    points = []
    for src in SYSTEMS:
        for dst in SYSTEMS:
            p = rng.normal(size=3)
            points.append(
                {
                    "src": src,
                    "dst": dst,
                    "input": p.tolist(),
                    "expected": convert_points(p, src, dst).tolist(),
                }
            )
    axes = []
    for name in SYSTEMS:
        cs = CoordinateSystem.parse(name)
        axes.append(
            {
                "system": name,
                "wire_value": wire.system_to_wire(cs),
                "axes_from_opencv": cs.axes_from_opencv.reshape(-1).tolist(),
                "forward": cs.forward.tolist(),
                "up": cs.up.tolist(),
                "right": cs.right.tolist(),
                "right_handed": cs.right_handed,
            }
        )
    aliases = {
        a: CoordinateSystem.parse(a).value
        for a in (
            "opencv",
            "CV",
            "opengl",
            "gl",
            "OpenXR",
            "xr",
            "unity",
            "Unreal",
            "ue",
            "ue4",
            " ue5 ",
        )
    }
    return {
        "poses": cases,
        "points": points,
        "axes": axes,
        "aliases": aliases,
        "invalid_systems": ["", "vulkan", "opencv2"],
    }


# -- mesh frames ----------------------------------------------------------------------------


def _intrinsics_json(k: Intrinsics) -> dict:
    return {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy, "width": k.width, "height": k.height}


def _depth_json(msg) -> dict:
    return {
        "encoding": int(msg.encoding),
        "width": int(msg.width),
        "height": int(msg.height),
        "near": msg.near,
        "far": msg.far,
        "far_code_depth": msg.far_code_depth,
        "predictor": int(msg.predictor),
        "compression": int(msg.compression),
        "data": b64(msg.data),
    }


def _image_json(msg) -> dict:
    return {
        "encoding": int(msg.encoding),
        "width": int(msg.width),
        "height": int(msg.height),
        "compression": int(msg.compression),
        "data": b64(msg.data),
    }


def _bits_json(msg) -> dict:
    return {"count": int(msg.count), "compression": int(msg.compression), "data": b64(msg.data)}


def _without_predictor(msg, compress: bool):
    """A UINT16_INVERSE DepthMap with the GRADIENT predictor undone (predictor NONE)."""
    raw = zlib.decompress(msg.data) if msg.compression == pb.COMPRESSION_ZLIB else msg.data
    r = np.frombuffer(raw, "<u2").reshape(msg.height, msg.width)
    q = wire.gradient_restore(r).astype("<u2").tobytes()
    out = pb.DepthMap()
    out.CopyFrom(msg)
    out.predictor = pb.DEPTH_PREDICTOR_NONE
    if compress:
        out.data, out.compression = zlib.compress(q, wire.ZLIB_LEVEL), pb.COMPRESSION_ZLIB
    else:
        out.data, out.compression = q, pb.COMPRESSION_NONE
    return out


def _depth_payload(mesh, encoding: int, predictor: bool, compress: bool):
    msg = wire.encode_depth(mesh.depth, encoding, far_code_depth=mesh.far_depth, compress=compress)
    if encoding == pb.DEPTH_ENCODING_UINT16_INVERSE and not predictor:
        msg = _without_predictor(msg, compress)
    return msg


def _library_tolerance(msg) -> float:
    """Largest relative difference between a vertex rebuilt from the decoded depth and the
    library's vertex, from the error bounds geometry.proto/common.proto document."""
    if msg.encoding == pb.DEPTH_ENCODING_FLOAT32:
        return 0.0
    if msg.encoding == pb.DEPTH_ENCODING_FLOAT16:
        return 2.0**-11 + FLOAT32_SLACK
    return wire.uint16_error_bound(msg.near, msg.far) + FLOAT32_SLACK


def _rebuild_vertices(depth: np.ndarray, k: Intrinsics, cap: np.ndarray) -> np.ndarray:
    """The proto's rule in float32: x = float32(j) + 0.5 - cx, then / fx, then * d."""
    h, w = depth.shape
    x = ((np.arange(w, dtype=np.float32) + np.float32(0.5)) - np.float32(k.cx)) / np.float32(k.fx)
    y = ((np.arange(h, dtype=np.float32) + np.float32(0.5)) - np.float32(k.cy)) / np.float32(k.fy)
    pts = np.stack([depth * x[None, :], depth * y[:, None], depth], axis=-1).reshape(-1, 3)
    return np.concatenate([pts, cap.reshape(1, 3).astype(np.float32)]).astype(np.float32)


def mesh_frame_vector(
    name: str,
    mesh,
    *,
    frame_index: int = 0,
    num_frames: int = 1,
    depth_encoding: int = pb.DEPTH_ENCODING_UINT16_INVERSE,
    predictor: bool = True,
    compress_depth: bool = True,
    color: str = "raw_zlib",
    occluded: str = "zlib",
    send_cap: bool = True,
    encoding_field: int | None = None,
) -> dict:
    """One MeshFrame as a client receives it, plus everything the client must rebuild."""
    k = mesh.intrinsics
    dmsg = _depth_payload(mesh, depth_encoding, predictor, compress_depth)
    decoded = wire.decode_depth(dmsg)
    cap = mesh.vertices[-1]
    rgb = np.ascontiguousarray(mesh.colors[:-1].reshape(k.height, k.width, 3))
    if color == "jpeg":
        cmsg = wire.encode_image(rgb, pb.IMAGE_ENCODING_JPEG, 90)
    elif color == "png":
        cmsg = wire.encode_image(rgb, pb.IMAGE_ENCODING_PNG)
    else:
        cmsg = wire.encode_image(rgb, pb.IMAGE_ENCODING_RAW_RGB, compress_raw=color == "raw_zlib")
    depth_json = _depth_json(dmsg)
    if encoding_field is not None:  # e.g. UNSPECIFIED, which means UINT16_INVERSE
        depth_json["encoding"] = encoding_field
    frame = {
        "scene_id": "synthetic",
        "frame_index": frame_index,
        "num_frames": num_frames,
        "time_s": frame_index / 16.0,
        "intrinsics": _intrinsics_json(k),
        "closure": {
            "far_depth": mesh.far_depth,
            "border_pixels": 1,
            "cap_center": [float(c) for c in cap] if send_cap else None,
        },
        "topology": 1,
        "num_vertices": int(mesh.vertices.shape[0]),
        "num_faces": int(mesh.faces.shape[0]),
        "depth": depth_json,
        "color": _image_json(cmsg),
        "occluded": (
            {"count": 0, "compression": 0, "data": ""}
            if occluded == "skip"
            else _bits_json(wire.pack_bits(mesh.occluded, compress=occluded == "zlib"))
        ),
    }
    expected = {
        "width": k.width,
        "height": k.height,
        "topology": f"{k.width}x{k.height}",
        "depth_decoded": f32(decoded),
        "vertices_decoded": f32(_rebuild_vertices(decoded, k, cap)),
        "library_vertices": f32(mesh.vertices),
        "library_vertex_rel_tol": _library_tolerance(dmsg),
        "far_value": float(np.float32(mesh.far_depth)),
        "occluded": b64(mesh.occluded.astype(np.uint8)) if occluded != "skip" else None,
        # The reference renderer's vertex alpha: False on every vertex of an occluded face.
        "vertex_visible": b64(np.asarray(mesh.vertex_visible[:-1], dtype=np.uint8)),
        "color_rgb": b64(rgb) if cmsg.encoding == pb.IMAGE_ENCODING_RAW_RGB else None,
        "color_passthrough": cmsg.encoding != pb.IMAGE_ENCODING_RAW_RGB,
    }
    return {"name": name, "frame": frame, "expected": expected}


def _scene_meshes():
    scene = SyntheticScene(32, 24, 2)
    depths, frames = scene.depths(), scene.frames()
    meshes = [build_dw_mesh(depths[t], frames[t], scene.intrinsics) for t in range(2)]
    # Off-centre, non-square pixels and pixels without depth (NaN, inf, 0, negative) in the
    # interior, so the occluded rule for invalid pixels and the cap fallback are exercised.
    d = depths[1].copy()
    d[5, 7], d[6, 7], d[10, 20], d[11, 3] = np.nan, np.inf, 0.0, -1.0
    odd_k = Intrinsics(30.5, 29.25, 15.3, 12.7, 32, 24)
    odd = build_dw_mesh(d, frames[1], odd_k)
    # A scene deeper than the default border depth: far depth becomes twice the deepest.
    deep = build_dw_mesh(depths[0] * 40.0, frames[0], scene.intrinsics)
    rng = np.random.default_rng(3)
    tiny = build_dw_mesh(np.full((2, 2), 1.5, np.float32), None, Intrinsics.reference(2, 2))
    small_depth = rng.uniform(0.5, 3.0, size=(3, 5)).astype(np.float32)
    small_rgb = rng.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    small = build_dw_mesh(small_depth, small_rgb, Intrinsics(4.0, 4.5, 2.6, 1.4, 5, 3))
    return scene, meshes, odd, deep, tiny, small


def mesh_vectors() -> tuple[list[dict], dict, object]:
    """(mesh frame vectors, faces per resolution, the first synthetic mesh)."""
    _scene, meshes, odd, deep, tiny, small = _scene_meshes()
    F16, F32 = pb.DEPTH_ENCODING_FLOAT16, pb.DEPTH_ENCODING_FLOAT32
    m0, m1 = meshes
    vec = [
        mesh_frame_vector("u16_gradient_zlib", m0, frame_index=0, num_frames=2),
        mesh_frame_vector(
            "u16_gradient_raw",
            m1,
            frame_index=1,
            num_frames=2,
            compress_depth=False,
            color="raw",
            occluded="none",
        ),
        mesh_frame_vector("u16_plain_zlib", m1, frame_index=1, num_frames=2, predictor=False),
        mesh_frame_vector("u16_plain_raw", m0, predictor=False, compress_depth=False),
        mesh_frame_vector("u16_unspecified_encoding", m0, encoding_field=0),
        mesh_frame_vector("f16_zlib", m1, depth_encoding=F16, color="jpeg"),
        mesh_frame_vector("f16_raw", m0, depth_encoding=F16, compress_depth=False, color="png"),
        mesh_frame_vector("f32_zlib", m1, depth_encoding=F32, occluded="skip"),
        mesh_frame_vector("f32_raw", m0, depth_encoding=F32, compress_depth=False),
        mesh_frame_vector(
            "f32_odd_intrinsics_invalid_pixels", odd, depth_encoding=F32, send_cap=False
        ),
        mesh_frame_vector("u16_odd_intrinsics_invalid_pixels", odd, send_cap=False),
        mesh_frame_vector("f32_deep_scene", deep, depth_encoding=F32),
        mesh_frame_vector("u16_deep_scene", deep),
        mesh_frame_vector("f32_tiny_2x2", tiny, depth_encoding=F32),
        mesh_frame_vector("u16_tiny_2x2", tiny, occluded="none"),
        mesh_frame_vector("f32_small_5x3", small, depth_encoding=F32, color="raw"),
        mesh_frame_vector("f16_small_5x3", small, depth_encoding=F16),
    ]
    topologies = {}
    for m in (m0, tiny, small):
        h, w = m.depth.shape
        topo = grid_topology(h, w)
        topologies[f"{w}x{h}"] = b64(topo.faces.numpy().astype("<i4"))
    return vec, topologies, m0


def malformed_vectors(good: dict) -> list[dict]:
    """Broken variants of a good frame; each must raise Ex4dFormatException whose message
    contains ``error`` (empty: any message)."""
    frame = good["frame"]
    raw_depth = zlib.decompress(base64.b64decode(frame["depth"]["data"]))
    zdata = base64.b64decode(frame["depth"]["data"])

    def variant(name: str, error: str, **changes) -> dict:
        f = json.loads(json.dumps(frame))
        for path, value in changes.items():
            node = f
            keys = path.split("__")
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value
        return {"name": name, "frame": f, "error": error}

    flipped = bytearray(zdata)
    flipped[-1] ^= 0x01
    middle = bytearray(zdata)
    middle[len(middle) // 2] ^= 0x5A
    bad_header = bytearray(zdata)
    bad_header[0] = 0x00
    faces = frame["num_faces"]
    return [
        variant("depth_truncated", "truncated", depth__data=b64(zdata[:-7])),
        variant("depth_checksum", "checksum", depth__data=b64(bytes(flipped))),
        variant("depth_bad_header", "not a zlib stream", depth__data=b64(bytes(bad_header))),
        variant("depth_corrupt_middle", "", depth__data=b64(bytes(middle))),
        variant("depth_inflates_short", "expected", depth__data=b64(zlib.compress(raw_depth[:-2]))),
        variant(
            "depth_inflates_long", "more than", depth__data=b64(zlib.compress(raw_depth + b"\0\0"))
        ),
        variant(
            "depth_raw_short",
            "expected 1536 bytes",
            depth__compression=0,
            depth__data=b64(raw_depth[:-1]),
        ),
        variant("depth_unknown_encoding", "unknown depth encoding", depth__encoding=9),
        variant("depth_unknown_compression", "unknown compression", depth__compression=4),
        variant("depth_unknown_predictor", "unknown depth predictor", depth__predictor=5),
        variant("depth_gradient_on_float", "only defined for UINT16_INVERSE", depth__encoding=3),
        variant("depth_bad_range", "depth range", depth__near=0.0),
        variant("depth_zero_width", "out of range", depth__width=0),
        variant(
            "depth_1x1",
            "at least 2x2",
            depth__width=1,
            depth__height=1,
            intrinsics__width=1,
            intrinsics__height=1,
        ),
        variant("intrinsics_mismatch", "intrinsics are for", intrinsics__width=31),
        variant("intrinsics_zero_focal", "focal", intrinsics__fx=0.0),
        variant("far_depth_negative", "far_depth", closure__far_depth=-1.0),
        variant("border_two_pixels", "border", closure__border_pixels=2),
        variant("num_vertices_wrong", "num_vertices", num_vertices=100),
        variant("num_faces_wrong", "num_faces", num_faces=faces + 1),
        variant("unknown_topology", "unknown topology", topology=7),
        variant("occluded_count_wrong", "holds", occluded__count=faces - 1),
        variant(
            "occluded_raw_short",
            "expected",
            occluded__compression=0,
            occluded__data=b64(b"\0" * 10),
        ),
        variant("color_size_mismatch", "colour is", color__width=16),
        variant("color_raw_short", "RGB bytes", color__compression=0, color__data=b64(b"\0" * 100)),
        variant("color_unknown_encoding", "unknown image encoding", color__encoding=9),
    ]


# -- view replies ---------------------------------------------------------------------------


def view_vectors(mesh) -> tuple[list[dict], list[dict]]:
    from ex4d_bridge.camera import look_at

    k = Intrinsics.reference(24, 18)
    pose = look_at(np.array([0.3, -0.2, -0.4]), np.array([0.0, 0.0, 4.0]))
    res = render(mesh, pose, k)
    rng = np.random.default_rng(11)
    gen_rgb = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    wire_pose = wire.pose_to_msg(pose, "unity")

    def reply(name, *, color="raw_zlib", mask_zlib=True, depth=None, generated=None):
        if color == "jpeg":
            cmsg = wire.encode_image(res.color, pb.IMAGE_ENCODING_JPEG, 85)
        else:
            cmsg = wire.encode_image(
                res.color, pb.IMAGE_ENCODING_RAW_RGB, compress_raw=color == "raw_zlib"
            )
        r = {
            "sequence": 42,
            "pose": {
                "position": [wire_pose.position.x, wire_pose.position.y, wire_pose.position.z],
                "rotation": [
                    wire_pose.rotation.x,
                    wire_pose.rotation.y,
                    wire_pose.rotation.z,
                    wire_pose.rotation.w,
                ],
                "coordinate_system": int(wire_pose.coordinate_system),
            },
            "client_time_s": 12.5,
            "frame_index": 1,
            "dropped": 3,
            "dropped_total": 17,
            "color": _image_json(cmsg),
            "mask": _bits_json(wire.pack_bits(res.mask, compress=mask_zlib)),
            "intrinsics": _intrinsics_json(k),
        }
        expected = {
            "width": k.width,
            "height": k.height,
            "color_rgb": b64(res.color) if cmsg.encoding == pb.IMAGE_ENCODING_RAW_RGB else None,
            "mask": b64(res.mask.astype(np.uint8)),
        }
        if depth is not None:
            dmsg = wire.encode_depth(res.depth, depth)
            r["depth"] = _depth_json(dmsg)
            expected["depth"] = f32(wire.decode_depth(dmsg))
        if generated is not None:
            gmsg = wire.encode_image(
                gen_rgb, pb.IMAGE_ENCODING_RAW_RGB, compress_raw=generated == "raw_zlib"
            )
            if generated == "jpeg":
                gmsg = wire.encode_image(gen_rgb, pb.IMAGE_ENCODING_JPEG, 90)
            r["generated"] = _image_json(gmsg)
            r["generated_job_id"] = "job-7"
            if gmsg.encoding == pb.IMAGE_ENCODING_RAW_RGB:
                expected["generated_rgb"] = b64(gen_rgb)
        return {"name": name, "reply": r, "expected": expected}

    good = [
        reply(
            "raw_zlib_mask_zlib_u16", depth=pb.DEPTH_ENCODING_UINT16_INVERSE, generated="raw_zlib"
        ),
        reply("raw_mask_raw_f16", color="raw", mask_zlib=False, depth=pb.DEPTH_ENCODING_FLOAT16),
        reply("jpeg_f32", color="jpeg", depth=pb.DEPTH_ENCODING_FLOAT32, generated="jpeg"),
        reply("raw_no_depth"),
    ]
    base = good[0]["reply"]

    def bad(name: str, error: str, **changes) -> dict:
        r = json.loads(json.dumps(base))
        for path, value in changes.items():
            node = r
            keys = path.split("__")
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value
        return {"name": name, "reply": r, "error": error}

    malformed = [
        bad("mask_count_wrong", "holds", mask__count=5),
        bad("depth_size_mismatch", "depth is", depth__width=10),
        bad("color_unknown_encoding", "unknown image encoding", color__encoding=9),
        bad(
            "jpeg_compressed",
            "compression is only defined",
            color__encoding=1,
            color__compression=1,
        ),
        bad("intrinsics_size_mismatch", "intrinsics are for", intrinsics__height=5),
        bad(
            "generated_truncated",
            "truncated",
            generated__data=b64(base64.b64decode(base["generated"]["data"])[:-9]),
        ),
    ]
    return good, malformed


# -- zlib streams ---------------------------------------------------------------------------


def zlib_vectors(seed: int = 5) -> list[dict]:
    """Streams from every zlib mode (stored, fixed and dynamic Huffman, RLE...) with the
    digest of what they inflate to."""
    rng = np.random.default_rng(seed)
    text = (b"ex4d-bridge DW-Mesh " * 900) + bytes(rng.integers(0, 8, 4000, dtype=np.uint8))
    datasets = {
        "empty": b"",
        "one_byte": b"\x07",
        "random_70k": bytes(rng.integers(0, 256, 70000, dtype=np.uint8)),
        "zeros_200k": bytes(200000),
        "text": text,
        "depth_like": np.cumsum(rng.integers(-2, 3, 30000)).astype("<u2").tobytes(),
    }
    modes = {
        "level0": (0, zlib.Z_DEFAULT_STRATEGY),
        "level1": (1, zlib.Z_DEFAULT_STRATEGY),
        "level9": (9, zlib.Z_DEFAULT_STRATEGY),
        "fixed": (6, zlib.Z_FIXED),
        "huffman_only": (6, zlib.Z_HUFFMAN_ONLY),
        "rle": (6, zlib.Z_RLE),
        "filtered": (6, zlib.Z_FILTERED),
    }
    out = []
    for dname, data in datasets.items():
        for mname, (level, strategy) in modes.items():
            c = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
            stream = c.compress(data) + c.flush()
            out.append(
                {
                    "name": f"{dname}_{mname}",
                    "compressed": b64(stream),
                    "length": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    # Several deflate blocks with explicit flush points between them (sync flush emits an
    # empty stored block), as a streaming encoder produces.
    c = zlib.compressobj(6)
    parts = [datasets["text"][:5000], datasets["random_70k"][:3000], datasets["text"][5000:]]
    stream = b"".join(c.compress(p) + c.flush(zlib.Z_SYNC_FLUSH) for p in parts) + c.flush()
    joined = b"".join(parts)
    out.append(
        {
            "name": "sync_flush_blocks",
            "compressed": b64(stream),
            "length": len(joined),
            "sha256": hashlib.sha256(joined).hexdigest(),
        }
    )
    return out


# -- recorder -------------------------------------------------------------------------------


def recorder_vectors(seed: int = 9) -> list[dict]:
    """Walkthroughs for the C# recorder to write; the pytest reads its files back with
    ``load_pose_path`` and compares with ``pose_from_wire`` of the same numbers."""
    rng = np.random.default_rng(seed)
    out = []
    for i, system in enumerate(SYSTEMS):
        n = 5 + i
        poses = []
        t = 0.0
        for _ in range(n):
            t += float(rng.uniform(0.0, 0.05))
            poses.append(
                {
                    "t": t,
                    "position": rng.normal(scale=1.5, size=3).tolist(),
                    "rotation": (_random_rotation(rng) * rng.uniform(0.5, 2.0)).tolist(),
                }
            )
        out.append(
            {
                "system": system,
                "name": ["walk-left", 'odd "name"\twith\nspace', "", "ünïcode"][i],
                "fps": [30.0, None, 72.0, 11.11][i],
                "fov_y_deg": [None, 60.0, 90.5, None][i],
                "intrinsics": (
                    {
                        "fx": 500.0,
                        "fy": 500.0,
                        "cx": 256.0,
                        "cy": 256.0,
                        "width": 512,
                        "height": 512,
                    }
                    if i % 2 == 0
                    else None
                ),
                "timed": i != 3,
                "poses": poses,
            }
        )
    return out


# -- writing --------------------------------------------------------------------------------


def build_vectors() -> dict:
    meshes, topologies, m0 = mesh_vectors()
    views, bad_views = view_vectors(m0)
    return {
        "version": 1,
        "generator": "tools/unity_vectors.py",
        "encoder": "ex4d_bridge.wire (encode_depth, encode_image, pack_bits)",
        "tolerances": {
            "poses": "absolute 1e-12 (scaled by the magnitude) for positions, quaternions and "
            "matrices; quaternions compared up to sign where |w| < 1e-9",
            "depth_decoded": "bit-exact (same operations as wire.decode_depth)",
            "vertices_decoded": "bit-exact (float32 rule of geometry.proto)",
            "library_vertices": "relative library_vertex_rel_tol per frame: 0 for FLOAT32, "
            "2^-11 + 2^-22 for FLOAT16, uint16_error_bound(near, far) + 2^-22 for "
            "UINT16_INVERSE",
            "faces, occluded, colours, masks": "exact",
        },
        **pose_vectors(),
        "topologies": topologies,
        "mesh_frames": meshes,
        "malformed_mesh_frames": malformed_vectors(meshes[0]),
        "view_replies": views,
        "malformed_view_replies": bad_views,
        "zlib_streams": zlib_vectors(),
        "recorder": recorder_vectors(),
    }


def write_vectors(out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / VECTORS_FILE
    path.write_text(json.dumps(build_vectors()), encoding="utf-8")
    return path


def write_bench_frame(out_dir: str | os.PathLike, size: int = 512, layers: int = 6) -> Path:
    """One size x size frame of the synthetic scene in the server's default encodings
    (UINT16_INVERSE + GRADIENT + zlib depth, JPEG colour, zlib occluded bits), and a variant
    with zlib-compressed raw RGB colour; with ``layers`` > 0 also a frame carrying that many
    completion layers (tools/unity_layer_vectors.py, issue 12)."""
    scene = SyntheticScene(size, size, 1)
    mesh = build_dw_mesh(scene.depths()[0], scene.frames()[0], scene.intrinsics)
    variants = {
        "default_jpeg": mesh_frame_vector("default_jpeg", mesh, color="jpeg"),
        "raw_rgb_zlib": mesh_frame_vector("raw_rgb_zlib", mesh, color="raw_zlib"),
        "float16_jpeg": mesh_frame_vector(
            "float16_jpeg", mesh, color="jpeg", depth_encoding=pb.DEPTH_ENCODING_FLOAT16
        ),
    }
    data: dict = {"size": size, "frames": variants}
    if layers > 0:
        data["layered"] = _layer_vectors_module().bench_layered_frame(size, layers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / BENCH_FRAME_FILE
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _layer_vectors_module():
    """tools/unity_layer_vectors.py (layered frames), loaded by path like this script."""
    import importlib.util

    name = "ex4d_unity_layer_vectors"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("unity_layer_vectors.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# -- building and running the C# programs ---------------------------------------------------


def mono_tools() -> tuple[str, str] | None:
    """(mcs, mono) paths, or None when either is missing."""
    mcs, mono = shutil.which("mcs"), shutil.which("mono")
    return (mcs, mono) if mcs and mono else None


def compile_program(name: str, sources: list[Path], out_dir: Path) -> Path:
    tools = mono_tools()
    if tools is None:
        raise RuntimeError("mcs and mono are needed: apt-get install -y mono-mcs mono-runtime")
    exe = out_dir / f"{name}.exe"
    files = sorted(str(p) for d in sources for p in (d.glob("*.cs") if d.is_dir() else [d]))
    cmd = [
        tools[0],
        f"-langversion:{LANG_VERSION}",
        "-optimize+",
        "-warnaserror+",
        "-nowarn:1591",
        f"-out:{exe}",
        *files,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"mcs failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return exe


def build_test_runner(out_dir: Path) -> Path:
    return compile_program("Ex4dCoreTests", [CORE_SOURCES, TEST_SOURCES], out_dir)


def build_bench(out_dir: Path) -> Path:
    shared = [TEST_SOURCES / "MiniJson.cs", TEST_SOURCES / "VectorReader.cs"]
    return compile_program("Ex4dCoreBench", [CORE_SOURCES, *shared, BENCH_SOURCES], out_dir)


def run_mono(exe: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    tools = mono_tools()
    assert tools is not None
    return subprocess.run(
        [tools[1], "--optimize=all", str(exe), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- .meta files -----------------------------------------------------------------------------

_IMPORTERS = {
    ".cs": "MonoImporter:\n  externalObjects: {}\n  serializedVersion: 2\n  defaultReferences: []\n"
    "  executionOrder: 0\n  icon: {instanceID: 0}\n",
    ".asmdef": "AssemblyDefinitionImporter:\n  externalObjects: {}\n",
    ".shader": "ShaderImporter:\n  externalObjects: {}\n  defaultTextures: []\n"
    "  nonModifiableTextures: []\n",
    ".compute": "ComputeShaderImporter:\n  externalObjects: {}\n",
    ".hlsl": "ShaderIncludeImporter:\n  externalObjects: {}\n",
    ".json": "TextScriptImporter:\n  externalObjects: {}\n",
    ".md": "TextScriptImporter:\n  externalObjects: {}\n",
}
_TAIL = "  userData: \n  assetBundleName: \n  assetBundleVariant: \n"


def write_meta_files(root: Path = UNITY_ROOT) -> list[Path]:
    """Adds the .meta file Unity needs next to every asset and folder of the package that has
    none (Unity ignores assets without one in immutable packages). GUIDs are derived from the
    path, so rerunning is stable. Folders ending in ``~`` are not imported and are skipped."""
    written = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.endswith("~") or p.startswith(".") for p in rel.parts) or path.suffix == ".meta":
            continue
        meta = Path(str(path) + ".meta")
        if meta.exists():
            continue
        guid = hashlib.md5(f"com.ex4d.bridge/{rel.as_posix()}".encode()).hexdigest()
        if path.is_dir():
            body = "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n"
        elif rel.as_posix() == "package.json":
            body = "PackageManifestImporter:\n  externalObjects: {}\n"
        else:
            body = _IMPORTERS.get(path.suffix, "DefaultImporter:\n  externalObjects: {}\n")
        meta.write_text(f"fileFormatVersion: 2\nguid: {guid}\n{body}{_TAIL}", encoding="utf-8")
        written.append(meta)
    return written


def _cmd_metas(args) -> int:
    for meta in write_meta_files():
        print(meta.relative_to(REPO_ROOT))
    return 0


def _cmd_vectors(args) -> int:
    print(write_vectors(args.out))
    return 0


def _cmd_check(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_vectors(tmp_path)
        exe = build_test_runner(tmp_path)
        proc = run_mono(exe, str(tmp_path / VECTORS_FILE), str(tmp_path / "out"))
        print(proc.stdout, end="")
        print(proc.stderr, end="", file=sys.stderr)
        return proc.returncode


def _cmd_bench(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        frame = write_bench_frame(tmp_path, args.size, args.layers)
        exe = build_bench(tmp_path)
        proc = run_mono(exe, str(frame), str(args.warmup), str(args.iterations))
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return proc.returncode
        result = json.loads(proc.stdout)
        text = json.dumps(result, indent=1)
        print(text)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("vectors", help="write core_vectors.json")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(fn=_cmd_vectors)
    p = sub.add_parser("check", help="write vectors, compile the C# tests, run them with mono")
    p.set_defaults(fn=_cmd_check)
    p = sub.add_parser("bench", help="decode benchmark of one mesh frame (JSON)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--layers", type=int, default=6, help="completion layers of the layered frame")
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--out", help="also write the JSON here")
    p.set_defaults(fn=_cmd_bench)
    p = sub.add_parser("metas", help="add missing Unity .meta files to unity_client/")
    p.set_defaults(fn=_cmd_metas)
    args = parser.parse_args(argv)
    if args.command in ("check", "bench") and mono_tools() is None:
        print("mcs and mono are needed: apt-get install -y mono-mcs mono-runtime", file=sys.stderr)
        return 2
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
