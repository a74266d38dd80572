"""Making per-frame relative disparity consistent over a clip, and turning it into depth.

Relative depth models (Depth Anything, MiDaS/DPT) predict disparity only up to an unknown scale
and shift *per frame*: converting each frame on its own makes the geometry pulse. Here

1. :func:`align_disparity` fits, for every frame, ``scale * d_t + shift`` to a common
   reference by trimmed least squares (refit on the best-fitting ``1 - trim`` of the pixels,
   so moving objects and newly revealed regions do not bias the fit), and
2. :func:`disparity_to_depth` applies one affine map to the whole aligned clip, chosen so that
   the clip's ``high_percentile`` disparity lands at depth ``near`` and its ``low_percentile``
   disparity at depth ``far``, then inverts, and clamps anything farther to ``far``.

The defaults reproduce the scale of the reference implementation, whose nearest surface sits at
``10000 / 3900`` (about 2.56) units and which also clips its depth to a maximum; ``far``
defaults to 100, the depth the DW-Mesh pushes its border to, so the background (sky, the far
wall) becomes a backdrop inside the closed mesh rather than a hole. The 2nd/98th percentiles
(not min/max) keep single outlier pixels from setting the range.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

REFERENCE_NEAR = 10000.0 / 3900.0
DEFAULT_FAR = 100.0
ALIGN_MODES = ("reference", "chain", "none")
_MAX_SAMPLES = 65536


def _check_stack(disp: object, name: str) -> np.ndarray:
    if not isinstance(disp, np.ndarray) or disp.ndim != 3 or min(disp.shape) < 1:
        shape = tuple(disp.shape) if isinstance(disp, np.ndarray) else type(disp).__name__
        raise InputError(f"{name} must be a non-empty array of shape [T, H, W], got {shape}")
    if not np.issubdtype(disp.dtype, np.floating) and not np.issubdtype(disp.dtype, np.integer):
        raise InputError(f"{name} must be numeric, got {disp.dtype}")
    return disp


def _samples(disp: np.ndarray, max_samples: int) -> np.ndarray:
    """A regular pixel subgrid, ``float64 [T, S]``: the fit needs thousands of pixels, not all."""
    _, h, w = disp.shape
    stride = max(1, math.ceil(math.sqrt(h * w / max_samples)))
    return disp[:, ::stride, ::stride].reshape(disp.shape[0], -1).astype(np.float64)


def _weighted_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row least squares ``y ~ a x + b`` with 0/1 weights; rows are frames."""
    n = w.sum(axis=1)
    safe_n = np.maximum(n, 1.0)
    xz, yz = np.where(w > 0, x, 0.0), np.where(w > 0, y, 0.0)
    mx, my = xz.sum(axis=1) / safe_n, yz.sum(axis=1) / safe_n
    dx, dy = (xz - mx[:, None]) * w, (yz - my[:, None]) * w
    var, cov = (dx * dx).sum(axis=1), (dx * dy).sum(axis=1)
    spread = np.maximum(np.abs(mx), np.abs(my)) + 1.0
    flat = var <= (1e-12 * spread) ** 2 * safe_n
    a = np.where(flat, 1.0, cov / np.where(flat, 1.0, var))
    b = my - a * mx
    few = n < 2
    return np.where(few, 1.0, a), np.where(few, 0.0, b)


def _median_mad_fit(
    x: np.ndarray, y: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row median/MAD matching: a fit no minority of outliers can drag, used to start the
    trimmed refits and as the answer for rows whose pixels do not correspond at all."""
    rows = valid.any(axis=1)
    a, b = np.ones(len(x)), np.zeros(len(x))
    if not rows.any():
        return a, b
    xv = np.where(valid, x, np.nan)[rows]
    yv = np.where(valid, y, np.nan)[rows]
    mx, my = np.nanmedian(xv, axis=1), np.nanmedian(yv, axis=1)
    sx = np.nanmedian(np.abs(xv - mx[:, None]), axis=1)
    sy = np.nanmedian(np.abs(yv - my[:, None]), axis=1)
    scale = np.where(sx > 0, sy / np.where(sx > 0, sx, 1.0), 1.0)
    a[rows], b[rows] = scale, my - scale * mx
    return a, b


def fit_scale_shift(
    source: np.ndarray, target: np.ndarray, *, trim: float = 0.2, iterations: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Robust per-row ``(scale, shift)`` so that ``scale * source + shift ~ target``.

    ``source`` and ``target`` are ``[N, S]`` samples (rows are frames); non-finite samples are
    ignored. The fit starts from median/MAD matching (robust to any minority of outliers), then
    each iteration refits by least squares on the ``1 - trim`` fraction of samples with the
    smallest residuals. With ``trim=0`` it is plain least squares. A fit that would flip the
    disparity order (scale <= 0) falls back to median/MAD matching.
    """
    if not 0.0 <= trim < 1.0:
        raise InputError(f"trim={trim} must be in [0, 1)")
    valid = np.isfinite(source) & np.isfinite(target)
    robust_a, robust_b = _median_mad_fit(source, target, valid)
    if trim == 0:
        a, b = _weighted_fit(source, target, valid.astype(np.float64))
    else:
        a, b = robust_a, robust_b
        rows = valid.any(axis=1)
        for _ in range(iterations if rows.any() else 0):
            residual = np.where(valid, np.abs(a[:, None] * source + b[:, None] - target), np.nan)
            limit = np.full(len(source), np.inf)
            limit[rows] = np.nanquantile(residual[rows], 1.0 - trim, axis=1)
            weights = (valid & (residual <= limit[:, None])).astype(np.float64)
            a, b = _weighted_fit(source, target, weights)
    flipped = a <= 0
    return np.where(flipped, robust_a, a), np.where(flipped, robust_b, b)


def alignment_coefficients(
    disp: np.ndarray,
    *,
    mode: str = "reference",
    reference: int = 0,
    trim: float = 0.2,
    max_samples: int = _MAX_SAMPLES,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ``(scale, shift)``, each ``float64 [T]``, that :func:`align_disparity` applies.

    ``mode="reference"`` fits every frame to frame ``reference`` directly (no drift);
    ``mode="chain"`` fits each frame to its already aligned neighbour, walking away from the
    reference in both directions (better overlap when the camera moves a lot, but errors can
    accumulate); ``mode="none"`` leaves frames as they are. The reference frame gets (1, 0).
    """
    disp = _check_stack(disp, "disparity")
    t = disp.shape[0]
    if mode not in ALIGN_MODES:
        raise InputError(f"alignment mode {mode!r} is not one of {ALIGN_MODES}")
    if not -t <= reference < t:
        raise InputError(f"reference frame {reference} is outside a clip of {t} frames")
    reference %= t
    scale, shift = np.ones(t), np.zeros(t)
    if mode == "none" or t == 1:
        return scale, shift
    x = _samples(disp, max_samples)
    if mode == "reference":
        scale, shift = fit_scale_shift(x, np.broadcast_to(x[reference], x.shape), trim=trim)
        scale[reference], shift[reference] = 1.0, 0.0
        return scale, shift
    order = [*range(reference + 1, t), *range(reference - 1, -1, -1)]
    for i in order:
        j = i - 1 if i > reference else i + 1  # neighbour towards the reference, done already
        target = scale[j] * x[j] + shift[j]
        a, b = fit_scale_shift(x[i : i + 1], target[None], trim=trim)
        scale[i], shift[i] = a[0], b[0]
    return scale, shift


def align_disparity(
    disp: np.ndarray,
    *,
    mode: str = "reference",
    reference: int = 0,
    trim: float = 0.2,
) -> np.ndarray:
    """``float32 [T, H, W]`` disparity with every frame mapped onto the reference's scale/shift.

    See :func:`alignment_coefficients` for the modes; non-finite values stay non-finite.
    """
    scale, shift = alignment_coefficients(disp, mode=mode, reference=reference, trim=trim)
    out = disp.astype(np.float32, copy=True)
    out *= scale.astype(np.float32)[:, None, None]
    out += shift.astype(np.float32)[:, None, None]
    return out


def disparity_to_depth(
    disp: np.ndarray,
    *,
    near: float = REFERENCE_NEAR,
    far: float = DEFAULT_FAR,
    low_percentile: float = 2.0,
    high_percentile: float = 98.0,
) -> np.ndarray:
    """Depth ``float32 [T, H, W]`` from (aligned) relative disparity, one map for the clip.

    The affine map ``d' = alpha * d + beta`` sends the clip's ``high_percentile`` disparity to
    ``1 / near`` and its ``low_percentile`` disparity to ``1 / far``; depth is
    ``min(1 / d', far)``, with ``d' <= 0`` counting as infinitely far (so also ``far``).
    Pixels above the high percentile come out nearer than ``near``; those below the low
    percentile are clamped onto the ``far`` plane. ``far=inf`` makes that plane "no surface"
    (``+inf``). Non-finite disparity gives ``+inf``. A clip with no disparity spread at all
    becomes a plane at ``near``.
    """
    disp = _check_stack(disp, "disparity")
    if not (math.isfinite(near) and near > 0):
        raise InputError(f"near={near} must be a positive finite depth")
    if not far > near:
        raise InputError(f"far={far} must be larger than near={near}")
    if not 0.0 <= low_percentile < high_percentile <= 100.0:
        raise InputError(
            f"percentiles must satisfy 0 <= low < high <= 100, got {low_percentile}, "
            f"{high_percentile}"
        )
    samples = _samples(disp, 1 << 22).ravel()
    samples = samples[np.isfinite(samples)]
    out = np.full(disp.shape, np.inf, dtype=np.float32)
    if samples.size == 0:
        return out
    lo, hi = np.percentile(samples, [low_percentile, high_percentile])
    inv_near, inv_far = 1.0 / near, 1.0 / far
    if hi - lo <= 1e-9 * max(abs(hi), abs(lo), 1e-30):
        alpha, beta = 0.0, inv_near
    else:
        alpha = (inv_near - inv_far) / (hi - lo)
        beta = inv_near - alpha * hi
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for frame, target in zip(disp, out, strict=True):  # per frame: float64 of one frame only
            mapped = frame.astype(np.float64) * alpha + beta
            finite = np.isfinite(frame)
            depth = np.where(mapped > 0, 1.0 / mapped, np.inf)
            target[finite] = np.minimum(depth[finite], far)
    out[~(out > 0)] = np.inf
    return out
