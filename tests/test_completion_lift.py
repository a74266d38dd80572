"""Lifting generated frames into completion layers, against analytic ground truth.

The main case is a plane behind a box: a background plane (fronto-parallel at z = 4, or
tilted) and a near square patch at z = 2 in front of it, ray-cast here analytically at any
pose. The scene is reconstructed from the source view's exact depth (``KnownDepth``); a
camera moved sideways sees a disocclusion beside the patch (and, past the source frustum,
plane the source never saw). The "generated" frame is the true view at that pose, so every
lifted depth can be checked against the truth. The synthetic scene (wall, floor, two spheres)
gives one end-to-end check at an orbit pose.

Tolerances: ``propagate`` must put the revealed plane within 0.1% (relative depth) of the
truth, fronto-parallel or tilted (it fits planes in disparity, which are exact for planes;
measured error ~1e-7); ``known`` reproduces the truth exactly; ``aligned`` recovers it within
0.1% from a depth model that is off by any scale + shift in disparity.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ex4d_bridge.camera import Intrinsics, Trajectory, look_at, reference_orbit
from ex4d_bridge.depth import DepthEstimator, KnownDepth
from ex4d_bridge.errors import Cancelled, InputError
from ex4d_bridge.geometry import GENERATION_RENDER, RenderOptions, render, render_triangles
from ex4d_bridge.scene import Scene, reconstruct, render_trajectory
from ex4d_bridge.scene.completion.depth_fill import detect_planes, plane_fill, propagate_depth
from ex4d_bridge.scene.completion.layers import layer_mesh
from ex4d_bridge.scene.completion.lift import (
    DEPTH_FILLS,
    LiftOptions,
    lift_frame,
    lift_generation,
)
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.synthetic.scene import FLOOR, WALL

K = Intrinsics(80.0, 80.0, 48.0, 48.0, 96, 96)
TORCH = RenderOptions(backend="torch")
FACE = RenderOptions(backend="torch", mask_style="face")
REFERENCE = RenderOptions(backend="torch", mask_style="reference")
PLANE_Z, BOX_Z, BOX_HALF = 4.0, 2.0, 0.35


# -- the analytic plane-behind-a-box scene -------------------------------------------------


def cast(pose: np.ndarray, k: Intrinsics = K, tilt: float = 0.0):
    """True (colour, z-depth, box) at ``pose``: the plane -tilt * x + z = 4 behind the square
    |x|, |y| < 0.35 at z = 2. Colours are a function of the surface point only."""
    ys, xs = np.mgrid[0 : k.height, 0 : k.width]
    rays = np.stack([(xs + 0.5 - k.cx) / k.fx, (ys + 0.5 - k.cy) / k.fy, np.ones(xs.shape)], -1)
    d = rays @ pose[:3, :3].T  # the ray parameter is the camera z-depth (rays have z = 1)
    o = pose[:3, 3]
    n = np.array([-tilt, 0.0, 1.0])
    t_plane = (PLANE_Z - n @ o) / (d @ n)
    t_box = (BOX_Z - o[2]) / d[..., 2]
    p = o + t_box[..., None] * d
    box = (np.abs(p[..., 0]) < BOX_HALF) & (np.abs(p[..., 1]) < BOX_HALF) & (t_box > 0)
    t = np.where(box, t_box, t_plane)
    pts = o + t[..., None] * d
    check = (np.floor(pts[..., 0] * 8) + np.floor(pts[..., 1] * 8)) % 2
    color = np.stack([90 + 100 * check, 70 + 120 * box, 200 - 90 * check], -1).astype(np.uint8)
    return color, t.astype(np.float32), box


def box_scene(tilt: float = 0.0) -> Scene:
    color, depth, _ = cast(np.eye(4), tilt=tilt)
    return reconstruct(color[None], KnownDepth(depth[None]), intrinsics=K, progress=False)


def sideways(dx: float = 0.5, dy: float = 0.0) -> np.ndarray:
    """The source camera moved by (dx, dy), still looking straight ahead."""
    eye = np.array([dx, dy, 0.0])
    return look_at(eye, eye + np.array([0.0, 0.0, 1.0]))


def generate(scene: Scene, pose: np.ndarray, tilt: float = 0.0):
    """What a perfect generator returns at ``pose``: the true view, and the generation mask."""
    mask = render(scene.mesh(0), pose, K, REFERENCE).mask
    color, depth, box = cast(pose, tilt=tilt)
    return color, mask, depth, box


def full_depth(layer, k: Intrinsics = K) -> np.ndarray:
    x0, y0, x1, y1 = layer.region
    out = np.full((k.height, k.width), np.inf, np.float32)
    out[y0:y1, x0:x1] = layer.depth
    return out


def revealed(scene: Scene, pose: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The hole: generated pixels where the source DW-Mesh shows no visible face."""
    return ~mask & ~render(scene.mesh(0), pose, K, FACE).mask


def rel_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float64) - b) / b


# -- propagate: the revealed plane lands on the plane, never on the box ----------------------


@pytest.mark.parametrize("tilt", [0.0, 0.6])
@pytest.mark.parametrize("move", [(0.5, 0.0), (-0.5, 0.0), (0.0, 0.4), (0.3, -0.3)])
def test_propagate_puts_the_revealed_plane_on_the_plane(tilt, move):
    scene = box_scene(tilt)
    pose = sideways(*move)
    color, mask, truth, box = generate(scene, pose, tilt)
    layer = lift_frame(scene, 0, pose, K, color, mask, "side", LiftOptions(render=TORCH))
    got = full_depth(layer)
    hole = revealed(scene, pose, mask)
    assert hole.sum() > 300  # a real disocclusion plus the plane beyond the source frustum
    assert np.isfinite(got[hole]).all()
    on_plane = hole & ~box
    assert rel_error(got[on_plane], truth[on_plane]).max() < 1e-3
    # The DW-Mesh ends its box at the last box pixel's centre, half a pixel short of the
    # true edge, so a one-pixel fringe of the hole truly shows the box. It is filled from the
    # background side like the rest: no hole pixel takes the box's depth.
    assert (hole & box).sum() < 0.1 * hole.sum()
    plane_nearest = truth[~box].min()
    assert got[hole].min() > 0.99 * plane_nearest > 1.2 * BOX_Z


def test_the_disocclusion_beside_the_box_is_filled_from_the_far_side():
    # Only the disocclusion (inside the source frustum): between the box's edge (the near side
    # of the depth edge, at z = 2) and the plane (z = 4). Interpolating the whole boundary ring
    # would pull these pixels halfway towards the box.
    scene = box_scene()
    pose = sideways(0.5)
    color, mask, truth, box = generate(scene, pose)
    got = full_depth(lift_frame(scene, 0, pose, K, color, mask, "g", LiftOptions(render=TORCH)))
    hole = revealed(scene, pose, mask)
    cols = np.flatnonzero(hole[48])
    beside = hole.copy()
    beside[:, : cols.min()] = False
    beside[:, 80:] = False  # keep the disocclusion, not the strip past the frustum
    assert beside.sum() > 100
    np.testing.assert_allclose(got[beside], PLANE_Z, rtol=1e-4)


def test_a_lifted_layer_renders_the_truth_from_other_poses():
    # World coordinates end to end: the layer's mesh, seen from a third camera, lies on the
    # tilted plane wherever it shows.
    tilt = 0.6
    scene = box_scene(tilt)
    pose = sideways(0.5)
    color, mask, _, _ = generate(scene, pose, tilt)
    layer = lift_frame(scene, 0, pose, K, color, mask, "g", LiftOptions(render=TORCH))
    m = layer_mesh(layer)
    other = look_at(np.array([0.3, 0.1, 0.2]), np.array([0.0, 0.0, 4.0]))
    out = render_triangles(m.vertices, m.faces, m.colors, other, K, TORCH)
    _, truth, box = cast(other, tilt=tilt)
    shown = out.mask & ~box
    assert shown.sum() > 300
    assert rel_error(out.depth[shown], truth[shown]).max() < 1e-3


# -- the layer's pixels: generated region + margin, cropped ----------------------------------


@pytest.mark.parametrize("margin", [0, 2, 5])
def test_layer_pixels_are_the_generated_region_dilated_by_the_margin(margin):
    scene = box_scene()
    pose = sideways(0.5)
    color, mask, _, _ = generate(scene, pose)
    opts = LiftOptions(margin=margin, render=TORCH)
    layer = lift_frame(scene, 0, pose, K, color, mask, "g", opts)
    ys, xs = np.mgrid[0:96, 0:96]
    expected = np.zeros_like(mask)
    for y, x in zip(*np.nonzero(~mask), strict=True):
        near = (np.abs(ys - y) <= margin) & (np.abs(xs - x) <= margin)
        expected |= near
    got = np.isfinite(full_depth(layer))
    np.testing.assert_array_equal(got, expected)
    # Cropped to the box of its pixels.
    ey, ex = np.nonzero(expected)
    assert layer.region == (ex.min(), ey.min(), ex.max() + 1, ey.max() + 1)
    # Known pixels (the margin, and pixels the reference-shaped mask left out beside visible
    # faces) carry the source render's depth exactly, so the seam meets the source surface;
    # the colour is the generated frame's.
    face = render(scene.mesh(0), pose, K, FACE)
    known = got & face.mask
    np.testing.assert_array_equal(full_depth(layer)[known], face.depth[known])
    x0, y0, x1, y1 = layer.region
    crop = got[y0:y1, x0:x1]
    np.testing.assert_array_equal(layer.color[crop], color[y0:y1, x0:x1][crop])
    assert (layer.color[~crop] == 0).all()
    assert layer.frame_index == 0 and layer.generation == "g" and layer.intrinsics == K
    np.testing.assert_array_equal(layer.pose, pose)


def test_covered_pixels_are_left_out_and_nothing_left_gives_none():
    scene = box_scene()
    pose = sideways(0.5)
    color, mask, _, _ = generate(scene, pose)
    opts = LiftOptions(margin=0, render=TORCH)
    covered = np.zeros_like(mask)
    covered[:, 60:] = True
    layer = lift_frame(scene, 0, pose, K, color, mask, "g", opts, covered=covered)
    got = np.isfinite(full_depth(layer))
    np.testing.assert_array_equal(got, ~mask & ~covered)
    assert lift_frame(scene, 0, pose, K, color, mask, "g", opts, covered=~mask) is None
    # With a margin, the margin may reach into covered pixels (seams between layers close),
    # but no hole pixel of its own is covered.
    wide = lift_frame(
        scene, 0, pose, K, color, mask, "g", LiftOptions(render=TORCH), covered=covered
    )
    assert np.isfinite(full_depth(wide))[:, 63:].sum() == 0


def test_the_source_pose_lifts_nothing():
    scene = box_scene()
    color = scene.frames[0]
    assert lift_frame(scene, 0, np.eye(4), K, color, np.ones((96, 96), bool), "g") is None


# -- known and aligned ---------------------------------------------------------------------


def test_known_depth_is_reproduced():
    tilt = 0.6
    scene = box_scene(tilt)
    pose = sideways(0.0, 0.4)
    color, mask, truth, _ = generate(scene, pose, tilt)
    calls = []

    def known(t, c2w, k):
        calls.append((t, c2w.copy(), k))
        return cast(c2w, k, tilt)[1]

    opts = LiftOptions(depth_fill="known", known_depth=known, render=TORCH)
    got = full_depth(lift_frame(scene, 0, pose, K, color, mask, "g", opts))
    hole = revealed(scene, pose, mask)
    np.testing.assert_array_equal(got[hole], truth[hole])
    assert len(calls) == 1 and calls[0][0] == 0 and calls[0][2] == K
    np.testing.assert_array_equal(calls[0][1], pose)


class AffineDisparityModel(DepthEstimator):
    """A relative depth model: the truth's disparity under an unknown scale and shift."""

    def __init__(self, truth: np.ndarray, scale: float, shift: float):
        self.truth, self.scale, self.shift = truth, scale, shift
        self.calls = 0

    @property
    def name(self) -> str:
        return "affine-disparity"

    def estimate(self, frames, *, progress=True):
        self.calls += 1
        assert frames.ndim == 4 and len(frames) == 1 and frames.dtype == np.uint8
        return (1.0 / (self.scale / self.truth + self.shift))[None].astype(np.float32)


@pytest.mark.parametrize(("scale", "shift"), [(1.0, 0.0), (3.7, 0.05), (0.2, 0.4)])
def test_aligned_recovers_the_truth_from_an_affine_disparity(scale, shift):
    tilt = 0.6
    scene = box_scene(tilt)
    pose = sideways(0.5)
    color, mask, truth, _ = generate(scene, pose, tilt)
    model = AffineDisparityModel(truth, scale, shift)
    opts = LiftOptions(depth_fill="aligned", depth_model=model, render=TORCH)
    got = full_depth(lift_frame(scene, 0, pose, K, color, mask, "g", opts))
    hole = revealed(scene, pose, mask)
    assert model.calls == 1
    # Box pixels included: the model sees the box where it truly is.
    assert rel_error(got[hole], truth[hole]).max() < 1e-3


def test_aligned_is_robust_to_a_minority_of_wrong_pixels():
    tilt = 0.6
    scene = box_scene(tilt)
    pose = sideways(0.5)
    color, mask, truth, _ = generate(scene, pose, tilt)
    rng = np.random.default_rng(0)
    wrong = rng.random(truth.shape) < 0.1  # the model gets a tenth of the pixels wrong
    bad = np.where(wrong, truth * rng.uniform(0.5, 2.0, truth.shape), truth)
    opts = LiftOptions(
        depth_fill="aligned", depth_model=AffineDisparityModel(bad, 2.0, 0.1), render=TORCH
    )
    got = full_depth(lift_frame(scene, 0, pose, K, color, mask, "g", opts))
    hole = revealed(scene, pose, mask) & ~wrong
    assert rel_error(got[hole], truth[hole]).max() < 1e-3


# -- the numerics ----------------------------------------------------------------------------


def test_plane_fill_is_exact_on_a_plane_from_one_side_only():
    h, w = 60, 80
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    plane = 0.002 * uu - 0.0015 * vv + 0.3
    seeds = np.zeros((h, w), bool)
    seeds[:, :6] = True  # a band on the left: everything else is extrapolation
    got = plane_fill(plane, seeds)
    np.testing.assert_allclose(got, plane, rtol=1e-5)


def test_detect_planes_separates_a_wall_from_a_floor():
    h, w = 80, 80
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    wall = 0.25 + 0.001 * uu
    floor = 0.01 * (vv - 20)
    disp = np.maximum(wall, floor)  # the floor is nearer below the crease
    seeds = np.zeros((h, w), bool)
    seeds[:, :8] = seeds[:, -8:] = True
    planes, labels = detect_planes(disp, seeds)
    assert len(planes) == 2
    for a, b, c in planes:
        value = a * (uu - w / 2) + b * (vv - h / 2) + c
        assert np.allclose(value, wall, rtol=1e-6) or np.allclose(value, floor, rtol=1e-6)
    assert (labels[seeds] >= 0).mean() > 0.95 and (labels[~seeds] == -1).all()


def test_a_hole_enclosed_by_foreground_takes_the_far_side_of_its_edges():
    # Every known pixel around the hole is the near side of an edge: nothing to seed from, so
    # the hole takes the far vertices of the edge faces it sees, never the foreground depth.
    h, w = 40, 40
    depth = np.full((h, w), 2.0, np.float32)
    target = np.zeros((h, w), bool)
    target[10:30, 10:30] = True
    known = ~target
    near = np.where(target, 2.0, np.nan)
    far = np.where(target, 5.0, np.nan)
    got = propagate_depth(depth, known, target, near, far, band=4, far_depth=100.0)
    np.testing.assert_allclose(got[target], 5.0, rtol=1e-6)
    assert np.isinf(got[~target]).all()
    # No evidence and nothing known at all: the DW-Mesh's far depth (a backdrop).
    nothing = np.full((h, w), np.nan)
    alone = propagate_depth(
        np.full((h, w), np.inf, np.float32), np.zeros((h, w), bool), target, nothing, nothing
    )
    np.testing.assert_allclose(alone[target], 100.0, rtol=1e-6)


# -- the synthetic scene, end to end -----------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticScene(width=128, height=128, num_frames=3)


@pytest.fixture(scope="module")
def synthetic_scene(synthetic):
    return reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        progress=False,
    )


def test_synthetic_revealed_wall_and_floor_land_where_they_are(synthetic, synthetic_scene):
    scene, k = synthetic_scene, synthetic.intrinsics
    path = reference_orbit(scene.min_depth(0), 30.0, 3)
    pose = path.poses[2]
    mask = render(scene.mesh(2), pose, k, REFERENCE).mask
    truth = synthetic.render_view_full(2, pose, k)
    layer = lift_frame(scene, 2, pose, k, truth.color, mask, "orbit:30", LiftOptions(render=TORCH))
    got = full_depth(layer, k)
    hole = ~mask & ~render(scene.mesh(2), pose, k, FACE).mask
    background = hole & np.isin(truth.object_id, [WALL, FLOOR])
    assert background.sum() > 0.15 * hole.size  # disocclusions + the room past the frustum
    err = rel_error(got[background], truth.depth[background])
    # Measured: mean ~2e-4, 99th percentile ~1e-4; the rest are pixels right at the wall/floor
    # crease and on the spheres' silhouettes.
    assert err.mean() < 0.01 and np.median(err) < 1e-3
    assert (err > 0.05).mean() < 0.01
    known = LiftOptions(
        depth_fill="known",
        known_depth=lambda t, c2w, kk: synthetic.render_view(t, c2w, kk)[1],
        render=TORCH,
    )
    exact = full_depth(lift_frame(scene, 2, pose, k, truth.color, mask, "g", known), k)
    np.testing.assert_array_equal(exact[background], truth.depth[background])


# -- a whole generation ------------------------------------------------------------------------


def box_path() -> Trajectory:
    return Trajectory(np.stack([np.eye(4), sideways(0.25), sideways(0.5)]), name="side")


def box_video(scene: Scene, path: Trajectory):
    r = render_trajectory(scene, path, GENERATION_RENDER, progress=False)
    colors = np.stack([cast(p)[0] for p in path.poses])
    return colors, r.masks


def test_lift_generation_makes_one_layer_per_pose_with_anything_to_lift():
    scene = box_scene()
    path = box_path()
    colors, masks = box_video(scene, path)
    seen, asked = [], []

    def covered(t, c2w, k):
        asked.append((t, k))
        return np.zeros((k.height, k.width), bool)

    layers = lift_generation(
        scene,
        path,
        np.zeros(3, np.int64),
        colors,
        masks,
        "side",
        LiftOptions(render=TORCH),
        covered=covered,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(layers) == 2  # the source pose has a full mask
    assert seen == [(1, 3), (2, 3), (3, 3)] and asked == [(0, K)] * 3
    for layer, pose in zip(layers, path.poses[1:], strict=True):
        np.testing.assert_array_equal(layer.pose, pose)
        assert layer.generation == "side" and layer.frame_index == 0
    single = lift_frame(
        scene, 0, path.poses[2], K, colors[2], masks[2], "side", LiftOptions(render=TORCH)
    )
    np.testing.assert_array_equal(layers[1].depth, single.depth)


def test_lift_generation_can_be_cancelled():
    scene = box_scene()
    path = box_path()
    colors, masks = box_video(scene, path)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        lift_generation(scene, path, np.zeros(3, np.int64), colors, masks, "g", cancel=stop)


# -- bad input ---------------------------------------------------------------------------------


def test_bad_options_are_refused():
    with pytest.raises(InputError, match="depth fill"):
        LiftOptions(depth_fill="guess")
    with pytest.raises(InputError, match="depth_model"):
        LiftOptions(depth_fill="aligned")
    with pytest.raises(InputError, match="known_depth"):
        LiftOptions(depth_fill="known")
    with pytest.raises(InputError, match="margin"):
        LiftOptions(margin=-1)
    with pytest.raises(InputError, match="depth_model must be a DepthEstimator"):
        LiftOptions(depth_model="dpt")
    with pytest.raises(InputError, match="band"):
        LiftOptions(band=0)
    with pytest.raises(InputError, match="edge_ratio"):
        LiftOptions(edge_ratio=1.0)
    assert DEPTH_FILLS == ("propagate", "aligned", "known")


def test_bad_frames_are_refused():
    scene = box_scene()
    pose = sideways(0.5)
    color, mask, _, _ = generate(scene, pose)
    with pytest.raises(InputError, match="generated frame"):
        lift_frame(scene, 0, pose, K, color[:50], mask, "g")
    with pytest.raises(InputError, match="generated frame"):
        lift_frame(scene, 0, pose, K, color.astype(np.float32), mask, "g")
    with pytest.raises(InputError, match="mask"):
        lift_frame(scene, 0, pose, K, color, mask.astype(np.uint8), "g")
    with pytest.raises(InputError, match="covered"):
        lift_frame(scene, 0, pose, K, color, mask, "g", covered=mask[:10])
    with pytest.raises(InputError, match="frame index"):
        lift_frame(scene, 1, pose, K, color, mask, "g")
    with pytest.raises(InputError, match="pose"):
        lift_frame(scene, 0, pose[:3], K, color, mask, "g")
    with pytest.raises(InputError, match="generation"):
        lift_frame(scene, 0, pose, K, color, mask, "")
    bad_known = LiftOptions(depth_fill="known", known_depth=lambda t, c2w, k: np.ones((3, 3)))
    with pytest.raises(InputError, match="known_depth returned"):
        lift_frame(scene, 0, pose, K, color, mask, "g", bad_known)
    small = AffineDisparityModel(np.ones((48, 48), np.float32), 1.0, 0.0)
    aligned = LiftOptions(depth_fill="aligned", depth_model=small)
    with pytest.raises(InputError, match="depth model 'affine-disparity' returned"):
        lift_frame(scene, 0, pose, K, color, mask, "g", aligned)


def test_a_generation_that_does_not_match_its_path_is_refused():
    scene = box_scene()
    path = box_path()
    colors, masks = box_video(scene, path)
    idx = np.zeros(3, np.int64)
    with pytest.raises(InputError, match="2 frames but its path 'side' has 3 poses"):
        lift_generation(scene, path, idx, colors[:2], masks[:2], "g")
    with pytest.raises(InputError, match="96x48 but its path renders at 96x96"):
        lift_generation(scene, path, idx, colors[:, :48], masks[:, :48], "g")
    with pytest.raises(InputError, match="masks"):
        lift_generation(scene, path, idx, colors, masks[:2], "g")
    with pytest.raises(InputError, match="masks"):
        lift_generation(scene, path, idx, colors, masks.astype(np.uint8), "g")
    with pytest.raises(InputError, match="2 frame indices for a path of 3 poses"):
        lift_generation(scene, path, idx[:2], colors, masks, "g")
    with pytest.raises(InputError, match="frame indices must lie in"):
        lift_generation(scene, path, idx + 1, colors, masks, "g")
    other_lens = Trajectory(path.poses, Intrinsics(80.0, 80.0, 32.0, 32.0, 64, 64), "side")
    with pytest.raises(InputError, match="renders at 64x64"):
        lift_generation(scene, other_lens, idx, colors, masks, "g")
    with pytest.raises(InputError, match="covered"):
        lift_generation(scene, path, idx, colors, masks, "g", covered=np.zeros((96, 96), bool))
