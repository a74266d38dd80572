"""The page's JavaScript (decode.js, poses.js, the vendored protobufjs with the contract JSON)
run by Node.js on vectors from the Python library: decoded MeshFrames and layers equal
``ex4d_bridge.wire``'s decode, pose conversions equal ``ex4d_bridge.camera``'s. Colour here is
raw RGB (Node has no image decoder; JPEG is decoded by the browser in test_web_browser)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import numpy as np
import pytest

from ex4d_bridge import wire
from ex4d_bridge.camera import Intrinsics, convert_pose, pose_from_wire, pose_to_wire
from ex4d_bridge.web.descriptor import contract_json
from ex4d_bridge.web.gateway import STATIC_DIR
from ex4d_bridge.wire import common_pb2, geometry_pb2

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node")
SYSTEMS = ("opencv", "opengl", "unity", "unreal")

DRIVER = r"""
const fs = require("fs");
const dir = process.argv[2];
const protobuf = require(dir + "/vendor/protobuf.min.js");
const P = require(dir + "/poses.js");
const D = require(dir + "/decode.js");
const input = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const root = protobuf.Root.fromJSON(input.contract);
const MeshFrame = root.lookupType("ex4d.v1.MeshFrame");
const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
(async () => {
  const frames = [];
  for (const f of input.frames) {
    const msg = MeshFrame.decode(Buffer.from(f, "base64"));
    const { mesh } = await D.decodeMeshFrame(msg);
    const layers = [];
    for (const l of msg.layers) {
      const d = await D.decodeLayer(l, P);
      layers.push({ pose: d.mesh.pose, depth: b64(d.mesh.depth), indices: b64(d.mesh.indices) });
    }
    frames.push({ depth: b64(mesh.depth), rgb: b64(mesh.color.rgb), occ: b64(mesh.occluded),
                  intrinsics: mesh.intrinsics, layers });
  }
  let corrupt = "";
  try { await D.decodeMeshFrame(MeshFrame.decode(Buffer.from(input.corrupt, "base64"))); }
  catch (e) { corrupt = e.message; }
  const poses = input.poses.map((m) => {
    const out = {};
    for (const s of input.systems) {
      const w = P.poseToWire(m, s);
      const back = P.poseFromWire(w.position, w.rotation, s);
      out[s] = { wire: w, back, conv: P.convertPose(m, "opencv", s) };
    }
    const gl = P.convertPose(m, "opencv", "opengl");
    out.xr = P.xrToOpenCV(P.toColumnMajor(gl));
    out.view = P.viewMatrixGL(m);
    return out;
  });
  process.stdout.write(JSON.stringify({ frames, poses, corrupt }));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def frame_vector(rng, depth_encoding: int, with_layer: bool) -> tuple[bytes, object]:
    h, w = 7, 9
    k = Intrinsics(8.0, 7.5, 4.3, 3.6, w, h)
    depth = rng.uniform(1.0, 4.0, (h, w)).astype(np.float32)
    depth[0, :] = depth[-1, :] = depth[:, 0] = depth[:, -1] = 100.0  # the far border
    depth[3, 4] = np.inf  # no surface
    colors = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    occluded = rng.random(wire.num_faces(h, w)) < 0.3
    frame = wire.encode_mesh_frame(
        depth,
        colors,
        occluded,
        k,
        100.0,
        np.array([0.0, 0.0, 100.0]),
        depth_encoding=depth_encoding,
        color_encoding=common_pb2.IMAGE_ENCODING_RAW_RGB,
    )
    if with_layer:
        pose = random_pose(rng)
        layer = geometry_pb2.CompletionLayerFrame(
            layer_index=0, generation="g", pose=wire.pose_to_msg(pose, "unity")
        )
        layer.mesh.CopyFrom(frame)
        frame.layers.append(layer)
    return frame.SerializeToString(), frame


def random_pose(rng) -> np.ndarray:
    return pose_from_wire(rng.normal(size=3), rng.normal(size=4), "opencv")


def run_node(tmp_path, payload: dict) -> dict:
    driver = tmp_path / "driver.cjs"
    driver.write_text(DRIVER)
    data = tmp_path / "input.json"
    data.write_text(json.dumps(payload))
    out = subprocess.run(
        [NODE, str(driver), str(STATIC_DIR), str(data)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_page_decoding_and_poses_equal_the_librarys(tmp_path):
    rng = np.random.default_rng(7)
    encodings = (
        common_pb2.DEPTH_ENCODING_UINT16_INVERSE,
        common_pb2.DEPTH_ENCODING_FLOAT16,
        common_pb2.DEPTH_ENCODING_FLOAT32,
    )
    vectors = [frame_vector(rng, e, with_layer=i == 0) for i, e in enumerate(encodings)]
    corrupt = geometry_pb2.MeshFrame.FromString(vectors[2][0])
    corrupt.depth.data = corrupt.depth.data[:-3]  # a truncated zlib stream
    poses = [random_pose(rng) for _ in range(6)] + [np.eye(4)]
    got = run_node(
        tmp_path,
        {
            "contract": contract_json(),
            "frames": [base64.b64encode(b).decode() for b, _ in vectors],
            "corrupt": base64.b64encode(corrupt.SerializeToString()).decode(),
            "poses": [p.reshape(-1).tolist() for p in poses],
            "systems": SYSTEMS,
        },
    )
    for (_, msg), js in zip(vectors, got["frames"], strict=True):
        mesh = wire.decode_mesh_frame(msg)
        h, w = mesh.height, mesh.width
        depth = np.frombuffer(base64.b64decode(js["depth"]), np.float32).reshape(h, w)
        # The same float64 arithmetic rounded to float32: identical values.
        np.testing.assert_array_equal(depth, mesh.depth)
        rgb = np.frombuffer(base64.b64decode(js["rgb"]), np.uint8).reshape(h, w, 3)
        np.testing.assert_array_equal(rgb, mesh.colors[:-1].reshape(h, w, 3))
        occ = np.frombuffer(base64.b64decode(js["occ"]), np.uint8)
        q = (h - 1) * (w - 1)
        np.testing.assert_array_equal(occ & 1, mesh.occluded[:q])
        np.testing.assert_array_equal(occ >> 1, mesh.occluded[q : 2 * q])
        assert js["intrinsics"]["fx"] == mesh.intrinsics.fx
        for layer, jl in zip(msg.layers, js["layers"], strict=True):
            want = wire.pose_from_msg(layer.pose)
            np.testing.assert_allclose(np.reshape(jl["pose"], (4, 4)), want, atol=1e-12)
            # The layer's indexed draw holds exactly its visible grid faces, in grid order.
            grid = wire.num_grid_faces(h, w)
            faces = wire.grid_faces(h, w)[:grid][~mesh.occluded[:grid]]
            got_faces = np.frombuffer(base64.b64decode(jl["indices"]), np.uint32).reshape(-1, 3)
            np.testing.assert_array_equal(got_faces, faces)
    assert "zlib" in got["corrupt"] or "expected" in got["corrupt"]
    for pose, js in zip(poses, got["poses"], strict=True):
        for s in SYSTEMS:
            pos, quat = pose_to_wire(pose, s)
            np.testing.assert_allclose(js[s]["wire"]["position"], pos, atol=1e-12)
            np.testing.assert_allclose(js[s]["wire"]["rotation"], quat, atol=1e-12)
            np.testing.assert_allclose(np.reshape(js[s]["back"], (4, 4)), pose, atol=1e-12)
            want = convert_pose(pose, "opencv", s)
            np.testing.assert_allclose(np.reshape(js[s]["conv"], (4, 4)), want, atol=1e-12)
        # A WebXR pose (OpenXR axes, column-major float32) read back as the library's pose.
        np.testing.assert_allclose(np.reshape(js["xr"], (4, 4)), pose, atol=1e-5)
        # The renderer's view matrix: world (OpenCV) -> eye with OpenGL axes.
        view = np.reshape(js["view"], (4, 4))
        want = np.diag([1.0, -1.0, -1.0, 1.0]) @ np.linalg.inv(pose)
        np.testing.assert_allclose(view, want, atol=1e-12)
