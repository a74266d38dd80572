"""Rendering a completed scene: the source DW-Mesh and completion layers composited by depth.

Ground truth is analytic: the source is a fronto-parallel plane at z = 4 with a block of no
depth (its DW-Mesh shows only occluded faces there, so the source mask is False), and the layers
are fronto-parallel planes at chosen depths over chosen pixel boxes, generated at the source
camera, so at that camera each layer covers exactly its own pixels (vertices sit at pixel
centres; see test_completion_layers). Assertions skip a 2-pixel rim around each box, where the
source's own mask edge and the layer's edge are a matter of half pixels."""

import numpy as np
import pytest
import torch

from ex4d_bridge.camera import Intrinsics, Trajectory, look_at
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.errors import Cancelled, InputError
from ex4d_bridge.geometry import RenderOptions, raster_nvdiffrast, render, render_triangles
from ex4d_bridge.geometry.options import BACKENDS as BACKEND_NAMES
from ex4d_bridge.scene import Scene, reconstruct, render_trajectory
from ex4d_bridge.scene.completion import (
    CompletedScene,
    CompletionLayer,
    Completions,
    CompositeOptions,
    Provenance,
    render_completed_trajectory,
)
from ex4d_bridge.synthetic import SyntheticScene

K = Intrinsics(40.0, 40.0, 32.0, 24.0, 64, 48)
HOLE = (36, 16, 52, 32)  # x0, y0, x1, y1: the source block without depth
GREY = 100


def _compiled_cpu() -> bool:
    try:
        from ex4d_bridge.geometry import raster_numba
    except ImportError:
        return False
    return "cpu" in BACKEND_NAMES and raster_numba.available()


# "torch@cpu": the torch backend with meshes as torch tensors (device given), not numpy.
BACKENDS = (
    ["torch", "torch@cpu"]
    + (["cpu"] if _compiled_cpu() else [])
    + (["nvdiffrast"] if torch.cuda.is_available() and raster_nvdiffrast.available() else [])
)


def plane_scene(num_frames=8):
    depth = np.full((num_frames, 48, 64), 4.0, np.float32)
    x0, y0, x1, y1 = HOLE
    depth[:, y0:y1, x0:x1] = np.inf
    frames = np.full((num_frames, 48, 64, 3), GREY, np.uint8)
    return Scene(frames, depth, K, 10.0)


def layer(frame, box, depth, rgb, generation="g", pose=None):
    x0, y0, x1, y1 = box
    d = np.full((y1 - y0, x1 - x0), depth, np.float32)
    c = np.empty((*d.shape, 3), np.uint8)
    c[:] = rgb
    return CompletionLayer(frame, generation, np.eye(4) if pose is None else pose, K, box, d, c)


def inner(box, rim=2):
    x0, y0, x1, y1 = box
    return slice(y0 + rim, y1 - rim), slice(x0 + rim, x1 - rim)


def render_options(backend="torch"):
    backend, _, device = backend.partition("@")
    device = "cuda" if backend == "nvdiffrast" else (device or None)
    return RenderOptions(backend=backend, device=device)


def options(backend="torch", **kw):
    return CompositeOptions(render=render_options(backend), **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compositing_order_by_depth_with_the_source_winning_ties(backend):
    behind = layer(3, (4, 4, 14, 12), 6.0, (255, 0, 0))  # behind visible source: loses
    front = layer(3, (18, 4, 28, 12), 2.0, (0, 255, 0))  # nearer by 50%: wins
    tie = layer(3, (4, 28, 14, 40), 4.0 * (1 - 0.01), (0, 0, 255))  # 1% nearer: within 2%
    past = layer(3, (18, 28, 28, 40), 4.0 * (1 - 0.05), (255, 255, 0))  # 5% nearer: wins
    unseen = layer(3, HOLE, 9.0, (0, 255, 255))  # behind the plane, but the mask is False
    done = CompletedScene(
        plane_scene(), Completions([behind, front, tie, past, unseen]), options(backend)
    )
    out = done.render(3, np.eye(4))
    expect = {
        behind: (Provenance.SOURCE, (GREY,) * 3, 4.0),
        front: (Provenance.COMPLETION, (0, 255, 0), 2.0),
        tie: (Provenance.SOURCE, (GREY,) * 3, 4.0),
        past: (Provenance.COMPLETION, (255, 255, 0), 3.8),
        unseen: (Provenance.COMPLETION, (0, 255, 255), 9.0),
    }
    for la, (prov, rgb, z) in expect.items():
        ii = inner(la.region)
        assert (out.provenance[ii] == prov).all(), la.region
        assert (out.color[ii] == rgb).all(), la.region
        np.testing.assert_allclose(out.depth[ii], z, rtol=1e-5)
        assert not out.holes[ii].any()
    assert out.color.dtype == np.uint8 and out.provenance.dtype == np.uint8
    assert out.depth.dtype == np.float32 and out.holes.dtype == bool


def test_the_tolerance_is_an_option():
    tie = layer(3, (4, 28, 14, 40), 4.0 * (1 - 0.01), (0, 0, 255))
    strict = CompletedScene(plane_scene(), Completions([tie]), options(depth_tolerance=0.0))
    assert (
        strict.render(3, np.eye(4)).provenance[inner(tie.region)] == Provenance.COMPLETION
    ).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_window_rule_nearest_frame_first(backend):
    x0, y0, x1, y1 = HOLE
    left = (x0, y0, (x0 + x1) // 2, y1)
    right = ((x0 + x1) // 2, y0, x1, y1)
    red = layer(2, left, 6.0, (255, 0, 0))  # frame t-1: the left half
    green = layer(6, HOLE, 6.0, (0, 255, 0))  # frame t+3: all of it
    far = layer(0, (4, 4, 14, 12), 1.0, (0, 0, 255))  # a neighbour never covers the source
    completions = Completions([red, green, far])
    for window, right_prov, right_rgb in (
        (0, Provenance.HOLE, (0, 0, 0)),
        (2, Provenance.HOLE, (0, 0, 0)),
        (3, Provenance.NEARBY, (0, 255, 0)),
        (8, Provenance.NEARBY, (0, 255, 0)),
    ):
        done = CompletedScene(plane_scene(), completions, options(backend, window=window))
        out = done.render(3, np.eye(4))
        left_prov = Provenance.HOLE if window == 0 else Provenance.NEARBY
        left_rgb = (0, 0, 0) if window == 0 else (255, 0, 0)  # t-1 beats t+3 where both cover
        assert (out.provenance[inner(left)] == left_prov).all(), window
        assert (out.color[inner(left)] == left_rgb).all(), window
        assert (out.provenance[inner(right)] == right_prov).all(), window
        assert (out.color[inner(right)] == right_rgb).all(), window
        assert (out.holes[inner(right)] == (right_prov == Provenance.HOLE)).all()
        assert np.isinf(out.depth[out.holes]).all()
        assert (out.provenance[inner(far.region)] == Provenance.SOURCE).all()


def test_at_equal_distance_the_earlier_frame_wins_and_this_frame_beats_neighbours():
    x0, y0, x1, y1 = HOLE
    top = (x0, y0, x1, (y0 + y1) // 2)
    before = layer(2, HOLE, 6.0, (255, 0, 0))
    after = layer(4, HOLE, 6.0, (0, 255, 0))
    own = layer(3, top, 7.0, (0, 0, 255))
    out = CompletedScene(plane_scene(), Completions([after, before, own])).render(3, np.eye(4))
    assert (out.color[inner(top)] == (0, 0, 255)).all()
    assert (out.provenance[inner(top)] == Provenance.COMPLETION).all()
    bottom = (x0, (y0 + y1) // 2, x1, y1)
    assert (out.color[inner(bottom)] == (255, 0, 0)).all()
    assert (out.provenance[inner(bottom)] == Provenance.NEARBY).all()


def test_provenance_values_and_holes_are_consistent():
    out = CompletedScene(plane_scene(), Completions.empty()).render(0, np.eye(4))
    assert set(np.unique(out.provenance)) <= {Provenance.HOLE, Provenance.SOURCE}
    assert np.array_equal(out.holes, out.provenance == Provenance.HOLE)
    assert (out.color[out.holes] == 0).all() and np.isinf(out.depth[out.holes]).all()
    assert (out.provenance[inner(HOLE)] == Provenance.HOLE).all()
    assert [int(p) for p in Provenance] == [0, 1, 2, 3]


def test_a_moved_camera_matches_rendering_the_layer_alone():
    """The layer is rendered through a crop of the camera around its projected box: the result
    must be the full-frame render of the layer wherever the source shows nothing."""
    scene = plane_scene()
    la = layer(3, HOLE, 4.5, (255, 0, 255))
    done = CompletedScene(scene, Completions([la]))
    pose = look_at(np.array([0.3, -0.2, 0.2]), np.array([0.0, 0.0, 4.0]))
    out = done.render(3, pose)
    src = render(scene.mesh(3), pose, K, RenderOptions(backend="torch"))
    m = done.frame_mesh(3)
    alone = render_triangles(m.vertices, m.faces, m.colors, pose, K, RenderOptions(backend="torch"))
    expect = alone.mask & (~src.mask | (alone.depth < src.depth * 0.98))
    assert expect.sum() > 100
    got = out.provenance == Provenance.COMPLETION
    assert (got != expect).sum() <= 2  # float rounding of the cropped camera at edges
    both = got & expect
    assert (out.color[both] == alone.color[both]).all()
    np.testing.assert_allclose(out.depth[both], alone.depth[both], rtol=1e-5)


@pytest.fixture(scope="module")
def synthetic():
    s = SyntheticScene(64, 48, 6)
    return reconstruct(s.frames(), KnownDepth(s.depths()), intrinsics=s.intrinsics, progress=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_completions_renders_exactly_like_the_raw_render(synthetic, backend):
    opts = render_options(backend)
    pose = look_at(np.array([0.4, -0.1, 0.3]), np.array([0.0, 0.0, 3.0]))
    raw = render(synthetic.mesh(2, opts.device), pose, synthetic.intrinsics, opts)
    raw_color, raw_mask = (
        x.cpu().numpy() if isinstance(x, torch.Tensor) else x for x in (raw.color, raw.mask)
    )
    assert not raw_mask.all()  # there are disocclusions to leave alone
    far_away = Completions([layer(5, (4, 4, 14, 12), 2.0, (255, 0, 0))])  # outside the window
    for completions in (Completions.empty(), far_away):
        done = CompletedScene(synthetic, completions, CompositeOptions(render=opts, window=2))
        out = done.render(2, pose)
        assert np.array_equal(out.color, raw_color)
        assert np.array_equal(out.holes, ~raw_mask)


def test_a_completed_trajectory_without_completions_is_the_raw_trajectory(synthetic):
    poses = look_at(
        np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.1], [0.4, -0.1, 0.3]]), np.array([0.0, 0.0, 3.0])
    )
    poses[0] = np.eye(4)
    traj = Trajectory(poses, name="orbit:30")
    opts = RenderOptions(backend="torch")
    raw = render_trajectory(synthetic, traj, opts, progress=False)
    done = CompletedScene(synthetic, Completions.empty(), CompositeOptions(render=opts))
    seen = []
    out = render_completed_trajectory(done, traj, progress=lambda i, n: seen.append((i, n)))
    assert np.array_equal(out.colors, raw.colors) and np.array_equal(out.holes, ~raw.masks)
    assert np.array_equal(out.frame_indices, raw.frame_indices) and out.tag == "30"
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert (out.provenance[0] == Provenance.SOURCE).all()  # the source camera: the frame itself
    with pytest.raises(Cancelled):
        render_completed_trajectory(done, traj, progress=False, cancel=lambda: True)
    with pytest.raises(InputError, match="frame indices"):
        render_completed_trajectory(done, traj, frame_indices=[0, 1], progress=False)


def test_fused_frame_meshes_are_cached_and_bounded():
    layers = [layer(t, HOLE, 6.0, (t * 30, 0, 0)) for t in range(8)]
    done = CompletedScene(plane_scene(), Completions(layers), options(cache_frames=3, window=0))
    first = done.frame_mesh(0)
    assert done.frame_mesh(0) is first and first.num_faces > 0
    for t in range(1, 8):
        done.frame_mesh(t)
    assert len(done._fused) == 3 and done.frame_mesh(0) is not first
    assert done.frame_mesh(7).num_faces == first.num_faces


def test_bad_arguments_are_refused():
    scene = plane_scene(num_frames=2)
    with pytest.raises(InputError, match="frame 5"):
        CompletedScene(scene, Completions([layer(5, HOLE, 6.0, (1, 2, 3))]))
    done = CompletedScene(scene, Completions.empty())
    with pytest.raises(InputError, match="out of range"):
        done.render(2, np.eye(4))
    with pytest.raises(InputError):
        done.render(0, np.zeros((4, 4)))
    for bad in ({"window": -1}, {"depth_tolerance": 1.5}, {"cache_frames": 0}):
        with pytest.raises(InputError):
            CompositeOptions(**bad)


def test_a_frame_without_completions_nearby_costs_one_render(synthetic, monkeypatch):
    import ex4d_bridge.scene.completion.compose as compose

    calls = []
    for name in ("render", "render_triangles"):
        real = getattr(compose, name)
        monkeypatch.setattr(
            compose, name, lambda *a, _n=name, _r=real, **k: calls.append(_n) or _r(*a, **k)
        )
    far_away = Completions([layer(5, (0, 0, 64, 48), 2.0, (255, 0, 0))])
    done = CompletedScene(synthetic, far_away, options(window=1))
    pose = look_at(np.array([0.4, -0.1, 0.3]), np.array([0.0, 0.0, 3.0]))
    done.render(0, pose)
    assert calls == ["render"]
    calls.clear()
    done.render(4, pose)  # frame 5's layer is near and may fill holes
    assert calls == ["render", "render_triangles"]


def frame_by_frame(monkeypatch):
    """Fill from nearby frames the plain way: every face, one render per frame."""
    import ex4d_bridge.scene.completion.compose as compose

    monkeypatch.setattr(
        compose.CompletedScene, "_fill_from_nearby", compose.CompletedScene._fill_frame_by_frame
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fill", ["one pass", "a pass per frame", "frame by frame"])
def test_a_nearer_frame_wins_even_behind_a_farther_frames_surface(monkeypatch, fill, backend):
    """Nearest frame first, not nearest surface: t-1's layer lies behind t+2's and still fills
    the hole; the fill paths (one render with the frames scaled apart, culled renders in groups
    of frames, plain renders frame by frame) agree, depth included."""
    import ex4d_bridge.scene.completion.compose as compose

    if fill == "a pass per frame":
        monkeypatch.setattr(compose, "_MAX_SCALE", 1.0)
    elif fill == "frame by frame":
        frame_by_frame(monkeypatch)
    x0, y0, x1, y1 = HOLE
    top = (x0, y0, x1, (y0 + y1) // 2)
    behind = layer(2, top, 8.0, (255, 0, 0))  # t-1, far
    front = layer(5, HOLE, 5.0, (0, 255, 0))  # t+2, near, covering more
    done = CompletedScene(plane_scene(), Completions([front, behind]), options(backend))
    pose = look_at(np.array([0.1, 0.05, 0.0]), np.array([0.0, 0.0, 4.0]))
    out = done.render(3, pose)
    m_b, m_f = done.frame_mesh(2), done.frame_mesh(5)
    cpu = RenderOptions(backend="torch")
    alone_b = render_triangles(m_b.vertices, m_b.faces, m_b.colors, pose, K, cpu)
    alone_f = render_triangles(m_f.vertices, m_f.faces, m_f.colors, pose, K, cpu)
    src = render(plane_scene().mesh(3), pose, K, cpu)
    hole = ~src.mask
    from_b = hole & alone_b.mask
    from_f = hole & alone_f.mask & ~alone_b.mask
    assert from_b.sum() > 50 and from_f.sum() > 50
    assert (out.provenance[from_b] == Provenance.NEARBY).all()
    assert (out.color[from_b] == (255, 0, 0)).all()
    np.testing.assert_allclose(out.depth[from_b], alone_b.depth[from_b], rtol=1e-5)
    assert (out.color[from_f] == (0, 255, 0)).all()
    np.testing.assert_allclose(out.depth[from_f], alone_f.depth[from_f], rtol=1e-5)
    assert np.array_equal(out.holes, hole & ~alone_b.mask & ~alone_f.mask)


def test_both_fill_paths_agree_on_a_scene_with_real_disocclusions(synthetic, monkeypatch):
    """Layers of ground-truth pixels where the source shows nothing, from three poses per
    frame; at other poses the culled renders (this frame's layers against the source depth,
    nearby frames' against the holes, in one pass with the frames scaled apart) give the
    picture of the plain ones (every face, frame by frame)."""
    import ex4d_bridge.scene.completion.compose as compose

    truth = SyntheticScene(64, 48, 6)
    k = synthetic.intrinsics
    opts = RenderOptions(backend="torch")
    layers = []
    for t in range(6):
        for i, eye in enumerate(([0.5, 0.0, 0.2], [-0.5, 0.0, 0.2], [0.0, -0.4, 0.1])):
            pose = look_at(np.array(eye), np.array([0.0, 0.0, 3.0]))
            if t == 3 and i > 0:
                continue  # leave holes in frame 3 for its neighbours
            want = ~render(synthetic.mesh(t), pose, k, opts).mask
            color, depth = truth.render_view(t, pose)
            d = np.where(want & np.isfinite(depth), depth, np.inf).astype(np.float32)
            layers.append(CompletionLayer(t, f"g{i}", pose, k, (0, 0, 64, 48), d, color))
    done = CompletedScene(synthetic, Completions(layers), CompositeOptions(render=opts))
    poses = look_at(
        np.array([[0.4, 0.1, 0.3], [-0.4, -0.2, 0.2], [-0.2, -0.3, 0.0]]), np.array([0.0, 0.0, 3.0])
    )
    one = [done.render(3, p) for p in poses]
    # Frame by frame, and without the occlusion culling of this frame's layers.
    frame_by_frame(monkeypatch)
    monkeypatch.setattr(compose, "_faces_not_hidden", lambda m, *_: torch.arange(len(m["faces"])))
    slow = CompletedScene(synthetic, Completions(layers), CompositeOptions(render=opts))
    for p, a in zip(poses, one, strict=True):
        b = slow.render(3, p)
        assert np.array_equal(a.provenance, b.provenance) and np.array_equal(a.color, b.color)
        np.testing.assert_allclose(a.depth, b.depth, rtol=1e-5)
    for kind in (Provenance.COMPLETION, Provenance.NEARBY):
        assert sum((a.provenance == kind).sum() for a in one) > 50


def test_faces_crossing_the_near_plane_keep_their_frame_order(monkeypatch):
    """A camera close to the nearby layers, turned so that they pass beside and behind it:
    faces that cross the near plane are drawn apart from the one-pass render and still obey
    nearest frame first; the result is the frame-by-frame one."""
    import ex4d_bridge.scene.completion.compose as compose

    big = (0, 0, 64, 48)
    a = layer(2, big, 2.0, (255, 0, 0))  # t-1
    b = layer(4, big, 1.5, (0, 255, 0))  # t+1, nearer to the camera
    pose = look_at(np.array([0.0, 0.0, 1.2]), np.array([3.0, 0.0, 1.9]))
    seen = []
    real = compose._faces_over
    monkeypatch.setattr(compose, "_faces_over", lambda *x: seen.append(real(*x)) or seen[-1])
    out = CompletedScene(plane_scene(), Completions([a, b]), options()).render(3, pose)
    assert any(len(cross) for _, cross in seen) and any(len(front) for front, _ in seen)
    frame_by_frame(monkeypatch)
    monkeypatch.setattr(compose, "_faces_over", real)
    slow = CompletedScene(plane_scene(), Completions([a, b]), options()).render(3, pose)
    assert (out.provenance == Provenance.NEARBY).sum() > 100
    assert np.array_equal(out.provenance, slow.provenance)
    assert np.array_equal(out.color, slow.color)
    np.testing.assert_allclose(out.depth, slow.depth, rtol=1e-5)


def test_fusing_keeps_one_copy_of_a_surface_seen_by_two_generations():
    from ex4d_bridge.scene.completion import layer_mesh

    a = layer(3, (4, 4, 44, 40), 6.0, (255, 0, 0), "g1")
    pose_b = look_at(np.array([0.3, 0.0, 0.0]), np.array([0.3, 0.0, 6.0]))
    b = layer(3, (10, 4, 50, 40), 6.0, (0, 255, 0), "g2", pose=pose_b)  # the same plane
    done = CompletedScene(plane_scene(), Completions([a, b]))
    fused = done.frame_mesh(3)
    ma, mb = layer_mesh(a), layer_mesh(b)
    # b's camera is 2 pixels (0.3 at f = 40, z = 6) to the right: its last 8 columns are new.
    assert ma.num_faces == mb.num_faces and fused.num_faces < 1.35 * ma.num_faces
    assert set(np.unique(fused.face_layer)) == {0, 1}  # b keeps what a does not show
    view = look_at(np.array([-0.2, 0.1, 0.5]), np.array([0.2, 0.0, 6.0]))
    opts = RenderOptions(backend="torch")
    got = render_triangles(fused.vertices, fused.faces, fused.colors, view, K, opts).mask
    ra = render_triangles(ma.vertices, ma.faces, ma.colors, view, K, opts).mask
    rb = render_triangles(mb.vertices, mb.faces, mb.colors, view, K, opts).mask
    assert np.array_equal(got, ra | rb)  # no seam opened
