"""The analytic scene against independently computed geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ex4d_bridge.camera.intrinsics import Intrinsics
from ex4d_bridge.errors import InputError
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.synthetic.scene import (
    BOBBING_SPHERE,
    FLOOR,
    FLOOR_Y,
    NO_HIT,
    ROLLING_SPHERE,
    WALL,
    WALL_Z,
)


def _pose(rotation: np.ndarray, position) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = position
    return pose


def _rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def _rot_x(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


@pytest.fixture(scope="module")
def scene() -> SyntheticScene:
    return SyntheticScene(width=64, height=48, num_frames=9)


def test_intrinsics_keep_the_reference_field_of_view():
    small = SyntheticScene(width=64, height=64, num_frames=2)
    big = SyntheticScene(width=512, height=512, num_frames=2)
    assert big.intrinsics.fx == pytest.approx(500.0)
    assert small.intrinsics.fx == pytest.approx(62.5)
    assert small.intrinsics.fov_x_deg == pytest.approx(big.intrinsics.fov_x_deg)
    assert (small.intrinsics.cx, small.intrinsics.cy) == (32.0, 32.0)


def test_wall_depth_at_the_image_centre_is_wall_z():
    scene = SyntheticScene(width=65, height=65, num_frames=3)  # odd: a pixel centre on the axis
    r = scene.render_view_full(0, np.eye(4))
    assert r.object_id[32, 32] == WALL
    assert r.depth[32, 32] == pytest.approx(WALL_Z, abs=1e-6)
    # Every wall pixel has the same z-depth from a camera facing the wall.
    np.testing.assert_allclose(r.depth[r.object_id == WALL], WALL_Z, atol=1e-6)


def test_floor_depth_matches_the_plane_intersection(scene):
    w, h = scene.width, scene.height
    f = 500.0 * w / 512.0  # the scene's documented focal length, computed here independently
    pose = _pose(_rot_y(12.0) @ _rot_x(-8.0), [0.2, -0.1, 0.3])
    r = scene.render_view_full(0, pose)
    rows, cols = np.nonzero(r.object_id == FLOOR)
    assert rows.size > 50
    # Independent: camera-frame ray through the pixel centre, into the world, meet y = FLOOR_Y.
    d_cam = np.stack([(cols + 0.5 - w / 2) / f, (rows + 0.5 - h / 2) / f, np.ones(rows.size)], 1)
    d_world = d_cam @ pose[:3, :3].T
    s = (FLOOR_Y - pose[1, 3]) / d_world[:, 1]
    hit = pose[:3, 3] + s[:, None] * d_world
    z_cam = ((hit - pose[:3, 3]) @ pose[:3, :3])[:, 2]
    np.testing.assert_allclose(r.depth[rows, cols], z_cam, rtol=1e-6)
    np.testing.assert_allclose(r.points[rows, cols], hit, atol=1e-9)
    # Identity pose, bottom row centre: z = FLOOR_Y / v.
    d0 = scene.render_view(0, np.eye(4))[1]
    v = (h - 0.5 - h / 2) / f
    assert d0[h - 1, w // 2] == pytest.approx(FLOOR_Y / v, rel=1e-6)


@pytest.mark.parametrize("which", [ROLLING_SPHERE, BOBBING_SPHERE])
@pytest.mark.parametrize("frame", [0, 1])
def test_sphere_depth_at_its_projected_centre(which, frame):
    scene = SyntheticScene(width=65, height=65, num_frames=3)
    sphere = next(s for s in scene.spheres(frame) if s.object_id == which)
    cx, cy, cz = sphere.centre
    # A camera on the line through the centre, so the centre projects onto the central pixel.
    r = scene.render_view_full(frame, _pose(np.eye(3), [cx, cy, 0.0]))
    assert r.object_id[32, 32] == which
    assert r.depth[32, 32] == pytest.approx(cz - sphere.radius, abs=1e-6)


def test_sphere_hits_lie_on_the_sphere_and_face_the_camera(scene):
    r = scene.render_view_full(4, np.eye(4))
    for sphere in scene.spheres(4):
        sel = r.object_id == sphere.object_id
        assert sel.sum() > 10
        p = r.points[sel]
        np.testing.assert_allclose(np.linalg.norm(p - sphere.centre, axis=1), sphere.radius)
        normals = p - sphere.centre
        assert np.all(np.einsum("ij,ij->i", normals, -p) > 0)  # camera at the origin


def test_depth_is_z_depth_not_ray_length(scene):
    pose = _pose(_rot_y(-15.0), [0.3, -0.2, 0.1])
    r = scene.render_view_full(1, pose)
    hit = np.isfinite(r.depth)
    p_cam = (r.points[hit] - pose[:3, 3]) @ pose[:3, :3]
    np.testing.assert_allclose(r.depth[hit], p_cam[:, 2], rtol=1e-6)
    ray_len = np.linalg.norm(p_cam, axis=1)
    off_axis = np.hypot(p_cam[:, 0], p_cam[:, 1]) > 0.05 * p_cam[:, 2]
    assert np.all(ray_len[off_axis] > r.depth[hit][off_axis] * (1 + 1e-4))


def test_rays_that_miss_give_inf(scene):
    # Looking straight up: nothing is above the camera.
    up = scene.render_view_full(0, _pose(_rot_x(90.0), [0, 0, 0]))
    assert np.all(np.isinf(up.depth)) and up.depth.dtype == np.float32
    assert np.all(up.object_id == NO_HIT)
    assert np.all(up.color == 0)
    assert np.all(np.isnan(up.points))
    # Looking backwards and down: the end of the floor, then nothing.
    back = scene.render_view_full(0, _pose(_rot_y(180.0) @ _rot_x(-40.0), [0, 0, 0]))
    assert np.all(back.object_id[-1] == FLOOR)
    assert np.all(np.isfinite(back.depth[-1]))
    assert np.all(np.isinf(back.depth[0]))
    assert np.array_equal(np.isinf(back.depth), back.object_id == NO_HIT)
    assert not np.any(np.isnan(back.depth))


def test_colour_is_view_independent(scene):
    frame = 3
    src = scene.render_view_full(frame, np.eye(4))
    rng = np.random.default_rng(0)
    pose_b = _pose(_rot_y(20.0) @ _rot_x(-6.0), [-0.5, -0.15, 0.25])
    checked = set()
    for oid in (WALL, FLOOR, ROLLING_SPHERE, BOBBING_SPHERE):
        rows, cols = np.nonzero(src.object_id == oid)
        for k in rng.choice(rows.size, size=min(4, rows.size), replace=False):
            i, j = rows[k], cols[k]
            x_world = src.points[i, j]
            # Project into view B and shift its principal point so the point lands exactly on
            # the centre of pixel (ib, jb): the render there samples the same 3D point.
            p_cam = (x_world - pose_b[:3, 3]) @ pose_b[:3, :3]
            assert p_cam[2] > 0
            f = scene.intrinsics.fx
            ib, jb = scene.height // 2, scene.width // 2
            k_b = Intrinsics(
                f,
                f,
                jb + 0.5 - f * p_cam[0] / p_cam[2],
                ib + 0.5 - f * p_cam[1] / p_cam[2],
                scene.width,
                scene.height,
            )
            view = scene.render_view_full(frame, pose_b, k_b)
            if view.object_id[ib, jb] != oid:  # occluded from view B
                continue
            np.testing.assert_allclose(view.points[ib, jb], x_world, atol=1e-6)
            diff = np.abs(view.color[ib, jb].astype(int) - src.color[i, j].astype(int))
            assert diff.max() <= 1, (oid, diff)
            checked.add(oid)
    assert {WALL, FLOOR, ROLLING_SPHERE} <= checked


def test_frames_and_depths_shapes_and_caching(scene):
    frames, depths = scene.frames(), scene.depths()
    assert frames.shape == (9, 48, 64, 3) and frames.dtype == np.uint8
    assert depths.shape == (9, 48, 64) and depths.dtype == np.float32
    assert scene.frames() is frames and scene.depths() is depths
    assert not frames.flags.writeable
    color, depth = scene.render_view(5, np.eye(4))
    np.testing.assert_array_equal(frames[5], color)
    np.testing.assert_array_equal(depths[5], depth)
    assert np.all(np.isfinite(depths))  # the source view always sees a surface
    assert frames.std() > 20  # textured, not flat
    assert scene.source_poses().shape == (9, 4, 4)


def test_motion_changes_frames_but_not_the_wall(scene):
    frames, depths = scene.frames(), scene.depths()
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 3
    assert np.any(depths[0] != depths[-1])
    # Static camera and static wall: pixels that see the wall in both frames keep their colour.
    ids0 = scene.render_view_full(0, np.eye(4)).object_id
    ids1 = scene.render_view_full(8, np.eye(4)).object_id
    both = (ids0 == WALL) & (ids1 == WALL)
    assert both.sum() > 100
    np.testing.assert_array_equal(frames[0][both], frames[-1][both])


def test_min_depth_of_frame_zero():
    scene = SyntheticScene(width=128, height=128, num_frames=49)
    d = scene.min_depth(0)
    assert 1.7 <= d <= 2.0
    assert d == pytest.approx(float(scene.render_view(0, np.eye(4))[1].min()))


def test_bad_input_raises_input_error(scene):
    with pytest.raises(InputError, match="4x4"):
        scene.render_view(0, np.eye(3))
    with pytest.raises(InputError, match="out of range"):
        scene.render_view(9, np.eye(4))
    with pytest.raises(InputError, match="NaN"):
        scene.render_view(0, np.full((4, 4), np.nan))
    with pytest.raises(InputError, match="orthonormal"):
        scene.render_view(0, np.diag([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(InputError):
        SyntheticScene(width=0)
    with pytest.raises(InputError):
        SyntheticScene(num_frames=0)
