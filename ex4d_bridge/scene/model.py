"""A reconstructed 4D scene: source frames, per-frame depth, the camera, and the DW-Mesh rules.

A scene directory holds ``scene.json`` (metadata) and ``scene.npz`` (frames and depth), written
atomically. The world frame is the OpenCV camera frame of source frame 0.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..camera.intrinsics import Intrinsics
from ..errors import InputError
from ..geometry import DWMesh, DWMeshOptions, build_dw_mesh
from ..geometry.dwmesh import sanitize_depth
from ..runtime import resolve_device

SCENE_FORMAT = 1


@dataclass
class Scene:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    depth: np.ndarray  # (T, H, W) float32 z-depth, inf where no surface
    intrinsics: Intrinsics
    fps: float
    source: str = ""
    mesh_options: DWMeshOptions = field(default_factory=DWMeshOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.mesh_options, DWMeshOptions):
            raise InputError(
                f"mesh_options must be a DWMeshOptions, got {type(self.mesh_options).__name__}"
            )
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise InputError(
                f"frames must be (T, H, W, 3) uint8, got {self.frames.shape} {self.frames.dtype}"
            )
        if self.depth.shape != self.frames.shape[:3]:
            raise InputError(
                f"depth has shape {self.depth.shape} but the video is {self.frames.shape[:3]} "
                "(T, H, W); give one depth map per frame at the video's size"
            )
        if (self.intrinsics.width, self.intrinsics.height) != (self.width, self.height):
            raise InputError("intrinsics do not match the frame size")

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def mesh(self, t: int, device: torch.device | str | None = None) -> DWMesh:
        """The DW-Mesh of frame ``t`` (torch tensors on ``device`` when one is given)."""
        depth, color = self.depth[t], self.frames[t]
        if device is not None:
            device = resolve_device(device)
            depth, color = torch.from_numpy(depth).to(device), torch.from_numpy(color).to(device)
        return build_dw_mesh(depth, color, self.intrinsics, self.mesh_options)

    def min_depth(self, t: int = 0) -> float:
        """Nearest valid depth of frame ``t`` (the reference orbit's radius is this + 0.15)."""
        d, valid, _ = sanitize_depth(torch.from_numpy(self.depth[t]), 1.0)
        if not bool(valid.any()):
            raise InputError(f"frame {t} has no valid depth")
        return float(d[valid].min())

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``scene.json`` and ``scene.npz`` into ``directory`` atomically.

        Both files are written into a staging folder inside ``directory`` and renamed into place
        at the end, ``scene.npz`` first: an interrupted save leaves no new ``scene.json``
        without its ``scene.npz`` (and no half-written file under either name)."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise InputError(f"output {directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": SCENE_FORMAT,
            "num_frames": self.num_frames,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "intrinsics": self.intrinsics.to_dict(),
            "source": self.source,
            "mesh_options": self.mesh_options.to_dict(),
        }
        staging = Path(tempfile.mkdtemp(prefix=".scene-staging-", dir=directory))
        try:
            with open(staging / "scene.npz", "wb") as f:
                np.savez_compressed(f, frames=self.frames, depth=self.depth)
            (staging / "scene.json").write_text(json.dumps(meta, indent=2))
            os.replace(staging / "scene.npz", directory / "scene.npz")
            os.replace(staging / "scene.json", directory / "scene.json")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Scene:
        directory = Path(directory)
        meta_path, data_path = directory / "scene.json", directory / "scene.npz"
        if not meta_path.is_file() or not data_path.is_file():
            raise InputError(
                f"{directory} is not a scene directory (no scene.json/scene.npz); "
                "create one with `ex4d-bridge reconstruct`"
            )
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(data_path) as data:
                frames, depth = data["frames"], data["depth"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"scene in {directory} is unreadable: {exc}") from None
        return cls(
            frames,
            depth,
            Intrinsics.from_dict(meta["intrinsics"]),
            float(meta["fps"]),
            meta.get("source", ""),
            DWMeshOptions.from_dict(meta.get("mesh_options")),
        )
