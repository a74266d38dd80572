"""The compiled CPU backend (numba) agrees with the torch backend: face ids, masks in both
styles, colour and depth, on the float32 path and on the float64 near-plane clipping path; and
gives the same bits for any number of threads and for renders running at once.

Against torch the two are separately built programs: on this machine they give the same bits,
but a BLAS that fuses multiply-adds elsewhere can move a vertex by an ulp and flip which of two
faces owns a pixel on their shared edge. So the comparison with torch allows a few such pixels
and float32 rounding in depth; comparisons of the compiled backend with itself stay exact."""

import threading

import numpy as np
import pytest
import torch
from test_render import NOVEL_POSES, K, _random_rotation, scene_colors, scene_depth

from ex4d_bridge.camera import Intrinsics, look_at
from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import (
    DWMeshOptions,
    RenderOptions,
    build_dw_mesh,
    raster_numba,
    render,
    render_triangles,
)
from ex4d_bridge.geometry import rendering as rendering_module
from ex4d_bridge.synthetic import SyntheticScene

pytestmark = pytest.mark.skipif(not raster_numba.available(), reason="needs numba")

TORCH = RenderOptions(backend="torch")
CPU = RenderOptions(backend="cpu")


def assert_same(a, b):
    """Exact: the same program on the same data."""
    for name in ("face_id", "mask", "color", "depth"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)


# Pixels whose face may flip on a shared edge between separately built programs (see above).
EDGE_FLIPS = 0.001
DEPTH_RTOL = 64 * float(np.finfo(np.float32).eps)


def assert_agrees_with_torch(a, b):
    for name in ("face_id", "mask", "color", "depth"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
    same = a.face_id == b.face_id
    assert (~same).mean() <= EDGE_FLIPS, f"{(~same).sum()} pixels on other faces"
    np.testing.assert_array_equal(a.mask[same], b.mask[same])
    assert np.abs(a.color[same].astype(int) - b.color[same].astype(int)).max(initial=0) <= 1
    hit = same & np.isfinite(a.depth)
    np.testing.assert_allclose(b.depth[hit], a.depth[hit], rtol=DEPTH_RTOL)
    assert np.isinf(b.depth[same & ~np.isfinite(a.depth)]).all()


def both(mesh, pose, k=None, mask_style="face"):
    a = render(mesh, pose, k, RenderOptions(backend="torch", mask_style=mask_style))
    b = render(mesh, pose, k, RenderOptions(backend="cpu", mask_style=mask_style))
    return a, b


@pytest.mark.parametrize("mask_style", ["face", "reference"])
@pytest.mark.parametrize("name", list(NOVEL_POSES))
def test_agrees_with_torch_on_the_test_scene(name, mask_style):
    mesh = build_dw_mesh(scene_depth(), scene_colors(), K)
    for k in (None, Intrinsics.from_fov(40, 30, fov_x_deg=70)):
        assert_agrees_with_torch(*both(mesh, NOVEL_POSES[name], k, mask_style))


def orbit(r, deg):
    a = np.radians(deg)
    eye = (r * np.sin(a), 0.2 * r * (abs(np.cos(a)) - 1), r - r * abs(np.cos(a)))
    return look_at(eye, (0.0, 0.0, r))


@pytest.mark.parametrize("deg", [0, 30, 90, -60])
def test_agrees_with_torch_along_a_reference_orbit(deg):
    scene = SyntheticScene(width=96, height=80, num_frames=1)
    mesh = build_dw_mesh(scene.depths()[0].copy(), scene.frames()[0].copy(), scene.intrinsics)
    pose = orbit(scene.min_depth() + 0.15, deg) if deg else np.eye(4)
    for mask_style in ("face", "reference"):
        a, b = both(mesh, pose, mask_style=mask_style)
        assert_agrees_with_torch(a, b)
        assert b.mask.any()


def test_agrees_with_torch_when_the_near_plane_cuts_the_scene():
    # The float64 path: vertices behind the near plane are clipped.
    k = Intrinsics.reference(48, 36, focal=47.0)
    rng = np.random.default_rng(1)
    d = (3.0 + 0.01 * rng.random((36, 48))).astype(np.float32)
    d[12:24, 15:30] = 1.8
    mesh = build_dw_mesh(d, rng.integers(0, 256, (36, 48, 3), dtype=np.uint8), k)
    for z in (1.5, 1.79, 1.9, 2.3, 2.6, 3.0 - 5e-4):
        pose = np.eye(4)
        pose[:3, 3] = (0.0123, -0.0071, z)
        for mask_style in ("face", "reference"):
            assert_agrees_with_torch(*both(mesh, pose, k, mask_style))


@pytest.mark.parametrize("seed", range(0, 120))
def test_agrees_with_torch_on_random_meshes_cameras_and_lenses(seed):
    rng = np.random.default_rng(1000 + seed)
    h, w = (int(x) for x in rng.integers(2, 14, 2))
    k_in = Intrinsics(
        rng.uniform(5, 40), rng.uniform(5, 40), rng.uniform(0, w), rng.uniform(0, h), w, h
    )
    d = rng.uniform(1, 4, (h, w)).astype(np.float32)
    if rng.random() < 0.5:
        d[rng.random((h, w)) < 0.3] = rng.uniform(0.3, 8)
    if rng.random() < 0.2:
        d[rng.random((h, w)) < 0.2] = np.nan
    colors = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    border = float(rng.choice([10.0, 100.0]))
    mesh = build_dw_mesh(d, colors, k_in, DWMeshOptions(border_depth=border))
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
    assert_agrees_with_torch(*both(mesh, pose, k_out, str(rng.choice(["face", "reference"]))))


def test_exact_depth_ties_go_to_the_lower_triangle_id():
    # A wall parallel to the image, drawn twice (the same triangles under two ids) and split
    # along diagonals through pixel centres: every tie resolves the same way on both backends.
    k = Intrinsics.reference(8, 8, focal=8.0)
    v = np.array([[-1, -1, 2], [1, -1, 2], [1, 1, 2], [-1, 1, 2]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3], [0, 1, 2], [2, 3, 0]], np.int32)
    c = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)
    a = render_triangles(v, f, c, np.eye(4), k, TORCH)
    b = render_triangles(v, f, c, np.eye(4), k, CPU)
    assert_agrees_with_torch(a, b)
    assert set(np.unique(b.face_id)) == {0, 1}  # the duplicates (2, 3) lose every tie


@pytest.mark.parametrize("seed", range(20))
def test_render_triangles_agrees_with_torch(seed):
    # Triangle soups in front of, around and behind the camera (clipped by the near plane).
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    v = rng.normal(size=(3 * n, 3)).astype(np.float32) * [1.0, 1.0, 1.5] + [0, 0, 2.0]
    f = np.arange(3 * n, dtype=np.int32).reshape(n, 3)
    c = rng.integers(0, 256, (3 * n, 3), dtype=np.uint8)
    k = Intrinsics(*rng.uniform(5, 20, 2), *rng.uniform(0, 16, 2), 16, 12)
    pose = np.eye(4)
    pose[:3, 3] = rng.normal(size=3) * 0.5
    assert_agrees_with_torch(
        render_triangles(v, f, c, pose, k, TORCH), render_triangles(v, f, c, pose, k, CPU)
    )


def test_render_triangles_keeps_torch_in_torch_out():
    v = torch.tensor([[-1, -1, 2], [1, -1, 2], [0, 1, 2]], dtype=torch.float32)
    f = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    c = torch.full((3, 3), 90, dtype=torch.uint8)
    out = render_triangles(v, f, c, np.eye(4), Intrinsics.reference(8, 6, focal=8.0), CPU)
    assert isinstance(out.color, torch.Tensor) and out.mask.any()
    assert (out.color[out.mask] == 90).all()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_number_of_threads_never_changes_the_image(threads, monkeypatch):
    scene = SyntheticScene(width=64, height=48, num_frames=1)
    mesh = build_dw_mesh(scene.depths()[0].copy(), scene.frames()[0].copy(), scene.intrinsics)
    pose = orbit(scene.min_depth() + 0.15, 45)
    near = np.eye(4)
    near[2, 3] = float(np.median(scene.depths()[0]))  # the float64 path
    monkeypatch.setattr(rendering_module.runtime, "compiled_render_threads", lambda: 1)
    serial = [render(mesh, p, options=CPU) for p in (pose, near)]
    monkeypatch.setattr(rendering_module.runtime, "compiled_render_threads", lambda: threads)
    for p, ref in zip((pose, near), serial, strict=True):
        assert_same(render(mesh, p, options=CPU), ref)


def test_renders_on_several_threads_at_once_agree():
    # One render at a time takes the parallel kernels; the others run alone meanwhile. Either
    # way each must equal the single-threaded result.
    scene = SyntheticScene(width=64, height=48, num_frames=1)
    mesh = build_dw_mesh(scene.depths()[0].copy(), scene.frames()[0].copy(), scene.intrinsics)
    poses = [orbit(scene.min_depth() + 0.15, deg) for deg in (0, 20, 40, 60)]
    expected = [render(mesh, p, options=CPU) for p in poses]  # one at a time
    errors = []

    def run(i):
        try:
            for _ in range(5):
                assert_same(render(mesh, poses[i], options=CPU), expected[i])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_auto_picks_the_compiled_backend_on_the_cpu_and_torch_without_numba(monkeypatch):
    choose = rendering_module.choose_backend
    assert choose("auto", torch.device("cpu")) == "cpu"
    assert choose("cpu", torch.device("cpu")) == "cpu"
    with pytest.raises(InputError, match="CPU"):
        choose("cpu", torch.device("cuda"))
    monkeypatch.setattr(raster_numba, "available", lambda: False)
    assert choose("auto", torch.device("cpu")) == "torch"
    with pytest.raises(InputError, match="numba"):
        choose("cpu", torch.device("cpu"))


def test_warm_up_compiles_every_variant():
    seconds = raster_numba.warm_up()
    assert seconds >= 0
    kernels = raster_numba._kernels()
    assert kernels.vertex_pass.signatures
    for name in (
        "raster_faces",
        "resolve_faces",
        "raster_precise",
        "resolve_precise",
    ):
        for suffix in ("", "_parallel"):
            assert getattr(kernels, name + suffix).signatures, name + suffix


def test_compiled_render_threads_follow_the_environment(monkeypatch):
    from ex4d_bridge import runtime

    for name in ("EX4D_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert runtime.compiled_render_threads() >= 1  # every core this process may use
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runtime.compiled_render_threads() == 3
    monkeypatch.setenv("EX4D_THREADS", "1")
    assert runtime.compiled_render_threads() == 1
    monkeypatch.setenv("EX4D_THREADS", "many")
    with pytest.raises(InputError, match="EX4D_THREADS"):
        runtime.compiled_render_threads()


def test_importing_the_library_leaves_numba_unloaded():
    # numba loads with the first compiled render (or warm_up), not with the package.
    import subprocess
    import sys

    code = "import sys, ex4d_bridge.geometry, ex4d_bridge.server.app; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
