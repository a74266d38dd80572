"""Pinhole intrinsics in pixels.

Convention: continuous image coordinates, x to the right and y down, with the *corner* of the
top-left pixel at (0, 0) and its centre at (0.5, 0.5). So the image centre is (W/2, H/2) and the
reference's default camera (f = 500 px, principal point at the centre) is ``cx = W/2``.
This is also nvdiffrast's convention (pixel centres at half-integers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

REFERENCE_FOCAL_PX = 500.0


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"focal length {name}={value} must be a positive finite number")
        for name in ("cx", "cy"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"principal point {name} must be finite")
        if int(self.width) < 1 or int(self.height) < 1:
            raise InputError(f"image size {self.width}x{self.height} must be at least 1x1")

    @classmethod
    def reference(cls, width: int, height: int, focal: float = REFERENCE_FOCAL_PX) -> Intrinsics:
        """The EX-4D reference camera: f = 500 px, principal point at the image centre."""
        return cls(focal, focal, width / 2.0, height / 2.0, int(width), int(height))

    @classmethod
    def from_fov(
        cls, width: int, height: int, fov_x_deg: float | None = None, fov_y_deg: float | None = None
    ) -> Intrinsics:
        """Square pixels from a horizontal or vertical field of view (degrees)."""
        if (fov_x_deg is None) == (fov_y_deg is None):
            raise InputError("give exactly one of fov_x_deg or fov_y_deg")
        fov = fov_x_deg if fov_x_deg is not None else fov_y_deg
        assert fov is not None
        if not (0.0 < fov < 180.0):
            raise InputError(f"field of view {fov} degrees must be in (0, 180)")
        extent = width if fov_x_deg is not None else height
        f = 0.5 * extent / math.tan(math.radians(fov) / 2.0)
        return cls(f, f, width / 2.0, height / 2.0, int(width), int(height))

    @classmethod
    def from_matrix(cls, K: np.ndarray, width: int, height: int) -> Intrinsics:
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3):
            raise InputError(f"intrinsic matrix must be 3x3, got shape {K.shape}")
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), width, height)

    @property
    def fov_x_deg(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.width / self.fx))

    @property
    def fov_y_deg(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.height / self.fy))

    def matrix(self) -> np.ndarray:
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera for an image resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)

    def same_lens(self, other: Intrinsics, tol: float = 1e-6) -> bool:
        """True when both describe the same lens up to image scale (focal lengths and
        principal point as fractions of the image size agree within ``tol``)."""
        return (
            abs(self.fx / self.width - other.fx / other.width) <= tol
            and abs(self.cx / self.width - other.cx / other.width) <= tol
            and abs(self.fy / self.height - other.fy / other.height) <= tol
            and abs(self.cy / self.height - other.cy / other.height) <= tol
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Intrinsics:
        try:
            return cls(
                float(d["fx"]),
                float(d["fy"]),
                float(d["cx"]),
                float(d["cy"]),
                int(d["width"]),
                int(d["height"]),
            )
        except KeyError as exc:
            raise InputError(f"intrinsics are missing the field {exc.args[0]!r}") from None

    def pixel_rays(self) -> np.ndarray:
        """(H, W, 3) float64 rays ``K^-1 [u, v, 1]`` through pixel centres, z = 1."""
        u = (np.arange(self.width, dtype=np.float64) + 0.5 - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float64) + 0.5 - self.cy) / self.fy
        rays = np.empty((self.height, self.width, 3), dtype=np.float64)
        rays[..., 0] = u[None, :]
        rays[..., 1] = v[:, None]
        rays[..., 2] = 1.0
        return rays
