"""The classical completion fallback: known pixels exact, holes filled from their surroundings."""

from __future__ import annotations

import numpy as np
import pytest

from ex4d_bridge.errors import InputError
from ex4d_bridge.generation import complete_frame, complete_frames
from ex4d_bridge.generation.fallback import MID_GREY


def _ramp(h: int = 32, w: int = 64) -> np.ndarray:
    row = np.linspace(0, 255, w).round().astype(np.uint8)
    return np.repeat(np.tile(row[None, :], (h, 1))[..., None], 3, axis=2)


def test_known_pixels_are_kept_exactly():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(5, 37, 53, 3), dtype=np.uint8)
    masks = rng.random((5, 37, 53)) > 0.4
    before = frames.copy()
    out = complete_frames(frames, masks, progress=False)
    assert out.shape == frames.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[masks], frames[masks])
    np.testing.assert_array_equal(frames, before)  # input untouched


@pytest.mark.parametrize("shape", [(40, 40), (33, 57), (1, 9)])
def test_hole_in_constant_image_gets_that_colour(shape):
    h, w = shape
    colour = np.array([200, 150, 90], dtype=np.uint8)
    frame = np.broadcast_to(colour, (h, w, 3)).copy()
    mask = np.ones((h, w), dtype=bool)
    mask[h // 4 : max(h // 4 + 1, 3 * h // 4), w // 4 : 3 * w // 4] = False
    frame[~mask] = 0  # what a render leaves in the holes
    out = complete_frame(frame, mask)
    diff = np.abs(out.astype(int) - colour.astype(int))
    assert diff.max() <= 1


def test_hole_in_a_horizontal_ramp_is_interpolated():
    img = _ramp()
    mask = np.ones(img.shape[:2], dtype=bool)
    mask[8:24, 20:40] = False
    frame = img.copy()
    frame[~mask] = 0
    out = complete_frame(frame, mask).astype(int)
    left, right = int(img[0, 19, 0]), int(img[0, 40, 0])
    fill = out[8:24, 20:40]
    step = 255 / 63  # one pixel of the ramp
    assert fill.min() >= left - step and fill.max() <= right + step
    # Close to the ramp it replaces, and increasing from left to right on average.
    assert np.abs(fill - img[8:24, 20:40].astype(int)).mean() < 2 * step
    col_means = fill[..., 0].mean(axis=0)
    assert np.all(np.diff(col_means) > 0)
    # Grey ramp stays grey.
    assert np.all(fill[..., 0] == fill[..., 1]) and np.all(fill[..., 1] == fill[..., 2])


def test_no_black_left_in_a_bright_scene():
    rng = np.random.default_rng(2)
    frames = rng.integers(120, 256, size=(3, 64, 48, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:64, :48]
    masks = np.ones((3, 64, 48), dtype=bool)
    for t in range(3):
        masks[t] &= (yy - 30) ** 2 + (xx - 10 - 8 * t) ** 2 > 15**2  # a moving disc
        masks[t, :, 44:] = False  # a band at the border
    frames[~masks] = 0
    out = complete_frames(frames, masks, progress=False)
    assert out[~masks].min() >= 120


def test_frames_with_no_or_all_known_pixels():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(4, 16, 20, 3), dtype=np.uint8)
    masks = np.ones((4, 16, 20), dtype=bool)
    masks[0] = False  # first frame blind: mid-grey
    masks[2, 4:10, 5:12] = False
    masks[3] = False  # blind after a completed frame: copy it
    out = complete_frames(frames, masks, progress=False)
    assert np.all(out[0] == MID_GREY)
    np.testing.assert_array_equal(out[1], frames[1])  # all known: unchanged
    np.testing.assert_array_equal(out[3], out[2])
    assert np.all(complete_frame(frames[0], np.zeros((16, 20), bool)) == MID_GREY)


def test_temporal_blend_only_touches_filled_pixels():
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, size=(6, 24, 24, 3), dtype=np.uint8)
    masks = rng.random((6, 24, 24)) > 0.3
    smooth = complete_frames(frames, masks, temporal=0.5, progress=False)
    plain = complete_frames(frames, masks, temporal=0.0, progress=False)
    np.testing.assert_array_equal(smooth[masks], frames[masks])
    # Without the blend, each frame is completed on its own.
    for t in range(6):
        np.testing.assert_array_equal(plain[t], complete_frame(frames[t], masks[t]))
    # The blend acts only where a pixel is a hole in a frame and its predecessor.
    both = ~masks[1:] & ~masks[:-1]
    changed = smooth[1:] != plain[1:]
    assert changed.any()
    assert not np.any(changed.any(axis=-1) & ~both)


def test_bad_input_raises_input_error():
    frames = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    masks = np.ones((2, 8, 8), dtype=bool)
    with pytest.raises(InputError, match="uint8"):
        complete_frames(frames.astype(np.float32), masks)
    with pytest.raises(InputError, match="bool"):
        complete_frames(frames, masks.astype(np.uint8))
    with pytest.raises(InputError, match="shape"):
        complete_frames(frames[..., :1], masks[..., None])
    with pytest.raises(InputError, match="does not match"):
        complete_frames(frames, masks[:, :4])
    with pytest.raises(InputError, match=r"\[T, H, W, 3\]"):
        complete_frames(frames[0], masks[0])
    with pytest.raises(InputError):
        complete_frame(frames, masks)
    with pytest.raises(InputError, match="temporal"):
        complete_frames(frames, masks, temporal=1.0)
