"""The interface every depth backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..errors import InputError


class DepthEstimator(ABC):
    """Per-frame depth for a clip.

    ``estimate`` takes ``uint8 [T, H, W, 3]`` RGB frames and returns ``float32 [T, H, W]`` depth
    along the camera z axis, positive where there is a surface and ``+inf`` where there is none
    (never 0 or NaN), at the frames' own resolution.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """Short human-readable identity, e.g. ``transformers:depth_anything:Depth-Anything-V2``."""

    @abstractmethod
    def estimate(self, frames: np.ndarray, *, progress: bool = True) -> np.ndarray:
        """Depth ``float32 [T, H, W]`` for ``uint8 [T, H, W, 3]`` frames."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def check_rgb_frames(frames: object) -> np.ndarray:
    """Validate ``uint8 [T, H, W, 3]`` frames with T, H, W >= 1 and return them."""
    if not isinstance(frames, np.ndarray):
        raise InputError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"frames must have shape [T, H, W, 3] (RGB), got {tuple(frames.shape)}")
    if frames.dtype != np.uint8:
        raise InputError(f"frames must be uint8 RGB, got {frames.dtype}")
    if min(frames.shape[:3]) < 1:
        raise InputError(f"frames are empty: shape {tuple(frames.shape)}")
    return frames


def sanitize_depth(depth: np.ndarray) -> np.ndarray:
    """float32 copy with every non-finite or non-positive value set to ``+inf`` (no surface)."""
    out = np.asarray(depth, dtype=np.float32).copy()
    with np.errstate(invalid="ignore"):
        out[~(np.isfinite(out) & (out > 0))] = np.inf
    return out
