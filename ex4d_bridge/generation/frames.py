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
