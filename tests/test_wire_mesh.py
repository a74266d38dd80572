"""The wire's mesh formats against the library that builds the meshes: the numpy grid and
unprojection against ``ex4d_bridge.geometry`` (torch), MeshFrame encode -> decode against
``build_dw_mesh``, the msgpack mesh and the scene bundle round trips and their refusals."""

import msgpack
import numpy as np
import pytest
import torch

from ex4d_bridge import wire
from ex4d_bridge.camera import Intrinsics
from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import build_dw_mesh, grid_topology, unproject
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.wire import common_pb2 as pb
from ex4d_bridge.wire import geometry_pb2
from ex4d_bridge.wire.bundle import BundleCompletions, read_bundle


def random_lens(rng, width, height):
    """Intrinsics with values float32 cannot hold exactly, principal point anywhere near."""
    fx, fy = rng.uniform(5.0, 900.0, 2)
    cx, cy = rng.uniform(-3.0, width + 3.0), rng.uniform(-3.0, height + 3.0)
    return Intrinsics(fx, fy, cx, cy, width, height)


@pytest.mark.parametrize("size", [(2, 2), (2, 9), (7, 3), (48, 64), (33, 17)])
def test_grid_faces_are_the_geometry_topology(size):
    h, w = size
    faces = wire.grid_faces(h, w)
    assert faces.dtype == np.int32 and not faces.flags.writeable
    assert np.array_equal(faces, grid_topology(h, w).faces.numpy())
    assert len(faces) == wire.num_faces(h, w)
    assert wire.num_vertices(h, w) == grid_topology(h, w).num_vertices
    assert wire.num_grid_faces(h, w) == grid_topology(h, w).num_grid_faces
    with pytest.raises(InputError, match="2x2"):
        wire.grid_faces(1, w)


# numpy (client) and torch (server) unprojections are separately built programs: equal bits
# here, but a vectorised kernel that fuses a multiply-add elsewhere may differ in the last ulp.
UNPROJECT_RTOL = 4 * float(np.finfo(np.float32).eps)


def test_unprojection_matches_the_geometry_one():
    rng = np.random.default_rng(3)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(2, 50, 2))
        k = random_lens(rng, w, h)
        depth = rng.uniform(1e-3, 1e3, (h, w)).astype(np.float32)
        ours = wire.unproject(depth, k)
        theirs = unproject(torch.from_numpy(depth), k).numpy()
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, rtol=UNPROJECT_RTOL, atol=0)


def _frame_of(mesh, **kwargs):
    return wire.encode_mesh_frame(
        mesh.depth,
        mesh.colors,
        mesh.occluded,
        mesh.intrinsics,
        mesh.far_depth,
        mesh.vertices[-1],
        **kwargs,
    )


def _synthetic_mesh(width=40, height=30, t=1):
    s = SyntheticScene(width, height, 3)
    return build_dw_mesh(s.depths()[t], s.frames()[t], s.intrinsics)


def test_mesh_frames_decode_to_the_mesh_the_server_built():
    rng = np.random.default_rng(5)
    meshes = [_synthetic_mesh()]
    for _ in range(4):  # random depth with holes (inf, 0, NaN) and odd lenses
        h, w = (int(v) for v in rng.integers(2, 24, 2))
        depth = rng.uniform(0.5, 30.0, (h, w)).astype(np.float32)
        depth[rng.random((h, w)) < 0.1] = rng.choice([np.inf, 0.0, np.nan])
        color = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        meshes.append(build_dw_mesh(depth, color, random_lens(rng, w, h)))
    for mesh in meshes:
        frame = _frame_of(
            mesh,
            depth_encoding=pb.DEPTH_ENCODING_FLOAT32,
            color_encoding=pb.IMAGE_ENCODING_RAW_RGB,
            frame_index=3,
            time_s=0.25,
        )
        back = wire.decode_mesh_frame(geometry_pb2.MeshFrame.FromString(frame.SerializeToString()))
        np.testing.assert_allclose(back.vertices, mesh.vertices, rtol=UNPROJECT_RTOL, atol=0)
        assert np.array_equal(back.faces, mesh.faces)
        assert np.array_equal(back.occluded, mesh.occluded)
        assert np.array_equal(back.colors, mesh.colors)
        assert np.array_equal(back.depth, mesh.depth)
        assert back.far_depth == mesh.far_depth and back.intrinsics == mesh.intrinsics
        assert (back.frame_index, back.time_s) == (3, 0.25)
        assert np.array_equal(back.vertex_visible, mesh.vertex_visible)
        assert frame.num_vertices == len(mesh.vertices) and frame.num_faces == len(mesh.faces)


def test_grid_mesh_converts_to_the_library_mesh():
    mesh = _synthetic_mesh(24, 16)
    back = wire.decode_mesh_frame(_frame_of(mesh, depth_encoding=pb.DEPTH_ENCODING_FLOAT32))
    dw = back.to_dw_mesh()
    np.testing.assert_allclose(dw.vertices, mesh.vertices, rtol=UNPROJECT_RTOL, atol=0)
    assert np.array_equal(dw.faces, mesh.faces)
    assert dw.tensors()["faces"] is grid_topology(16, 24).faces  # the shared topology tensor
    tm = back.to_trimesh()
    assert tm.faces.shape == mesh.faces.shape
    assert np.array_equal(tm.face_attributes["occluded"], mesh.occluded)


def test_mesh_frame_defaults_and_options():
    mesh = _synthetic_mesh()
    frame = _frame_of(mesh)
    assert frame.depth.encoding == pb.DEPTH_ENCODING_UINT16_INVERSE
    assert frame.color.encoding == pb.IMAGE_ENCODING_JPEG
    assert frame.topology == geometry_pb2.TOPOLOGY_GRID_FAN_V1
    assert frame.closure.border_pixels == 1
    # Pixel colours (H, W, 3) work as well as vertex colours.
    h, w = mesh.height, mesh.width
    pixels = wire.encode_mesh_frame(
        mesh.depth,
        mesh.colors[: h * w].reshape(h, w, 3),
        None,
        mesh.intrinsics,
        mesh.far_depth,
        mesh.vertices[-1],
        color_encoding=pb.IMAGE_ENCODING_PNG,
    )
    back = wire.decode_mesh_frame(pixels)
    assert np.array_equal(back.colors, mesh.colors)  # PNG is lossless
    assert not pixels.HasField("occluded") and not back.occluded.any()


def test_malformed_mesh_frames_are_refused():
    mesh = _synthetic_mesh(12, 10)
    good = _frame_of(mesh, depth_encoding=pb.DEPTH_ENCODING_FLOAT32)

    def mutated(fn):
        f = geometry_pb2.MeshFrame()
        f.CopyFrom(good)
        fn(f)
        return f

    for fn, match in (
        (lambda f: setattr(f, "topology", 0), "topology"),
        (lambda f: setattr(f, "num_faces", 7), "face count"),
        (lambda f: setattr(f.intrinsics, "width", 13), "disagree"),
        (lambda f: f.color.CopyFrom(wire.encode_image(np.zeros((9, 12, 3), np.uint8))), "colour"),
        (lambda f: f.occluded.CopyFrom(wire.pack_bits(np.ones(5, bool))), "occluded"),
        (lambda f: setattr(f.intrinsics, "width", 5000), "out of range"),
    ):
        with pytest.raises(InputError, match=match):
            wire.decode_mesh_frame(mutated(fn))
    args = (mesh.depth, mesh.colors, mesh.occluded, mesh.intrinsics, mesh.far_depth)
    with pytest.raises(InputError, match="occluded"):
        wire.encode_mesh_frame(*args[:2], mesh.occluded[:-1], *args[3:], mesh.vertices[-1])
    with pytest.raises(InputError, match="colors"):
        wire.encode_mesh_frame(args[0], mesh.colors[:-2], *args[2:], mesh.vertices[-1])
    with pytest.raises(InputError, match="intrinsics"):
        wire.encode_mesh_frame(*args[:3], mesh.intrinsics.scaled(24, 20), 1.0, mesh.vertices[-1])


def test_msgpack_mesh_round_trips_and_refuses_garbage():
    mesh = _synthetic_mesh(20, 12)
    arrays = (mesh.vertices, mesh.faces, mesh.colors, mesh.occluded)
    data = wire.encode_mesh_msgpack(*arrays, mesh.intrinsics, mesh.far_depth)
    m = msgpack.unpackb(data)  # the documented layout, read without the decoder
    assert m["format"] == "ex4d-dwmesh" and m["num_faces"] == len(mesh.faces)
    assert np.array_equal(np.frombuffer(m["vertices"], "<f4").reshape(-1, 3), mesh.vertices)
    back = wire.decode_mesh_msgpack(data)
    for name in ("vertices", "faces", "colors", "occluded"):
        assert np.array_equal(back[name], getattr(mesh, name)), name
    assert back["intrinsics"] == mesh.intrinsics and back["far_depth"] == mesh.far_depth
    m["faces"] = m["faces"][:-4]
    for junk in (b"", b"\xc1", msgpack.packb({"format": "nope"}), msgpack.packb(m)):
        with pytest.raises(InputError):
            wire.decode_mesh_msgpack(junk)
    with pytest.raises(InputError):
        wire.encode_mesh_msgpack(*arrays[:3], mesh.occluded[:-1], mesh.intrinsics, 1.0)


def test_scene_bundles_round_trip_and_check_sizes_first():
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (2, 6, 8, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, (2, 6, 8)).astype(np.float32)
    manifest = {"name": "b", "fps": 12.0}
    data = wire.encode_bundle(manifest, frames, depth)
    m, f, d = wire.decode_bundle(data, max_array_bytes=10_000)
    assert m == manifest and np.array_equal(f, frames) and np.array_equal(d, depth)
    assert d.dtype == np.float32 and f.flags.writeable
    with pytest.raises(wire.BundleLimitError):
        wire.decode_bundle(data, max_array_bytes=100)
    b = msgpack.unpackb(data)
    bad_shape = dict(b, frames=dict(b["frames"], shape=[2, 6, 8]))
    lying = dict(b, depth=dict(b["depth"], shape=[2, 6, 9]))
    for junk, match in (
        (b"", "not a scene bundle"),
        (msgpack.packb({"format": "nope"}), "not a scene bundle"),
        (msgpack.packb(dict(b, version=9)), "version"),
        (msgpack.packb(dict(b, manifest=[])), "manifest"),
        (msgpack.packb(bad_shape), "shape"),
        (msgpack.packb(lying), "bytes"),
    ):
        with pytest.raises(InputError, match=match):
            wire.decode_bundle(junk, max_array_bytes=10_000)


def completion_arrays(n_layers=2, pixels=12):
    return {
        "frame_index": np.arange(n_layers, dtype="<i4"),
        "pose": np.tile(np.eye(4), (n_layers, 1, 1)),
        "intrinsics": np.tile([40.0, 40, 32, 24, 64, 48], (n_layers, 1)),
        "region": np.tile(np.array([0, 0, 3, 2], "<i4"), (n_layers, 1)),
        "depth": np.linspace(1, 2, pixels, dtype="<f4"),
        "color": np.arange(pixels * 3, dtype="|u1").reshape(pixels, 3),
    }


def test_scene_bundles_carry_completions_and_old_bundles_still_load():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (2, 6, 8, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, (2, 6, 8)).astype(np.float32)
    gens = [
        BundleCompletions("orbit:30", completion_arrays(), {"generator": "x"}, 12.5),
        BundleCompletions("empty", {k: v[:0] for k, v in completion_arrays().items()}),
    ]
    data = wire.encode_bundle({"name": "b"}, frames, depth, gens)
    b = read_bundle(data, max_array_bytes=10_000)
    assert np.array_equal(b.frames, frames) and np.array_equal(b.depth, depth)
    assert [c.generation for c in b.completions] == ["orbit:30", "empty"]
    got = b.completions[0]
    assert got.meta == {"generator": "x"} and got.created_unix_s == 12.5
    for name, a in completion_arrays().items():
        assert np.array_equal(got.arrays[name], a) and got.arrays[name].dtype == a.dtype
    assert all(len(a) == 0 for a in b.completions[1].arrays.values())
    m, f, d = wire.decode_bundle(data, max_array_bytes=10_000)  # the old reader's view
    assert m == {"name": "b"} and np.array_equal(f, frames)
    old = wire.encode_bundle({"name": "b"}, frames, depth)  # as bundles were written before
    assert "completions" not in msgpack.unpackb(old) and read_bundle(old, 10_000).completions == []
    # The completions together count against the limit.
    many = [BundleCompletions(f"g{i}", completion_arrays(pixels=12)) for i in range(40)]
    with pytest.raises(wire.BundleLimitError):
        read_bundle(wire.encode_bundle({}, frames, depth, many), max_array_bytes=4_000)


def test_malformed_completions_in_a_bundle_are_refused():
    frames, depth = np.zeros((1, 2, 2, 3), np.uint8), np.ones((1, 2, 2), np.float32)
    data = wire.encode_bundle({}, frames, depth, [BundleCompletions("g", completion_arrays())])
    b = msgpack.unpackb(data)
    entry = b["completions"][0]
    arrays = entry["arrays"]
    for junk, match in (
        (dict(b, completions={}), "list"),
        (dict(b, completions=[1]), "generation of completion layers"),
        (dict(b, completions=[dict(entry, generation="")]), "generation id"),
        (dict(b, completions=[entry, entry]), "repeated"),
        (dict(b, completions=[dict(entry, meta=[])]), "meta"),
        (dict(b, completions=[dict(entry, created_unix_s="x")]), "created"),
        (dict(b, completions=[dict(entry, arrays=dict(arrays, pose=arrays["depth"]))]), "pose"),
        (dict(b, completions=[dict(entry, arrays={})]), "frame_index"),
    ):
        with pytest.raises(InputError, match=match):
            read_bundle(msgpack.packb(junk), max_array_bytes=10_000)
    with pytest.raises(InputError, match="exactly"):
        wire.encode_bundle({}, frames, depth, [BundleCompletions("g", {"depth": np.ones(2)})])
