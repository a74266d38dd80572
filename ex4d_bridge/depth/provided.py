"""Depth the user already has: a .npy/.npz array or a folder of 16-bit PNGs."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .align import DEFAULT_FAR, REFERENCE_NEAR, align_disparity, disparity_to_depth
from .base import DepthEstimator, check_rgb_frames, sanitize_depth

PROVIDED_KINDS = ("depth", "disparity", "relative")
ARRAY_SUFFIXES = (".npy", ".npz")
DISPARITY_HINT_FRACTION = 0.9
_NEAREST = cv2.INTER_NEAREST_EXACT


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_depth_pngs(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png"),
        key=_natural_key,
    )


def _load_png_folder(folder: Path) -> np.ndarray:
    files = list_depth_pngs(folder)
    if not files:
        raise InputError(f"depth folder {folder} holds no .png files")
    maps = []
    for path in files:
        data = np.fromfile(str(path), dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise InputError(f"cannot decode depth image {path}")
        if image.ndim != 2:
            raise InputError(
                f"depth image {path} has {image.shape[2]} channels; depth PNGs must be "
                "single-channel (16-bit grey), not a colour visualisation"
            )
        if maps and image.shape != maps[0].shape:
            raise InputError(
                f"depth images differ in size: {files[0].name} is {maps[0].shape[1]}x"
                f"{maps[0].shape[0]} but {path.name} is {image.shape[1]}x{image.shape[0]}"
            )
        maps.append(image)
    return np.stack(maps)


def _load_npz(path: Path, kind: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            for key in (kind, "depth"):
                if key in archive:
                    return archive[key]
            if len(keys) == 1:
                return archive[keys[0]]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    raise InputError(
        f"{path} holds arrays {keys}; name the depth array 'depth' or store only one array"
    )


def _load(path: Path, kind: str) -> np.ndarray:
    if path.is_dir():
        return _load_png_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
    if suffix == ".npz":
        return _load_npz(path, kind)
    raise InputError(
        f"cannot read depth from {path}: use a .npy or .npz file or a folder of 16-bit PNGs"
    )


def _as_stack(array: np.ndarray, path: Path) -> np.ndarray:
    """``[T, H, W]`` from ``[H, W]`` (one frame) or with a singleton channel axis removed."""
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3 or min(array.shape) < 1:
        raise InputError(
            f"depth in {path} has shape {tuple(array.shape)}; expected [T, H, W] (or [H, W] "
            "for a single frame)"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InputError(f"depth in {path} has dtype {array.dtype}; it must be numeric")
    return array


class ProvidedDepth(DepthEstimator):
    """Depth read from disk instead of estimated.

    ``path``: ``.npy`` (``[T, H, W]``, or ``[H, W]`` for one frame), ``.npz`` (the array named
    ``depth``, or its only array) or a folder of single-channel PNGs (usually 16-bit), one per
    frame in natural name order. Values are multiplied by ``scale`` and read as:

    * ``kind="depth"``: depth along the camera z axis;
    * ``kind="disparity"``: inverse depth (depth = 1 / value);
    * ``kind="relative"``: relative disparity with an unknown per-frame scale/shift (e.g. saved
      DepthCrafter output): aligned and mapped to ``near``..``far`` as for relative models.

    Non-finite and non-positive depth (for PNGs, the usual 0 = "no measurement") becomes
    ``+inf``. The frame count must match the frames given to :meth:`estimate`; a different
    image size is an error unless ``resize=True``, which resizes with nearest-neighbour
    sampling (interpolating across a depth edge would invent surfaces).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        scale: float = 1.0,
        kind: str = "depth",
        resize: bool = False,
        near: float = REFERENCE_NEAR,
        far: float = DEFAULT_FAR,
    ) -> None:
        if kind not in PROVIDED_KINDS:
            raise InputError(f"kind={kind!r} must be one of {PROVIDED_KINDS}")
        if not (np.isfinite(scale) and scale > 0):
            raise InputError(f"scale={scale} must be a positive finite number")
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"depth file {self.path} does not exist")
        self.kind, self.scale, self.resize = kind, float(scale), bool(resize)
        self.near, self.far = float(near), float(far)
        self._values = _as_stack(_load(self.path, kind), self.path)

    @property
    def name(self) -> str:
        return f"provided:{self.path.name}"

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, H, W)`` of the stored depth."""
        return tuple(int(v) for v in self._values.shape)  # type: ignore[return-value]

    def disparity_hint(self) -> str | None:
        """A warning when ``kind="depth"`` values look like normalised disparity, else None.

        Heuristic: at least ``DISPARITY_HINT_FRACTION`` of the positive finite values (after
        ``scale``) lie in (0, 1]. Depth in metres (or millimetres, 16-bit PNGs) of a video scene
        is almost never mostly under one unit, while disparity and relative-depth outputs saved
        as normalised maps are. A map that really is depth in (0, 1] (a close-up in metres) can
        silence it with ``scale``. Only frame 0 is inspected (cheap on a memory-mapped file).
        """
        if self.kind != "depth":
            return None
        values = np.asarray(self._values[0], dtype=np.float32) * np.float32(self.scale)
        valid = values[np.isfinite(values) & (values > 0)]
        if valid.size == 0:
            return None
        fraction = float(np.count_nonzero(valid <= 1.0)) / valid.size
        if fraction < DISPARITY_HINT_FRACTION:
            return None
        return (
            f"depth in {self.path} is read as depth, but {fraction:.0%} of frame 0 lies in "
            "(0, 1]: this looks like normalised disparity (near = large), not depth; if so, "
            "pass kind='disparity' (or 'relative' for an unknown scale and shift), e.g. "
            "DepthSpec(kind=...) or the client's depth_kind; if it is depth in metres, ignore this"
        )

    def _depth(self, values: np.ndarray | None = None) -> np.ndarray:
        """Depth from ``values`` (default: all stored frames); for ``depth`` and ``disparity``
        the conversion is per pixel, so it can be applied one frame at a time."""
        if values is None:
            values = self._values
        values = np.asarray(values, dtype=np.float32) * np.float32(self.scale)
        if self.kind == "depth":
            return sanitize_depth(values)
        if self.kind == "disparity":
            with np.errstate(divide="ignore", invalid="ignore"):
                return sanitize_depth(np.where(values > 0, 1.0 / values, np.inf))
        aligned = align_disparity(values)
        return disparity_to_depth(aligned, near=self.near, far=self.far)

    def estimate(self, frames: np.ndarray, *, progress: bool = True) -> np.ndarray:
        frames = check_rgb_frames(frames)
        t, h, w = frames.shape[:3]
        st, sh, sw = self.shape
        if st != t or ((sh, sw) != (h, w) and not self.resize):
            raise InputError(
                f"depth in {self.path} has shape [T, H, W] = {[st, sh, sw]} but the frames are "
                f"{[t, h, w]}; "
                + (
                    "the frame counts must match"
                    if st != t
                    else "pass resize=True to resize the depth to the frames"
                )
            )
        if (sh, sw) != (h, w):
            warnings.warn(
                f"depth in {self.path} is {sw}x{sh} but the video is {w}x{h}: resizing the depth "
                "to the video (nearest neighbour); if the aspect ratios differ the depth is "
                "stretched",
                UserWarning,
                stacklevel=2,
            )
        hint = self.disparity_hint()
        if hint:
            warnings.warn(hint, UserWarning, stacklevel=2)
        if (sh, sw) == (h, w):
            return self._depth()
        if self.kind in ("depth", "disparity"):
            # Per-pixel conversions commute with nearest-neighbour resizing: resize each stored
            # frame first, so memory is the output plus one frame, not the full-size stack
            # several times over (a memory-mapped .npy is never read whole).
            out = np.empty((t, h, w), dtype=np.float32)
            for i in range(t):
                frame = np.asarray(self._values[i], dtype=np.float32)
                out[i] = self._depth(cv2.resize(frame, (w, h), interpolation=_NEAREST))
            return out
        depth = self._depth()  # relative depth is aligned over the whole stack
        return np.stack([cv2.resize(d, (w, h), interpolation=_NEAREST) for d in depth])
