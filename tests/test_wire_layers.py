"""CompletionLayerFrame: a client rebuilds each completion layer exactly as the library builds it.

Ground truth is the library's own ``layer_mesh`` (the DW-Mesh rules on the padded crop, its
visible faces moved to the world) and ``CompletedScene.frame_mesh`` (a frame's layers as
composited); the client side is the torch-free numpy decoder."""

import numpy as np
import pytest

from ex4d_bridge import wire
from ex4d_bridge.camera import Intrinsics, look_at
from ex4d_bridge.errors import InputError
from ex4d_bridge.scene import Scene
from ex4d_bridge.scene.completion import (
    CompletedScene,
    CompletionLayer,
    Completions,
    LayerMesh,
    layer_mesh,
)
from ex4d_bridge.scene.completion.layers import layer_grid
from ex4d_bridge.wire import common_pb2, geometry_pb2

F32_EPS = float(np.finfo(np.float32).eps)

K = Intrinsics(40.0, 40.0, 32.0, 24.0, 64, 48)
EXACT = {
    "depth_encoding": common_pb2.DEPTH_ENCODING_FLOAT32,
    "color_encoding": common_pb2.IMAGE_ENCODING_RAW_RGB,
}


def bumpy_layer(rng, frame=2, generation="g", box=(6, 5, 40, 33), pose=None) -> CompletionLayer:
    """A layer with a real depth edge, holes and a rotated camera."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    d = (3.0 + 0.2 * rng.random((h, w))).astype(np.float32)
    d[:, w // 2 :] += 1.5  # a depth edge: thin faces across it are occluded
    d[rng.random((h, w)) < 0.05] = np.inf  # pixels not in the layer
    c = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if pose is None:
        pose = look_at(np.array([0.3, -0.1, 0.2]), np.array([0.0, 0.0, 4.0]))
    return CompletionLayer(frame, generation, pose, K, box, d, c)


def encode(layer: CompletionLayer, index: int = 0, **encodings):
    return wire.encode_layer_frame(
        layer_grid(layer),
        layer_index=index,
        generation=layer.generation,
        frame_index=layer.frame_index,
        pose=layer.pose,
        intrinsics=layer.intrinsics,
        region=layer.region,
        **(encodings or EXACT),
    )


def assert_same_mesh(got_v, got_f, got_c, want: LayerMesh) -> None:
    assert np.array_equal(got_f, want.faces)
    assert np.array_equal(got_c, want.colors)
    # The pose travels as a quaternion: the world transform may round differently in the last
    # float32 bit (float64 rotation errors of ~1e-16 cross a float32 rounding boundary).
    scale = np.abs(want.vertices).max()
    np.testing.assert_allclose(got_v, want.vertices, rtol=0, atol=2 * F32_EPS * scale)


def test_a_layer_rebuilds_as_the_library_builds_it():
    rng = np.random.default_rng(0)
    la = bumpy_layer(rng)
    msg = geometry_pb2.CompletionLayerFrame.FromString(encode(la, 3).SerializeToString())
    got = wire.decode_layer_frame(msg)
    want = layer_mesh(la)
    assert want.num_faces > 100
    assert got.layer_index == 3 and got.generation == "g" and got.frame_index == 2
    assert got.region == la.region
    assert got.intrinsics.same_lens(K)
    np.testing.assert_allclose(got.pose, la.pose, atol=1e-12)
    assert_same_mesh(got.vertices, got.faces, got.colors, want)
    # The padded grid's own vertices are the library's exactly (no pose involved).
    grid = layer_grid(la)
    assert np.array_equal(got.grid.vertices, np.asarray(grid.vertices))
    assert np.array_equal(got.grid.occluded, np.asarray(grid.occluded))


def test_layers_of_a_frame_rebuild_the_composited_frame_mesh():
    """Two generations over the same surface: the stream sends the pieces the compositing uses,
    and their rebuilt meshes together are ``frame_mesh``."""
    rng = np.random.default_rng(1)
    a = bumpy_layer(rng, generation="g1")
    pose_b = look_at(np.array([0.5, -0.1, 0.2]), np.array([0.1, 0.0, 4.0]))
    b = bumpy_layer(rng, generation="g2", box=(10, 8, 50, 40), pose=pose_b)
    depth = np.full((4, 48, 64), 4.0, np.float32)
    scene = Scene(np.zeros((4, 48, 64, 3), np.uint8), depth, K, 10.0)
    done = CompletedScene(scene, Completions([a, b]))
    pieces = done.frame_layers(2)
    assert [i for i, _ in pieces] == [0, 1]
    rebuilt = [wire.decode_layer_frame(encode(p, i)) for i, p in pieces]
    fused = done.frame_mesh(2)
    offsets = np.cumsum([0] + [len(r.vertices) for r in rebuilt[:-1]])
    v = np.concatenate([r.vertices for r in rebuilt])
    f = np.concatenate([r.faces + o for r, o in zip(rebuilt, offsets, strict=True)])
    c = np.concatenate([r.colors for r in rebuilt])
    assert_same_mesh(v, f, c, fused)
    face_layer = np.concatenate([np.full(r.num_faces, r.layer_index) for r in rebuilt])
    assert np.array_equal(face_layer, fused.face_layer)


def test_compact_encodings_stay_within_their_error():
    rng = np.random.default_rng(2)
    la = bumpy_layer(rng)
    msg = encode(
        la,
        depth_encoding=common_pb2.DEPTH_ENCODING_UINT16_INVERSE,
        color_encoding=common_pb2.IMAGE_ENCODING_JPEG,
    )
    got = wire.decode_layer_frame(msg)
    want = layer_mesh(la)
    # The same pixels are in the layer; depths within the 16-bit code's bound.
    assert np.array_equal(got.faces, want.faces)
    bound = wire.uint16_error_bound(msg.mesh.depth.near, msg.mesh.depth.far)
    np.testing.assert_allclose(got.vertices, want.vertices, atol=0.05, rtol=4 * bound)


def test_malformed_layers_are_refused():
    la = bumpy_layer(np.random.default_rng(3))
    good = encode(la)

    def variant(change) -> geometry_pb2.CompletionLayerFrame:
        m = geometry_pb2.CompletionLayerFrame()
        m.CopyFrom(good)
        change(m)
        return m

    bad = {
        "region outside": lambda m: setattr(m.region, "x1", 99),
        "empty region": lambda m: setattr(m.region, "x1", m.region.x0),
        "grid size": lambda m: setattr(m.region, "y1", m.region.y1 - 1),
        "lens": lambda m: setattr(m.intrinsics, "cx", m.intrinsics.cx + 3),
        "no bits": lambda m: m.mesh.ClearField("occluded"),
        "no pose": lambda m: m.ClearField("pose"),
        "no system": lambda m: setattr(m.pose, "coordinate_system", 0),
    }
    for name, change in bad.items():
        with pytest.raises(InputError):
            wire.decode_layer_frame(variant(change))
        assert name


def test_the_wire_package_stays_torch_free():
    import subprocess
    import sys

    code = (
        "import sys; import ex4d_bridge.wire.layers; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
