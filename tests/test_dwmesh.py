import math

import numpy as np
import pytest
import torch
import trimesh

from ex4d_bridge.camera.intrinsics import Intrinsics
from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import DWMeshOptions, build_dw_mesh, export_mesh, grid_topology


def smooth_depth(h=24, w=32):
    ys, xs = np.mgrid[0:h, 0:w]
    return (3.0 + 0.3 * np.sin(xs / 5.0) + 0.2 * np.cos(ys / 4.0)).astype(np.float32)


def colors(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_vertices_are_unprojected_pixel_centres():
    d = smooth_depth()
    k = Intrinsics(400.0, 420.0, 15.0, 13.0, 32, 24)
    m = build_dw_mesh(d, colors(24, 32), k)
    assert m.vertices.dtype == np.float32 and m.faces.dtype == np.int32
    assert m.colors.dtype == np.uint8 and m.occluded.dtype == bool
    i, j = 5, 7  # an interior pixel
    x = np.linalg.inv(k.matrix()) @ np.array([j + 0.5, i + 0.5, 1.0]) * d[i, j]
    np.testing.assert_allclose(m.vertices[i * 32 + j], x, rtol=1e-6)
    # Border pixels are pushed to the far depth along their rays.
    assert m.vertices[0, 2] == pytest.approx(100.0)
    assert len(m.vertices) == 24 * 32 + 1
    assert len(m.faces) == 2 * 23 * 31 + 2 * (24 + 32) - 4
    np.testing.assert_array_equal(m.colors[: 24 * 32], colors(24, 32).reshape(-1, 3))


BAD_VALUES = {
    "nan": np.nan,
    "inf": np.inf,
    "-inf": -np.inf,
    "zero": 0.0,
    "negative": -2.0,
    "spike": 1e6,
}


@pytest.mark.parametrize("shape", [(2, 2), (2, 7), (3, 2), (5, 5), (24, 32)])
@pytest.mark.parametrize("kind", ["smooth", "constant", "random", *BAD_VALUES])
def test_watertight_and_consistent_for_every_depth_map(shape, kind):
    h, w = shape
    rng = np.random.default_rng(1)
    if kind == "random":
        d = rng.uniform(0.5, 20.0, shape).astype(np.float32)
    elif kind == "constant":
        d = np.full(shape, 2.0, np.float32)
    else:
        d = smooth_depth(48, 48)[:h, :w].copy()
        if kind in BAD_VALUES:
            d[rng.random(shape) < 0.3] = BAD_VALUES[kind]
            d[h // 2, w // 2] = BAD_VALUES[kind]
    m = build_dw_mesh(d, colors(h, w))
    assert np.isfinite(m.vertices).all()
    tm = m.to_trimesh()
    assert tm.is_watertight
    assert tm.is_winding_consistent
    assert len(tm.vertices) == h * w + 1  # trimesh did not merge or drop anything


def test_smaller_than_2x2_is_a_clear_error():
    with pytest.raises(InputError, match="at least 2x2"):
        build_dw_mesh(np.ones((1, 5), np.float32), None)
    with pytest.raises(InputError, match=r"\(H, W\)"):
        build_dw_mesh(np.ones((2, 3, 4), np.float32), None)


def test_mismatched_inputs_are_clear_errors():
    d = smooth_depth()
    with pytest.raises(InputError, match="color"):
        build_dw_mesh(d, np.zeros((24, 31, 3), np.uint8))
    with pytest.raises(InputError, match="intrinsics"):
        build_dw_mesh(d, None, Intrinsics.reference(64, 64))
    with pytest.raises(InputError, match="focal"):
        Intrinsics(0.0, 1.0, 1.0, 1.0, 4, 4)


def test_min_angle_rule_matches_trimesh_face_angles():
    rng = np.random.default_rng(3)
    d = (2.0 + rng.normal(0, 0.02, (30, 40))).astype(np.float32)
    d[10:20, 10:20] += 1.5  # a step: faces across it become slivers
    k = Intrinsics.from_fov(40, 30, fov_x_deg=60)
    m = build_dw_mesh(d, None, k)
    angles = m.to_trimesh().face_angles  # independent computation
    n = m.num_grid_faces
    border = np.zeros((30, 40), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    on_border = border.reshape(-1)[m.faces[:n]].all(1)
    assert on_border.sum() == 2  # the split leaves one such face at two image corners
    expected = (angles[:n].min(1) < math.radians(2.5)) | on_border
    np.testing.assert_array_equal(m.occluded[:n], expected)
    assert m.occluded[n:].all()  # cap faces
    # The step's faces are occluded; faces well inside flat regions are not.
    topo_first = m.occluded[: n // 2].reshape(29, 39)
    assert topo_first[9:11, 12:18].any()
    assert not topo_first[3:7, 25:35].any()


def test_extent_rule_when_enabled():
    d = smooth_depth()
    d[8:16, 8:16] = 6.0
    k = Intrinsics.from_fov(32, 24, fov_x_deg=60)
    m = build_dw_mesh(d, None, k, DWMeshOptions(max_extent_ratio=0.013))
    v = m.vertices[: 24 * 32].reshape(24, 32, 3).astype(np.float64)
    z_range = v[..., 2].max() - v[..., 2].min()
    faces = m.faces[: m.num_grid_faces]
    p = m.vertices[faces].astype(np.float64)
    ext = np.max(np.abs(p[:, [1, 2, 0]] - p), axis=(1, 2))
    ang = m.to_trimesh().face_angles[: m.num_grid_faces].min(1) < math.radians(2.5)
    border = np.zeros((24, 32), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    on_border = border.reshape(-1)[faces].all(1)
    np.testing.assert_array_equal(
        m.occluded[: m.num_grid_faces], ang | (ext > 0.013 * z_range) | on_border
    )


def test_invalid_pixels_occlude_their_faces_and_sit_far():
    d = smooth_depth()
    d[10, 10] = np.nan
    m = build_dw_mesh(d, None)
    assert m.vertices[10 * 32 + 10, 2] == pytest.approx(m.far_depth)
    faces = m.faces[: m.num_grid_faces]
    touching = (faces == 10 * 32 + 10).any(1)
    assert m.occluded[: m.num_grid_faces][touching].all()


def test_far_depth_follows_scenes_beyond_the_reference_border():
    d = smooth_depth() * 100.0  # up to ~350 units
    m = build_dw_mesh(d, None)
    assert m.far_depth == pytest.approx(2 * float(d[1:-1, 1:-1].max()), rel=0.05)
    assert m.to_trimesh().is_watertight


def test_torch_in_torch_out_and_same_result():
    d = smooth_depth()
    c = colors(24, 32)
    a = build_dw_mesh(d, c)
    b = build_dw_mesh(torch.from_numpy(d), torch.from_numpy(c))
    assert isinstance(b.vertices, torch.Tensor)
    np.testing.assert_array_equal(a.vertices, b.vertices.numpy())
    np.testing.assert_array_equal(a.occluded, b.occluded.numpy())


def test_topology_is_built_once_per_resolution():
    assert grid_topology(24, 32) is grid_topology(24, 32)
    m1, m2 = build_dw_mesh(smooth_depth(), None), build_dw_mesh(smooth_depth() + 1, None)
    assert m1.faces is m2.faces or np.shares_memory(m1.faces, m2.faces)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_build_matches_cpu():
    d = smooth_depth()
    cpu = build_dw_mesh(torch.from_numpy(d), None)
    gpu = build_dw_mesh(torch.from_numpy(d).cuda(), None)
    torch.testing.assert_close(gpu.vertices.cpu(), cpu.vertices)
    assert torch.equal(gpu.occluded.cpu(), cpu.occluded)


def test_export_glb_and_ply_keep_occluded_faces_apart(tmp_path):
    d = smooth_depth()
    d[8:16, 8:16] = 6.0
    m = build_dw_mesh(d, colors(24, 32))
    scene = trimesh.load(export_mesh(m, tmp_path / "m.glb"))
    counts = {name: len(g.faces) for name, g in scene.geometry.items()}
    assert counts == {"visible": int((~m.occluded).sum()), "occluded": int(m.occluded.sum())}
    ply = trimesh.load(export_mesh(m, tmp_path / "m.ply"), process=False)
    np.testing.assert_array_equal(ply.faces, m.faces)
    np.testing.assert_allclose(ply.vertices, m.vertices)
    raw = ply.metadata["_ply_raw"]["face"]["data"]["occluded"]
    np.testing.assert_array_equal(raw.astype(bool), m.occluded)
    with pytest.raises(InputError, match=".obj"):
        export_mesh(m, tmp_path / "m.obj")


@pytest.mark.parametrize("bad", [-5.0, 0.0, float("nan"), float("inf")])
def test_invalid_border_depth_is_refused(bad):
    with pytest.raises(InputError, match="border depth"):
        build_dw_mesh(smooth_depth(), None, DWMeshOptions(border_depth=bad))


def test_numpy_faces_are_the_shared_topology_and_read_only():
    m = build_dw_mesh(smooth_depth(), None)
    assert not m.faces.flags.writeable
    with pytest.raises(ValueError):
        m.faces[0, 0] = 5
    assert m.tensors()["faces"] is grid_topology(24, 32).faces
