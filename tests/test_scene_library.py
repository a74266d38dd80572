"""The scene stage's one path from inputs to a Scene, and its one loop over frames.

Ground truth is the analytic synthetic scene (known depth) and per-frame renders made directly
with ``geometry.render``, independently of the loop."""

import threading

import numpy as np
import pytest

from ex4d_bridge.camera import Intrinsics, Trajectory, reference_orbit
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.errors import Cancelled, InputError
from ex4d_bridge.geometry import DWMeshOptions, RenderOptions, render
from ex4d_bridge.scene import (
    DepthSpec,
    Scene,
    frame_schedule,
    iter_trajectory_frames,
    reconstruct,
    render_trajectory,
    resolve_intrinsics,
    save_walkthrough,
)
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import read_video, write_video

FACE = RenderOptions(backend="torch", mask_style="face")


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticScene(width=64, height=48, num_frames=5)


@pytest.fixture(scope="module")
def scene(synthetic):
    return reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        progress=False,
    )


# -- inputs -> Scene -------------------------------------------------------------------------


def test_reconstruct_from_a_video_file_and_provided_depth(synthetic, tmp_path):
    video = write_video(tmp_path / "clip.mp4", synthetic.frames(), synthetic.fps)
    np.save(tmp_path / "depth.npy", synthetic.depths() * 2.0)
    spec = DepthSpec(provided=tmp_path / "depth.npy", scale=0.5)
    scene = reconstruct(video, spec, focal_px=40.0, progress=False)
    assert scene.num_frames == 5 and (scene.width, scene.height) == (64, 48)
    np.testing.assert_allclose(scene.depth, synthetic.depths(), rtol=1e-6)
    assert scene.intrinsics == Intrinsics(40.0, 40.0, 32.0, 24.0, 64, 48)
    assert scene.fps == pytest.approx(synthetic.fps)


def test_a_depth_path_is_recognised_by_its_content(synthetic, tmp_path):
    np.save(tmp_path / "d.npy", synthetic.depths())
    scene = reconstruct(synthetic.frames(), tmp_path / "d.npy", progress=False)
    np.testing.assert_allclose(scene.depth, synthetic.depths())


def test_camera_resolution_order_and_conflicts():
    k = Intrinsics(100.0, 100.0, 64.0, 48.0, 128, 96)
    assert resolve_intrinsics(64, 48, intrinsics=k) == k.scaled(64, 48)
    assert resolve_intrinsics(64, 48).fx == 500.0  # the reference camera
    fov = resolve_intrinsics(64, 48, fov_x_deg=90.0)
    assert fov.fx == pytest.approx(32.0)
    with pytest.raises(InputError, match="at most one"):
        resolve_intrinsics(64, 48, focal_px=10.0, fov_x_deg=60.0)
    with pytest.raises(InputError, match="focal length"):
        resolve_intrinsics(64, 48, focal_px=-1.0)


def test_depth_spec_needs_exactly_one_source():
    with pytest.raises(InputError, match="exactly one"):
        DepthSpec()
    with pytest.raises(InputError, match="exactly one"):
        DepthSpec(model="m", provided="d.npy")
    with pytest.raises(InputError, match="kind"):
        DepthSpec(provided="d.npy", kind="metres")


def test_unusable_frame_zero_depth_fails_before_a_scene_exists(synthetic):
    depth = synthetic.depths().copy()
    depth[0] = np.inf  # no surface anywhere in frame 0
    with pytest.raises(InputError, match="frame 0 has no valid depth"):
        reconstruct(synthetic.frames(), KnownDepth(depth), progress=False)


def test_a_corrupt_video_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(InputError):
        reconstruct(bad, KnownDepth(np.ones((1, 16, 16), np.float32)), progress=False)


def test_mesh_options_travel_with_the_scene(synthetic, tmp_path):
    opts = DWMeshOptions(min_angle_deg=5.0)
    scene = reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        mesh_options=opts,
        progress=False,
    )
    back = Scene.load(scene.save(tmp_path / "s"))
    assert back.mesh_options == opts
    default = reconstruct(synthetic.frames(), KnownDepth(synthetic.depths()), progress=False)
    # More faces count as thin at 5 degrees than at the reference's 2.5.
    assert back.mesh(0).occluded.sum() > default.mesh(0).occluded.sum()


def test_mesh_options_from_untrusted_dicts():
    assert DWMeshOptions().to_dict() == {}  # default scenes keep their content ids
    assert DWMeshOptions.from_dict({"border_depth": 50.0}).border_depth == 50.0
    with pytest.raises(InputError, match="unknown mesh options"):
        DWMeshOptions.from_dict({"border_depth": 50.0, "__class__": 1})
    with pytest.raises(InputError, match="min_angle_deg"):
        DWMeshOptions.from_dict({"min_angle_deg": 90})
    with pytest.raises(InputError, match="mapping"):
        DWMeshOptions.from_dict([1, 2])


# -- the loop over frames --------------------------------------------------------------------


def test_the_loop_renders_each_pose_with_its_frame(scene):
    traj = reference_orbit(scene.min_depth(), 30.0, 3, scene.intrinsics)
    frames = np.array([4, 0, 2])
    out = render_trajectory(scene, traj, FACE, frame_indices=frames, progress=False)
    np.testing.assert_array_equal(out.frame_indices, frames)
    for i, t in enumerate(frames):
        if i == 0:  # the source camera: the source frame itself, fully valid
            np.testing.assert_array_equal(out.colors[0], scene.frames[4])
            assert out.masks[0].all()
            continue
        truth = render(scene.mesh(int(t)), traj.poses[i], scene.intrinsics, FACE)
        np.testing.assert_array_equal(out.colors[i], truth.color)
        np.testing.assert_array_equal(out.masks[i], truth.mask)


def test_default_frame_schedule_spreads_poses_over_frames():
    np.testing.assert_array_equal(frame_schedule(5, 5), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(frame_schedule(3, 9), [0, 4, 8])
    np.testing.assert_array_equal(frame_schedule(1, 9), [0])
    assert frame_schedule(0, 9).shape == (0,)


def test_progress_hook_sees_every_frame(scene):
    traj = reference_orbit(scene.min_depth(), 20.0, 4, scene.intrinsics)
    seen = []
    render_trajectory(scene, traj, FACE, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cancel_stops_before_the_next_frame(scene):
    traj = reference_orbit(scene.min_depth(), 20.0, 5, scene.intrinsics)
    cancel = threading.Event()
    built = []

    def meshes(t):
        built.append(t)
        if len(built) == 2:
            cancel.set()
        return scene.mesh(t)

    with pytest.raises(Cancelled, match="after 3 of 5"):
        render_trajectory(scene, traj, FACE, meshes=meshes, progress=False, cancel=cancel)
    assert len(built) == 2  # pose 0 is the source camera: no mesh needed
    with pytest.raises(Cancelled):
        list(iter_trajectory_frames(scene, traj, FACE, progress=False, cancel=lambda: True))


def test_frame_indices_are_checked(scene):
    traj = reference_orbit(scene.min_depth(), 20.0, 2, scene.intrinsics)
    with pytest.raises(InputError, match="2 poses"):
        render_trajectory(scene, traj, FACE, frame_indices=[0], progress=False)
    with pytest.raises(InputError, match="0..4"):
        render_trajectory(scene, traj, FACE, frame_indices=[0, 5], progress=False)


def test_walkthrough_files(scene, tmp_path):
    poses = np.repeat(np.eye(4)[None], 3, 0)
    poses[:, 0, 3] = [0.0, 0.02, 0.04]
    traj = Trajectory(poses, scene.intrinsics, "walk")
    result = render_trajectory(scene, traj, FACE, progress=False)
    paths = save_walkthrough(result, tmp_path, 12.0, coordinate_system="unity")
    clip = read_video(paths["video"])
    assert clip.frames.shape == (3, 48, 64, 3) and clip.fps == pytest.approx(12.0)
    assert '"coordinate_system": "unity"' in paths["poses"].read_text()
    assert not list(tmp_path.glob(".render-*"))  # staging removed
