"""Lifting generated frames into completion layers.

A generated frame at pose P completes source frame t along its path. ``lift_frame`` keeps the
pixels its render mask asked the generator for (less those earlier layers already completed),
dilated by ``margin`` pixels so that seams between the layer and the source surface close, and
gives each a depth in the generated camera:

* pixels where the source DW-Mesh shows a visible face at P (the margin, and any generated
  pixel the reference-shaped mask took from a visible face) take that render's depth, so the
  layer meets the source surface exactly;
* the others (the hole) take the depth of the chosen strategy (``DEPTH_FILLS``):
  ``propagate`` (default, no model) fills from the background side of the hole's boundary,
  in disparity (see ``depth_fill``); ``aligned`` runs a depth model on the generated frame and
  maps it by a robust scale + shift in disparity fitted where the render has depth; ``known``
  asks a function for the exact depth (tests, benchmarks, synthetic scenes).

The layer is cropped to the box of its pixels (see ``layers.CompletionLayer``).
``lift_generation`` lifts a whole generated video along its path, one layer per pose.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from tqdm.auto import tqdm

from ...camera.intrinsics import Intrinsics
from ...camera.trajectory import Trajectory
from ...depth.base import DepthEstimator
from ...errors import Cancelled, InputError
from ...geometry import DWMesh, RenderOptions, render
from ..model import Scene
from ..trajectory_render import cancel_check, render_intrinsics, resolve_frame_indices
from .depth_fill import (
    aligned_depth,
    edge_evidence,
    foreground_seen,
    propagate_depth,
    source_foreground,
)
from .layers import CompletionLayer

DEPTH_FILLS = ("propagate", "aligned", "known")

# (t, c2w, K) -> (H, W) float32 z-depth of source frame t seen from c2w with K
KnownDepthFn = Callable[[int, np.ndarray, Intrinsics], np.ndarray]
# (t, c2w, K) -> (H, W) bool: pixels already completed by earlier layers
CoveredFn = Callable[[int, np.ndarray, Intrinsics], np.ndarray]


@dataclass(frozen=True)
class LiftOptions:
    """How generated pixels become a completion layer.

    ``depth_fill``: one of ``DEPTH_FILLS``. ``margin``: known pixels around the generated
    region also lifted (with the source render's depth), so seams close. ``depth_model``: the
    depth backend ``aligned`` runs on the generated frame. ``known_depth``: (t, c2w, K) ->
    (H, W) float32 z-depth, for ``known``. ``render``: how the source DW-Mesh is rendered at the
    generated pose (backend, device; the mask style is always ``"face"``, exact visibility).
    ``band``: how far (pixels) around a hole ``propagate`` looks for background seeds.
    ``edge_ratio``: an occluded face counts as a depth edge when its far / near vertex depth
    exceeds this."""

    depth_fill: str = "propagate"
    margin: int = 2
    depth_model: DepthEstimator | None = None
    known_depth: KnownDepthFn | None = None
    render: RenderOptions = field(default_factory=RenderOptions)
    band: int = 6
    edge_ratio: float = 1.03

    def __post_init__(self) -> None:
        if self.depth_fill not in DEPTH_FILLS:
            raise InputError(
                f"unknown depth fill {self.depth_fill!r}; use one of {', '.join(DEPTH_FILLS)}"
            )
        for name, low in (("margin", 0), ("band", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
        r = self.edge_ratio
        if isinstance(r, bool) or not isinstance(r, int | float) or not (1.0 < r < math.inf):
            raise InputError(f"edge_ratio must be a finite number > 1, got {r!r}")
        if not isinstance(self.render, RenderOptions):
            raise InputError(f"render must be a RenderOptions, got {type(self.render).__name__}")
        if self.depth_model is not None and not isinstance(self.depth_model, DepthEstimator):
            raise InputError(
                f"depth_model must be a DepthEstimator, got {type(self.depth_model).__name__}"
            )
        if self.depth_fill == "aligned" and self.depth_model is None:
            raise InputError("depth_fill='aligned' needs a depth_model to run on generated frames")
        if self.known_depth is not None and not callable(self.known_depth):
            raise InputError("known_depth must be a function (t, c2w, K) -> (H, W) depth")
        if self.depth_fill == "known" and self.known_depth is None:
            raise InputError(
                "depth_fill='known' needs known_depth, a function (t, c2w, K) -> depth"
            )


# -- checks ---------------------------------------------------------------------------------


def _check_frame_index(scene: Scene, t) -> int:
    if isinstance(t, bool) or not isinstance(t, int | np.integer):
        raise InputError(f"frame index must be an integer, got {t!r}")
    if not 0 <= t < scene.num_frames:
        raise InputError(
            f"frame index {t} is outside the scene's {scene.num_frames} frames "
            f"(0..{scene.num_frames - 1})"
        )
    return int(t)


def _check_pose(pose) -> np.ndarray:
    p = np.asarray(pose, dtype=np.float64)
    if p.shape != (4, 4) or not np.isfinite(p).all():
        raise InputError(f"pose must be a finite 4x4 camera-to-world matrix, got shape {p.shape}")
    return p


def _check_image(name: str, image, k: Intrinsics, channels: int | None, dtype) -> np.ndarray:
    shape = (k.height, k.width) if channels is None else (k.height, k.width, channels)
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name} must be a numpy array {shape}, got {type(image).__name__}")
    if image.shape != shape or image.dtype != dtype:
        raise InputError(
            f"{name} must be {np.dtype(dtype).name} {shape} (the camera's {k.width}x{k.height}), "
            f"got {image.dtype} {image.shape}"
        )
    return image


def _check_generation(generation) -> str:
    if not isinstance(generation, str) or not generation:
        raise InputError(f"generation must be a non-empty string id, got {generation!r}")
    return generation


# -- one frame ------------------------------------------------------------------------------


def _dilate(region: np.ndarray, margin: int) -> np.ndarray:
    if margin == 0:
        return region.copy()
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    return cv2.dilate(region.astype(np.uint8), kernel).astype(bool)


class _Source:
    """A source frame's DW-Mesh and, computed once however many poses lift from it, the near
    sides of its depth edges (``depth_fill.source_foreground``)."""

    def __init__(self, mesh: DWMesh, options: LiftOptions) -> None:
        self.mesh = mesh
        self._options = options
        self._foreground: np.ndarray | None = None

    @property
    def foreground(self) -> np.ndarray:
        if self._foreground is None:
            o = self._options
            self._foreground = source_foreground(self.mesh, edge_ratio=o.edge_ratio, band=o.band)
        return self._foreground


def _hole_depth(
    options: LiftOptions,
    source: _Source,
    t: int,
    pose: np.ndarray,
    k: Intrinsics,
    generated: np.ndarray,
    depth: np.ndarray,
    known: np.ndarray,
    face_id: np.ndarray,
    target: np.ndarray,
) -> np.ndarray:
    """(H, W) float32 depth on ``target`` (inf elsewhere and where there is no surface)."""
    mesh = source.mesh
    if options.depth_fill == "known":
        truth = np.asarray(options.known_depth(t, pose.copy(), k), dtype=np.float32)
        if truth.shape != target.shape:
            raise InputError(
                f"known_depth returned shape {truth.shape} for a {k.width}x{k.height} camera"
            )
        out = np.full(target.shape, np.inf, np.float32)
        out[target] = truth[target]
        out[~(np.isfinite(out) & (out > 0))] = np.inf
        return out
    if options.depth_fill == "aligned":
        model = options.depth_model
        predicted = np.asarray(model.estimate(generated[None], progress=False), np.float32)
        if predicted.shape != (1, *target.shape):
            raise InputError(
                f"depth model {model.name!r} returned {predicted.shape} for one "
                f"{k.width}x{k.height} frame, expected (1, {k.height}, {k.width})"
            )
        out, _ = aligned_depth(predicted[0], depth, known, target, far_depth=mesh.far_depth)
        return out
    # propagate: only the box around the hole (plus the seed band) matters.
    ys, xs = np.nonzero(target)
    pad = options.band + 3
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + 1 + pad, target.shape[0])
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + 1 + pad, target.shape[1])
    box = (slice(y0, y1), slice(x0, x1))
    near, far = edge_evidence(mesh, face_id[box], target[box], pose, edge_ratio=options.edge_ratio)
    fg = foreground_seen(mesh, face_id[box], known[box], source.foreground)
    out = np.full(target.shape, np.inf, np.float32)
    out[box] = propagate_depth(
        depth[box],
        known[box],
        target[box],
        near,
        far,
        band=options.band,
        far_depth=mesh.far_depth,
        foreground=fg,
    )
    return out


def _lift(
    source: _Source,
    t: int,
    pose: np.ndarray,
    k: Intrinsics,
    generated: np.ndarray,
    mask: np.ndarray,
    generation: str,
    options: LiftOptions,
    covered: np.ndarray | None,
) -> CompletionLayer | None:
    hole = ~mask if covered is None else ~mask & ~covered
    if not hole.any():
        return None
    layer = _dilate(hole, options.margin)
    out = render(source.mesh, pose, k, replace(options.render, mask_style="face"))
    depth = np.asarray(out.depth, np.float32)
    known = np.asarray(out.mask, bool) & np.isfinite(depth) & (depth > 0)
    face_id = np.asarray(out.face_id)
    lifted = np.where(layer & known, depth, np.float32(np.inf)).astype(np.float32)
    target = layer & ~known
    if target.any():
        fill = _hole_depth(options, source, t, pose, k, generated, depth, known, face_id, target)
        lifted[target] = fill[target]
    valid = np.isfinite(lifted) & (lifted > 0)
    if not valid.any():
        return None
    ys, xs = np.nonzero(valid)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    crop_valid = valid[y0:y1, x0:x1]
    crop_depth = np.where(crop_valid, lifted[y0:y1, x0:x1], np.float32(np.inf)).astype(np.float32)
    crop_color = np.where(crop_valid[..., None], generated[y0:y1, x0:x1], 0).astype(np.uint8)
    return CompletionLayer(t, generation, pose, k, (x0, y0, x1, y1), crop_depth, crop_color)


def lift_frame(
    scene: Scene,
    t: int,
    pose: np.ndarray,
    intrinsics: Intrinsics,
    generated: np.ndarray,
    mask: np.ndarray,
    generation: str,
    options: LiftOptions = LiftOptions(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    covered: np.ndarray | None = None,
) -> CompletionLayer | None:
    """The completion layer of source frame ``t`` from one generated frame, or None when
    nothing is left to lift.

    ``generated`` (H, W, 3) uint8 is the generated frame at ``pose`` (camera-to-world, OpenCV)
    with ``intrinsics``; ``mask`` (H, W) bool the render mask it was generated with (True =
    copied from the render, False = generated); ``covered`` (H, W) bool the pixels that earlier
    layers already complete (left out of the hole)."""
    if not isinstance(scene, Scene):
        raise InputError(f"scene must be a Scene, got {type(scene).__name__}")
    if not isinstance(options, LiftOptions):
        raise InputError(f"options must be a LiftOptions, got {type(options).__name__}")
    if not isinstance(intrinsics, Intrinsics):
        raise InputError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    t = _check_frame_index(scene, t)
    pose = _check_pose(pose)
    generation = _check_generation(generation)
    generated = _check_image("generated frame", generated, intrinsics, 3, np.uint8)
    mask = _check_image("mask", mask, intrinsics, None, np.bool_)
    if covered is not None:
        covered = _check_image("covered", covered, intrinsics, None, np.bool_)
    source = _Source(scene.mesh(t), options)
    return _lift(source, t, pose, intrinsics, generated, mask, generation, options, covered)


# -- a whole generation ---------------------------------------------------------------------


def lift_generation(
    scene: Scene,
    trajectory: Trajectory,
    frame_indices: np.ndarray,
    generated: np.ndarray,
    masks: np.ndarray,
    generation: str,
    options: LiftOptions = LiftOptions(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    covered: CoveredFn | None = None,
    progress=True,
    cancel=None,
) -> list[CompletionLayer]:
    """One completion layer per pose of ``trajectory`` where anything is left to lift.

    ``generated`` (N, H, W, 3) uint8 is the generated video along the path (N poses, at the
    path's render size, see ``render_intrinsics``); ``masks`` (N, H, W) bool the render masks
    it was generated with; ``frame_indices`` (N,) the source frame of each pose. ``covered``:
    (t, c2w, K) -> (H, W) bool, the pixels earlier layers already complete at that pose.
    ``progress``: True for a bar, or a function called with (done, total) after each pose;
    ``cancel``: an Event or a function, checked before each pose (raises ``Cancelled``).
    Everything is checked before the first frame is lifted."""
    if not isinstance(scene, Scene):
        raise InputError(f"scene must be a Scene, got {type(scene).__name__}")
    if not isinstance(trajectory, Trajectory):
        raise InputError(f"trajectory must be a Trajectory, got {type(trajectory).__name__}")
    if not isinstance(options, LiftOptions):
        raise InputError(f"options must be a LiftOptions, got {type(options).__name__}")
    generation = _check_generation(generation)
    k = render_intrinsics(scene, trajectory)
    n = len(trajectory)
    if not isinstance(generated, np.ndarray) or generated.dtype != np.uint8:
        raise InputError(
            f"the generated video must be a uint8 array (N, H, W, 3), got "
            f"{getattr(generated, 'dtype', type(generated).__name__)}"
        )
    if generated.ndim != 4 or generated.shape[-1] != 3:
        raise InputError(f"the generated video must be (N, H, W, 3), got {generated.shape}")
    if len(generated) != n:
        raise InputError(
            f"the generated video has {len(generated)} frames but its path "
            f"{trajectory.name!r} has {n} poses"
        )
    if generated.shape[1:3] != (k.height, k.width):
        raise InputError(
            f"the generated video is {generated.shape[2]}x{generated.shape[1]} but its path "
            f"renders at {k.width}x{k.height}"
        )
    if not isinstance(masks, np.ndarray) or masks.dtype != np.bool_:
        raise InputError(
            f"masks must be a bool array (N, H, W), got "
            f"{getattr(masks, 'dtype', type(masks).__name__)}"
        )
    if masks.shape != generated.shape[:3]:
        raise InputError(
            f"masks are {masks.shape} but the generated video is {generated.shape[:3]} (N, H, W)"
        )
    try:
        idx = resolve_frame_indices(scene, n, frame_indices)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("frame_indices must be an array of integer frame numbers") from None
    if covered is not None and not callable(covered):
        raise InputError("covered must be a function (t, c2w, K) -> (H, W) bool")

    cancelled = cancel_check(cancel)
    hook = progress if callable(progress) else None
    bar = tqdm(total=n, desc="lift", unit="frame", disable=hook is not None or not progress)
    layers: list[CompletionLayer] = []
    source_t, source = -1, None
    try:
        for i in range(n):
            if cancelled():
                raise Cancelled(f"lifting was cancelled after {i} of {n} frames")
            t, pose = int(idx[i]), trajectory.poses[i]
            cov = None
            if covered is not None:
                cov = _check_image(f"covered({t})", covered(t, pose, k), k, None, np.bool_)
            if source_t != t:
                source_t, source = t, _Source(scene.mesh(t), options)
            layer = _lift(source, t, pose, k, generated[i], masks[i], generation, options, cov)
            if layer is not None:
                layers.append(layer)
            bar.update(1)
            if hook is not None:
                hook(i + 1, n)
    finally:
        bar.close()
    return layers


__all__ = ["DEPTH_FILLS", "LiftOptions", "lift_frame", "lift_generation"]
