"""Tracking masks: hidden regions that move with the content through the clip.

Masks drawn independently per frame flicker; the model should learn temporally consistent
completion, so a hidden region chosen in one frame is carried through the clip along dense
optical flow (OpenCV DIS): frame t+1's mask samples frame t's mask where the backward flow
points. Masks are True where the pixel is *valid* (kept), as everywhere in ex4d-bridge.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError


def random_blobs(
    rng: np.random.Generator, height: int, width: int, *, count: int = 3, coverage: float = 0.15
) -> np.ndarray:
    """(H, W) bool with ``count`` random ellipses hidden (False), about ``coverage`` of the area."""
    hidden = np.zeros((height, width), np.uint8)
    area = coverage * height * width / max(count, 1)
    for _ in range(count):
        aspect = rng.uniform(0.5, 2.0)
        a = max(2, int(np.sqrt(area / np.pi * aspect)))
        b = max(2, int(np.sqrt(area / np.pi / aspect)))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.ellipse(hidden, center, (a, b), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return hidden == 0


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def track_masks(frames: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Carry the hidden region of ``first`` (H, W) bool through ``frames`` (T, H, W, 3) uint8.

    Returns (T, H, W) bool; frame 0 is ``first``."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if first.shape != frames.shape[1:3]:
        raise InputError(f"first mask is {first.shape}, frames are {frames.shape[1:3]}")
    t_count, h, w = frames.shape[:3]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    hidden = (~first).astype(np.float32)
    out = np.empty((t_count, h, w), bool)
    out[0] = first
    prev_gray = _gray(frames[0])
    for t in range(1, t_count):
        gray = _gray(frames[t])
        back = dis.calc(gray, prev_gray, None)  # where each pixel of frame t was in t-1
        hidden = cv2.remap(
            hidden,
            gx + back[..., 0],
            gy + back[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        out[t] = hidden < 0.5
        prev_gray = gray
    return out
