"""Inputs -> Scene: the one way a video and its depth become a ``Scene``.

The CLI's ``reconstruct``, the server's ``UploadScene``, ``make-dataset`` and the demo all come
through ``reconstruct``: a video (file, image folder, ``VideoClip`` or frame array), a depth
source (a ``DepthSpec``, a depth backend, or a path that ``load_depth_backend`` recognises),
and a camera (explicit intrinsics, a focal length, a field of view, or the reference's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..camera.intrinsics import Intrinsics
from ..depth import DepthEstimator, load_depth_backend
from ..errors import Ex4dError, InputError
from ..geometry import DWMeshOptions
from .model import Scene

DEPTH_KINDS = ("depth", "disparity", "relative")


@dataclass(frozen=True)
class DepthSpec:
    """Where a scene's depth comes from: a depth model, or depth the user provides.

    ``model``: a transformers depth checkpoint: a local directory or a hub id such as
    ``depth-anything/Depth-Anything-V2-Small-hf`` (see ``ex4d_bridge.models``), run on
    ``device`` in batches of ``batch_size``. ``provided``: a ``.npy``/``.npz`` file or a folder
    of 16-bit PNGs, one map per frame, multiplied by ``scale`` and read as ``kind``
    (``depth``, ``disparity`` or ``relative``); maps of another size are resized to the video.
    """

    model: str | os.PathLike | None = None
    provided: str | os.PathLike | None = None
    scale: float = 1.0
    kind: str = "depth"
    device: str = "auto"
    batch_size: int = 4

    def __post_init__(self) -> None:
        if (self.model is None) == (self.provided is None):
            raise InputError(
                "give exactly one depth source: a depth model (a checkpoint directory or hub id) "
                "or provided depth (.npy/.npz or a folder of 16-bit PNGs)"
            )
        if self.kind not in DEPTH_KINDS:
            raise InputError(f"depth kind {self.kind!r} must be one of {', '.join(DEPTH_KINDS)}")

    def estimator(self) -> DepthEstimator:
        if self.model is not None:
            from ..depth import TransformersDepth
            from ..models import resolve_model

            model_dir = resolve_model(self.model, kind="depth")  # a local dir or a hub id
            return TransformersDepth(model_dir, device=self.device, batch_size=self.batch_size)
        assert self.provided is not None
        return load_depth_backend(self.provided, scale=self.scale, kind=self.kind, resize=True)


def resolve_intrinsics(
    width: int,
    height: int,
    *,
    intrinsics: Intrinsics | None = None,
    focal_px: float | None = None,
    fov_x_deg: float | None = None,
) -> Intrinsics:
    """The camera of ``width`` x ``height`` frames: explicit intrinsics (scaled to the frames
    when given for another size), else a centred pinhole with ``focal_px`` or a horizontal
    field of view, else the reference camera (f = 500 px, centred)."""
    given = [x is not None for x in (intrinsics, focal_px, fov_x_deg)]
    if sum(given) > 1:
        raise InputError("give at most one of intrinsics, a focal length or a field of view")
    if intrinsics is not None:
        if (intrinsics.width, intrinsics.height) != (width, height):
            return intrinsics.scaled(width, height)
        return intrinsics
    if focal_px is not None:
        if not (np.isfinite(focal_px) and focal_px > 0):
            raise InputError(
                f"the focal length must be a positive number of pixels, got {focal_px}"
            )
        return Intrinsics(focal_px, focal_px, width / 2, height / 2, width, height)
    if fov_x_deg is not None:
        if not (np.isfinite(fov_x_deg) and 0 < fov_x_deg < 180):
            raise InputError(f"the field of view must be in (0, 180) degrees, got {fov_x_deg}")
        return Intrinsics.from_fov(width, height, fov_x_deg=fov_x_deg)
    return Intrinsics.reference(width, height)


def load_clip(
    video,
    num_frames: int | None = None,
    max_size: int | None = None,
    multiple_of: int = 16,
    progress: bool = False,
    max_bytes: int | None = None,
):
    """A ``VideoClip`` from a path (every failure, a corrupt stream included, an
    ``InputError``; decoded frames over ``max_bytes`` a ``FrameBudgetError``, before they are
    decoded), a ``VideoClip`` (as is) or a (T, H, W, 3) uint8 array (at 30 fps)."""
    from ..video import VideoClip, read_video

    if isinstance(video, VideoClip):
        return video
    if isinstance(video, str | os.PathLike):
        try:
            return read_video(
                video,
                num_frames=num_frames,
                max_size=max_size,
                multiple_of=multiple_of,
                progress=progress,
                max_bytes=max_bytes,
            )
        except Ex4dError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoder errors deep inside a corrupt file
            raise InputError(
                f"the video could not be decoded ({type(exc).__name__}: {exc})"
            ) from None
    return VideoClip(np.asarray(video), 30.0, "array")


def reconstruct(
    video,
    depth: DepthSpec | DepthEstimator | str | os.PathLike,
    *,
    intrinsics: Intrinsics | None = None,
    focal_px: float | None = None,
    fov_x_deg: float | None = None,
    num_frames: int | None = None,
    max_size: int | None = None,
    multiple_of: int = 16,
    fps: float | None = None,
    source: str | None = None,
    mesh_options: DWMeshOptions | None = None,
    progress: bool = True,
) -> Scene:
    """Video + depth source + camera -> Scene.

    ``video``: a path (video file or image folder; read with ``num_frames``/``max_size`` and
    sides rounded to ``multiple_of``, which the generation model needs to be 16), a
    ``VideoClip`` or a (T, H, W, 3) uint8 array (taken as is, at ``fps`` or 30). ``depth``: a
    ``DepthSpec``, any ``DepthEstimator``, or a path ``load_depth_backend`` recognises. The
    camera comes from ``resolve_intrinsics``. Depth that is NaN, zero or negative becomes
    ``inf`` (no surface). Everything is validated before anything is returned; nothing is
    written. ``progress`` shows bars for decoding the video and for depth estimation."""
    clip = load_clip(video, num_frames, max_size, multiple_of, progress)
    frames = clip.frames
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise InputError("the video has no frames")
    h, w = frames.shape[1:3]
    k = resolve_intrinsics(w, h, intrinsics=intrinsics, focal_px=focal_px, fov_x_deg=fov_x_deg)
    if isinstance(depth, DepthSpec):
        estimator = depth.estimator()
    elif isinstance(depth, str | os.PathLike):
        estimator = load_depth_backend(depth)
    elif callable(getattr(depth, "estimate", None)):  # any object with DepthEstimator.estimate
        estimator = depth
    else:
        raise InputError(
            f"depth must be a DepthSpec, a depth backend or a path, got {type(depth).__name__}"
        )
    d = np.asarray(estimator.estimate(frames, progress=progress), dtype=np.float32)
    d = np.where(np.isfinite(d) & (d > 0), d, np.float32(np.inf))
    scene = Scene(
        frames,
        d,
        k,
        float(fps if fps is not None else clip.fps),
        str(source if source is not None else clip.source),
        mesh_options if mesh_options is not None else DWMeshOptions(),
    )
    scene.min_depth()  # a scene with no valid depth in frame 0 has no camera path: say so now
    return scene


__all__ = ["DEPTH_KINDS", "DepthSpec", "load_clip", "reconstruct", "resolve_intrinsics"]
