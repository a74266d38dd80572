"""A reconstructed 4D scene (source frames, per-frame depth, camera) and its trajectory renders.

This is the reference's "recon" step: ``reconstruct`` turns a video into a ``Scene``;
``render_trajectory`` renders the per-frame DW-Meshes along a camera path into the colour and
mask videos the generation stage consumes, and ``save_trajectory_render`` writes them with a
camera file, under the reference's names (``color_<tag>.mp4``, ``mask_<tag>.mp4``,
``camera_<tag>.npz``) plus a ``camera_<tag>.json`` in our own pose-path format.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .camera.intrinsics import Intrinsics
from .camera.trajectory import Trajectory
from .errors import InputError
from .geometry import DWMesh, build_dw_mesh, render
from .geometry.dwmesh import sanitize_depth
from .runtime import resolve_device

SCENE_FORMAT = 1


@dataclass
class Scene:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    depth: np.ndarray  # (T, H, W) float32 z-depth, inf where no surface
    intrinsics: Intrinsics
    fps: float
    source: str = ""
    mesh_options: dict[str, Any] = field(default_factory=dict)  # passed to build_dw_mesh

    def __post_init__(self) -> None:
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
        return build_dw_mesh(depth, color, self.intrinsics, **self.mesh_options)

    def min_depth(self, t: int = 0) -> float:
        """Nearest valid depth of frame ``t`` (the reference orbit's radius is this + 0.15)."""
        d, valid, _ = sanitize_depth(torch.from_numpy(self.depth[t]), 1.0)
        if not bool(valid.any()):
            raise InputError(f"frame {t} has no valid depth")
        return float(d[valid].min())

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``scene.json`` and ``scene.npz`` into ``directory`` atomically: files are written
        under temporary names and renamed, so an interrupted save never leaves a half scene."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": SCENE_FORMAT,
            "num_frames": self.num_frames,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "intrinsics": self.intrinsics.to_dict(),
            "source": self.source,
            "mesh_options": self.mesh_options,
        }
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".npz", delete=False) as f:
            np.savez_compressed(f, frames=self.frames, depth=self.depth)
        os.replace(f.name, directory / "scene.npz")
        tmp = directory / ".scene.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, directory / "scene.json")
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
            meta.get("mesh_options", {}),
        )


def reconstruct(
    video,
    depth_estimator,
    *,
    intrinsics: Intrinsics | None = None,
    num_frames: int | None = None,
    max_size: int | None = None,
    multiple_of: int = 16,
    progress: bool = True,
    **mesh_options: Any,
) -> Scene:
    """Video (a path, a ``VideoClip`` or a (T, H, W, 3) uint8 array) + a depth backend -> Scene.

    Frames are resized so both sides are multiples of ``multiple_of`` (the generation model needs
    16). Intrinsics default to the reference camera (f = 500 px, centred); intrinsics given for
    another size are scaled to the frames."""
    from .video import VideoClip, read_video

    if isinstance(video, (str, os.PathLike)):
        clip = read_video(video, num_frames=num_frames, max_size=max_size, multiple_of=multiple_of)
    elif isinstance(video, VideoClip):
        clip = video
    else:
        clip = VideoClip(np.asarray(video), 30.0, "array")
    frames = clip.frames
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise InputError("the video has no frames")
    h, w = frames.shape[1:3]
    depth = np.asarray(depth_estimator.estimate(frames, progress=progress), dtype=np.float32)
    # The convention: +inf where there is no surface, never NaN, zero or negative.
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.inf))
    if intrinsics is None:
        intrinsics = Intrinsics.reference(w, h)
    elif (intrinsics.width, intrinsics.height) != (w, h):
        intrinsics = intrinsics.scaled(w, h)
    return Scene(frames, depth, intrinsics, float(clip.fps), str(clip.source), dict(mesh_options))


@dataclass
class TrajectoryRender:
    colors: np.ndarray  # (N, H, W, 3) uint8, black where the mask is False
    masks: np.ndarray  # (N, H, W) bool
    trajectory: Trajectory
    intrinsics: Intrinsics
    frame_indices: np.ndarray  # (N,) source frame rendered at each pose

    @property
    def tag(self) -> str:
        return trajectory_tag(self.trajectory.name)


def trajectory_tag(name: str) -> str:
    """File-name tag: the reference's names for its own paths ("90", "-30", "180")."""
    m = re.fullmatch(r"orbit:([+-]?\d+(?:\.\d+)?)", name)
    if m:
        value = float(m.group(1))
        return str(int(value)) if value.is_integer() else m.group(1)
    if name == "surround":
        return "180"
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_") or "custom"


def render_intrinsics(scene: Scene, trajectory: Trajectory) -> Intrinsics:
    """The path's own camera (explicit intrinsics at their size, or its field of view at the
    scene's size), else the scene's."""
    if trajectory.intrinsics is not None:
        return trajectory.intrinsics
    return trajectory.intrinsics_for(scene.width, scene.height) or scene.intrinsics


def _is_source_camera(pose: np.ndarray, k: Intrinsics, scene: Scene) -> bool:
    return bool(np.allclose(pose, np.eye(4), atol=1e-9)) and k == scene.intrinsics


def iter_trajectory_frames(
    scene: Scene,
    trajectory: Trajectory,
    *,
    backend: str = "auto",
    mask_style: str = "reference",
    device: torch.device | str | None = None,
    progress: bool = True,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (source frame index, colour, mask) for each pose, one frame at a time.

    Pose i renders source frame ``round(i (T-1) / (N-1))`` (the identity map when the path has
    one pose per frame, as the reference's paths do). A pose at the source camera yields the
    source frame itself with a full mask, as the reference does for frame 0."""
    k = render_intrinsics(scene, trajectory)
    n = len(trajectory)
    idx = (
        np.round(np.linspace(0, scene.num_frames - 1, n)).astype(int) if n > 1 else np.zeros(1, int)
    )
    for i in tqdm(range(n), desc="render", unit="frame", disable=not progress):
        t = int(idx[i])
        pose = trajectory.poses[i]
        if _is_source_camera(pose, k, scene):
            yield t, scene.frames[t], np.ones((k.height, k.width), bool)
            continue
        out = render(scene.mesh(t, device), pose, k, backend=backend, mask_style=mask_style)
        color, mask = out.color, out.mask
        if isinstance(color, torch.Tensor):
            color, mask = color.cpu().numpy(), mask.cpu().numpy()
        yield t, color, mask


def render_trajectory(scene: Scene, trajectory: Trajectory, **kwargs: Any) -> TrajectoryRender:
    """Render every pose of ``trajectory`` (see ``iter_trajectory_frames``) into arrays."""
    k = render_intrinsics(scene, trajectory)
    colors = np.zeros((len(trajectory), k.height, k.width, 3), np.uint8)
    masks = np.zeros((len(trajectory), k.height, k.width), bool)
    idx = np.zeros(len(trajectory), int)
    for i, (t, color, mask) in enumerate(iter_trajectory_frames(scene, trajectory, **kwargs)):
        idx[i], colors[i], masks[i] = t, color, mask
    return TrajectoryRender(colors, masks, trajectory, k, idx)


def save_trajectory_render(
    result: TrajectoryRender, out_dir: str | os.PathLike, fps: float
) -> dict[str, Path]:
    """Write colour and mask videos and the camera files; returns their paths by kind."""
    from .video import write_mask_video, write_video

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = result.tag
    paths = {
        "color": out_dir / f"color_{tag}.mp4",
        "mask": out_dir / f"mask_{tag}.mp4",
        "camera_npz": out_dir / f"camera_{tag}.npz",
        "camera_json": out_dir / f"camera_{tag}.json",
    }
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".render-"))
    try:
        write_video(staging / paths["color"].name, result.colors, fps)
        write_mask_video(staging / paths["mask"].name, result.masks, fps)
        # The reference's camera file: world-to-camera matrices in the OpenGL camera convention.
        np.savez_compressed(
            staging / paths["camera_npz"].name,
            extrinsics=result.trajectory.w2c_opengl().astype(np.float32),
            intrinsics=result.intrinsics.matrix().astype(np.float32),
        )
        traj = Trajectory(
            result.trajectory.poses,
            result.intrinsics,
            result.trajectory.name,
            fps,
        )
        traj.save(staging / paths["camera_json"].name)
        for p in paths.values():
            os.replace(staging / p.name, p)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths
