"""Depth backends behind one interface: a local transformers checkpoint, depth the user
supplies, or depth known analytically."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from ..errors import InputError
from .align import (
    DEFAULT_FAR,
    REFERENCE_NEAR,
    align_disparity,
    alignment_coefficients,
    disparity_to_depth,
)
from .base import DepthEstimator
from .provided import ARRAY_SUFFIXES, ProvidedDepth, list_depth_pngs
from .synthetic import KnownDepth
from .transformers_backend import TransformersDepth

__all__ = [
    "DEFAULT_FAR",
    "REFERENCE_NEAR",
    "DepthEstimator",
    "KnownDepth",
    "ProvidedDepth",
    "TransformersDepth",
    "align_disparity",
    "alignment_coefficients",
    "disparity_to_depth",
    "load_depth_backend",
]


def _construct(cls: type[DepthEstimator], path: Path, kwargs: dict) -> DepthEstimator:
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise InputError(
            f"{path} is read by {cls.__name__}, which does not take option(s) {unknown}; "
            f"it takes {sorted(accepted - {'path', 'model_dir'})}"
        )
    return cls(path, **kwargs)


def load_depth_backend(spec: str | os.PathLike, **kwargs) -> DepthEstimator:
    """The depth backend for a path, chosen by what is there.

    * a folder with ``config.json`` -> :class:`TransformersDepth` (a local checkpoint);
    * a folder of ``.png`` files, or a ``.npy`` / ``.npz`` file -> :class:`ProvidedDepth`.

    ``kwargs`` go to that backend's constructor.
    """
    path = Path(spec)
    if not path.exists():
        raise InputError(
            f"depth source {path} does not exist; give a transformers checkpoint folder, a "
            ".npy/.npz file or a folder of depth PNGs"
        )
    if path.is_dir():
        if (path / "config.json").is_file():
            return _construct(TransformersDepth, path, kwargs)
        if list_depth_pngs(path):
            return _construct(ProvidedDepth, path, kwargs)
        raise InputError(
            f"{path} holds neither a transformers checkpoint (config.json) nor depth PNGs"
        )
    if path.suffix.lower() in ARRAY_SUFFIXES:
        return _construct(ProvidedDepth, path, kwargs)
    raise InputError(
        f"cannot use {path} as depth: give a transformers checkpoint folder, a .npy/.npz file "
        "or a folder of depth PNGs"
    )
