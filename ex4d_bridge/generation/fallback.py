"""Fast classical completion of the masked (unseen) pixels of rendered novel views.

Used when no video-diffusion weights are given, so a novel-view video still has no black holes.
The method is push-pull (pyramid) interpolation: known pixels are averaged down a pyramid of
half-resolution levels (smooth 4x4 windows) until every coarse pixel has data, then coarse
colours are pulled back up with bilinear upsampling and blended into each finer level where it
has no (or only partial) data. Holes get a smooth blend of the colours around them; known pixels
are returned bit-exactly.

A light forward temporal blend, over pixels that are holes in both a frame and its predecessor,
damps flicker of the fill where the hole barely moves between frames.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import InputError

MID_GREY = 128
# Frames pushed through the pyramid together; bounds peak memory (about 50 MB at 512x512).
_CHUNK = 8


def _check_inputs(frames: np.ndarray, masks: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise InputError(
            "frames must be a uint8 numpy array [T, H, W, 3], got "
            f"{type(frames).__name__} of dtype {getattr(frames, 'dtype', None)}"
        )
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"frames must have shape [T, H, W, 3] (RGB), got {frames.shape}")
    if not isinstance(masks, np.ndarray) or masks.dtype != np.bool_:
        raise InputError(
            "masks must be a bool numpy array [T, H, W] (True = known pixel), got "
            f"{type(masks).__name__} of dtype {getattr(masks, 'dtype', None)}; "
            "convert with mask.astype(bool)"
        )
    if masks.shape != frames.shape[:3]:
        raise InputError(
            f"masks shape {masks.shape} does not match the frames' [T, H, W] {frames.shape[:3]}"
        )


# A coarse pixel whose window holds at least a quarter of a fine pixel's worth of known data is
# fully trusted: the fill then follows the nearest known colours instead of fading towards a
# global average.
_TRUST_GAIN = 4.0


def _down_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Half length along ``dim`` with taps [1, 3, 3, 1] centred between each pair of samples.

    Output k sums x[2k-1] + 3 x[2k] + 3 x[2k+1] + x[2k+2], samples outside being zero, so coarse
    sample k sits where bilinear upsampling (align_corners=False) expects it. Strided views and
    in-place adds: no padding copies, which dominate the cost on CPU.
    """
    length = x.shape[dim]
    n = (length + 1) // 2
    lead = (slice(None),) * dim
    even, odd = x[lead + (slice(0, None, 2),)], x[lead + (slice(1, None, 2),)]
    out = 3.0 * even
    m = odd.shape[dim]
    if m:
        out.narrow(dim, 0, m).add_(odd, alpha=3.0)
        out.narrow(dim, 1, n - 1).add_(odd.narrow(dim, 0, n - 1))
    if n > 1:
        out.narrow(dim, 0, n - 1).add_(even.narrow(dim, 1, n - 1))
    return out


def _down(x: torch.Tensor) -> torch.Tensor:
    """Half resolution (rounding up) with separable [1, 3, 3, 1] / 8 taps.

    The smooth falloff avoids the staircase edges a 2x2 box leaves in large holes. Results are
    sums over the window (weights total 1 inside the image), so they are normalised later by
    the summed weight channel.
    """
    return _down_axis(_down_axis(x, 3), 2).mul_(1.0 / 64.0)


def _push_pull(premul: torch.Tensor) -> torch.Tensor:
    """Fill a premultiplied image ``premul`` [N, 4, H, W]: (r*w, g*w, b*w, w), w in [0, 1].

    Every frame must have some w > 0. Returns colours [N, 3, H, W] equal to ``rgb * w`` plus the
    coarser levels' fill times ``1 - w``, so where w = 1 they are the input colours.
    """
    h, w = premul.shape[-2:]
    rgb, weight = premul[:, :3], premul[:, 3:]
    if h == 1 and w == 1:
        return rgb / weight
    sums = _down(premul)
    sum_w = sums[:, 3:]
    trusted = (sum_w * _TRUST_GAIN).clamp_(max=1.0)
    # Coarse colour sums / sum_w, premultiplied by the trusted weight.
    sums[:, :3] *= trusted / sum_w.clamp_min(1e-12)
    sums[:, 3:] = trusted
    filled_coarse = _push_pull(sums)
    # The coarse grid covers the fine one padded to even size; upsample to that, then crop.
    up = F.interpolate(
        filled_coarse,
        size=(2 * sums.shape[2], 2 * sums.shape[3]),
        mode="bilinear",
        align_corners=False,
    )[..., :h, :w]
    return up.mul_(1.0 - weight).add_(rgb)


def _fill_chunk(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Push-pull fill of a chunk of frames that each have at least one known pixel."""
    weight = torch.from_numpy(masks).unsqueeze(1).float()
    color = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    out = _push_pull(torch.cat([color * weight, weight], dim=1))
    return out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def complete_frames(
    frames: np.ndarray,
    masks: np.ndarray,
    *,
    temporal: float = 0.25,
    progress: bool = True,
) -> np.ndarray:
    """Fill the unknown pixels of a video; known pixels are kept exactly.

    Args:
        frames: uint8 [T, H, W, 3] RGB video (values under unknown pixels are ignored).
        masks: bool [T, H, W], True where the pixel is known (valid).
        temporal: weight in [0, 1) of the previous completed frame in the filled pixels of the
            next one (0 disables the temporal blend).
        progress: show a progress bar.

    Returns:
        uint8 [T, H, W, 3]. A frame with no known pixel is copied from the previous completed
        frame (mid-grey if it is the first).
    """
    _check_inputs(frames, masks)
    if not (0.0 <= float(temporal) < 1.0):
        raise InputError(f"temporal={temporal} must be in [0, 1)")
    t_count = frames.shape[0]
    out = frames.copy()
    has_data = masks.reshape(t_count, -1).any(axis=1)
    needs_fill = ~masks.reshape(t_count, -1).all(axis=1)
    todo = np.flatnonzero(has_data & needs_fill)

    with torch.inference_mode():
        for start in tqdm(
            range(0, len(todo), _CHUNK), desc="completing", unit="chunk", disable=not progress
        ):
            idx = todo[start : start + _CHUNK]
            out[idx] = _fill_chunk(frames[idx], masks[idx])

    prev: np.ndarray | None = None
    for i in range(t_count):
        if not has_data[i]:
            out[i] = prev if prev is not None else MID_GREY
        elif needs_fill[i] and temporal > 0.0 and i > 0 and has_data[i - 1]:
            # Only where the previous frame was filled too: blending into pixels it actually
            # saw would leave ghosts of moving content (and a blind frame has nothing to give).
            assert prev is not None
            hole = ~masks[i] & ~masks[i - 1]
            blended = (1.0 - temporal) * out[i][hole] + temporal * prev[hole].astype(np.float32)
            out[i][hole] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        prev = out[i]
    # Known pixels are exact by construction; reassert it against rounding anywhere above.
    np.copyto(out, frames, where=masks[..., None])
    return out


def complete_frame(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels of one uint8 [H, W, 3] image (``mask`` bool [H, W], True = known).

    An image with no known pixel becomes mid-grey.
    """
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        shape = getattr(frame, "shape", None)
        raise InputError(f"frame must be a uint8 numpy array [H, W, 3], got shape {shape}")
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        shape = getattr(mask, "shape", None)
        raise InputError(f"mask must be a bool numpy array [H, W], got shape {shape}")
    return complete_frames(frame[None], mask[None], temporal=0.0, progress=False)[0]
