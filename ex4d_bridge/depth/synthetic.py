"""Depth that is known exactly, e.g. the analytic depth of the built-in synthetic scene."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .base import DepthEstimator, check_rgb_frames


class KnownDepth(DepthEstimator):
    """Returns the depth it was given, after checking it fits the frames.

    ``depth`` is ``[T, H, W]`` with positive values or ``+inf`` (no surface); NaN, zero or
    negative values are rejected rather than repaired, because known depth that is wrong is a
    bug upstream.
    """

    def __init__(self, depth: np.ndarray, *, name: str = "known") -> None:
        if not isinstance(depth, np.ndarray) or depth.ndim != 3 or min(depth.shape) < 1:
            shape = tuple(depth.shape) if isinstance(depth, np.ndarray) else type(depth).__name__
            raise InputError(f"known depth must be a non-empty [T, H, W] array, got {shape}")
        if not (np.issubdtype(depth.dtype, np.floating) or np.issubdtype(depth.dtype, np.integer)):
            raise InputError(f"known depth must be numeric, got {depth.dtype}")
        values = depth.astype(np.float32, copy=True)
        if np.isnan(values).any():
            raise InputError("known depth contains NaN; use +inf where there is no surface")
        if (values <= 0).any():
            raise InputError("known depth must be positive (or +inf where there is no surface)")
        self._depth = values
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self._depth.shape)  # type: ignore[return-value]

    def estimate(self, frames: np.ndarray, *, progress: bool = True) -> np.ndarray:
        frames = check_rgb_frames(frames)
        if tuple(frames.shape[:3]) != self.shape:
            raise InputError(
                f"known depth has shape [T, H, W] = {list(self.shape)} but the frames are "
                f"{list(frames.shape[:3])}"
            )
        return self._depth.copy()
