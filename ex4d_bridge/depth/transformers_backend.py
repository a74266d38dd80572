"""Depth from a local transformers checkpoint (Depth Anything V2, DPT, ZoeDepth, ...)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import InputError
from ..runtime import resolve_device
from .align import ALIGN_MODES, DEFAULT_FAR, REFERENCE_NEAR, align_disparity, disparity_to_depth
from .base import DepthEstimator, check_rgb_frames, sanitize_depth
from .preprocess import preprocess_from_checkpoint

OUTPUT_KINDS = ("auto", "disparity", "depth")
# Model types whose raw ``predicted_depth`` is inverse depth when the config does not say:
# MiDaS-style DPT predicts relative inverse depth, DepthPro a canonical inverse depth.
_DISPARITY_MODEL_TYPES = frozenset({"dpt", "depth_pro"})
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None:
        # fp16 halves memory and time on GPUs with ~1e-3 relative error, invisible in depth;
        # CPUs gain nothing from it.
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise InputError(f"dtype {dtype!r} is not one of {', '.join(_DTYPES)}")


def _load_config(model_dir: Path):
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES

    if not model_dir.exists():
        raise InputError(f"depth model folder {model_dir} does not exist")
    if not model_dir.is_dir():
        raise InputError(f"depth model {model_dir} must be a checkpoint folder, not a file")
    if not (model_dir / "config.json").is_file():
        raise InputError(
            f"{model_dir} has no config.json, so it is not a transformers checkpoint; pass the "
            "folder of a depth model such as depth-anything/Depth-Anything-V2-Small-hf"
        )
    try:
        config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot read {model_dir / 'config.json'}: {exc}") from exc
    if config.model_type not in MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES:
        raise InputError(
            f"{model_dir} holds a '{config.model_type}' model, not a depth-estimation model "
            f"(supported types: {', '.join(sorted(MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES))})"
        )
    return config


def _predicts_depth(config, output: str) -> bool:
    """Whether the raw model output is depth (True) or inverse depth / disparity (False)."""
    if output != "auto":
        return output == "depth"
    kind = getattr(config, "depth_estimation_type", None)
    if kind in ("relative", "metric"):
        return kind == "metric"
    return config.model_type not in _DISPARITY_MODEL_TYPES


def _patch_size(config) -> int | None:
    backbone = getattr(config, "backbone_config", None)
    for source in (backbone, config):
        size = getattr(source, "patch_size", None)
        if isinstance(size, int):
            return size
        if isinstance(size, (list, tuple)) and size and isinstance(size[0], int):
            return size[0]
    return None


class TransformersDepth(DepthEstimator):
    """Depth from a transformers depth-estimation checkpoint folder, loaded offline.

    Relative models (Depth Anything relative, DPT/MiDaS, DepthPro) predict disparity up to a
    per-frame scale and shift: the frames are aligned to one reference
    (:func:`~ex4d_bridge.depth.align.align_disparity`, mode ``alignment``) and converted to depth
    with one clip-wide map sending the 98th/2nd disparity percentiles to depths ``near``/``far``
    and clamping anything farther onto ``far``
    (:func:`~ex4d_bridge.depth.align.disparity_to_depth`). Metric models (config
    ``depth_estimation_type="metric"``, GLPN, ZoeDepth, ...) are returned as predicted, in
    metres. ``output`` forces the interpretation: ``"disparity"`` or ``"depth"``.

    ``device``: ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    ``dtype``: None picks float16 on CUDA, float32 on CPU.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        device: str | torch.device = "auto",
        batch_size: int = 4,
        dtype: str | torch.dtype | None = None,
        output: str = "auto",
        near: float = REFERENCE_NEAR,
        far: float = DEFAULT_FAR,
        alignment: str = "reference",
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} must be a positive integer")
        if output not in OUTPUT_KINDS:
            raise InputError(f"output={output!r} must be one of {OUTPUT_KINDS}")
        if alignment not in ALIGN_MODES:
            raise InputError(f"alignment={alignment!r} must be one of {ALIGN_MODES}")
        if not (0 < near < far):
            raise InputError(f"need 0 < near < far, got near={near}, far={far}")
        model_dir = Path(model_dir)
        config = _load_config(model_dir)
        self.device = resolve_device(device)
        self.dtype = _resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.near, self.far, self.alignment = float(near), float(far), alignment
        self.model_dir = model_dir
        self.model_type: str = config.model_type
        self.metric = _predicts_depth(config, output)
        self.preprocess = preprocess_from_checkpoint(model_dir, _patch_size(config))
        self.model = self._load_model(model_dir, config)

    def _load_model(self, model_dir: Path, config):
        import transformers
        from transformers import AutoModelForDepthEstimation

        # transformers renamed torch_dtype to dtype in 4.56 (the old name warns in 5.x).
        major, minor = (int(v) for v in transformers.__version__.split(".")[:2])
        dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        try:
            model = AutoModelForDepthEstimation.from_pretrained(
                str(model_dir), config=config, local_files_only=True, **{dtype_key: self.dtype}
            )
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise InputError(f"cannot load depth model weights from {model_dir}: {exc}") from exc
        return model.to(self.device).eval()

    @property
    def name(self) -> str:
        return f"transformers:{self.model_type}:{self.model_dir.name}"

    def predict_raw(self, frames: np.ndarray, *, progress: bool = True) -> np.ndarray:
        """The model's own output at frame resolution, ``float32 [T, H, W]``, unconverted."""
        frames = check_rgb_frames(frames)
        t, h, w, _ = frames.shape
        out = np.empty((t, h, w), dtype=np.float32)
        bar = tqdm(total=t, unit="frame", desc=f"depth {self.model_dir.name}", disable=not progress)
        with torch.inference_mode(), bar:
            for start in range(0, t, self.batch_size):
                chunk = np.ascontiguousarray(frames[start : start + self.batch_size])
                batch = torch.from_numpy(chunk).to(self.device)
                pixels = self.preprocess(batch, self.dtype)
                pred = self.model(pixel_values=pixels).predicted_depth
                if pred.ndim == 4:  # some heads keep a channel axis
                    pred = pred[:, 0]
                pred = F.interpolate(
                    pred[:, None].float(), size=(h, w), mode="bilinear", align_corners=False
                )[:, 0]
                out[start : start + len(batch)] = pred.cpu().numpy()
                bar.update(len(batch))
        return out

    def estimate(self, frames: np.ndarray, *, progress: bool = True) -> np.ndarray:
        raw = self.predict_raw(frames, progress=progress)
        if self.metric:
            return sanitize_depth(raw)
        aligned = align_disparity(raw, mode=self.alignment)
        return disparity_to_depth(aligned, near=self.near, far=self.far)
