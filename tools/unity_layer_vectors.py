"""Test vectors for the Unity client's completion-layer decoding (issue 12), and its build.

Each vector is a MeshFrame with ``layers`` exactly as the server encodes it
(``ex4d_bridge.wire.encode_layer_frame`` of ``scene.completion.layer_grid``), in the JSON shape
``unity_client/Tests/Core/VectorReader.cs`` reads, with what the Python client decoder
(``wire.decode_layer_frame``) makes of every layer: index, generation, frame, pose, lens, region,
the padded grid's decoded depth and occluded bits, and the visible faces' world vertices, faces,
colours and source grid vertices. Where depth and colour are lossless the library's own
``layer_mesh`` is included too. Malformed variants must be refused with Ex4dFormatException.

    python tools/unity_layer_vectors.py check          # vectors + compile + run (mono)
    python tools/unity_layer_vectors.py bench [--out]  # source 512x512 + 6 layers decode bench

``tests/test_unity_layers.py`` drives the same functions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the package importable
    sys.path.insert(0, str(REPO_ROOT))

from ex4d_bridge import wire  # noqa: E402
from ex4d_bridge.camera import Intrinsics, look_at  # noqa: E402
from ex4d_bridge.camera.conventions import pose_to_wire  # noqa: E402
from ex4d_bridge.geometry import build_dw_mesh  # noqa: E402
from ex4d_bridge.scene import Scene  # noqa: E402
from ex4d_bridge.scene.completion import (  # noqa: E402
    CompletedScene,
    CompletionLayer,
    Completions,
    layer_mesh,
)
from ex4d_bridge.scene.completion.layers import layer_grid  # noqa: E402
from ex4d_bridge.wire import common_pb2 as pb  # noqa: E402


def _unity_vectors():
    """tools/unity_vectors.py by path (tools/ is a folder of scripts, not a package): its
    mono build helpers."""
    name = "ex4d_unity_vectors"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / "unity_vectors.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


uv = _unity_vectors()
# The package layout and the JSON helpers are the core vectors' (one place to move them).
UNITY_ROOT = uv.UNITY_ROOT
CORE_SOURCES = uv.CORE_SOURCES
TEST_SOURCES = uv.TEST_SOURCES
LAYER_TEST_SOURCES = UNITY_ROOT / "Tests" / "Layers"
BENCH_SOURCES = uv.BENCH_SOURCES
b64 = uv.b64
_intrinsics_json = uv._intrinsics_json
VECTORS_FILE = "layer_vectors.json"
BENCH_FRAME_FILE = "bench_layered_frame.json"
F32_EPS = float(np.finfo(np.float32).eps)
# The world transform: the pose travels as a quaternion, so the float64 rotation may differ in
# its last bits between the two programs, and a float32 rounding can flip (see
# tests/test_wire_layers.py). Camera-frame vertices are bit-exact (same float32 rule).
WORLD_ULPS = 2.0


# -- message -> JSON (the field names VectorReader.cs reads) ---------------------------------


def mesh_json(m) -> dict:
    """A geometry_pb2.MeshFrame as the vector JSON (payload bytes as base64)."""
    c = m.closure
    out = {
        "scene_id": m.scene_id,
        "frame_index": m.frame_index,
        "num_frames": m.num_frames,
        "time_s": m.time_s,
        "intrinsics": _intrinsics_json(m.intrinsics),
        "closure": {
            "far_depth": c.far_depth,
            "border_pixels": c.border_pixels,
            "cap_center": [c.cap_center.x, c.cap_center.y, c.cap_center.z]
            if c.HasField("cap_center")
            else None,
        },
        "topology": int(m.topology),
        "num_vertices": int(m.num_vertices),
        "num_faces": int(m.num_faces),
        "depth": {
            "encoding": int(m.depth.encoding),
            "width": m.depth.width,
            "height": m.depth.height,
            "near": m.depth.near,
            "far": m.depth.far,
            "far_code_depth": m.depth.far_code_depth,
            "predictor": int(m.depth.predictor),
            "compression": int(m.depth.compression),
            "data": b64(m.depth.data),
        },
        "color": {
            "encoding": int(m.color.encoding),
            "width": m.color.width,
            "height": m.color.height,
            "compression": int(m.color.compression),
            "data": b64(m.color.data),
        },
        "occluded": {
            "count": int(m.occluded.count),
            "compression": int(m.occluded.compression),
            "data": b64(m.occluded.data),
        },
    }
    if len(m.layers):
        out["layers"] = [layer_json(la) for la in m.layers]
    return out


def layer_json(la) -> dict:
    """A geometry_pb2.CompletionLayerFrame as vector JSON; absent sub-messages stay absent."""
    out: dict = {"layer_index": la.layer_index, "generation": la.generation}
    if la.HasField("pose"):
        p, q = la.pose.position, la.pose.rotation
        out["pose"] = {
            "position": [p.x, p.y, p.z],
            "rotation": [q.x, q.y, q.z, q.w],
            "coordinate_system": int(la.pose.coordinate_system),
        }
    if la.HasField("intrinsics"):
        out["intrinsics"] = _intrinsics_json(la.intrinsics)
    if la.HasField("region"):
        r = la.region
        out["region"] = {"x0": r.x0, "y0": r.y0, "x1": r.x1, "y1": r.y1}
    if la.HasField("mesh"):
        out["mesh"] = mesh_json(la.mesh)
    return out


# -- layers ----------------------------------------------------------------------------------

K = Intrinsics(40.0, 40.0, 32.0, 24.0, 64, 48)


def bumpy_layer(rng, frame=1, generation="g", box=(6, 5, 40, 33), pose=None) -> CompletionLayer:
    """A layer with a depth edge (occluded faces inside it), holes and a rotated camera."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    d = (3.0 + 0.2 * rng.random((h, w))).astype(np.float32)
    d[:, w // 2 :] += 1.5
    d[rng.random((h, w)) < 0.05] = np.inf
    c = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if pose is None:
        pose = look_at(np.array([0.3, -0.1, 0.2]), np.array([0.0, 0.0, 4.0]))
    return CompletionLayer(frame, generation, pose, K, box, d, c)


def encode(layer: CompletionLayer, index: int, depth: int, color: int, system: str = "opencv"):
    msg = wire.encode_layer_frame(
        layer_grid(layer),
        layer_index=index,
        generation=layer.generation,
        frame_index=layer.frame_index,
        pose=layer.pose,
        intrinsics=layer.intrinsics,
        region=layer.region,
        depth_encoding=depth,
        color_encoding=color,
    )
    if system != "opencv":  # the contract says OpenCV; any named system must still decode
        msg.pose.CopyFrom(wire.pose_to_msg(layer.pose, system))
    return msg


def expected_layer(msg, library=None) -> dict:
    """What a client must rebuild from ``msg`` (the Python client decoder's result)."""
    got = wire.decode_layer_frame(msg)
    grid = got.grid
    keep = ~np.asarray(grid.occluded, bool)
    used = np.unique(np.asarray(grid.faces)[keep]) if keep.any() else np.zeros(0, np.int64)
    raw = msg.mesh.color.encoding == pb.IMAGE_ENCODING_RAW_RGB
    position, rotation = pose_to_wire(got.pose, "unity")
    scale = float(np.abs(got.vertices).max()) if len(got.vertices) else 1.0
    out = {
        "layer_index": got.layer_index,
        "generation": got.generation,
        "frame_index": got.frame_index,
        "region": list(got.region),
        "intrinsics": _intrinsics_json(got.intrinsics),
        "camera_to_world": got.pose.reshape(-1).tolist(),
        "unity_position": position.tolist(),
        "unity_rotation": rotation.tolist(),
        "grid_width": grid.intrinsics.width,
        "grid_height": grid.intrinsics.height,
        "grid_intrinsics": _intrinsics_json(grid.intrinsics),
        "depth_decoded": b64(np.asarray(grid.depth, "<f4")),
        "occluded": b64(np.asarray(grid.occluded, np.uint8)),
        "grid_color_rgb": b64(np.asarray(grid.colors[:-1], np.uint8)) if raw else None,
        "num_vertices": len(got.vertices),
        "num_faces": got.num_faces,
        "vertices": b64(np.asarray(got.vertices, "<f4")),
        "faces": b64(np.asarray(got.faces, "<i4")),
        "vertex_source": b64(used.astype("<i4")),
        "colors": b64(np.asarray(got.colors, np.uint8)) if raw else None,
        "world_atol": WORLD_ULPS * F32_EPS * max(scale, 1.0),
    }
    if library is not None:
        out["library_vertices"] = b64(np.asarray(library.vertices, "<f4"))
        out["library_faces"] = b64(np.asarray(library.faces, "<i4"))
    return out


def _source_frame(shape, frame_index: int, layers) -> dict:
    h, w = shape
    rng = np.random.default_rng(frame_index)
    depth = (4.0 + 0.1 * rng.random((h, w))).astype(np.float32)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    k = Intrinsics(40.0, 40.0, w / 2, h / 2, w, h)
    mesh = build_dw_mesh(depth, rgb, k).numpy()
    msg = wire.encode_mesh_frame(
        mesh.depth,
        mesh.colors,
        mesh.occluded,
        k,
        float(mesh.far_depth),
        mesh.vertices[-1],
        depth_encoding=pb.DEPTH_ENCODING_UINT16_INVERSE,
        color_encoding=pb.IMAGE_ENCODING_RAW_RGB,
        frame_index=frame_index,
    )
    msg.layers.extend(layers)
    return mesh_json(msg)


def layer_vectors() -> dict:
    U16, F16, F32 = (
        pb.DEPTH_ENCODING_UINT16_INVERSE,
        pb.DEPTH_ENCODING_FLOAT16,
        pb.DEPTH_ENCODING_FLOAT32,
    )
    RAW, JPEG, PNG = pb.IMAGE_ENCODING_RAW_RGB, pb.IMAGE_ENCODING_JPEG, pb.IMAGE_ENCODING_PNG
    rng = np.random.default_rng(12)
    single = bumpy_layer(rng)
    pose_b = look_at(np.array([0.5, -0.1, 0.2]), np.array([0.1, 0.0, 4.0]))
    cases = []

    def case(name, layers, libraries=None, frame_index=1):
        msgs = [m for m in layers]
        cases.append(
            {
                "name": name,
                "frame": _source_frame((24, 32), frame_index, msgs),
                "expected": [
                    expected_layer(m, None if libraries is None else libraries[i])
                    for i, m in enumerate(msgs)
                ],
            }
        )

    case("f32_raw_exact", [encode(single, 3, F32, RAW)], [layer_mesh(single)])
    case("u16_gradient_raw", [encode(single, 0, U16, RAW)])
    case("f16_jpeg", [encode(single, 1, F16, JPEG)])
    case("f32_png_pose_in_unity_axes", [encode(single, 2, F32, PNG, "unity")])
    case("u16_pose_in_unreal_axes", [encode(single, 2, U16, RAW, "unreal")])

    # Two generations over the same surface, as StreamGeometry sends them: the pieces
    # CompletedScene.frame_layers keeps (the second less what the first holds).
    a = bumpy_layer(rng, generation="walk-g1")
    b = bumpy_layer(rng, generation="walk-g2", box=(10, 8, 50, 40), pose=pose_b)
    scene = Scene(
        np.zeros((4, 48, 64, 3), np.uint8), np.full((4, 48, 64), 4.0, np.float32), K, 10.0
    )
    pieces = CompletedScene(scene, Completions([a, b])).frame_layers(1)
    case(
        "two_generations_frame_layers",
        [encode(p, i, F32, RAW) for i, p in pieces],
        [layer_mesh(p) for _, p in pieces],
    )

    # A layer with no surface at all: every face is occluded, nothing is drawn.
    empty = CompletionLayer(
        1,
        "empty",
        single.pose,
        K,
        (0, 0, 3, 2),
        np.full((2, 3), np.inf, np.float32),
        np.zeros((2, 3, 3), np.uint8),
    )
    case("no_visible_faces", [encode(empty, 0, U16, RAW)])
    # The smallest crop: one pixel, a 3x3 padded grid whose faces are all occluded.
    one = CompletionLayer(
        1,
        "one",
        single.pose,
        K,
        (63, 47, 64, 48),
        np.full((1, 1), 2.0, np.float32),
        np.full((1, 1, 3), 200, np.uint8),
    )
    case("one_pixel_at_the_corner", [encode(one, 0, F32, RAW)])

    good = encode(single, 0, U16, RAW)
    views, bad_views = provenance_views()
    return {
        "layer_frames": cases,
        "malformed_layers": malformed_layers(good),
        "no_layers": _source_frame((24, 32), 0, []),
        "views": views,
        "malformed_views": bad_views,
    }


def provenance_views() -> tuple[list[dict], list[dict]]:
    """Completed View replies with a provenance map (raw and zlib) and their expected values;
    broken variants with a substring of the expected message."""
    import zlib

    rng = np.random.default_rng(4)
    w, h = 9, 7
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    prov = rng.integers(0, 4, (h, w), dtype=np.uint8)
    mask = prov != 0

    def reply(compress: bool, layers: int, provenance: bytes | None = None) -> dict:
        data = prov.tobytes() if provenance is None else provenance
        r = {
            "sequence": 7,
            "pose": {
                "position": [0.0, 0.0, 0.0],
                "rotation": [0.0, 0.0, 0.0, 1.0],
                "coordinate_system": 3,
            },
            "frame_index": 2,
            "color": {
                "encoding": pb.IMAGE_ENCODING_RAW_RGB,
                "width": w,
                "height": h,
                "compression": 0,
                "data": b64(rgb),
            },
            "mask": {"count": w * h, "compression": 0, "data": b64(np.packbits(mask.reshape(-1)))},
            "intrinsics": {"fx": 10.0, "fy": 10.0, "cx": 4.5, "cy": 3.5, "width": w, "height": h},
            "completion_layers": layers,
            "provenance": {
                "width": w,
                "height": h,
                "compression": 1 if compress else 0,
                "data": b64(zlib.compress(data) if compress else data),
            },
        }
        return r

    expected = {
        "provenance": b64(prov),
        "mask": b64(mask.astype(np.uint8)),
        "width": w,
        "height": h,
    }
    good = [
        {"name": "provenance_raw", "reply": reply(False, 2), "expected": expected},
        {"name": "provenance_zlib", "reply": reply(True, 1), "expected": expected},
    ]
    no_prov = reply(False, 0)
    del no_prov["provenance"]
    good.append(
        {
            "name": "raw_render_without_provenance",
            "reply": no_prov,
            "expected": {**expected, "provenance": None},
        }
    )
    bad_value = prov.copy()
    bad_value[3, 4] = 4
    wrong_size = reply(False, 2)
    wrong_size["provenance"]["width"] = w - 1
    unknown = reply(False, 2)
    unknown["provenance"]["compression"] = 5
    bad = [
        {"name": "provenance_size", "reply": wrong_size, "error": "provenance is"},
        {
            "name": "provenance_short",
            "reply": reply(False, 2, prov.tobytes()[:-1]),
            "error": "bytes (one per pixel)",
        },
        {
            "name": "provenance_value",
            "reply": reply(True, 2, bad_value.tobytes()),
            "error": "unknown value 4",
        },
        {"name": "provenance_compression", "reply": unknown, "error": "unknown compression"},
        {
            "name": "provenance_zlib_short",
            "reply": reply(True, 2, prov.tobytes()[:-3]),
            "error": "provenance",
        },
    ]
    return good, bad


def malformed_layers(good) -> list[dict]:
    """Broken variants of one good layer, each with a substring of the expected message."""
    from ex4d_bridge.wire import geometry_pb2

    out = []

    def variant(name: str, error: str, change) -> None:
        m = geometry_pb2.CompletionLayerFrame()
        m.CopyFrom(good)
        change(m)
        out.append({"name": name, "frame": _source_frame((24, 32), 1, [m]), "error": error})

    variant("region_outside", "not inside", lambda m: setattr(m.region, "x1", 99))
    variant("region_empty", "not inside", lambda m: setattr(m.region, "x1", m.region.x0))
    variant("region_reversed", "not inside", lambda m: setattr(m.region, "y0", m.region.y1 + 1))
    variant(
        "grid_size_mismatch", "padded region", lambda m: setattr(m.region, "y1", m.region.y1 - 1)
    )
    variant(
        "lens_mismatch", "padded crop", lambda m: setattr(m.intrinsics, "cx", m.intrinsics.cx + 3)
    )
    variant("missing_bits", "occluded bits", lambda m: m.mesh.ClearField("occluded"))
    variant("bits_count_wrong", "holds", lambda m: setattr(m.mesh.occluded, "count", 5))
    variant("missing_pose", "needs mesh, region and pose", lambda m: m.ClearField("pose"))
    variant("missing_region", "needs mesh, region and pose", lambda m: m.ClearField("region"))
    variant("missing_mesh", "needs mesh, region and pose", lambda m: m.ClearField("mesh"))
    variant(
        "pose_system_unspecified",
        "coordinate system",
        lambda m: setattr(m.pose, "coordinate_system", 0),
    )
    variant("pose_zero_rotation", "zero length", lambda m: m.pose.rotation.Clear())
    variant(
        "depth_truncated",
        "truncated",
        lambda m: setattr(m.mesh.depth, "data", m.mesh.depth.data[:-5]),
    )
    variant("mesh_topology_unknown", "unknown topology", lambda m: setattr(m.mesh, "topology", 9))

    def twice(m):
        second = geometry_pb2.CompletionLayerFrame()
        second.CopyFrom(m)
        return second

    # Two layers with the same index: layers come in layer order.
    m = geometry_pb2.CompletionLayerFrame()
    m.CopyFrom(good)
    out.append(
        {
            "name": "layer_order",
            "frame": _source_frame((24, 32), 1, [m, twice(m)]),
            "error": "layer order",
        }
    )
    return out


# -- the layered bench frame ------------------------------------------------------------------


def bench_layered_frame(size: int = 512, num_layers: int = 6) -> dict:
    """A size x size synthetic frame with ``num_layers`` completion layers in the server's
    default encodings, lifted from the scene's true views along six directions around the
    source camera (``lift_frame`` with the true colour: the layers a completed scene holds)."""
    from ex4d_bridge.depth import KnownDepth
    from ex4d_bridge.geometry import RenderOptions, render
    from ex4d_bridge.scene import reconstruct
    from ex4d_bridge.scene.completion.lift import LiftOptions, lift_frame
    from ex4d_bridge.synthetic import SyntheticScene

    synthetic = SyntheticScene(width=size, height=size, num_frames=1)
    scene = reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        fps=synthetic.fps,
        progress=False,
    )
    k = scene.intrinsics
    r = scene.min_depth() + 0.15
    pivot = np.array([0.0, 0.0, r])
    layers = []
    for i in range(num_layers):
        angle = np.deg2rad([20, -20, 35, -35, 12, -12][i % 6])
        lift = 0.15 * r * (1 if i % 2 else -1) if i >= 4 else 0.0
        eye = np.array([r * np.sin(angle), lift, r - r * np.cos(angle)])
        pose = look_at(eye, pivot)
        res = render(scene.mesh(0), pose, k, RenderOptions(mask_style="reference"))
        truth = synthetic.render_view(0, pose, k)[0]
        layer = lift_frame(scene, 0, pose, k, truth, res.mask, f"bench-{i}", LiftOptions())
        if layer is not None:
            layers.append(layer)
    done = CompletedScene(scene, Completions(layers))
    pieces = done.frame_layers(0)
    msgs = [
        wire.encode_layer_frame(
            layer_grid(p),
            layer_index=i,
            generation=p.generation,
            frame_index=0,
            pose=p.pose,
            intrinsics=p.intrinsics,
            region=p.region,
        )
        for i, p in pieces
    ]
    mesh = scene.mesh(0).numpy()
    source = wire.encode_mesh_frame(
        mesh.depth,
        mesh.colors,
        mesh.occluded,
        k,
        float(mesh.far_depth),
        mesh.vertices[-1],
        frame_index=0,
    )
    source.layers.extend(msgs)
    return {
        "size": size,
        "num_layers": len(msgs),
        "layer_regions": [list(p.region) for _, p in pieces],
        "layer_pixels": [int(p.num_pixels) for _, p in pieces],
        "layer_bytes": [m.ByteSize() for m in msgs],
        "source_bytes": source.ByteSize() - sum(m.ByteSize() for m in msgs),
        "how": (
            f"{len(msgs)} completion layers lifted (lift_frame, propagate depth fill) from the "
            "synthetic scene's true views at yaw +-20, +-35 degrees and +-12 degrees with a "
            "vertical offset around the pivot, as CompletedScene.frame_layers sends them; "
            "server default encodings (UINT16_INVERSE + GRADIENT + zlib depth, JPEG colour, "
            "zlib occluded bits)"
        ),
        "frame": mesh_json(source),
    }


# -- building and running ---------------------------------------------------------------------


def write_vectors(out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / VECTORS_FILE
    path.write_text(json.dumps(layer_vectors()), encoding="utf-8")
    return path


def build_test_runner(out_dir: Path) -> Path:
    shared = [TEST_SOURCES / n for n in ("MiniJson.cs", "VectorReader.cs", "ConsoleChecks.cs")]
    return uv.compile_program(
        "Ex4dLayerTests", [CORE_SOURCES, *shared, LAYER_TEST_SOURCES], out_dir
    )


def run_bench(size: int, warmup: int, iterations: int, num_layers: int = 6) -> dict:
    """The C# decode bench (Tests/Bench/DecodeBench.cs) on tools/unity_vectors.py's frames plus
    a layered frame of ``num_layers`` layers; its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        path = uv.write_bench_frame(tmp_path, size)
        data = json.loads(path.read_text(encoding="utf-8"))
        data["layered"] = bench_layered_frame(size, num_layers)
        path.write_text(json.dumps(data), encoding="utf-8")
        exe = uv.build_bench(tmp_path)
        proc = uv.run_mono(exe, str(path), str(warmup), str(iterations), timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"the bench failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return json.loads(proc.stdout)


def _cmd_bench(args) -> int:
    result = run_bench(args.size, args.warmup, args.iterations, args.layers)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


def _cmd_check(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_vectors(tmp_path)
        exe = build_test_runner(tmp_path)
        proc = uv.run_mono(exe, str(tmp_path / VECTORS_FILE), str(tmp_path / "out"))
        print(proc.stdout, end="")
        print(proc.stderr, end="", file=sys.stderr)
        return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("vectors", help="write layer_vectors.json")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=lambda a: print(write_vectors(a.out)) or 0)
    p = sub.add_parser("check", help="write vectors, compile the C# layer tests, run them")
    p.set_defaults(fn=_cmd_check)
    p = sub.add_parser("bench", help="decode bench with a layered frame (JSON)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--out", help="also write the JSON here")
    p.set_defaults(fn=_cmd_bench)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
