"""Issue 15, items 3, 4 and 6: no broken outputs, no silent stretching, sane trajectories."""

import json
import warnings

import numpy as np
import pytest

import ex4d_bridge.scene
from ex4d_bridge.camera import parse_trajectory
from ex4d_bridge.cli import main
from ex4d_bridge.depth.provided import ProvidedDepth
from ex4d_bridge.errors import InputError
from ex4d_bridge.scene import Scene, reconstruct
from ex4d_bridge.scene import model as scene_model
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticScene(width=64, height=48, num_frames=3)


@pytest.fixture(scope="module")
def inputs(synthetic, tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    write_video(d / "clip.mp4", synthetic.frames(), synthetic.fps)
    np.save(d / "depth.npy", synthetic.depths())
    np.save(d / "neg.npy", -np.ones((3, 48, 64), np.float32))
    return d


@pytest.fixture(scope="module")
def scene_dir(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("scene") / "s"
    argv = ["reconstruct", str(inputs / "clip.mp4"), "--depth", str(inputs / "depth.npy")]
    assert main(["--quiet", *argv, "--out", str(out)]) == 0
    return out


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


# -- item 3: broken outputs left behind ---------------------------------------------------------


def test_reconstruct_with_no_valid_depth_writes_nothing(inputs, tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["reconstruct", str(inputs / "clip.mp4"), "--depth", str(inputs / "neg.npy")]
    assert main(["--quiet", *argv, "--out", str(out)]) == 2
    assert "no valid depth" in one_line_error(capsys)
    assert not (out / "scene.json").exists() and not (out / "scene.npz").exists()


def test_render_rejects_the_mesh_suffix_before_rendering(scene_dir, tmp_path, monkeypatch, capsys):
    def no_render(*args, **kwargs):
        raise AssertionError("rendered before validating --export-mesh")

    monkeypatch.setattr(ex4d_bridge.scene, "render_trajectory", no_render)
    out = tmp_path / "r"
    argv = ["render", str(scene_dir), "--trajectory", "orbit:10", "--out", str(out)]
    assert main(["--quiet", *argv, "--export-mesh", str(tmp_path / "m.obj")]) == 2
    err = one_line_error(capsys)
    assert "m.obj" in err and ".glb" in err and ".ply" in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["reconstruct", "render"])
def test_out_that_is_a_file_names_the_path(command, inputs, scene_dir, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    if command == "reconstruct":
        argv = ["reconstruct", str(inputs / "clip.mp4"), "--depth", str(inputs / "depth.npy")]
    else:
        argv = ["render", str(scene_dir), "--trajectory", "orbit:10"]
    assert main(["--quiet", *argv, "--out", str(afile)]) == 2
    err = one_line_error(capsys)
    assert str(afile) in err and "Errno" not in err and "not a directory" in err
    assert afile.read_text() == "x"


def test_scene_save_is_all_or_nothing(synthetic, tmp_path, monkeypatch):
    from ex4d_bridge.depth import KnownDepth

    scene = reconstruct(
        synthetic.frames(),
        KnownDepth(synthetic.depths()),
        intrinsics=synthetic.intrinsics,
        progress=False,
    )

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(scene_model.json, "dumps", crash)
    with pytest.raises(OSError):
        scene.save(tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == []  # no half scene, no staging
    monkeypatch.undo()
    scene.save(tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["scene.json", "scene.npz"]
    assert json.loads((tmp_path / "s" / "scene.json").read_text())["num_frames"] == 3
    assert Scene.load(tmp_path / "s").num_frames == 3


# -- item 4: silent stretching --------------------------------------------------------------------


def frames(t, h, w):
    return np.zeros((t, h, w, 3), np.uint8)


def test_resized_depth_warns_with_both_sizes(tmp_path):
    np.save(tmp_path / "d.npy", np.full((2, 24, 40), 3.0, np.float32))
    with pytest.warns(UserWarning) as record:
        out = ProvidedDepth(tmp_path / "d.npy", resize=True).estimate(frames(2, 48, 64))
    assert out.shape == (2, 48, 64)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "40x24" in messages[0] and "64x48" in messages[0] and "resiz" in messages[0]


def test_depth_that_looks_like_disparity_says_so(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "d.npy", rng.uniform(0.05, 1.0, (2, 48, 64)).astype(np.float32))
    with pytest.warns(UserWarning, match="disparity") as record:
        ProvidedDepth(tmp_path / "d.npy").estimate(frames(2, 48, 64))
    assert len(record) == 1 and "kind='disparity'" in str(record[0].message)


@pytest.mark.parametrize("kind", ["depth", "disparity", "relative"])
def test_same_size_metric_depth_is_quiet(tmp_path, kind, synthetic):
    values = synthetic.depths() if kind == "depth" else 1.0 / synthetic.depths()
    np.save(tmp_path / "d.npy", values.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ProvidedDepth(tmp_path / "d.npy", kind=kind).estimate(synthetic.frames())


# -- item 6: trajectory sanity -------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, valid_range",
    [
        ("yaw:400", "[-90, 90]"),
        ("yaw:-181", "[-90, 90]"),
        ("dolly:100", "[-2.3, 1)"),
        ("dolly:1", "[-2.3, 1)"),
        ("dolly:-5", "[-2.3, 1)"),
        ("spiral:5", "[-1.15, 1.15]"),
    ],
)
def test_out_of_range_specs_state_the_valid_range(spec, valid_range):
    with pytest.raises(InputError) as info:
        parse_trajectory(spec, min_depth=1.0, num_frames=9)
    assert valid_range in str(info.value) and spec in str(info.value)


@pytest.mark.parametrize("spec", ["yaw:90", "yaw:-30", "dolly:0.9", "dolly:-2.3", "spiral:-1.15"])
def test_in_range_specs_are_accepted(spec):
    assert parse_trajectory(spec, min_depth=1.0, num_frames=9).poses.shape[0] == 9


@pytest.mark.parametrize("spec", ["orbit:90", "yaw:30", "dolly:0.5", "spiral:0.5", "surround"])
def test_one_frame_scene_refuses_a_moving_path(spec):
    with pytest.raises(InputError, match="at least 2 frames"):
        parse_trajectory(spec, min_depth=1.0, num_frames=1)
    assert parse_trajectory("orbit:0", min_depth=1.0, num_frames=1).poses.shape[0] == 1


def test_cli_render_reports_the_range(scene_dir, capsys):
    assert main(["--quiet", "render", str(scene_dir), "--trajectory", "yaw:400"]) == 2
    assert "[-90, 90]" in one_line_error(capsys)


def test_cli_reconstruct_warns_about_resized_depth_in_one_line(inputs, synthetic, tmp_path, capsys):
    np.save(tmp_path / "half.npy", synthetic.depths()[:, ::2, ::2])
    argv = ["reconstruct", str(inputs / "clip.mp4"), "--depth", str(tmp_path / "half.npy")]
    assert main(["--quiet", *argv, "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "32x24" in err[0], err
    assert "64x48" in err[0] and "resiz" in err[0]
