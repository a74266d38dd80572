"""Long clips: how a render is cut into overlapping model windows and how they are joined.

Pure functions and one frozen options object, no model and no I/O: the windowed driver
(:mod:`.windowed`) and the tests share them.

* **Windows.** A render of ``count`` frames is cut into windows of ``size`` frames (the model's
  frame count, 49 for the reference) that start ``size - overlap`` frames apart. The last
  window is moved back to end on the render's last frame, so every window is a full model
  window of real render frames (no padding) and the last join overlaps by ``overlap`` frames
  or more. A render of ``size`` frames or fewer is one window, generated as in the
  ``sampled`` mode (padded to the model's count, as the reference does).
* **Joins.** Window k+1 starts at frame ``a``; the windows before it end at ``e`` (> ``a``).
  Over the overlap ``a .. e - 1`` the output is a linear cross-fade,
  ``out[f] = (1 - w) * before[f] + w * window[f]`` with ``w = (f - a) / (e - a)``: 0 at the
  join frame ``a`` (which keeps the earlier windows' frame, the one window k+1 was conditioned
  on) rising by ``1 / (e - a)`` per frame, so the step into frame ``e`` (window k+1 alone) is
  as small as every other step of the ramp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

LONG_CLIP_MODES = ("sampled", "windowed")
# Frames two neighbouring windows share unless told otherwise (2 latent frames of the Wan VAE).
DEFAULT_OVERLAP = 8
# The window of a completer without a frame budget (the classical fallback): the reference's.
DEFAULT_WINDOW = 49


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class WindowOptions:
    """How a render longer than the model's window is generated.

    ``mode``: ``"sampled"`` (default, the reference: the render is sampled down to the model's
    frame count by linspace and the result mapped back) or ``"windowed"`` (every render frame is
    generated, in overlapping windows joined by a cross-fade). ``size``: the window's frame
    count (4k+1; None: the model's frame count, ``SamplingParams.num_frames`` or the preset's;
    49 for the classical fallback). ``overlap``: frames two neighbouring windows share (>= 1,
    < size; None: 8, at most half the window). ``size`` and ``overlap`` belong to the windowed
    mode; setting them with ``"sampled"`` is an error.
    """

    mode: str = "sampled"
    size: int | None = None
    overlap: int | None = None

    @property
    def windowed(self) -> bool:
        return self.mode == "windowed"

    def check(self) -> None:
        """Raise :class:`InputError` naming the first field that cannot be used."""
        if self.mode not in LONG_CLIP_MODES:
            raise InputError(
                f"long-clip mode {self.mode!r} must be one of {', '.join(LONG_CLIP_MODES)}"
            )
        if self.mode == "sampled" and (self.size is not None or self.overlap is not None):
            raise InputError(
                "a window size and overlap apply to the 'windowed' long-clip mode only; "
                "set mode='windowed' (CLI: --long-clip windowed) or leave them unset"
            )
        if self.size is not None:
            if not _is_int(self.size) or self.size < 5 or (self.size - 1) % 4:
                raise InputError(
                    f"window size {self.size!r} must be 4k+1 frames with k >= 1 (e.g. 17, 49, "
                    "81): the Wan VAE's frame count"
                )
        if self.overlap is not None:
            if not _is_int(self.overlap) or self.overlap < 1:
                raise InputError(
                    f"window overlap {self.overlap!r} must be an integer >= 1: window k+1 is "
                    "conditioned on the frame it shares with window k"
                )
            if self.size is not None and self.overlap >= self.size:
                raise InputError(
                    f"window overlap {self.overlap} must be smaller than the window "
                    f"({self.size} frames)"
                )

    def resolved_overlap(self, size: int) -> int:
        """The overlap for windows of ``size`` frames (the default when unset)."""
        overlap = self.overlap if self.overlap is not None else min(DEFAULT_OVERLAP, size // 2)
        if overlap >= size:
            raise InputError(
                f"window overlap {overlap} must be smaller than the window ({size} frames)"
            )
        return int(overlap)


def window_bounds(count: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """The windows ``[(start, stop), ...]`` that cover ``count`` render frames.

    Starts are ``overlap`` frames short of the previous window's end; the last window ends on
    frame ``count - 1`` (moved back if needed, so its overlap may be larger). A render of
    ``size`` frames or fewer is the single window ``(0, count)``.
    """
    if not _is_int(count) or count < 1:
        raise InputError(f"a render needs at least one frame, got {count!r}")
    if not _is_int(size) or size < 2:
        raise InputError(f"a window needs at least 2 frames, got {size!r}")
    if not _is_int(overlap) or not 1 <= overlap < size:
        raise InputError(f"window overlap {overlap!r} must be in 1 .. {size - 1}")
    count, size, overlap = int(count), int(size), int(overlap)
    if count <= size:
        return [(0, count)]
    stride = size - overlap
    starts = list(range(0, count - size, stride))
    starts.append(count - size)
    return [(s, s + size) for s in starts]


def crossfade_weights(start: int, end_before: int) -> np.ndarray:
    """Weights of the new window over the overlap ``start .. end_before - 1`` (float32):
    ``(f - start) / (end_before - start)``, 0 at the join frame."""
    length = end_before - start
    if length < 1:
        raise InputError(f"windows starting at {start} and ending at {end_before} do not overlap")
    return (np.arange(length, dtype=np.float32) / np.float32(length)).astype(np.float32)


def join_frames(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The overlap ``(start, end)`` of every join: window k+1's start and the end of the
    windows before it."""
    return [(b[0], a[1]) for a, b in zip(windows, windows[1:], strict=False)]
