"""Uniform frame sampling that keeps a clip's duration."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def check_num_frames(num_frames: object) -> int:
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise InputError(f"num_frames={num_frames!r} must be a positive integer")
    if num_frames < 1:
        raise InputError(f"num_frames={num_frames} must be at least 1")
    return int(num_frames)


def uniform_indices(total: int, count: int) -> np.ndarray:
    """``count`` source indices spread evenly from the first to the last of ``total`` frames.

    Sorted; when ``count > total`` some frames repeat (the clip is slowed down in index, not in
    time, because the frame rate is raised to match, see :func:`sampled_fps`).
    """
    if total < 1:
        raise InputError("cannot sample frames from a clip with no frames")
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    return np.floor(np.linspace(0.0, total - 1, count) + 0.5).astype(np.int64)


def sampled_fps(fps: float, total: int, count: int) -> float:
    """Frame rate of ``count`` frames sampled from ``total`` so the clip lasts as long as before."""
    return float(fps) * count / total
