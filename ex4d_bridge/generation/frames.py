"""Fitting a render of any length to the model's frame count, and mapping the result back.

The reference's ``generate.py`` takes ``num_frames`` (49) frames of any render: a longer render
is sampled at ``linspace(0, count - 1, num_frames)`` truncated to integers, a shorter one is
used whole and padded with copies of its last frame. The generated video has ``num_frames``
frames; :func:`back_indices` says which generated frame each render frame gets, so a caller
always receives one frame per rendered pose.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def sample_indices(count: int, num_frames: int) -> np.ndarray:
    """Render frame indices [num_frames] that the model sees, as the reference picks them."""
    if count < 1 or num_frames < 1:
        raise InputError(f"cannot fit {count} render frames to {num_frames} model frames")
    if count >= num_frames:
        # np.linspace(..., dtype=int) truncates towards zero, as the reference's does.
        return np.linspace(0, count - 1, num_frames).astype(np.int64)
    return np.concatenate([np.arange(count), np.full(num_frames - count, count - 1)])


def back_indices(indices: np.ndarray, count: int) -> np.ndarray:
    """For each of ``count`` render frames, the generated frame whose sample is nearest to it
    (the earlier one on a tie): a sampled frame gets its own generated frame, the frames
    between two samples the nearer one's, and padding copies are never chosen over the frame
    they copy."""
    indices = np.asarray(indices)
    distance = np.abs(indices[None, :] - np.arange(count)[:, None])
    return np.argmin(distance, axis=1)  # argmin returns the first of equal minima


def describe_frame_fit(
    num_frames: int, preset_frames: int = 49, preset: str = "wan2.1-i2v-14b-480p"
) -> str:
    """One line saying what generation will do with a render of ``num_frames`` frames.

    ``reconstruct`` and ``render`` print it so that a clip whose length the model does not take
    is noticed before a long render, not at ``generate``.
    """
    if num_frames < 1 or preset_frames < 1:
        raise InputError(f"cannot fit {num_frames} render frames to {preset_frames} model frames")
    head = f"{num_frames} frames: generation ({preset}, {preset_frames} frames)"
    if num_frames == preset_frames:
        return f"{head} uses every frame as it is"
    hint = f"; reconstruct with --frames {preset_frames} for the reference's sampling"
    if num_frames > preset_frames:
        if preset_frames == 1:
            return f"{head} uses only the first frame and maps it to all {num_frames}{hint}"
        step = (num_frames - 1) / (preset_frames - 1)
        return (
            f"{head} samples {preset_frames} of them (about one in every {step:.1f}) "
            f"and maps the result back to all {num_frames}{hint}, or generate with "
            "--long-clip windowed to generate every frame"
        )
    padding = preset_frames - num_frames
    return (
        f"{head} pads them with {padding} copies of the last frame and keeps the first "
        f"{num_frames} generated frames{hint}"
    )
