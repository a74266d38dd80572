"""Video I/O: round trips through real encoders, sampling, resizing, folders and bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from ex4d_bridge.errors import InputError
from ex4d_bridge.video import (
    VideoClip,
    probe_video,
    read_mask_video,
    read_video,
    resolve_size,
    write_image_sequence,
    write_mask_video,
    write_video,
)


def smooth_frames(t: int, h: int, w: int) -> np.ndarray:
    """Smooth colour gradients that move over time (what lossy codecs keep well)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for k in range(t):
        r = 128 + 100 * np.sin(x / w * 2 * np.pi + k * 0.3)
        g = 128 + 100 * np.cos(y / h * 2 * np.pi)
        b = 60 + 150 * (x + y) / (w + h)
        frames.append(np.stack([r, g, b], axis=-1))
    return np.clip(np.stack(frames), 0, 255).round().astype(np.uint8)


def level_frames(t: int, h: int = 32, w: int = 48) -> np.ndarray:
    """Frame k is flat grey 10 + 20 k, so a frame's index can be read back from its colour."""
    levels = 10 + 20 * np.arange(t)
    return np.broadcast_to(levels[:, None, None, None], (t, h, w, 3)).astype(np.uint8).copy()


def frame_indices(frames: np.ndarray) -> list[int]:
    return [int(round((f.mean() - 10) / 20)) for f in frames]


def encode_raw(path: Path, frames: np.ndarray, codec: str, fps: int = 25, rotation: int = 0):
    """Write a video with PyAV directly (independent of write_video)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---------------------------------------------------------------- colour video round trips


@pytest.mark.parametrize("fps", [30000 / 1001, 24.0, 30 * 16 / 49, Fraction(25, 2)])
def test_write_read_round_trip_keeps_count_fps_size(tmp_path, fps):
    frames = smooth_frames(10, 96, 128)
    path = write_video(tmp_path / "clip.mp4", frames, fps)
    clip = read_video(path)
    assert isinstance(clip, VideoClip)
    assert clip.frames.shape == frames.shape and clip.frames.dtype == np.uint8
    assert clip.fps == pytest.approx(float(fps), rel=0, abs=1e-12)
    assert np.abs(clip.frames.astype(np.int16) - frames).mean() < 2.5
    info = probe_video(path)
    assert (info.num_frames, info.width, info.height) == (10, 128, 96)
    assert info.fps == pytest.approx(float(fps), abs=1e-12)
    assert info.duration == pytest.approx(10 / float(fps))


def test_odd_size_round_trip_is_cropped_back(tmp_path):
    frames = smooth_frames(5, 65, 97)
    write_video(tmp_path / "odd.mp4", frames, 25)
    clip = read_video(tmp_path / "odd.mp4")
    assert clip.frames.shape == (5, 65, 97, 3)
    assert np.abs(clip.frames.astype(np.int16) - frames).mean() < 2.5
    info = probe_video(tmp_path / "odd.mp4")
    assert (info.width, info.height) == (97, 65)
    # Other players see the padded even-size picture, with the last row/column repeated.
    with av.open(str(tmp_path / "odd.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (98, 66)


def test_flat_colours_survive_the_colour_matrix(tmp_path):
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 120, 30]], dtype=np.uint8)
    frames = np.broadcast_to(colours[:, None, None, :], (4, 32, 32, 3)).copy()
    write_video(tmp_path / "flat.mp4", frames, 10)
    back = read_video(tmp_path / "flat.mp4").frames
    assert np.abs(back[:, 16, 16].astype(int) - colours).max() <= 3


def test_failed_write_keeps_existing_file(tmp_path):
    path = write_video(tmp_path / "keep.mp4", smooth_frames(3, 16, 16), 10)
    before = path.read_bytes()
    with pytest.raises(InputError, match="uint8"):
        write_video(path, np.zeros((3, 16, 16, 3), np.float32), 10)
    with pytest.raises(InputError, match="crf"):
        write_video(path, smooth_frames(3, 16, 16), 10, crf=99)
    with pytest.raises(InputError, match="extension"):
        write_video(tmp_path / "clip.gif", smooth_frames(3, 16, 16), 10)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".webm", "libvpx-vp9"), (".avi", "mpeg4"), (".mov", "libx264"), (".mkv", "libx264")],
)
def test_reads_other_containers(tmp_path, suffix, codec):
    frames = level_frames(6)
    path = tmp_path / f"clip{suffix}"
    encode_raw(path, frames, codec, fps=25)
    info = probe_video(path)
    assert (info.num_frames, info.width, info.height, info.fps) == (6, 48, 32, 25.0)
    clip = read_video(path, num_frames=3)
    # linspace(0, 5, 3) = 0, 2.5, 5 -> nearest, halves up: 0, 3, 5
    assert frame_indices(clip.frames) == [0, 3, 5]


def test_rotation_metadata_is_applied(tmp_path):
    image = np.zeros((32, 64, 3), np.uint8)
    image[:8, :8] = 255  # white marker at the stored top-left corner
    encode_raw(tmp_path / "rot.mp4", np.stack([image] * 2), "libx264", rotation=90)
    clip = read_video(tmp_path / "rot.mp4")
    # A 90 degree counter-clockwise display rotation shows a 32-wide, 64-high picture with the
    # stored top-left corner at the bottom-left.
    assert clip.frames.shape == (2, 64, 32, 3)
    assert clip.frames[0, -4, 3].min() > 200 and clip.frames[0, 3, 3].max() < 50
    info = probe_video(tmp_path / "rot.mp4")
    assert (info.width, info.height) == (32, 64)


# ---------------------------------------------------------------- sampling and resizing


def test_uniform_sampling_picks_expected_frames_and_keeps_duration(tmp_path):
    frames = level_frames(12)
    write_video(tmp_path / "levels.mp4", frames, 30)
    clip = read_video(tmp_path / "levels.mp4", num_frames=5)
    # linspace(0, 11, 5) = 0, 2.75, 5.5, 8.25, 11 -> nearest (halves up) 0, 3, 6, 8, 11
    assert frame_indices(clip.frames) == [0, 3, 6, 8, 11]
    assert clip.fps == pytest.approx(30 * 5 / 12)
    assert clip.duration == pytest.approx(12 / 30)


def test_more_frames_than_source_repeats_frames(tmp_path):
    write_video(tmp_path / "short.mp4", level_frames(3), 10)
    clip = read_video(tmp_path / "short.mp4", num_frames=5)
    # linspace(0, 2, 5) = 0, .5, 1, 1.5, 2 -> 0, 1, 1, 2, 2
    assert frame_indices(clip.frames) == [0, 1, 1, 2, 2]
    assert clip.fps == pytest.approx(10 * 5 / 3)


def test_single_frame_sample(tmp_path):
    write_video(tmp_path / "v.mp4", level_frames(4), 10)
    clip = read_video(tmp_path / "v.mp4", num_frames=1)
    assert frame_indices(clip.frames) == [0]


def test_sampling_webm_without_stored_frame_count(tmp_path):
    encode_raw(tmp_path / "c.webm", level_frames(7), "libvpx-vp9", fps=25)
    clip = read_video(tmp_path / "c.webm", num_frames=4)
    # linspace(0, 6, 4) = 0, 2, 4, 6
    assert frame_indices(clip.frames) == [0, 2, 4, 6]


def test_truncated_file_is_sampled_over_the_frames_it_really_has(tmp_path):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (30, 64, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "full.mp4", noisy, 30, crf=30)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    full = read_video(cut)
    assert 0 < full.num_frames < 30
    clip = read_video(cut, num_frames=7)
    assert clip.frames.shape == (7, 64, 64, 3)
    # Sampled over the frames that decode, so the clip keeps their duration.
    assert clip.fps == pytest.approx(30 * 7 / full.num_frames)
    expected = np.floor(np.linspace(0, full.num_frames - 1, 7) + 0.5).astype(int)
    np.testing.assert_array_equal(clip.frames, full.frames[expected])


@pytest.mark.parametrize(
    ("src", "kwargs", "expected"),
    [
        ((1920, 1080), {"max_size": 1024}, (1024, 576)),
        ((1920, 1080), {"max_size": 1024, "multiple_of": 16}, (1024, 576)),
        ((1080, 1920), {"max_size": 512}, (288, 512)),
        ((640, 480), {"max_size": 1024}, (640, 480)),  # never enlarges
        ((1000, 563), {"multiple_of": 16}, (1008, 560)),  # 62.5 -> 63, 35.2 -> 35
        ((1000, 563), {"max_size": 1000, "multiple_of": 16}, (992, 560)),  # cap kept
        ((10, 5), {"multiple_of": 16}, (16, 16)),  # at least one multiple
        ((1920, 1080), {"size": (320, 200)}, (320, 200)),
    ],
)
def test_resolve_size(src, kwargs, expected):
    assert resolve_size(*src, **kwargs) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": (320, 200), "max_size": 100},
        {"size": (0, 10)},
        {"max_size": 0},
        {"multiple_of": -16},
        {"max_size": 8, "multiple_of": 16},
    ],
)
def test_resolve_size_rejects_bad_arguments(kwargs):
    with pytest.raises(InputError):
        resolve_size(100, 100, **kwargs)


def test_read_with_max_size_and_multiple_of(tmp_path):
    write_video(tmp_path / "v.mp4", smooth_frames(3, 48, 64), 10)
    assert read_video(tmp_path / "v.mp4", max_size=32).frames.shape == (3, 24, 32, 3)
    assert read_video(tmp_path / "v.mp4", multiple_of=20).frames.shape == (3, 40, 60, 3)
    assert read_video(tmp_path / "v.mp4", size=(30, 20)).frames.shape == (3, 20, 30, 3)
    small = read_video(tmp_path / "v.mp4", max_size=32).frames
    reference = cv2.resize(read_video(tmp_path / "v.mp4").frames[1], (32, 24), cv2.INTER_AREA)
    assert np.abs(small[1].astype(int) - reference).max() <= 1


# ---------------------------------------------------------------- image folders


def test_image_sequence_round_trip_is_exact(tmp_path):
    frames = smooth_frames(4, 20, 30)
    paths = write_image_sequence(tmp_path / "seq", frames)
    assert [p.name for p in paths] == [f"frame_{i:05d}.png" for i in range(4)]
    clip = read_video(tmp_path / "seq", default_fps=12)
    np.testing.assert_array_equal(clip.frames, frames)
    assert clip.fps == 12
    info = probe_video(tmp_path / "seq", default_fps=12)
    assert (info.num_frames, info.width, info.height, info.fps) == (4, 30, 20, 12.0)


def test_image_sequence_refuses_to_mix_with_old_frames(tmp_path):
    write_image_sequence(tmp_path / "seq", level_frames(5))
    with pytest.raises(InputError, match="overwrite"):
        write_image_sequence(tmp_path / "seq", level_frames(2))
    write_image_sequence(tmp_path / "seq", level_frames(2), overwrite=True)
    assert read_video(tmp_path / "seq").num_frames == 2


def test_image_folder_natural_order_sampling_and_jpg(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    frames = level_frames(11, 16, 24)
    for i, image in enumerate(frames):  # frame_2 must come before frame_10
        cv2.imwrite(str(folder / f"frame_{i}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image")
    clip = read_video(folder)
    assert frame_indices(clip.frames) == list(range(11))
    sampled = read_video(folder, num_frames=3, max_size=12)
    assert frame_indices(sampled.frames) == [0, 5, 10]
    assert sampled.frames.shape == (3, 8, 12, 3)
    assert sampled.fps == pytest.approx(30 * 3 / 11)


def test_image_folder_grey_and_16bit_images_become_rgb(tmp_path):
    folder = tmp_path / "grey"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((6, 8), 100, np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.full((6, 8), 200 * 257, np.uint16))
    clip = read_video(folder)
    assert clip.frames.shape == (2, 6, 8, 3)
    assert clip.frames[0].max() == 100 and clip.frames[1].min() == 200


def test_image_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no png/jpg"):
        read_video(empty)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    cv2.imwrite(str(mixed / "a.png"), np.zeros((10, 10, 3), np.uint8))
    cv2.imwrite(str(mixed / "b.png"), np.zeros((12, 10, 3), np.uint8))
    with pytest.raises(InputError, match="differ in size"):
        read_video(mixed)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png at all")
    with pytest.raises(InputError, match="a.png"):
        read_video(broken)


# ---------------------------------------------------------------- masks


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
@pytest.mark.parametrize("shape", [(5, 16, 32), (4, 17, 33)])
def test_mask_video_round_trip_is_exact(tmp_path, suffix, shape):
    masks = np.random.default_rng(1).random(shape) > 0.5
    path = write_mask_video(tmp_path / f"mask{suffix}", masks, 24)
    back = read_mask_video(path)
    assert back.dtype == np.bool_
    np.testing.assert_array_equal(back, masks)
    assert probe_video(path).fps == 24.0


def test_mask_video_rejects_non_bool(tmp_path):
    with pytest.raises(InputError, match="bool"):
        write_mask_video(tmp_path / "m.mkv", np.zeros((2, 4, 4), np.uint8), 10)
    with pytest.raises(InputError, match="extension"):
        write_mask_video(tmp_path / "m.webm", np.zeros((2, 4, 4), bool), 10)


# ---------------------------------------------------------------- bad input


def test_missing_corrupt_and_unsupported_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "x.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="x.mp4"):
        read_video(garbage)
    with pytest.raises(InputError, match="x.mp4"):
        probe_video(garbage)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="extension .txt"):
        read_video(text)
    with pytest.raises(InputError, match="num_frames"):
        read_video(garbage, num_frames=0)


def test_audio_only_and_empty_video_streams(tmp_path):
    audio = tmp_path / "audio.mp4"
    with av.open(str(audio), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        read_video(audio)

    empty = tmp_path / "empty.avi"
    with av.open(str(empty), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        container.start_encoding()
    with pytest.raises(InputError, match="no frame"):
        read_video(empty)
