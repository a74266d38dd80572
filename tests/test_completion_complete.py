"""Coverage sets and ``complete_scene``: generate along paths, lift, fuse, store, resume.

Scenes are the analytic synthetic scene at a tiny size; the classical fallback and an oracle
(the true views) are the generators, and the EX-4D pipeline runs on the tiny preset."""

import threading

import numpy as np
import pytest

from ex4d_bridge.camera import Trajectory, is_rigid, reference_orbit
from ex4d_bridge.camera.coverage import (
    COVERAGE_SETS,
    coverage_paths,
    coverage_set,
    hold_path,
    hold_ramp,
    orbit_pose,
    path_angles,
    pivot_radius,
)
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.errors import Cancelled, InputError
from ex4d_bridge.generation import FallbackCompleter
from ex4d_bridge.scene import reconstruct
from ex4d_bridge.scene.completion import (
    CompletedScene,
    Provenance,
    list_completions,
    load_completions,
)
from ex4d_bridge.scene.completion.complete import (
    ViewCompleter,
    complete_scene,
    generation_id,
    generator_name,
    source_frames_for,
)
from ex4d_bridge.synthetic import SyntheticScene

MIN_DEPTH = 1.5


# -- coverage sets ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", COVERAGE_SETS)
def test_coverage_paths_are_valid_and_start_at_the_source_camera(name):
    paths = coverage_set(name, MIN_DEPTH, 25)
    assert paths and len({p.name for p in paths}) == len(paths)
    r = pivot_radius(MIN_DEPTH)
    for p in paths:
        assert len(p) == 25 and is_rigid(p.poses)
        np.testing.assert_array_equal(p.poses[0], np.eye(4))
        # Every camera looks at the pivot (0, 0, r).
        to_pivot = np.array([0.0, 0.0, r]) - p.positions
        to_pivot /= np.linalg.norm(to_pivot, axis=1, keepdims=True)
        np.testing.assert_allclose(np.einsum("ij,ij->i", p.poses[:, :3, 2], to_pivot), 1, atol=1e-9)


def test_the_walk_set_spans_its_stated_range():
    paths = coverage_set("walk", MIN_DEPTH, 49)
    angles = np.concatenate([path_angles(p, MIN_DEPTH) for p in paths])
    yaw, pitch = angles[:, 0], angles[:, 1]
    assert yaw.min() == pytest.approx(-90) and yaw.max() == pytest.approx(90)
    assert pitch.min() == pytest.approx(-30) and pitch.max() == pytest.approx(30)
    assert len(paths) == 14
    # Hold paths reach their pose within the ramp and keep it: every later frame is off-axis.
    holds = [p for p in paths if p.name.startswith("hold:")]
    assert len(holds) == 6
    ramp = hold_ramp(49)
    for p in holds:
        a = path_angles(p, MIN_DEPTH)
        np.testing.assert_allclose(a[ramp:], np.broadcast_to(a[-1], a[ramp:].shape), atol=1e-9)
        assert abs(a[-1, 0]) >= 25
    # Most frames are seen from several sides: left and right of the source at every frame >= 1.
    for t in range(ramp, 49):
        at_t = np.array([path_angles(p, MIN_DEPTH)[t] for p in paths])
        assert (at_t[:, 0] < -20).sum() >= 3 and (at_t[:, 0] > 20).sum() >= 3
        assert (at_t[:, 1] < -10).any() and (at_t[:, 1] > 10).any()


def test_the_orbit_set_is_the_reference_orbits():
    paths = coverage_set("orbit", MIN_DEPTH, 49)
    assert [p.name for p in paths] == [f"orbit:{a:g}" for a in (30, -30, 60, -60, 90, -90)]
    np.testing.assert_array_equal(paths[4].poses, reference_orbit(MIN_DEPTH, 90, 49).poses)


def test_orbit_pose_angles_round_trip():
    r = pivot_radius(MIN_DEPTH)
    poses = orbit_pose(r, [0.0, 40.0, -60.0], [0.0, -15.0, 20.0], [r, 0.8 * r, 1.2 * r])
    np.testing.assert_array_equal(poses[0], np.eye(4))
    a = path_angles(Trajectory(poses), MIN_DEPTH)
    np.testing.assert_allclose(a[:, 0], [0, 40, -60], atol=1e-9)
    np.testing.assert_allclose(a[:, 1], [0, -15, 20], atol=1e-9)
    np.testing.assert_allclose(a[:, 2], [r, 0.8 * r, 1.2 * r])
    # Pitch up moves the eye up (-y in OpenCV) and yaw right moves it to +x.
    assert poses[2, 1, 3] < 0 and poses[1, 0, 3] > 0 and poses[2, 0, 3] < 0
    turned = orbit_pose(r, 30.0, 0.0, r, (5.0, 0.0))
    straight = orbit_pose(r, 30.0, 0.0)
    cos = turned[:3, 2] @ straight[:3, 2]
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))) == pytest.approx(5.0)


def test_coverage_specs_mix_sets_files_and_trajectories(tmp_path):
    hold = hold_path(MIN_DEPTH, 10.0, 5.0, 9)
    hold.save(tmp_path / "mine.json")
    paths = coverage_paths(
        ["orbit", "orbit", str(tmp_path / "mine.json"), "orbit:45"],
        min_depth=MIN_DEPTH,
        num_frames=9,
    )
    assert [p.name for p in paths][-2:] == ["hold:yaw+10:pitch+5", "orbit:45"]
    assert len(paths) == 8  # the repeated set adds nothing
    with pytest.raises(InputError, match="unknown coverage"):
        coverage_paths("everywhere", min_depth=MIN_DEPTH)
    with pytest.raises(InputError, match="not found"):
        coverage_paths(str(tmp_path / "missing.json"), min_depth=MIN_DEPTH)
    other = hold_path(MIN_DEPTH, 20.0, 5.0, 9)
    other.name = "orbit:45"
    other.save(tmp_path / "clash.json")
    with pytest.raises(InputError, match="both named"):
        coverage_paths(
            ["orbit:45", str(tmp_path / "clash.json")], min_depth=MIN_DEPTH, num_frames=9
        )


def test_source_frames_follow_pose_index_or_time_stamp():
    poses = np.repeat(np.eye(4)[None], 4, 0)
    np.testing.assert_array_equal(source_frames_for(Trajectory(poses), 9, 8.0), [0, 1, 2, 3])
    timed = Trajectory(poses, times=[0.0, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(source_frames_for(timed, 9, 8.0), [0, 2, 4, 8])
    with pytest.raises(InputError, match="time stamps"):
        source_frames_for(Trajectory(poses, times=[0.0, 0.5, 1.0, 2.0]), 9, 8.0)
    with pytest.raises(InputError, match="one pose per frame"):
        source_frames_for(Trajectory(np.repeat(np.eye(4)[None], 10, 0)), 9, 8.0)


def test_generation_ids():
    assert generation_id(reference_orbit(1.0, -30, 3), "classical") == "orbit_-30.classical"
    assert generation_id("hold:yaw+45:pitch+0", "ex4d") == "hold_yaw+45_pitch+0.ex4d"
    assert generator_name(FallbackCompleter()) == "classical"


# -- complete_scene ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticScene(width=64, height=48, num_frames=5)


@pytest.fixture(scope="module")
def scene(synthetic):
    return reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        fps=synthetic.fps,
        progress=False,
    )


@pytest.fixture
def scene_dir(scene, tmp_path):
    return scene.save(tmp_path / "scene")


def _paths(scene, *angles):
    return [hold_path(scene.min_depth(), y, p, scene.num_frames) for y, p in angles]


def test_complete_stores_one_generation_per_path_and_resumes(scene, scene_dir):
    paths = _paths(scene, (35, 10), (-35, -10))
    calls = []
    report = complete_scene(
        scene, paths, scene_dir=scene_dir, progress=lambda d, t: calls.append((d, t))
    )
    assert [p.status for p in report.paths] == ["completed", "completed"]
    gens = [p.generation for p in report.paths]
    assert gens == ["hold_yaw+35_pitch+10.classical", "hold_yaw-35_pitch-10.classical"]
    infos = {i.generation: i for i in list_completions(scene_dir)}
    assert set(infos) == set(gens)
    assert infos[gens[0]].frames == [1, 2, 3, 4]  # frame 0 is the source view: nothing to lift
    assert infos[gens[0]].meta["path"] == "hold:yaw+35:pitch+10"
    assert infos[gens[0]].meta["depth_fill"] == "propagate"
    # One count across both paths, ending at its total.
    assert calls[-1][0] == calls[-1][1] == 2 * 3 * scene.num_frames
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:], strict=False))

    before = {i.generation: i.created_unix_s for i in list_completions(scene_dir)}
    again = complete_scene(
        scene, paths + _paths(scene, (0, 20)), scene_dir=scene_dir, progress=False
    )
    assert [p.status for p in again.paths] == ["skipped", "skipped", "completed"]
    after = {i.generation: i.created_unix_s for i in list_completions(scene_dir)}
    assert all(after[g] == before[g] for g in before)


def test_later_paths_lift_only_what_is_still_missing(scene, scene_dir):
    path = _paths(scene, (35, 10))
    first = complete_scene(scene, path, scene_dir=scene_dir, progress=False)
    # The same poses under another name: everything is already covered by the first.
    twin = Trajectory(path[0].poses, name="twin")
    second = complete_scene(scene, [twin], scene_dir=scene_dir, progress=False)
    assert first.paths[0].pixels > 0
    # What is left are one-pixel seams where a layer drops its faces across its own depth
    # edges, lifted again with their margin (2 px each side); alone, the twin would lift as
    # much as the first.
    assert second.paths[0].pixels < 0.4 * first.paths[0].pixels


def test_another_generators_completions_do_not_hold_a_new_one_back(synthetic, scene, scene_dir):
    path = _paths(scene, (35, 10))
    first = complete_scene(scene, path, scene_dir=scene_dir, progress=False)
    truth = ViewCompleter(lambda t, pose, k: synthetic.render_view(t, pose, k)[0])
    second = complete_scene(scene, path, truth, scene_dir=scene_dir, progress=False)
    assert second.paths[0].generation == "hold_yaw+35_pitch+10.oracle"
    assert second.other_generators == ["hold_yaw+35_pitch+10.classical"]
    assert second.paths[0].pixels == first.paths[0].pixels


def test_completed_renders_have_fewer_holes_off_the_paths(synthetic, scene, scene_dir):
    truth = ViewCompleter(lambda t, pose, k: synthetic.render_view(t, pose, k)[0])
    complete_scene(scene, "walk-small", truth, scene_dir=scene_dir, progress=False)
    completed = CompletedScene(scene, load_completions(scene_dir))
    r = pivot_radius(scene.min_depth())
    raw_holes, holes = [], []
    for t, (yaw, pitch) in enumerate([(20, 5), (-25, -10), (30, 0), (-15, 12)], start=1):
        pose = orbit_pose(r, yaw, pitch, 0.95 * r)
        out = completed.render(t, pose)
        raw_holes.append((out.provenance != Provenance.SOURCE).mean())
        holes.append(out.holes.mean())
    assert np.mean(raw_holes) > 0.03
    assert np.mean(holes) < 0.25 * np.mean(raw_holes)


def test_a_stored_generation_for_other_poses_is_refused(scene, scene_dir):
    path = _paths(scene, (35, 10))
    complete_scene(scene, path, scene_dir=scene_dir, progress=False)
    moved = Trajectory(_paths(scene, (30, 10))[0].poses, name=path[0].name)
    with pytest.raises(InputError, match="other poses"):
        complete_scene(scene, [moved], scene_dir=scene_dir, progress=False)
    # Without resuming it is generated again and replaced.
    report = complete_scene(scene, [moved], scene_dir=scene_dir, progress=False, resume=False)
    assert report.paths[0].status == "completed"


def test_cancel_keeps_the_paths_already_saved(scene, scene_dir):
    stop = threading.Event()
    paths = _paths(scene, (35, 10), (-35, -10))
    seen = []

    def progress(done, total):
        seen.append(done)
        if done > 3 * scene.num_frames + 2:  # inside the second path
            stop.set()

    with pytest.raises(Cancelled):
        complete_scene(scene, paths, scene_dir=scene_dir, progress=progress, cancel=stop)
    assert [i.generation for i in list_completions(scene_dir)] == ["hold_yaw+35_pitch+10.classical"]
    assert not list((scene_dir / "completions").glob(".*"))  # nothing half-written


def test_bad_paths_fail_before_any_work(scene, scene_dir):
    too_long = Trajectory(np.repeat(np.eye(4)[None], scene.num_frames + 1, 0), name="long")
    with pytest.raises(InputError, match="one pose per frame"):
        complete_scene(scene, _paths(scene, (35, 10)) + [too_long], scene_dir=scene_dir)
    assert list_completions(scene_dir) == []
    with pytest.raises(InputError, match="scene_dir"):
        complete_scene(scene, "walk-small")


def test_the_tiny_ex4d_pipeline_completes_a_path(scene, scene_dir):
    from ex4d_bridge.generation import EX4DPipeline, SamplingParams

    pipe = EX4DPipeline.tiny(seed=0)
    sampling = SamplingParams(
        num_inference_steps=1, guidance_scale=1.0, size=(32, 32), num_frames=5
    )
    report = complete_scene(
        scene,
        _paths(scene, (35, 10)),
        pipe,
        scene_dir=scene_dir,
        sampling=sampling,
        progress=False,
    )
    assert report.generator == "ex4d-tiny"
    assert report.paths[0].generation == "hold_yaw+35_pitch+10.ex4d-tiny"
    assert report.paths[0].pixels > 0
    info = list_completions(scene_dir)[0]
    assert info.meta["completer"] == pipe.name
