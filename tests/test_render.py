import numpy as np
import pytest
import torch
from raycast import raycast

from ex4d_bridge.camera import Intrinsics, look_at
from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import (
    DWMeshOptions,
    RenderOptions,
    build_dw_mesh,
    raster_numba,
    raster_nvdiffrast,
    render,
)

H, W = 24, 32
# The CPU backends: every test that takes one runs on both (the compiled one needs numba).
CPU_BACKENDS = [
    "torch",
    pytest.param(
        "cpu", marks=pytest.mark.skipif(not raster_numba.available(), reason="needs numba")
    ),
]
K = Intrinsics.from_fov(W, H, fov_x_deg=60)


def scene_depth():
    ys, xs = np.mgrid[0:H, 0:W]
    d = 3.0 + 0.3 * np.sin(xs / 5.0) + 0.2 * np.cos(ys / 4.0)
    d[8:16, 10:20] = 1.8  # a box in front: depth discontinuities and occluded faces
    return d.astype(np.float32)


def scene_colors():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def yaw_pose(deg, t=(0.0, 0.0, 0.0)):
    a = np.radians(deg)
    pose = np.eye(4)
    pose[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    pose[:3, 3] = t
    return pose


NOVEL_POSES = {
    "orbit-ish": look_at((0.8, -0.2, 0.4), (0.0, 0.0, 2.8)),
    "yaw": yaw_pose(-15, (0.3, 0.1, 0.2)),
    # Between the sheet and the source camera, looking sideways: triangles cross the near plane.
    "inside-sideways": yaw_pose(60, (-0.3, 0.0, 1.5)),
    "far-above": look_at((0.0, -2.0, -1.0), (0.0, 0.0, 3.0)),
}


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", list(NOVEL_POSES))
def test_matches_an_independent_raycast(name, backend):
    mesh = build_dw_mesh(scene_depth(), scene_colors(), K)
    pose = NOVEL_POSES[name]
    k = Intrinsics.from_fov(40, 30, fov_x_deg=70)
    out = render(mesh, pose, k, RenderOptions(backend=backend))
    ref_depth, ref_face = raycast(mesh.vertices, mesh.faces, pose, k)
    both = (out.face_id >= 0) & (ref_face >= 0)
    coverage_agrees = ((out.face_id >= 0) == (ref_face >= 0)).mean()
    assert coverage_agrees >= 0.995
    same = out.face_id == ref_face
    assert same[both].mean() >= 0.995
    rel = np.abs(out.depth[both & same] - ref_depth[both & same]) / ref_depth[both & same]
    assert rel.max() <= 1e-4
    assert np.isinf(out.depth[out.face_id < 0]).all()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_source_view_reproduces_input_depth_and_colour(backend):
    d, c = scene_depth(), scene_colors()
    mesh = build_dw_mesh(d, c, K)
    out = render(mesh, np.eye(4), options=RenderOptions(backend=backend))
    inner = np.s_[1:-1, 1:-1]
    np.testing.assert_allclose(out.depth[inner], d[inner], rtol=1e-5)
    # Every interior pixel shows a face touching its own vertex; where that face is visible the
    # colour is the pixel's colour exactly.
    seen = out.mask[inner]
    assert seen.mean() > 0.85
    np.testing.assert_array_equal(out.color[inner][seen], c[inner][seen])
    assert (out.color[~out.mask] == 0).all()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_novel_view_of_a_plane_matches_analytic_intersection(backend):
    # A tilted plane n . X = 3: its DW-Mesh is exact, so any view of it is exact too.
    n = np.array([0.2, -0.1, 1.0])
    rays = K.pixel_rays()
    d = (3.0 / (rays @ n)).astype(np.float32)
    mesh = build_dw_mesh(d, None, K)
    pose = look_at((0.5, -0.3, 0.2), (0.0, 0.0, 3.0))
    k = Intrinsics.from_fov(48, 36, fov_x_deg=30)
    out = render(mesh, pose, k, RenderOptions(backend=backend))
    r = k.pixel_rays().reshape(-1, 3) @ pose[:3, :3].T
    t = (3.0 - n @ pose[:3, 3]) / (r @ n)  # z-depth, since the camera rays have z = 1
    truth = t.reshape(k.height, k.width)
    assert out.mask.mean() > 0.5
    rel = np.abs(out.depth[out.mask] - truth[out.mask]) / truth[out.mask]
    assert rel.max() <= 1e-4


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_reference_mask_loses_a_pixel_beside_occluded_regions(backend):
    mesh = build_dw_mesh(scene_depth(), scene_colors(), K)
    pose = NOVEL_POSES["orbit-ish"]
    face = render(mesh, pose, options=RenderOptions(backend=backend, mask_style="face"))
    ref = render(mesh, pose, options=RenderOptions(backend=backend, mask_style="reference"))
    assert not (ref.mask & ~face.mask).any()  # the reference mask is a subset
    assert (face.mask & ~ref.mask).sum() > 0
    assert (ref.color[~ref.mask] == 0).all()
    np.testing.assert_array_equal(ref.depth, face.depth)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_looking_away_sees_nothing_and_inside_the_closure_sees_the_cap(backend):
    mesh = build_dw_mesh(scene_depth(), None, K)
    opts = RenderOptions(backend=backend)
    back = render(mesh, yaw_pose(180), options=opts)
    assert (back.face_id == -1).all() and np.isinf(back.depth).all()
    # Behind the sheet, inside the closed mesh: every pixel hits a surface, none visible.
    inside = render(mesh, np.eye(4) @ yaw_pose(0, (0.0, 0.0, 50.0)), options=opts)
    assert (inside.face_id >= 0).all()
    assert not inside.mask.any()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_torch_mesh_gives_torch_results(backend):
    mesh = build_dw_mesh(torch.from_numpy(scene_depth()), torch.from_numpy(scene_colors()), K)
    opts = RenderOptions(backend=backend)
    out = render(mesh, torch.eye(4, dtype=torch.float64), options=opts)
    assert isinstance(out.depth, torch.Tensor) and out.depth.dtype == torch.float32
    assert out.face_id.dtype == torch.int64 and out.color.dtype == torch.uint8
    assert out.mask.dtype == torch.bool
    np_out = render(mesh.numpy(), np.eye(4), options=opts)
    assert isinstance(np_out.depth, np.ndarray) and np_out.face_id.dtype == np.int64
    np.testing.assert_array_equal(out.face_id.numpy(), np_out.face_id)


def test_bad_poses_and_options_are_clear_errors():
    mesh = build_dw_mesh(scene_depth(), None, K)
    with pytest.raises(InputError, match="4x4"):
        render(mesh, np.eye(3))
    bad = np.eye(4)
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        render(mesh, bad)
    with pytest.raises(InputError, match="rotation"):
        render(mesh, np.diag([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(InputError, match="backend"):
        render(mesh, np.eye(4), options=RenderOptions(backend="opengl"))
    with pytest.raises(InputError, match="mask_style"):
        render(mesh, np.eye(4), options=RenderOptions(mask_style="soft"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_backend_on_cuda_matches_cpu():
    mesh = build_dw_mesh(torch.from_numpy(scene_depth()), torch.from_numpy(scene_colors()), K)
    pose = NOVEL_POSES["orbit-ish"]
    cpu = render(mesh, pose, options=RenderOptions(backend="torch"))
    gpu = render(mesh, pose, options=RenderOptions(backend="torch", device="cuda"))
    assert (gpu.face_id.cpu() == cpu.face_id).float().mean() >= 0.995


@pytest.mark.skipif(not raster_nvdiffrast.available(), reason="needs nvdiffrast and a CUDA GPU")
@pytest.mark.parametrize("name", list(NOVEL_POSES))
def test_nvdiffrast_backend_agrees_with_torch_backend(name):
    d = torch.from_numpy(scene_depth()).cuda()
    mesh = build_dw_mesh(d, torch.from_numpy(scene_colors()).cuda(), K)
    pose = NOVEL_POSES[name]
    a = render(mesh, pose, options=RenderOptions(backend="torch"))
    b = render(mesh, pose, options=RenderOptions(backend="nvdiffrast"))
    same = a.face_id == b.face_id
    assert same.float().mean() >= 0.995
    both = same & (a.face_id >= 0)
    assert ((a.depth[both] - b.depth[both]).abs() / b.depth[both]).max() <= 1e-4


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_near_plane_clipping_pose_really_clips(backend):
    # Guard for the pose above: some faces straddle its camera plane and some pixels are hit.
    mesh = build_dw_mesh(scene_depth(), None, K)
    pose = NOVEL_POSES["inside-sideways"]
    cam_z = (mesh.vertices - pose[:3, 3]) @ pose[:3, :3][:, 2]
    z = cam_z[mesh.faces]
    assert ((z.min(1) < 0) & (z.max(1) > 0)).any()
    assert (render(mesh, pose, options=RenderOptions(backend=backend)).face_id >= 0).mean() > 0.2


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", list(NOVEL_POSES))
def test_skipping_the_cap_never_changes_the_image(name, backend, monkeypatch):
    import ex4d_bridge.geometry.rendering as render_module

    mesh = build_dw_mesh(scene_depth(), scene_colors(), K)
    pose = NOVEL_POSES[name]
    opts = RenderOptions(backend=backend)
    fast = render(mesh, pose, options=opts)
    monkeypatch.setattr(render_module, "cap_may_be_visible", lambda *_: True)
    full = render(mesh, pose, options=opts)
    np.testing.assert_array_equal(fast.face_id, full.face_id)
    np.testing.assert_array_equal(fast.color, full.color)


def test_cap_visibility_rule():
    from ex4d_bridge.geometry.rendering import cap_may_be_visible

    mesh = build_dw_mesh(scene_depth(), None, K)
    assert not cap_may_be_visible(mesh, np.eye(4))  # the source camera, in front of the sheet
    assert cap_may_be_visible(mesh, yaw_pose(0, (0.0, 0.0, 50.0)))  # behind the sheet
    assert cap_may_be_visible(mesh, yaw_pose(0, (0.0, 0.0, 500.0)))  # beyond the cap
    assert not cap_may_be_visible(mesh, yaw_pose(0, (0.0, 0.0, -1.0)))  # behind the source
    assert not cap_may_be_visible(mesh, yaw_pose(0, (100.0, 0.0, 10.0)))  # outside the frustum


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_camera_moving_into_the_scene_matches_the_raycast(backend):
    # Dolly poses put the near plane inside the geometry: clipped vertices project far off
    # screen, where a float32 set-up would lose the few pixels that remain on screen.
    k = Intrinsics.reference(48, 36, focal=47.0)
    rng = np.random.default_rng(1)
    d = (3.0 + 0.01 * rng.random((36, 48))).astype(np.float32)
    d[12:24, 15:30] = 1.8
    mesh = build_dw_mesh(d, None, k)
    for z in (1.5, 1.79, 1.9, 2.3, 2.6):
        pose = np.eye(4)
        pose[:3, 3] = (0.0123, -0.0071, z)
        out = render(mesh, pose, k, RenderOptions(backend=backend))
        ref_depth, ref_face = raycast(mesh.vertices, mesh.faces, pose, k)
        assert ((out.face_id >= 0) == (ref_face >= 0)).mean() >= 0.995
        both = (out.face_id >= 0) & (ref_face >= 0) & (out.face_id == ref_face)
        assert both.sum() >= 0.99 * (ref_face >= 0).sum()
        rel = np.abs(out.depth[both] - ref_depth[both]) / ref_depth[both]
        assert rel.max() <= 1e-4


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cap_is_drawn_when_the_near_plane_cuts_the_sheet(backend):
    k = Intrinsics.reference(16, 12, focal=16.0)
    mesh = build_dw_mesh(np.full((12, 16), 3.0, np.float32), None, k)
    pose = np.eye(4)
    pose[2, 3] = 3.0 - 5e-4  # in front of the wall but nearer than the near plane (1e-3)
    out = render(mesh, pose, k, RenderOptions(backend=backend))
    # The wall is clipped away, so the camera sees the cap behind it (as it would with the cap
    # never skipped).
    assert (out.face_id >= mesh.num_grid_faces).mean() > 0.5


def test_poses_with_a_bad_bottom_row_are_refused():
    mesh = build_dw_mesh(scene_depth(), None, K)
    for row in ([0, 0, 0, 2], [1, 0, 0, 1], [0, 0, 0, 0]):
        pose = np.eye(4)
        pose[3] = row
        with pytest.raises(InputError, match="bottom row"):
            render(mesh, pose)


def _random_rotation(rng, max_deg):
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    a = np.radians(rng.uniform(-max_deg, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("seed", range(0, 240, 3))
def test_random_meshes_cameras_and_lenses_match_the_raycast(seed, backend):
    # Tiny meshes with discontinuities and holes, any rotation, cameras near and far,
    # off-centre and anisotropic lenses: every pixel must agree with the ray cast (the same
    # face, or an equally near one).
    rng = np.random.default_rng(seed)
    h, w = (int(x) for x in rng.integers(2, 14, 2))
    k_in = Intrinsics(
        rng.uniform(5, 40), rng.uniform(5, 40), rng.uniform(0, w), rng.uniform(0, h), w, h
    )
    d = rng.uniform(1, 4, (h, w)).astype(np.float32)
    if rng.random() < 0.5:
        d[rng.random((h, w)) < 0.3] = rng.uniform(0.3, 8)
    if rng.random() < 0.2:
        d[rng.random((h, w)) < 0.2] = np.nan
    mesh = build_dw_mesh(
        d, None, k_in, DWMeshOptions(border_depth=float(rng.choice([10.0, 100.0])))
    )
    pose = np.eye(4)
    pose[:3, :3] = _random_rotation(rng, 180)
    pose[:3, 3] = rng.normal(size=3) * rng.choice([0.3, 2, 20])
    h2, w2 = (int(x) for x in rng.integers(1, 12, 2))
    k_out = Intrinsics(
        rng.uniform(3, 30),
        rng.uniform(3, 30),
        rng.uniform(-2, w2 + 2),
        rng.uniform(-2, h2 + 2),
        w2,
        h2,
    )
    out = render(mesh, pose, k_out, RenderOptions(backend=backend))
    ref_depth, ref_face = raycast(mesh.vertices, mesh.faces, pose, k_out)
    np.testing.assert_array_equal(out.face_id >= 0, ref_face >= 0)
    hit = ref_face >= 0
    rel = np.abs(out.depth[hit] - ref_depth[hit]) / ref_depth[hit]
    assert rel.max(initial=0.0) <= 1e-4
