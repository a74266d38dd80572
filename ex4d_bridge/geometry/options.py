"""Typed options for building and rendering DW-Meshes.

``DWMeshOptions`` are part of a scene's content (they decide which faces are occluded), so
scenes store them and the scene store hashes them; ``RenderOptions`` say how to draw
(rasterizer, mask shape, device) and never change what a scene is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from ..errors import InputError

REFERENCE_BORDER_DEPTH = 100.0
REFERENCE_MIN_ANGLE_DEG = 2.5

Backend = Literal["auto", "cpu", "torch", "nvdiffrast"]
MaskStyle = Literal["face", "reference"]
BACKENDS = ("auto", "cpu", "torch", "nvdiffrast")
MASK_STYLES = ("face", "reference")


@dataclass(frozen=True)
class DWMeshOptions:
    """How a depth map becomes a DW-Mesh (the defaults are the EX-4D reference's).

    ``border_depth``: the far depth the border pixels are pushed to (raised above the scene's
    farthest point when the scene reaches it); ``min_angle_deg``: faces with a smaller minimum
    angle are occluded (stretched across a depth edge); ``max_extent_ratio``: also occlude faces
    whose extent exceeds this fraction of the depth range (the reference computes such a rule
    but does not apply it, so it is off by default)."""

    border_depth: float = REFERENCE_BORDER_DEPTH
    min_angle_deg: float = REFERENCE_MIN_ANGLE_DEG
    max_extent_ratio: float | None = None

    def __post_init__(self) -> None:
        b = self.border_depth
        if not (isinstance(b, int | float) and math.isfinite(b) and b > 0):
            raise InputError(f"border depth must be positive and finite, got {b!r}")
        if not (isinstance(self.min_angle_deg, int | float) and 0.0 < self.min_angle_deg < 60.0):
            raise InputError(f"min_angle_deg must be in (0, 60), got {self.min_angle_deg!r}")
        r = self.max_extent_ratio
        if r is not None and not (isinstance(r, int | float) and math.isfinite(r) and r > 0):
            raise InputError(f"max_extent_ratio must be None or a number > 0, got {r!r}")

    def to_dict(self) -> dict[str, Any]:
        """The options that differ from the defaults (so default scenes store ``{}``, which keeps
        their content ids stable)."""
        default = DWMeshOptions()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    @classmethod
    def from_dict(cls, data: Any) -> DWMeshOptions:
        """Options from a stored or received dict (untrusted: names and values are checked)."""
        if data is None:
            return cls()
        if isinstance(data, DWMeshOptions):
            return data
        if not isinstance(data, dict):
            raise InputError(f"mesh options must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise InputError(f"unknown mesh options {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class RenderOptions:
    """How to draw a DW-Mesh.

    ``backend``: ``"cpu"`` (compiled with numba, CPU only; the same bits as torch on the CPU,
    several times faster), ``"torch"`` (pure PyTorch, any device), ``"nvdiffrast"`` (CUDA,
    installed separately) or ``"auto"`` (on CUDA nvdiffrast when installed, else torch; on the
    CPU cpu when numba is installed, else torch). ``mask_style``:
    ``"face"`` (exact visibility) or ``"reference"`` (the EX-4D reference's mask shape, for
    generation inputs; see ``geometry.rendering``). ``device``: where rendering runs (meshes
    are built or moved there; None keeps a mesh where it is, and scenes build on the CPU).
    ``near``: the near clipping plane, in scene units."""

    backend: Backend = "auto"
    mask_style: MaskStyle = "face"
    device: str | None = None
    near: float = 1e-3

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError(f"unknown render backend {self.backend!r}; use {', '.join(BACKENDS)}")
        if self.mask_style not in MASK_STYLES:
            raise InputError(f"unknown mask_style {self.mask_style!r}; use 'face' or 'reference'")
        if not (isinstance(self.near, int | float) and math.isfinite(self.near) and self.near > 0):
            raise InputError(f"near must be a finite number > 0, got {self.near!r}")


# What generation inputs are rendered with: masks of the shape the adapter was trained on.
GENERATION_RENDER = RenderOptions(mask_style="reference")

__all__ = [
    "BACKENDS",
    "GENERATION_RENDER",
    "MASK_STYLES",
    "REFERENCE_BORDER_DEPTH",
    "REFERENCE_MIN_ANGLE_DEG",
    "Backend",
    "DWMeshOptions",
    "MaskStyle",
    "RenderOptions",
]
