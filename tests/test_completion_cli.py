"""``ex4d-bridge complete``, ``completions`` and ``render --completed`` on a tiny synthetic scene:
outputs, resuming, and bad input (one line, exit 2, the scene as it was)."""

import json

import numpy as np
import pytest

from ex4d_bridge.camera import Trajectory
from ex4d_bridge.camera.coverage import orbit_pose, pivot_radius
from ex4d_bridge.cli import main
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.scene import reconstruct
from ex4d_bridge.scene.completion import list_completions
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import read_mask_video, read_video

FRAMES = 5


@pytest.fixture(scope="module")
def scene():
    synthetic = SyntheticScene(width=64, height=48, num_frames=FRAMES)
    return reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        fps=synthetic.fps,
        progress=False,
    )


@pytest.fixture(scope="module")
def completed_dir(scene, tmp_path_factory):
    """A scene completed once along two paths (shared by the read-only tests)."""
    d = scene.save(tmp_path_factory.mktemp("completed") / "scene")
    argv = ["--quiet", "complete", str(d), "--coverage", "orbit:30", "orbit:-30"]
    assert main(argv) == 0
    return d


def snapshot(directory):
    """Every file under ``directory`` with its size and modification time."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def run(capsys, *argv):
    code = main(["--quiet", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


def test_complete_then_list_resume_and_remove(scene, tmp_path, capsys):
    d = scene.save(tmp_path / "scene")
    code, out, _ = run(capsys, "complete", d, "--coverage", "walk-small", "--stride", "2")
    assert code == 0
    gens = [i.generation for i in list_completions(d)]
    assert gens == sorted(
        f"hold_yaw{y}_pitch{p}.classical" for y in ("+35", "-35") for p in ("+15", "-15")
    )
    assert list_completions(d)[0].meta["stride"] == 2

    code, out, _ = run(capsys, "completions", d)
    assert code == 0 and all(g in out for g in gens) and "4 generations" in out
    code, out, _ = run(capsys, "completions", d, "--json")
    listed = json.loads(out)
    assert [e["generation"] for e in listed] == gens and listed[0]["meta"][
        "generator"
    ] == "classical"

    # Resuming: nothing is generated again.
    before = snapshot(d)
    assert main(["complete", str(d), "--coverage", "walk-small", "--stride", "2"]) == 0
    assert "already stored" in capsys.readouterr().out
    assert snapshot(d) == before

    code, out, _ = run(capsys, "completions", d, "--remove", gens[0])
    assert code == 0
    assert [i.generation for i in list_completions(d)] == gens[1:]


def test_render_completed_writes_colour_holes_and_cameras(scene, completed_dir, tmp_path):
    out = tmp_path / "out"
    argv = ["--quiet", "render", str(completed_dir), "--completed", "--trajectory", "orbit:20"]
    assert main([*argv, "--out", str(out), "--backend", "torch"]) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"color_20.mp4", "holes_20.mp4", "camera_20.npz", "camera_20.json"}
    colors = read_video(out / "color_20.mp4").frames
    holes = read_mask_video(out / "holes_20.mp4")
    assert colors.shape == (FRAMES, 48, 64, 3) and holes.shape == (FRAMES, 48, 64)
    assert not holes[0].any()  # the source view
    assert holes[1:].mean() < 0.1
    # Where there is nothing the colour is black.
    assert colors[holes].mean() < 40
    assert Trajectory.load(out / "camera_20.json").intrinsics == scene.intrinsics
    # The raw render of the same path has many more empty pixels than the completed one.
    raw = tmp_path / "raw"
    assert (
        main(
            [
                "--quiet",
                "render",
                str(completed_dir),
                "--trajectory",
                "orbit:20",
                "--mask-style",
                "face",
                "--out",
                str(raw),
            ]
        )
        == 0
    )
    masks = read_mask_video(raw / "mask_20.mp4")
    assert (~masks[1:]).mean() > 2 * holes[1:].mean()


def test_a_pose_file_renders_frame_i_or_by_time_stamp(scene, completed_dir, tmp_path):
    r = pivot_radius(scene.min_depth())
    poses = orbit_pose(r, [0.0, 10.0, 20.0], [0.0, 5.0, -5.0])
    Trajectory(poses, name="mine").save(tmp_path / "mine.json")
    Trajectory(poses, name="timed", times=[0.0, 3 / scene.fps, 4 / scene.fps]).save(
        tmp_path / "timed.json"
    )
    for name in ("mine", "timed"):
        argv = ["--quiet", "render", str(completed_dir), "--completed"]
        argv += ["--trajectory", str(tmp_path / f"{name}.json"), "--out", str(tmp_path / name)]
        assert main(argv) == 0
        assert read_video(tmp_path / name / f"color_{name}.mp4").frames.shape[0] == 3
    a = read_video(tmp_path / "mine" / "color_mine.mp4").frames
    b = read_video(tmp_path / "timed" / "color_timed.mp4").frames
    assert np.abs(a[2].astype(int) - b[2]).mean() > 1  # frame 2 against frame 4: spheres moved


def test_export_completion_meshes(completed_dir, tmp_path):
    import trimesh

    glb = tmp_path / "frame2.glb"
    assert (
        main(
            [
                "--quiet",
                "completions",
                str(completed_dir),
                "--export",
                str(glb),
                "--frame",
                "2",
                "--with-source",
            ]
        )
        == 0
    )
    loaded = trimesh.load(glb)
    assert set(loaded.geometry) == {"source", "orbit_30.classical", "orbit_-30.classical"}
    ply = tmp_path / "frame2.ply"
    assert (
        main(
            [
                "--quiet",
                "completions",
                str(completed_dir),
                "--export",
                str(ply),
                "--frame",
                "2",
                "--generation",
                "orbit_30.classical",
            ]
        )
        == 0
    )
    assert len(trimesh.load(ply).faces) > 0


def test_exported_completion_glb_is_in_gltf_axes_with_materials(scene, completed_dir, tmp_path):
    import trimesh

    from ex4d_bridge.geometry.export import OPENCV_TO_GLTF

    glb = tmp_path / "frame2.glb"
    argv = ["--quiet", "completions", str(completed_dir), "--export", str(glb), "--frame", "2"]
    assert main([*argv, "--with-source"]) == 0
    loaded = trimesh.load(glb)
    for name, g in loaded.geometry.items():
        assert g.visual.material.name == name
        assert len(g.visual.vertex_attributes["color"]) == len(g.vertices)
    src = scene.mesh(2)
    used = np.unique(src.faces[~src.occluded])
    want = src.vertices[used] @ OPENCV_TO_GLTF  # y and z flipped
    got = loaded.geometry["source"].vertices
    np.testing.assert_allclose(np.sort(got, 0), np.sort(want, 0), rtol=1e-5, atol=1e-6)


def test_the_tiny_ex4d_generator(scene, tmp_path, capsys):
    d = scene.save(tmp_path / "scene")
    argv = [
        "complete",
        d,
        "--generator",
        "ex4d",
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--coverage",
        "orbit:30",
        "--steps",
        "1",
        "--guidance",
        "1",
        "--size",
        "32",
        "--frames",
        "5",
    ]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert [i.generation for i in list_completions(d)] == ["orbit_30.ex4d-tiny"]


def bad_cases(tmp_path, scene_dir, completed_dir):
    long_path = tmp_path / "long.json"
    Trajectory(np.repeat(np.eye(4)[None], FRAMES + 3, 0), name="long").save(long_path)
    late = tmp_path / "late.json"
    Trajectory(np.repeat(np.eye(4)[None], 2, 0), name="late", times=[0.0, 60.0]).save(late)
    return {
        "render --completed without completions": [
            "render",
            scene_dir,
            "--completed",
            "--trajectory",
            "orbit:30",
        ],
        "a pose file longer than the scene": [
            "render",
            completed_dir,
            "--completed",
            "--trajectory",
            long_path,
        ],
        "time stamps past the clip": ["render", completed_dir, "--completed", "--trajectory", late],
        "--window without --completed": ["render", scene_dir, "--window", "3"],
        "not a scene": ["complete", tmp_path / "nowhere"],
        "unknown coverage": ["complete", scene_dir, "--coverage", "everywhere"],
        "coverage file missing": ["complete", scene_dir, "--coverage", tmp_path / "no.json"],
        "coverage path too long": ["complete", scene_dir, "--coverage", long_path],
        "ex4d without weights": ["complete", scene_dir, "--generator", "ex4d"],
        "aligned without a model": ["complete", scene_dir, "--depth-fill", "aligned"],
        "a missing depth model": [
            "complete",
            scene_dir,
            "--depth-fill",
            "aligned",
            "--depth-model",
            tmp_path / "no",
        ],
        "bad stride": ["complete", scene_dir, "--stride", "0"],
        "remove an unknown generation": ["completions", completed_dir, "--remove", "nope"],
        "export without completions": ["completions", scene_dir, "--export", tmp_path / "x.glb"],
        "export as .obj": ["completions", completed_dir, "--export", tmp_path / "x.obj"],
        "export a frame with no layers": [
            "completions",
            completed_dir,
            "--export",
            tmp_path / "x.glb",
            "--frame",
            "0",
        ],
        "export a frame out of range": [
            "completions",
            completed_dir,
            "--export",
            tmp_path / "x.glb",
            "--frame",
            "99",
        ],
    }


def test_bad_input_is_one_line_and_leaves_the_scene_as_it_was(
    scene, completed_dir, tmp_path, capsys
):
    scene_dir = scene.save(tmp_path / "plain")
    cases = bad_cases(tmp_path, scene_dir, completed_dir)
    before = {d: snapshot(d) for d in (scene_dir, completed_dir)}
    for name, argv in cases.items():
        code, _, err = run(capsys, *argv)
        assert code == 2, (name, err)
        assert err.startswith("error: ") and "\n" not in err, (name, err)
    for d, files in before.items():
        assert snapshot(d) == files
    assert not (tmp_path / "x.glb").exists() and not (tmp_path / "x.obj").exists()


def test_a_stored_generation_for_other_poses_needs_force(scene, tmp_path, capsys):
    d = scene.save(tmp_path / "scene")
    assert main(["--quiet", "complete", str(d), "--coverage", "orbit:30"]) == 0
    code, _, err = run(capsys, "complete", d, "--coverage", "orbit:30", "--stride", "2")
    assert code == 2 and "--remove orbit_30.classical" in err
    code, _, err = run(capsys, "complete", d, "--coverage", "orbit:30", "--stride", "2", "--force")
    assert code == 0, err
    assert list_completions(d)[0].meta["stride"] == 2
