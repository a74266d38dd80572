"""The in-memory video clip and the header facts about a video on disk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class VideoClip:
    """Decoded frames, ``uint8 [T, H, W, 3]`` RGB, their frame rate and where they came from."""

    frames: np.ndarray
    fps: float
    source: str

    def __post_init__(self) -> None:
        check_frames(self.frames, "VideoClip.frames")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"VideoClip.fps={self.fps} must be a positive finite number")

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def duration(self) -> float:
        """Seconds covered by the clip: one frame interval per frame."""
        return self.num_frames / self.fps


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as displayed (rotation metadata already applied to width/height)."""

    num_frames: int
    fps: float
    width: int
    height: int
    duration: float


def check_frames(frames: object, what: str = "frames") -> np.ndarray:
    """Validate a ``uint8 [T, H, W, 3]`` array with at least one frame, and return it."""
    if not isinstance(frames, np.ndarray):
        raise InputError(f"{what} must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"{what} must have shape [T, H, W, 3] (RGB), got {tuple(frames.shape)}")
    if frames.dtype != np.uint8:
        raise InputError(
            f"{what} must be uint8 (0..255), got {frames.dtype}; convert with "
            "np.clip(x * 255, 0, 255).astype(np.uint8) for images in [0, 1]"
        )
    if min(frames.shape[:3]) < 1:
        raise InputError(f"{what} is empty: shape {tuple(frames.shape)}")
    return frames
