"""Rendering a scene along a camera path: the one loop over frames every caller uses.

``iter_trajectory_frames`` renders pose i with the DW-Mesh of a source frame (by default
``round(i (T-1) / (N-1))``, the identity when the path has one pose per frame, as the
reference's paths do), one frame at a time, with progress and cancel hooks;
``render_trajectory`` collects it into arrays. ``save_trajectory_render`` writes the reference's
files (``color_<tag>.mp4``, ``mask_<tag>.mp4``, ``camera_<tag>.npz``, plus ``camera_<tag>.json``
in our pose-path format); ``save_walkthrough`` writes a recorded walk (video + pose path).
The CLI, the demo, the server's generation jobs and walkthroughs all render through here.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..camera.intrinsics import Intrinsics
from ..camera.trajectory import Trajectory
from ..errors import Cancelled, InputError
from ..geometry import GENERATION_RENDER, DWMesh, RenderOptions, render
from .model import Scene

# progress(frames done, frames in all)
ProgressHook = Callable[[int, int], None]
# An object with ``is_set()`` (a threading.Event) or a function returning True to stop.
CancelHook = Callable[[], bool]


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


def frame_schedule(num_poses: int, num_frames: int) -> np.ndarray:
    """The source frame of each pose when a path does not name them: spread evenly, first to
    first and last to last."""
    if num_poses <= 1:
        return np.zeros(max(num_poses, 0), np.int64)
    return np.round(np.linspace(0, num_frames - 1, num_poses)).astype(np.int64)


def resolve_frame_indices(scene: Scene, num_poses: int, frame_indices=None) -> np.ndarray:
    """The source frame of each of ``num_poses`` poses: ``frame_indices`` checked against the
    scene, or ``frame_schedule`` when None."""
    if frame_indices is None:
        return frame_schedule(num_poses, scene.num_frames)
    idx = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
    if len(idx) != num_poses:
        raise InputError(f"{len(idx)} frame indices for a path of {num_poses} poses")
    if num_poses and (idx.min() < 0 or idx.max() >= scene.num_frames):
        raise InputError(
            f"frame indices must lie in 0..{scene.num_frames - 1} (the scene's frames)"
        )
    return idx


def is_source_camera(pose: np.ndarray, k: Intrinsics, scene: Scene) -> bool:
    """True at the source camera itself, where a render is the source frame."""
    return bool(np.allclose(pose, np.eye(4), atol=1e-9)) and k == scene.intrinsics


def cancel_check(cancel) -> Callable[[], bool]:
    """A cancel hook (None, an Event or a function) as a function returning True to stop."""
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    if callable(cancel):
        return cancel
    raise InputError(f"cancel must be an Event or a function, got {type(cancel).__name__}")


def iter_trajectory_frames(
    scene: Scene,
    trajectory: Trajectory,
    options: RenderOptions = GENERATION_RENDER,
    *,
    frame_indices: np.ndarray | None = None,
    meshes: Callable[[int], DWMesh] | None = None,
    progress: bool | ProgressHook = True,
    cancel=None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (source frame index, colour (H, W, 3) uint8, mask (H, W) bool) for each pose.

    ``options`` default to the generation inputs' (reference-shaped masks).
    ``frame_indices``: the source frame of each pose (default ``frame_schedule``).
    ``meshes``: where a frame's DW-Mesh comes from (default ``scene.mesh(t, options.device)``;
    the server passes its cache). A pose at the source camera yields the source frame itself
    with a full mask, as the reference does for frame 0. ``progress``: True for a progress bar,
    or a function called with (done, total) after each frame. ``cancel``: an Event or a function;
    when it is set the loop raises ``Cancelled`` before the next frame."""
    k = render_intrinsics(scene, trajectory)
    n = len(trajectory)
    idx = resolve_frame_indices(scene, n, frame_indices)
    mesh_of = meshes or (lambda t: scene.mesh(t, options.device))
    cancelled = cancel_check(cancel)
    hook = progress if callable(progress) else None
    bar = tqdm(total=n, desc="render", unit="frame", disable=hook is not None or not progress)
    try:
        for i in range(n):
            if cancelled():
                raise Cancelled(f"rendering was cancelled after {i} of {n} frames")
            t = int(idx[i])
            pose = trajectory.poses[i]
            if is_source_camera(pose, k, scene):
                color, mask = scene.frames[t], np.ones((k.height, k.width), bool)
            else:
                out = render(mesh_of(t), pose, k, options)
                color, mask = out.color, out.mask
                if isinstance(color, torch.Tensor):
                    color, mask = color.cpu().numpy(), mask.cpu().numpy()
            bar.update(1)
            if hook is not None:
                hook(i + 1, n)
            yield t, color, mask
    finally:
        bar.close()


def render_trajectory(
    scene: Scene,
    trajectory: Trajectory,
    options: RenderOptions = GENERATION_RENDER,
    **kwargs,
) -> TrajectoryRender:
    """Render every pose of ``trajectory`` into arrays (see ``iter_trajectory_frames`` for the
    options, frame choice, progress and cancel hooks)."""
    k = render_intrinsics(scene, trajectory)
    n = len(trajectory)
    colors = np.zeros((n, k.height, k.width, 3), np.uint8)
    masks = np.zeros((n, k.height, k.width), bool)
    idx = np.zeros(n, np.int64)
    frames = iter_trajectory_frames(scene, trajectory, options, **kwargs)
    for i, (t, color, mask) in enumerate(frames):
        idx[i], colors[i], masks[i] = t, color, mask
    return TrajectoryRender(colors, masks, trajectory, k, idx)


def _staged(out_dir: Path, names: list[str], write: Callable[[Path], None]) -> None:
    """Write files into a staging folder inside ``out_dir``, then rename each into place, so a
    failure never leaves a partial set under the final names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".render-"))
    try:
        write(staging)
        for name in names:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_trajectory_render(
    result: TrajectoryRender, out_dir: str | os.PathLike, fps: float
) -> dict[str, Path]:
    """Write colour and mask videos and the camera files; returns their paths by kind."""
    from ..video import write_mask_video, write_video

    out_dir = Path(out_dir)
    tag = result.tag
    names = {
        "color": f"color_{tag}.mp4",
        "mask": f"mask_{tag}.mp4",
        "camera_npz": f"camera_{tag}.npz",
        "camera_json": f"camera_{tag}.json",
    }

    def write(staging: Path) -> None:
        write_video(staging / names["color"], result.colors, fps)
        write_mask_video(staging / names["mask"], result.masks, fps)
        # The reference's camera file: world-to-camera matrices in the OpenGL camera convention.
        np.savez_compressed(
            staging / names["camera_npz"],
            extrinsics=result.trajectory.w2c_opengl().astype(np.float32),
            intrinsics=result.intrinsics.matrix().astype(np.float32),
        )
        traj = Trajectory(result.trajectory.poses, result.intrinsics, result.trajectory.name, fps)
        traj.save(staging / names["camera_json"])

    _staged(out_dir, list(names.values()), write)
    return {kind: out_dir / name for kind, name in names.items()}


def save_walkthrough(
    result: TrajectoryRender,
    out_dir: str | os.PathLike,
    fps: float,
    *,
    crf: int = 18,
    coordinate_system: str = "opencv",
) -> dict[str, Path]:
    """Write a recorded walk: ``walkthrough.mp4`` (the colour frames) and
    ``walkthrough.poses.json`` (the path with its time stamps, in ``coordinate_system``)."""
    from ..video import write_video

    out_dir = Path(out_dir)
    names = {"video": "walkthrough.mp4", "poses": "walkthrough.poses.json"}
    n = len(result.trajectory)

    def write(staging: Path) -> None:
        write_video(staging / names["video"], result.colors, fps, crf=crf)
        traj = replace(
            result.trajectory, intrinsics=result.intrinsics, fps=fps, times=np.arange(n) / fps
        )
        traj.save(staging / names["poses"], coordinate_system)

    _staged(out_dir, list(names.values()), write)
    return {kind: out_dir / name for kind, name in names.items()}


__all__ = [
    "CancelHook",
    "ProgressHook",
    "TrajectoryRender",
    "cancel_check",
    "frame_schedule",
    "is_source_camera",
    "iter_trajectory_frames",
    "render_intrinsics",
    "render_trajectory",
    "resolve_frame_indices",
    "save_trajectory_render",
    "save_walkthrough",
    "trajectory_tag",
]
