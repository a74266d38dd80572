"""Translation between ``ex4d.v1`` messages and the library's terms: scene and job records,
times, camera paths and output cameras. No rendering and no I/O happen here."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np

from .. import wire
from ..camera import Intrinsics, Trajectory, parse_trajectory, pose_from_wire
from ..camera.coverage import COVERAGE_SETS, coverage_set
from ..errors import InputError
from ..generation.window_plan import WindowOptions
from ..scene.completion.store import CompletionInfo
from ..wire import jobs_pb2, scenes_pb2, view_pb2
from .errors import LimitError
from .jobs import JobRecord, JobState
from .rpc import without_paths
from .store import SceneRecord

# Presets a client may name; file paths are never read on a client's behalf.
_PRESET_RE = re.compile(r"\s*(surround|(orbit|yaw|dolly|spiral)\s*:\s*[-+]?[0-9.]+(e[-+]?\d+)?)\s*")
MASK_STYLE = {
    view_pb2.MASK_STYLE_UNSPECIFIED: "face",
    view_pb2.MASK_STYLE_FACE: "face",
    view_pb2.MASK_STYLE_REFERENCE: "reference",
}
DEPTH_KIND = {
    scenes_pb2.DEPTH_KIND_UNSPECIFIED: "depth",
    scenes_pb2.DEPTH_KIND_DEPTH: "depth",
    scenes_pb2.DEPTH_KIND_DISPARITY: "disparity",
    scenes_pb2.DEPTH_KIND_RELATIVE: "relative",
}
JOB_STATE = {s: getattr(jobs_pb2, f"JOB_STATE_{s.value}") for s in JobState}


def completion_summary(info: CompletionInfo) -> scenes_pb2.CompletionSummary:
    meta = info.meta or {}
    return scenes_pb2.CompletionSummary(
        generation=info.generation,
        path_name=str(meta.get("path", ""))[:200],
        generator=str(meta.get("generator", ""))[:200],
        num_layers=info.num_layers,
        first_frame=info.frames[0] if info.frames else 0,
        last_frame=info.frames[-1] if info.frames else 0,
        num_frames=len(info.frames),
        num_pixels=info.num_pixels,
        created_unix_s=info.created_unix_s,
    )


def scene_info(
    rec: SceneRecord, created: bool = False, completions: list[CompletionInfo] | None = None
) -> scenes_pb2.SceneInfo:
    """SceneInfo of a stored scene; ``completions``: its stored generations, oldest first."""
    return scenes_pb2.SceneInfo(
        completions=[completion_summary(c) for c in completions or []],
        scene_id=rec.scene_id,
        name=rec.name,
        num_frames=rec.num_frames,
        width=rec.width,
        height=rec.height,
        fps=rec.fps,
        intrinsics=wire.intrinsics_to_msg(rec.intrinsics),
        min_depth=rec.min_depth,
        depth_source=rec.depth_source,
        created_unix_s=rec.created_unix_s,
        created=created,
        size_bytes=rec.size_bytes,
    )


def job_msg(rec: JobRecord) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        job_id=rec.job_id,
        scene_id=rec.scene_id,
        state=JOB_STATE[rec.state],
        progress_done=rec.progress_done,
        progress_total=rec.progress_total,
        # Job texts come from exceptions, which may name server paths: cut them to file names.
        message=without_paths(rec.message),
        error=without_paths(rec.error),
        created_unix_s=rec.created_unix_s,
        started_unix_s=rec.started_unix_s,
        finished_unix_s=rec.finished_unix_s,
        completer=rec.completer,
        num_frames=rec.num_frames,
        queue_position=rec.queue_position,
        stage=rec.stage,
        stage_index=rec.stage_index,
        num_stages=rec.num_stages,
        generations=[g for g in rec.generations.split("\n") if g],
    )


def frame_for(
    req_time: str | None, frame_index: int, time_s: float, num_frames: int, fps: float
) -> int:
    """Source frame of a request's ``time`` oneof: an index (checked) or a looped time."""
    if req_time == "frame_index":
        if frame_index >= num_frames:
            raise InputError(
                f"frame_index {frame_index} is out of range: the scene has {num_frames} frames"
            )
        return int(frame_index)
    if req_time == "time_s":
        if not (math.isfinite(time_s) and time_s >= 0):
            raise InputError(f"time_s {time_s} must be a finite number >= 0")
        return int(round(time_s * fps)) % num_frames
    return 0


def path_from_msg(
    path: jobs_pb2.PosePath, rec: SceneRecord, k: Intrinsics, max_poses: int
) -> tuple[Trajectory, np.ndarray | None, str]:
    """(trajectory with intrinsics k, per-pose frame indices or None, coordinate system
    name) from a wire path."""
    if path.preset and len(path.poses):
        raise InputError("a path has either a preset or poses, not both")
    fps = path.fps or None
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise InputError(f"path fps {path.fps} must be positive")
    if path.preset:
        if not _PRESET_RE.fullmatch(path.preset.lower()):
            raise InputError(
                f"unknown preset {path.preset[:80]!r}: use orbit:DEG, surround, yaw:DEG, "
                "dolly:DIST or spiral:RADIUS (files are not read over the wire; send poses)"
            )
        traj = parse_trajectory(
            path.preset.lower(),
            min_depth=rec.min_depth,
            num_frames=rec.num_frames,
            intrinsics=k,
        )
        return replace(traj, intrinsics=k, fps=fps), None, "opencv"
    n = len(path.poses)
    if n == 0:
        raise InputError("the path is empty: give a preset or at least one pose")
    if n > max_poses:
        raise LimitError(f"the path has {n} poses, over the limit of {max_poses}")
    system = wire.system_from_wire(path.coordinate_system)
    pos = np.array([[p.position.x, p.position.y, p.position.z] for p in path.poses])
    quat = np.array([[p.rotation.x, p.rotation.y, p.rotation.z, p.rotation.w] for p in path.poses])
    poses = pose_from_wire(pos, quat, system)
    which = [p.WhichOneof("time") for p in path.poses]
    frames = None
    if any(which):
        frames = np.array(
            [
                frame_for(w, p.frame_index, p.time_s, rec.num_frames, rec.fps)
                for w, p in zip(which, path.poses, strict=True)
            ]
        )
    name = path.name[:100] or "custom"
    return Trajectory(poses, intrinsics=k, name=name, fps=fps), frames, system.value


def coverage_from_msg(
    name: str, rec: SceneRecord, k: Intrinsics, max_poses: int
) -> tuple[Trajectory, ...]:
    """The paths of a coverage set named on the wire, built for the scene at the camera k
    (files are never read on a client's behalf: only the set names)."""
    key = name.strip().lower()
    if key not in COVERAGE_SETS:
        raise InputError(
            f"unknown coverage set {name[:80]!r}: use one of {', '.join(COVERAGE_SETS)}"
        )
    paths = coverage_set(key, rec.min_depth, rec.num_frames, k)
    total = sum(len(p) for p in paths)
    if total > max_poses * len(paths) or total > 16 * max_poses:
        raise LimitError(f"coverage set {key!r} has {total} poses, over the server's limit")
    return tuple(replace(p, intrinsics=k) for p in paths)


LONG_CLIP = {
    jobs_pb2.LONG_CLIP_MODE_UNSPECIFIED: "sampled",
    jobs_pb2.LONG_CLIP_MODE_SAMPLED: "sampled",
    jobs_pb2.LONG_CLIP_MODE_WINDOWED: "windowed",
}


def windows_from_msg(mode: int, overlap: int) -> WindowOptions:
    """The long-clip mode of a SubmitGeneration request (checked)."""
    if mode not in LONG_CLIP:
        raise InputError(f"unknown long_clip mode {mode}: use SAMPLED or WINDOWED")
    if LONG_CLIP[mode] == "sampled":
        if overlap:
            raise InputError("window_overlap applies to LONG_CLIP_MODE_WINDOWED only")
        return WindowOptions()
    windows = WindowOptions("windowed", overlap=int(overlap) or None)
    windows.check()
    return windows


def check_completion_path(traj: Trajectory, rec: SceneRecord) -> None:
    """A path whose result is lifted into completions must name a source frame per pose: pose
    i shows frame i (or its time stamp's frame), so at most one pose per frame."""
    if traj.times is None and len(traj) > rec.num_frames:
        raise InputError(
            f"a completing job's path has {len(traj)} poses but the scene has "
            f"{rec.num_frames} frames: pose i completes source frame i, so send at most "
            f"{rec.num_frames} poses"
        )


def output_intrinsics(
    width: int, height: int, rec: SceneRecord, fov_y_deg: float = 0.0
) -> Intrinsics:
    """The camera of a rendered output: the scene's, unless a size or field of view is asked."""
    if not width and not height and not fov_y_deg:
        return rec.intrinsics
    if not width and not height:
        width, height = rec.width, rec.height
    return wire.view_intrinsics(width, height, rec.intrinsics, fov_y_deg=fov_y_deg)


__all__ = [
    "DEPTH_KIND",
    "JOB_STATE",
    "MASK_STYLE",
    "check_completion_path",
    "completion_summary",
    "coverage_from_msg",
    "windows_from_msg",
    "frame_for",
    "job_msg",
    "output_intrinsics",
    "path_from_msg",
    "scene_info",
]
