"""Image preprocessing for transformers depth models, in torch, from the checkpoint's own config.

We read ``preprocessor_config.json`` instead of running the transformers image processor so
that batches stay on the device and one resize rule covers every frame of a clip. Supported
keys (those of the DPT / Depth Anything / GLPN / ZoeDepth / DepthPro processors):
``do_resize``, ``size`` (``height``/``width`` or ``shortest_edge``), ``keep_aspect_ratio``,
``ensure_multiple_of``, ``size_divisor``, ``resample``, ``do_rescale``, ``rescale_factor``,
``do_normalize``, ``image_mean``, ``image_std``. Padding options are not reproduced: inputs are
resized straight to a valid size instead.

Without a preprocessor config the Depth Anything V2 defaults apply: the side that changes least
goes to 518 px with the aspect ratio kept, both sides a multiple of the backbone patch size
(14 for DINOv2), ImageNet mean/std.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 518
# PIL resample codes used in processor configs -> torch interpolate modes.
_RESAMPLE = {0: "nearest", 1: "bilinear", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bicubic"}


@dataclass(frozen=True)
class Preprocess:
    """How frames become model input; see the module docstring for the rules."""

    do_resize: bool = True
    height: int | None = DEFAULT_INPUT_SIZE
    width: int | None = DEFAULT_INPUT_SIZE
    shortest_edge: int | None = None
    keep_aspect_ratio: bool = True
    multiple: int = 14
    size_divisor: int | None = None
    mode: str = "bicubic"
    rescale: float | None = 1.0 / 255.0
    mean: tuple[float, float, float] | None = IMAGENET_MEAN
    std: tuple[float, float, float] | None = IMAGENET_STD

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """Model input ``(height, width)`` for a ``height x width`` frame."""
        if not self.do_resize:
            h, w = float(height), float(width)
        elif self.shortest_edge is not None:
            scale = self.shortest_edge / min(height, width)
            h, w = height * scale, width * scale
        else:
            scale_h = self.height / height
            scale_w = self.width / width
            if self.keep_aspect_ratio:
                # As the DPT processor does: keep the scale that changes the image least.
                if abs(1 - scale_w) < abs(1 - scale_h):
                    scale_h = scale_w
                else:
                    scale_w = scale_h
            h, w = height * scale_h, width * scale_w
        m = self.multiple
        h_out = max(m, int(math.floor(h / m + 0.5)) * m)
        w_out = max(m, int(math.floor(w / m + 0.5)) * m)
        if self.size_divisor:
            d = self.size_divisor
            h_out, w_out = max(d, h_out // d * d), max(d, w_out // d * d)
        return h_out, w_out

    def __call__(self, frames: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``uint8 [B, H, W, 3]`` (any device) -> model input ``[B, 3, h, w]`` in ``dtype``."""
        x = frames.permute(0, 3, 1, 2).to(torch.float32)
        h, w = self.input_size(x.shape[2], x.shape[3])
        if (h, w) != tuple(x.shape[2:]):
            smooth = self.mode != "nearest"
            shrinking = h < x.shape[2] or w < x.shape[3]
            x = F.interpolate(
                x,
                size=(h, w),
                mode=self.mode,
                align_corners=False if smooth else None,
                antialias=smooth and shrinking,
            )
            x = x.clamp(0.0, 255.0)  # bicubic overshoot; PIL clamps the same way on uint8
        if self.rescale is not None:
            x = x * self.rescale
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
            x = (x - mean) / std
        return x.to(dtype)


def _triple(value: object, key: str, path: Path) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    if isinstance(value, (list, tuple)) and len(value) == 3:
        return tuple(float(v) for v in value)  # type: ignore[return-value]
    raise InputError(f"{path}: {key} must be a number or three numbers, got {value!r}")


def preprocess_from_checkpoint(model_dir: Path, patch_size: int | None) -> Preprocess:
    """The :class:`Preprocess` for a checkpoint folder (defaults when it has no processor file)."""
    multiple_default = patch_size or 14
    path = model_dir / "preprocessor_config.json"
    if not path.is_file():
        return Preprocess(multiple=multiple_default)
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot parse {path}: {exc}") from exc
    if not isinstance(cfg, dict):
        raise InputError(f"{path} must hold a JSON object")

    size = cfg.get("size")
    height = width = shortest = None
    if isinstance(size, dict):
        height, width = size.get("height"), size.get("width")
        shortest = size.get("shortest_edge")
        if (height is None) != (width is None) or (height is None and shortest is None):
            raise InputError(f"{path}: size {size!r} needs height and width, or shortest_edge")
    elif isinstance(size, int):
        height = width = size
    elif size is not None:
        raise InputError(f"{path}: unsupported size {size!r}")
    size_divisor = cfg.get("size_divisor")
    do_resize = bool(cfg.get("do_resize", True)) and (size is not None or size_divisor is None)
    if size is None and size_divisor is None:
        height = width = DEFAULT_INPUT_SIZE

    has_stats = "image_mean" in cfg and "image_std" in cfg
    do_normalize = bool(cfg.get("do_normalize", has_stats))
    mean = _triple(cfg.get("image_mean", IMAGENET_MEAN), "image_mean", path)
    std = _triple(cfg.get("image_std", IMAGENET_STD), "image_std", path)
    do_rescale = bool(cfg.get("do_rescale", True))
    return Preprocess(
        do_resize=do_resize,
        height=height,
        width=width,
        shortest_edge=shortest if height is None else None,
        keep_aspect_ratio=bool(cfg.get("keep_aspect_ratio", False)),
        multiple=int(cfg.get("ensure_multiple_of") or 1),
        size_divisor=int(size_divisor) if size_divisor else None,
        mode=_RESAMPLE.get(cfg.get("resample", 3), "bicubic"),
        rescale=float(cfg.get("rescale_factor", 1.0 / 255.0)) if do_rescale else None,
        mean=mean if do_normalize else None,
        std=std if do_normalize else None,
    )
