import json

import numpy as np
import pytest

from ex4d_bridge.camera import reference_orbit
from ex4d_bridge.cli import main
from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import build_dw_mesh
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.training import random_blobs, source_visibility, track_masks
from ex4d_bridge.training.dataset import (
    load_sample,
    make_dataset,
    read_index,
    synthetic_clips,
    video_clips,
)
from ex4d_bridge.video import write_video


@pytest.fixture(scope="module")
def syn():
    return SyntheticScene(width=128, height=96, num_frames=5)


def analytic_visibility(syn, t, pose):
    """Independent truth: source points from the analytic depth, depth-tested against the
    analytic novel view."""
    k, d = syn.intrinsics, syn.depths()[t]
    pts = (k.pixel_rays() * d[..., None]).reshape(-1, 3)
    w2c = np.linalg.inv(pose)
    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    col = np.floor(k.fx * cam[:, 0] / z + k.cx)
    row = np.floor(k.fy * cam[:, 1] / z + k.cy)
    inside = (z > 0) & (col >= 0) & (col < k.width) & (row >= 0) & (row < k.height)
    _, novel_depth = syn.render_view(t, pose, k)
    ci, ri = np.where(inside, col, 0).astype(int), np.where(inside, row, 0).astype(int)
    seen = (inside & (z <= novel_depth[ri, ci] * 1.01)).reshape(d.shape)
    seen[0, :] = seen[-1, :] = seen[:, 0] = seen[:, -1] = False
    return seen


@pytest.mark.parametrize("angle", [20.0, 45.0, -60.0, 90.0])
def test_render_masks_match_analytic_visibility(syn, angle):
    traj = reference_orbit(syn.min_depth(), angle, syn.num_frames)
    for t in (2, 4):
        mesh = build_dw_mesh(syn.depths()[t], syn.frames()[t], syn.intrinsics)
        ours = source_visibility(mesh, traj.poses[t])
        truth = analytic_visibility(syn, t, traj.poses[t])
        hidden_iou = (~ours & ~truth).sum() / (~ours | ~truth).sum()
        assert hidden_iou >= 0.95, (angle, t, hidden_iou)
        assert (~truth).mean() > 0.1  # the test would be vacuous otherwise


def test_tracking_masks_follow_a_translation():
    rng = np.random.default_rng(0)
    base = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    import cv2

    texture = cv2.resize(base, (256, 192), interpolation=cv2.INTER_CUBIC)
    frames = np.stack([np.roll(texture, 2 * t, axis=1) for t in range(8)])[:, 40:136, 40:200]
    first = random_blobs(rng, *frames.shape[1:3], count=2, coverage=0.1)
    first[:, :24] = True
    first[:, -24:] = True  # keep blobs away from the edges that content enters from
    masks = track_masks(np.ascontiguousarray(frames), first)
    for t in (3, 7):
        expected = np.roll(~first, 2 * t, axis=1)
        iou = (~masks[t] & expected).sum() / (~masks[t] | expected).sum()
        assert iou >= 0.85, (t, iou)


def test_tracking_masks_move_with_the_rolling_sphere():
    syn = SyntheticScene(width=128, height=96, num_frames=33)
    first_obj = syn.render_view_full(0, np.eye(4)).object_id
    sphere = first_obj == 2  # the rolling sphere
    masks = track_masks(syn.frames()[:9], ~sphere)
    for t in (4, 8):
        obj = syn.render_view_full(t, np.eye(4)).object_id
        hidden = ~masks[t]
        assert hidden.sum() > 0.5 * sphere.sum()
        assert (obj[hidden] == 2).mean() > 0.8


def test_make_dataset_writes_resumes_and_reads_back(tmp_path):
    clips = list(synthetic_clips(2, num_frames=5, size=48))
    counts = make_dataset(clips, tmp_path, seed=3, progress=False)
    assert counts == {"written": 2, "skipped": 0, "total": 2}
    rows = read_index(tmp_path)
    sample = load_sample(tmp_path, rows[0])
    assert sample.target.shape == (5, 48, 48, 3) and sample.masks.shape == (5, 48, 48)
    assert sample.masks[0].any() and not sample.masks.all()
    hidden = ~sample.masks
    assert sample.inputs[hidden].mean() < 8  # the input is black where hidden
    # A crash mid-sample leaves only a .tmp directory; a rerun cleans it and writes nothing new.
    (tmp_path / "samples" / ".tmp-broken").mkdir()
    again = make_dataset(clips, tmp_path, seed=3, progress=False)
    assert again == {"written": 0, "skipped": 2, "total": 2}
    assert not (tmp_path / "samples" / ".tmp-broken").exists()
    # More samples extend the dataset instead of overwriting it.
    more = make_dataset(
        list(synthetic_clips(3, num_frames=5, size=48)), tmp_path, seed=3, progress=False
    )
    assert more == {"written": 1, "skipped": 2, "total": 3}
    assert len((tmp_path / "index.jsonl").read_text().splitlines()) == 3
    assert json.loads((tmp_path / "index.jsonl").read_text().splitlines()[0])["num_frames"] == 5


class _NoDepth:
    def estimate(self, frames, progress=True):
        raise AssertionError("not reached")


def test_bad_inputs_are_clear_errors(tmp_path):
    short = tmp_path / "short.mp4"
    write_video(short, np.zeros((3, 32, 32, 3), np.uint8), 10)
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="fewer than the clip length"):
        next(video_clips([short], _NoDepth(), num_frames=9, size=32, rng=rng))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(InputError):
        next(video_clips([broken], _NoDepth(), num_frames=9, size=32, rng=rng))
    with pytest.raises(InputError, match="no index.jsonl"):
        read_index(tmp_path)
    (tmp_path / "index.jsonl").write_text("")
    with pytest.raises(InputError, match="no samples"):
        read_index(tmp_path)
    with pytest.raises(InputError, match="mask kind"):
        make_dataset([], tmp_path / "x", mask_kind="random")


def test_make_dataset_cli(tmp_path, capsys):
    out = tmp_path / "ds"
    assert (
        main(
            [
                "--quiet",
                "make-dataset",
                "--synthetic",
                "1",
                "--frames",
                "5",
                "--size",
                "32",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "1 written" in capsys.readouterr().out
    for argv in (["--frames", "6"], ["--size", "30"], []):
        code = main(
            [
                "--quiet",
                "make-dataset",
                "--out",
                str(out),
                *argv,
                *(["--synthetic", "1"] if argv else []),
            ]
        )
        assert code == 2
        assert capsys.readouterr().err.startswith("error: ")
    assert main(["--quiet", "make-dataset", str(tmp_path / "v.mp4"), "--out", str(out)]) == 2
    assert "--depth-model" in capsys.readouterr().err


def test_make_dataset_with_provided_depth(tmp_path, capsys):
    """`make-dataset --depth`: one depth file per video, the training window cut from it."""
    from ex4d_bridge.synthetic import SyntheticScene
    from ex4d_bridge.video import write_video

    scene = SyntheticScene(width=32, height=32, num_frames=9)
    video = write_video(tmp_path / "v.mp4", scene.frames(), scene.fps)
    np.save(tmp_path / "d.npy", scene.depths())
    out = tmp_path / "ds"
    argv = ["--quiet", "make-dataset", str(video), "--frames", "5", "--size", "32"]
    assert main([*argv, "--depth", str(tmp_path / "d.npy"), "--out", str(out)]) == 0
    assert "1 written" in capsys.readouterr().out
    # One file per video, and not together with a model.
    two = ["--quiet", "make-dataset", str(video), str(video), "--frames", "5", "--size", "32"]
    assert main([*two, "--depth", str(tmp_path / "d.npy"), "--out", str(out)]) == 2
    assert "one per video" in capsys.readouterr().err
    both = ["--depth", str(tmp_path / "d.npy"), "--depth-model", "m", "--out", str(out)]
    assert main([*argv, *both]) == 2
    assert "not both" in capsys.readouterr().err


def test_video_clips_cut_the_window_from_provided_depth(tmp_path):
    from ex4d_bridge.scene import DepthSpec
    from ex4d_bridge.synthetic import SyntheticScene
    from ex4d_bridge.training.dataset import video_clips
    from ex4d_bridge.video import write_video

    scene = SyntheticScene(width=32, height=32, num_frames=9)
    video = write_video(tmp_path / "v.mp4", scene.frames(), scene.fps)
    np.save(tmp_path / "d.npy", scene.depths())
    rng = np.random.default_rng(5)
    start = int(np.random.default_rng(5).integers(0, 9 - 4 + 1))
    (clip,) = video_clips(
        [video],
        [DepthSpec(provided=tmp_path / "d.npy")],
        num_frames=4,
        size=32,
        rng=rng,
        progress=False,
    )
    np.testing.assert_allclose(clip.depth, scene.depths()[start : start + 4])
