"""The scene stage: inputs -> ``Scene``, and every loop over a scene's frames.

``reconstruct`` turns a video and a depth source into a ``Scene`` (the reference's "recon"
step); ``render_trajectory`` / ``iter_trajectory_frames`` render its per-frame DW-Meshes along
a camera path (with progress and cancel hooks) into the colour and mask videos the generation
stage consumes; ``save_trajectory_render`` and ``save_walkthrough`` write them.
"""

from .inputs import DEPTH_KINDS, DepthSpec, load_clip, reconstruct, resolve_intrinsics
from .model import SCENE_FORMAT, Scene
from .trajectory_render import (
    CancelHook,
    ProgressHook,
    TrajectoryRender,
    frame_schedule,
    iter_trajectory_frames,
    render_intrinsics,
    render_trajectory,
    save_trajectory_render,
    save_walkthrough,
    trajectory_tag,
)

__all__ = [
    "DEPTH_KINDS",
    "SCENE_FORMAT",
    "CancelHook",
    "DepthSpec",
    "ProgressHook",
    "Scene",
    "TrajectoryRender",
    "frame_schedule",
    "iter_trajectory_frames",
    "load_clip",
    "reconstruct",
    "render_intrinsics",
    "render_trajectory",
    "resolve_intrinsics",
    "save_trajectory_render",
    "save_walkthrough",
    "trajectory_tag",
]
