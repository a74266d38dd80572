"""The body of a generation job: what runs between "the job started" and "its result is ready",
wherever it runs (the server's worker thread, or a Ray actor on another machine).

It reports progress through a ``JobSink`` and returns a ``JobOutcome``; it never touches the
job database or the server's result folders, which stay with the server (``jobs``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..camera import Intrinsics, Trajectory
from ..errors import Cancelled, Ex4dError
from ..generation import (
    FallbackCompleter,
    GenerationCancelled,
    GenerationRequest,
    NovelViewCompleter,
    generate_views,
)
from ..geometry import RenderOptions
from ..scene import render_trajectory
from ..scene.trajectory_render import render_intrinsics

if TYPE_CHECKING:
    from ..scene import Scene
    from .jobs import GenerationParams


class RemoteJobError(Ex4dError):
    """A job that failed where it ran (a Ray actor) or on its way there: the message says
    what happened, as the job's error."""


class JobSink(Protocol):
    """Where a running job reports its progress (a subset of the job record's fields)."""

    def set(self, **fields: Any) -> None: ...


@dataclass
class JobOutcome:
    """What a finished job body produced: the message, and the frames of a single-path job
    (with their source frames and lens) for ``generated.*``; ``generations``: the completion
    generations it stored; ``seconds``: the body's own run time."""

    message: str
    frames: np.ndarray | None = None
    frame_indices: np.ndarray | None = None
    intrinsics: Intrinsics | None = None
    scene_fps: float = 0.0
    generations: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class JobInputs:
    """What every job body works with, wherever it runs: the scene, the job's parameters,
    its completer and render options, where it reports (``sink``), its cancel event and the
    folder a windowed generation keeps its windows in."""

    scene: Scene
    params: GenerationParams
    completer: NovelViewCompleter
    render_options: RenderOptions
    sink: JobSink
    cancel: Any
    work_dir: Path


def stage_fields(params: GenerationParams, stage: str) -> dict[str, Any]:
    return {
        "stage": stage,
        "stage_index": params.stages.index(stage) + 1,
        "num_stages": len(params.stages),
    }


def progress_to(sink: JobSink, what: str) -> Callable[..., None]:
    def report(done: int, total: int, message: str | None = None) -> None:
        text = f"{what} {done}/{total}" if message is None else f"{what}: {message}"
        sink.set(progress_done=int(done), progress_total=int(total), message=text)

    return report


def load_completer(spec: Any, allow_fallback: bool) -> NovelViewCompleter:
    """The job completer from a completer spec (an instance, a factory, or None for the
    classical fallback), checked as the server checks it."""
    from .errors import PreconditionError

    if spec is None:
        made: Any = FallbackCompleter()
    elif not isinstance(spec, type) and isinstance(spec, NovelViewCompleter):
        made = spec
    else:  # a factory: models load on the thread (or actor) that owns the GPU
        made = spec()
        if not isinstance(made, NovelViewCompleter):
            raise Ex4dError(
                f"the completer factory returned {type(made).__name__}, which is not a "
                "NovelViewCompleter (needs name, is_fallback and generate)"
            )
    if made.is_fallback and not allow_fallback and spec is not None:
        raise PreconditionError(
            "the configured completer is the classical fallback (no EX-4D weights were "
            "found) and the fallback is disabled: configure the weights"
        )
    return made


class _Capture:
    """A pose-aware completer for ``complete_scene`` that generates with the job's completer
    (as ``generate_views`` does for plain jobs) and keeps what it generated for the result."""

    def __init__(self, completer: NovelViewCompleter, on_start, progress, cancel) -> None:
        self.inner, self.on_start = completer, on_start
        self.progress, self.cancel = progress, cancel
        self.name, self.is_fallback = completer.name, completer.is_fallback
        self.frames: np.ndarray | None = None

    def generate_along(self, trajectory, frame_indices, intrinsics, request) -> np.ndarray:
        self.on_start(trajectory)
        self.frames = generate_views(
            self.inner, request, progress=self.progress, cancel=self.cancel
        )
        return self.frames


def generate_job(job: JobInputs, meshes: Callable[[int], Any] | None = None) -> JobOutcome:
    """Render the path, generate along it: the plain job."""
    scene, params, completer = job.scene, job.params, job.completer
    render_options, sink, cancel, work_dir = job.render_options, job.sink, job.cancel, job.work_dir
    n = len(params.trajectory)
    sink.set(**stage_fields(params, "render"), progress_done=0, progress_total=n)
    try:
        views = render_trajectory(
            scene,
            params.trajectory,
            replace(render_options, mask_style="reference"),
            meshes=meshes,
            progress=progress_to(sink, "rendered views"),
            cancel=cancel,
        )
    except Cancelled:
        raise GenerationCancelled("cancelled while rendering") from None
    sink.set(**stage_fields(params, "generate"), progress_done=0, progress_total=0)
    # The library's one generation call, as the CLI's `generate` makes it: image
    # conditioning on the masked render's frame 0, the preset's frame count and size.
    request = GenerationRequest(
        colors=views.colors,
        masks=views.masks,
        sampling=params.sampling,
        windows=params.windows,
        work_dir=work_dir if params.windows.windowed else None,
    )
    out = generate_views(
        completer, request, progress=progress_to(sink, "generating"), cancel=cancel
    )
    return JobOutcome(
        f"generated {n} frames", out, views.frame_indices, views.intrinsics, scene.fps
    )


def complete_job(job: JobInputs, scene_dir: Path, job_id: str) -> JobOutcome:
    """Generate along the path (or every path of the coverage set), lift what was
    generated into completion layers and store them with the scene in ``scene_dir``:
    ``complete_scene``, with the job's completer and sampling and the given render options."""
    from ..scene.completion import complete_scene, generator_name
    from ..scene.completion.complete import source_frames_for

    scene, params, completer = job.scene, job.params, job.completer
    render_options, sink, cancel, work_dir = job.render_options, job.sink, job.cancel, job.work_dir

    paths = list(params.coverage)
    if params.trajectory is not None:
        # One generation per job, so that two jobs along equally named paths both stay.
        paths = [replace(params.trajectory, name=f"{params.trajectory.name}.{job_id[:8]}")]
    names = {id(p): i for i, p in enumerate(paths)}
    where = {"path": ""}

    def started(traj: Trajectory) -> None:
        i = names.get(id(traj))
        label = traj.name if i is None else f"path {i + 1}/{len(paths)} ({traj.name})"
        where["path"] = label
        if not params.coverage:
            sink.set(**stage_fields(params, "generate"), progress_done=0, progress_total=0)

    def generating(done: int, total: int, message: str = "") -> None:
        prefix = f"{where['path']}: " if params.coverage else ""
        sink.set(
            progress_done=int(done),
            progress_total=int(total),
            message=f"{prefix}generating: {message}".rstrip(": "),
        )

    capture = _Capture(completer, started, generating, cancel)
    lifting = {"started": False}

    def overall(done: int, total: int) -> None:
        if params.coverage:
            sink.set(
                progress_done=int(done),
                progress_total=int(total),
                message=f"completing {where['path'] or 'the paths'}: {done}/{total}",
            )
        elif capture.frames is None:
            n = len(paths[0])
            sink.set(
                progress_done=min(int(done), n),
                progress_total=n,
                message=f"rendered views {min(int(done), n)}/{n}",
            )
        else:
            extra = {}
            if not lifting["started"]:
                lifting["started"] = True
                extra = stage_fields(params, "complete")
            n = len(paths[0])
            lifted = max(0, int(done) - 2 * n)
            sink.set(
                **extra,
                progress_done=lifted,
                progress_total=n,
                message=f"lifted views {lifted}/{n}",
            )

    sink.set(
        **stage_fields(params, params.stages[0]),
        progress_done=0,
        progress_total=params.num_frames,
    )
    report = complete_scene(
        scene,
        paths,
        capture,
        scene_dir=scene_dir,
        sampling=params.sampling,
        render_options=replace(render_options, mask_style="reference"),
        generator=generator_name(completer),
        windows=params.windows,
        work_dir=work_dir,
        progress=overall,
        cancel=cancel,
        resume=bool(params.coverage),
    )
    generations = [p.generation for p in report.paths]
    done = report.completed
    message = f"completed {len(done)} path(s), {sum(p.layers for p in done)} layers stored" + (
        f", {len(report.skipped)} already stored" if report.skipped else ""
    )
    out = JobOutcome(message, generations=generations, scene_fps=scene.fps)
    if params.trajectory is not None and capture.frames is not None:
        traj = paths[0]
        out.frames = capture.frames
        out.intrinsics = render_intrinsics(scene, traj)
        out.frame_indices = source_frames_for(traj, scene.num_frames, scene.fps)
    return out
