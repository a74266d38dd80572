"""Issue 15, item 2: long clips are announced up front, not at ``generate``."""

import builtins

import numpy as np
import pytest

import ex4d_bridge.scene
from ex4d_bridge.cli import main
from ex4d_bridge.errors import InputError
from ex4d_bridge.generation.frames import back_indices, describe_frame_fit, sample_indices
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video

# -- describe_frame_fit -------------------------------------------------------------------------


def test_longer_render_is_sampled_and_mapped_back():
    line = describe_frame_fit(300, 49)
    assert line.startswith("300 frames: ")
    assert "samples 49 of them" in line and "about one in every 6.2" in line
    assert "back to all 300" in line and "--frames 49" in line
    assert "\n" not in line
    # the wording matches what frames.py does
    assert len(sample_indices(300, 49)) == 49 and len(back_indices(sample_indices(300, 49), 300))


def test_shorter_render_is_padded():
    line = describe_frame_fit(20, 49)
    assert "pads them with 29 copies of the last frame" in line
    assert "first 20" in line and "--frames 49" in line


def test_exact_count_needs_nothing():
    line = describe_frame_fit(49, 49)
    assert line.startswith("49 frames: ") and "every frame as it is" in line
    assert "--frames" not in line


def test_preset_name_and_bad_counts():
    assert "tiny, 17 frames" in describe_frame_fit(40, 17, "tiny")
    with pytest.raises(InputError):
        describe_frame_fit(0, 49)


# -- the CLI says it ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    synthetic = SyntheticScene(width=64, height=48, num_frames=3)
    d = tmp_path_factory.mktemp("inputs")
    write_video(d / "clip.mp4", synthetic.frames(), synthetic.fps)
    np.save(d / "depth.npy", synthetic.depths())
    return d


def _reconstruct(inputs, out):
    argv = ["reconstruct", str(inputs / "clip.mp4"), "--depth", str(inputs / "depth.npy")]
    return main(["--quiet", *argv, "--out", str(out)])


def test_reconstruct_says_what_generation_will_do(inputs, tmp_path, capsys):
    assert _reconstruct(inputs, tmp_path / "s") == 0
    out = capsys.readouterr().out
    assert describe_frame_fit(3, 49, "wan2.1-i2v-14b-480p") in out.splitlines()


def test_render_says_it_before_rendering(inputs, tmp_path, monkeypatch, capsys):
    assert _reconstruct(inputs, tmp_path / "s") == 0
    capsys.readouterr()

    def no_render(*args, **kwargs):
        raise RuntimeError("stop here")

    monkeypatch.setattr(ex4d_bridge.scene, "render_trajectory", no_render)
    argv = ["render", str(tmp_path / "s"), "--trajectory", "orbit:10", "--out", str(tmp_path / "r")]
    with pytest.raises(RuntimeError, match="stop here"):
        main(["--quiet", *argv])
    assert "3 frames: generation" in capsys.readouterr().out


def test_no_line_without_the_generation_package(inputs, tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_generation(name, globals=None, locals=None, fromlist=(), level=0):
        if name.endswith(("generation.frames", "generation.presets")):
            raise ImportError(f"no module named {name}")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_generation)
    assert _reconstruct(inputs, tmp_path / "s") == 0
    out = capsys.readouterr().out
    assert "wrote " in out and "generation" not in out


# -- a bar while the video is decoded -----------------------------------------------------------


def test_reconstruct_shows_decode_progress(inputs, capsys):
    from ex4d_bridge.scene import reconstruct

    reconstruct(inputs / "clip.mp4", inputs / "depth.npy", progress=True)
    err = capsys.readouterr().err
    assert "read clip.mp4" in err and "3/3" in err
    reconstruct(inputs / "clip.mp4", inputs / "depth.npy", progress=False)
    assert "read clip.mp4" not in capsys.readouterr().err


def test_read_video_progress_for_folders_and_sampling(inputs, tmp_path, capsys):
    from PIL import Image

    from ex4d_bridge.video import read_video

    clip = read_video(inputs / "clip.mp4", num_frames=2, progress=True)
    assert len(clip.frames) == 2 and "3/3" in capsys.readouterr().err  # every frame decoded
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(folder / f"{i}.png")
    assert len(read_video(folder, num_frames=4, progress=True).frames) == 4
    assert "read imgs" in capsys.readouterr().err
    read_video(folder)
    assert capsys.readouterr().err == ""


def test_cli_quiet_has_no_bar(inputs, tmp_path, capsys):
    assert _reconstruct(inputs, tmp_path / "s") == 0
    assert "read clip.mp4" not in capsys.readouterr().err
    argv = ["reconstruct", str(inputs / "clip.mp4"), "--depth", str(inputs / "depth.npy")]
    assert main([*argv, "--out", str(tmp_path / "t")]) == 0
    assert "read clip.mp4" in capsys.readouterr().err


# -- provided depth of another size is resized one frame at a time ------------------------------


@pytest.mark.parametrize("kind", ["depth", "disparity"])
def test_resized_provided_depth_matches_resizing_the_whole_stack(kind, tmp_path):
    import warnings

    import cv2

    from ex4d_bridge.depth.provided import ProvidedDepth

    rng = np.random.default_rng(0)
    values = rng.uniform(0.5, 4.0, (3, 30, 40)).astype(np.float32)
    values[0, 0, 0], values[1, 2, 3], values[2, 4, 5] = np.nan, -1.0, 0.0
    np.save(tmp_path / "d.npy", values)
    provided = ProvidedDepth(tmp_path / "d.npy", kind=kind, scale=2.0, resize=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = provided.estimate(np.zeros((3, 48, 64, 3), np.uint8), progress=False)
    whole = provided._depth()
    want = np.stack([cv2.resize(d, (64, 48), interpolation=cv2.INTER_NEAREST_EXACT) for d in whole])
    assert got.dtype == np.float32 and got.shape == (3, 48, 64)
    np.testing.assert_array_equal(got, want)
