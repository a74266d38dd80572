"""Completing a scene: generate along a set of camera paths, lift the generated pixels, fuse.

``complete_scene`` runs, for each path of a coverage set (:mod:`ex4d_bridge.camera.coverage`):

1. **render** the scene along the path with the generation inputs' masks (the reference's
   shape, ``GENERATION_RENDER``), through the library's one render loop;
2. **generate** the masked pixels with :func:`~ex4d_bridge.generation.generate_views` (the
   EX-4D pipeline or the classical fallback, the same call as ``ex4d-bridge generate``);
3. **lift** the generated pixels the mask asked for into completion layers
   (:func:`~.lift.lift_generation`), skipping every pixel that completions of earlier paths
   (by the same generator) show at that pose (provenance ``COMPLETION`` in a completed
   render), so later paths add only what is still missing;
4. **save** the layers with the scene under the path's generation id (``<path>.<generator>``,
   e.g. ``orbit_30.classical``), atomically.

A path whose generation is already stored is skipped (``resume``), so an interrupted run
picks up where it stopped; a stored generation made for different poses is refused rather
than silently kept. Progress is one count across every path (render, generate and lift of
each frame); ``cancel`` stops before the next frame and keeps the paths already saved.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from ...camera.coverage import coverage_paths
from ...camera.intrinsics import Intrinsics
from ...camera.trajectory import Trajectory
from ...errors import Cancelled, InputError
from ...generation.interface import (
    GenerationCancelled,
    GenerationRequest,
    NovelViewCompleter,
    SamplingParams,
    generate_views,
)
from ...generation.window_plan import WindowOptions
from ...geometry import GENERATION_RENDER, RenderOptions, render_triangles
from ..model import Scene
from ..trajectory_render import render_intrinsics, render_trajectory
from .compose import CompletedScene, CompositeOptions
from .layers import CompletionLayer, LayerMesh, layer_mesh
from .lift import LiftOptions, lift_generation
from .store import list_completions, load_completions, save_completions

GENERATORS = ("auto", "ex4d", "classical")
_STAGES = 3  # progress units per frame of a path: render, generate, lift


@runtime_checkable
class PoseAwareCompleter(Protocol):
    """A completer that is told the camera of every frame (e.g. ground truth of an analytic
    scene, for benchmarks and tests). ``complete_scene`` calls ``generate_along`` instead of
    ``generate_views`` when a completer has it."""

    name: str
    is_fallback: bool

    def generate_along(
        self,
        trajectory: Trajectory,
        frame_indices: np.ndarray,
        intrinsics: Intrinsics,
        request: GenerationRequest,
    ) -> np.ndarray: ...


class ViewCompleter:
    """Completes every frame with ``view(t, cam_to_world, intrinsics) -> (H, W, 3) uint8``:
    the true view of an analytic scene (``SyntheticScene.render_view``), which makes an oracle
    generator that measures lifting and fusion alone. Pixels the mask kept are the render's."""

    is_fallback = False

    def __init__(self, view: Callable[[int, np.ndarray, Intrinsics], np.ndarray], name="oracle"):
        self.view = view
        self.name = name

    def generate_along(self, trajectory, frame_indices, intrinsics, request):
        out = request.colors.copy()
        for i, t in enumerate(frame_indices):
            truth = np.asarray(self.view(int(t), trajectory.poses[i], intrinsics))
            fill = ~request.masks[i]
            out[i][fill] = truth[..., :3][fill]
        return out


@dataclass
class PathReport:
    """What ``complete_scene`` did with one path."""

    name: str
    generation: str
    status: str  # "completed" or "skipped" (already stored)
    poses: int
    layers: int = 0
    pixels: int = 0  # lifted pixels over all layers
    masked_pixels: int = 0  # pixels the render masks asked to generate
    seconds: float = 0.0
    render_s: float = 0.0
    generate_s: float = 0.0
    lift_s: float = 0.0  # lifting, the coverage test against earlier paths, and the save


@dataclass
class CompletionReport:
    scene_dir: Path
    generator: str
    depth_fill: str
    paths: list[PathReport] = field(default_factory=list)
    stride: int = 1
    # stored generations of other generators: not counted as covered, still rendered
    other_generators: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def completed(self) -> list[PathReport]:
        return [p for p in self.paths if p.status == "completed"]

    @property
    def skipped(self) -> list[PathReport]:
        return [p for p in self.paths if p.status == "skipped"]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scene_dir"] = str(self.scene_dir)
        return d


def generator_name(completer: NovelViewCompleter) -> str:
    """Short name of a completer for generation ids: ``classical``, ``ex4d`` (``ex4d-tiny``
    for the random-weight tiny preset), or the completer's own name."""
    if getattr(completer, "is_fallback", False):
        return "classical"
    describe = getattr(completer, "describe", None)
    if callable(describe):
        preset = str(describe().get("preset", ""))
        return "ex4d-tiny" if preset == "tiny" else "ex4d"
    return _slug(getattr(completer, "name", "") or "custom")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(text)).strip("_.") or "custom"


def generation_id(trajectory: Trajectory | str, generator: str) -> str:
    """The id a path's completions are stored under: ``<path name>.<generator>`` with every
    character outside ``A-Za-z0-9.+-`` replaced by ``_`` (``orbit:30`` -> ``orbit_30``)."""
    name = trajectory.name if isinstance(trajectory, Trajectory) else trajectory
    return f"{_slug(name)}.{_slug(generator)}"


def poses_digest(trajectory: Trajectory, intrinsics: Intrinsics) -> str:
    """A short hash of the path's poses (to 1e-6) and camera: equal paths, equal digests."""
    h = hashlib.sha1()
    h.update(np.round(trajectory.poses, 6).astype(np.float64).tobytes())
    h.update(repr(intrinsics.to_dict()).encode())
    return h.hexdigest()[:16]


def source_frames_for(trajectory: Trajectory, num_frames: int, fps: float) -> np.ndarray:
    """The source frame each pose shows: by the pose's time stamp (seconds from the clip's
    start, at the scene's fps) when the path has them, else pose i shows frame i."""
    n = len(trajectory)
    if trajectory.times is not None:
        idx = np.rint(np.asarray(trajectory.times) * float(fps)).astype(np.int64)
        if idx.min() < 0 or idx.max() >= num_frames:
            raise InputError(
                f"the path's time stamps run from {trajectory.times[0]:g} to "
                f"{trajectory.times[-1]:g} s, outside the scene's {num_frames} frames at "
                f"{fps:g} fps (0 to {(num_frames - 1) / fps:g} s)"
            )
        return idx
    if n > num_frames:
        raise InputError(
            f"the path {trajectory.name!r} has {n} poses but the scene has {num_frames} frames; "
            "pose i shows source frame i, so give at most one pose per frame (or time stamps)"
        )
    return np.arange(n, dtype=np.int64)


class _Cancel:
    """A cancel hook that works both as an Event (``is_set``) and as a function."""

    def __init__(self, cancel) -> None:
        if cancel is None:
            self._check = lambda: False
        elif hasattr(cancel, "is_set"):
            self._check = cancel.is_set
        elif callable(cancel):
            self._check = cancel
        else:
            raise InputError(f"cancel must be an Event or a function, got {type(cancel).__name__}")

    def is_set(self) -> bool:
        return bool(self._check())

    __call__ = is_set


class _Progress:
    """One count across every path: ``_STAGES`` units per frame."""

    def __init__(self, total: int, progress) -> None:
        self.total = total
        self.base = 0
        self.hook = progress if callable(progress) else None
        self.bar = tqdm(
            total=total, desc="complete", unit="step", disable=self.hook is not None or not progress
        )

    def at(self, done: int, label: str | None = None) -> None:
        done = min(done, self.total)
        if label is not None:
            self.bar.set_postfix_str(label, refresh=False)
        self.bar.n = done
        self.bar.refresh()
        if self.hook is not None:
            self.hook(done, self.total)

    def stage(self, offset: int, span: int, label: str) -> Callable:
        """A (done, total[, message]) callback mapping a stage's own count onto the bar."""

        def update(done: int, total: int, *_message) -> None:
            frac = done / total if total else 1.0
            self.at(self.base + offset + round(span * frac), label)

        return update

    def close(self) -> None:
        self.bar.close()


def _scene_and_dir(scene: Scene | str | os.PathLike, scene_dir) -> tuple[Scene, Path]:
    if isinstance(scene, Scene):
        if scene_dir is None:
            raise InputError("complete_scene needs scene_dir (where completions are stored)")
        return scene, Path(scene_dir)
    directory = Path(scene if scene_dir is None else scene_dir)
    return Scene.load(scene), directory


def complete_scene(
    scene: Scene | str | os.PathLike,
    paths: Sequence[Trajectory | str | os.PathLike] | str = "walk",
    completer: NovelViewCompleter | PoseAwareCompleter | None = None,
    *,
    scene_dir: str | os.PathLike | None = None,
    lift_options: LiftOptions | None = None,
    sampling: SamplingParams | None = None,
    render_options: RenderOptions = GENERATION_RENDER,
    generator: str | None = None,
    progress: bool | Callable[[int, int], None] = True,
    cancel=None,
    resume: bool = True,
    stride: int = 1,
    windows: WindowOptions | None = None,
    work_dir: str | os.PathLike | None = None,
) -> CompletionReport:
    """Generate along ``paths``, lift and store the completions of ``scene``.

    ``scene``: a scene directory, or a :class:`Scene` with ``scene_dir`` (where its
    completions live). ``paths``: trajectories, or coverage specs (``walk``, ``orbit``,
    ``walk-small``, pose files, trajectory specs; see :func:`coverage_paths`), built for the
    scene (pivot from its nearest depth, one pose per frame, its camera). ``completer``: any
    :class:`NovelViewCompleter` (default: the classical fallback) or a
    :class:`PoseAwareCompleter`. ``lift_options``: the depth fill (default ``propagate``).
    ``generator``: the name in generation ids (default :func:`generator_name`).
    ``progress``: True for a bar, or ``progress(done, total)``. ``cancel``: an Event or a
    function; raises :class:`Cancelled` and keeps what earlier paths saved. ``resume``: skip a
    path whose generation is stored (False: generate it again and replace it). ``stride``:
    generate and lift only every ``stride``-th pose of each path (and its last); the frames in
    between then borrow completions from the nearest completed frames when rendered (the
    compositing window), a cheaper, coarser completion for previews and the demo.
    ``windows``: the long-clip mode of every path's generation (default ``sampled``, the
    reference's; ``windowed`` generates every pose of a long path in overlapping windows).
    ``work_dir``: where a windowed generation keeps its finished windows, one folder per
    generation id (default ``SCENE_DIR/.generation-work``), removed once its layers are saved.
    """
    from ...generation.interface import FallbackCompleter

    started = time.perf_counter()
    scene, directory = _scene_and_dir(scene, scene_dir)
    completer = completer if completer is not None else FallbackCompleter()
    lift_options = lift_options if lift_options is not None else LiftOptions()
    sampling = sampling if sampling is not None else SamplingParams()
    windows = windows if windows is not None else WindowOptions()
    work_root = Path(work_dir) if work_dir is not None else directory / ".generation-work"
    gen_name = generator or generator_name(completer)
    check_cancel = _Cancel(cancel)
    if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
        raise InputError(f"stride must be an integer >= 1, got {stride!r}")

    if isinstance(paths, (str, os.PathLike)) or any(not isinstance(p, Trajectory) for p in paths):
        specs = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        trajectories: list[Trajectory] = []
        for spec in specs:
            if isinstance(spec, Trajectory):
                trajectories.append(spec)
            else:
                trajectories += coverage_paths(
                    spec,
                    min_depth=scene.min_depth(),
                    num_frames=scene.num_frames,
                    intrinsics=scene.intrinsics,
                )
    else:
        trajectories = list(paths)
    if not trajectories:
        raise InputError("no paths to complete along")

    # Check everything before any work: frames, ids, what is stored.
    plans = []
    ids: dict[str, str] = {}
    stored = {info.generation: info for info in list_completions(directory)}
    for traj in trajectories:
        k = render_intrinsics(scene, traj)
        frames = source_frames_for(traj, scene.num_frames, scene.fps)
        if stride > 1 and len(traj) > 1:
            keep = np.unique(np.r_[np.arange(0, len(traj), stride), len(traj) - 1])
            times = None if traj.times is None else traj.times[keep]
            traj, frames = replace(traj, poses=traj.poses[keep], times=times), frames[keep]
        gen = generation_id(traj, gen_name)
        if gen in ids:
            raise InputError(
                f"paths {ids[gen]!r} and {traj.name!r} both map to generation {gen!r}; rename one"
            )
        ids[gen] = traj.name
        digest = poses_digest(traj, k)
        info = stored.get(gen)
        if info is not None and resume:
            old = (info.meta or {}).get("poses_digest")
            if old is not None and old != digest:
                raise InputError(
                    f"generation {gen!r} is stored for other poses than path {traj.name!r} "
                    f"(another scene size or path file); remove it with `ex4d-bridge "
                    f"completions {directory} --remove {gen}` or complete without resuming"
                )
        plans.append((traj, k, frames, gen, digest, info is not None and resume))

    report = CompletionReport(directory, gen_name, lift_options.depth_fill, stride=int(stride))
    todo = [p for p in plans if not p[5]]
    # What this generator stored counts as already there (except generations about to be
    # replaced); another generator's completions do not hold a better generator back.
    replaced = {p[3] for p in todo}
    coverage = _Coverage(scene, lift_options.render)
    keep = []
    for g, info in stored.items():
        if (info.meta or {}).get("generator") != gen_name:
            report.other_generators.append(g)
        elif g not in replaced:
            keep.append(g)
    if todo and keep:
        coverage.add(load_completions(directory, keep).layers)
    bar = _Progress(sum(_STAGES * len(p[0]) for p in todo), progress)
    try:
        for traj, k, frames, gen, digest, skip in plans:
            n = len(traj)
            if skip:
                report.paths.append(PathReport(traj.name, gen, "skipped", n))
                continue
            if check_cancel():
                raise Cancelled(f"completion was cancelled before path {traj.name!r}")
            report.paths.append(
                _complete_path(
                    scene,
                    directory,
                    traj,
                    k,
                    frames,
                    gen,
                    digest,
                    completer,
                    gen_name,
                    lift_options,
                    sampling,
                    coverage,
                    render_options,
                    bar,
                    check_cancel,
                    int(stride),
                    windows,
                    work_root / gen if windows.windowed else None,
                )
            )
            bar.base += _STAGES * n
            bar.at(bar.base)
    finally:
        bar.close()
    if work_dir is None and work_root.is_dir() and not any(work_root.iterdir()):
        work_root.rmdir()  # the default folder, emptied path by path
    report.seconds = time.perf_counter() - started
    return report


class _Coverage:
    """What the completions stored so far already show, for lifting only what is missing.

    ``covered(t, pose, K, hole)``: the pixels where frame t's own layers are seen from the pose
    (rendered as plain triangles, only inside the box of ``hole``, the pixels the render mask
    asked to generate). On those pixels the source shows nothing, so a completed render would
    show the layer there (provenance ``COMPLETION``): the same answer as rendering the
    completed scene, without its source render and nearby-frame pass, and with each frame's
    fused layer mesh extended as paths are added instead of rebuilt (up to ``budget`` bytes of
    meshes are kept; beyond it they are rebuilt from the layers when needed)."""

    def __init__(self, scene: Scene, render: RenderOptions, budget: int = 1 << 30) -> None:
        self.scene = scene
        self.render = replace(render, mask_style="face")
        self.layers: dict[int, list[CompletionLayer]] = {}
        self.meshes: dict[int, LayerMesh] = {}
        self.budget = budget
        self.bytes = 0

    @staticmethod
    def _size(m: LayerMesh) -> int:
        return m.vertices.nbytes + m.faces.nbytes + m.colors.nbytes + m.face_layer.nbytes

    def _keep(self, t: int, m: LayerMesh) -> None:
        size = self._size(m)
        while self.meshes and self.bytes + size > self.budget:
            old = self.meshes.pop(next(iter(self.meshes)))
            self.bytes -= self._size(old)
        if size <= self.budget:
            self.meshes[t] = m
            self.bytes += size

    def add(self, layers: list[CompletionLayer]) -> None:
        for layer in layers:
            t = layer.frame_index
            self.layers.setdefault(t, []).append(layer)
            fused = self.meshes.pop(t, None)
            if fused is not None:  # extend it; a frame not kept is built when next needed
                self.bytes -= self._size(fused)
                new = layer_mesh(layer, self.scene.mesh_options)
                self._keep(t, LayerMesh.concatenate([fused, new]))

    def mesh(self, t: int) -> LayerMesh:
        m = self.meshes.get(t)
        if m is None:
            opts = self.scene.mesh_options
            m = LayerMesh.concatenate([layer_mesh(la, opts) for la in self.layers.get(t, [])])
            self._keep(t, m)
        return m

    def covered(self, t: int, pose: np.ndarray, k: Intrinsics, hole: np.ndarray | None):
        out = np.zeros((k.height, k.width), bool)
        if not self.layers.get(t):
            return out
        if hole is None:
            x0, y0, x1, y1 = 0, 0, k.width, k.height
        else:
            ys, xs = np.nonzero(hole)
            if not len(ys):
                return out
            x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        m = self.mesh(t)
        if not m.num_faces:
            return out
        crop = Intrinsics(k.fx, k.fy, k.cx - x0, k.cy - y0, x1 - x0, y1 - y0)
        seen = render_triangles(m.vertices, m.faces, m.colors, pose, crop, self.render)
        out[y0:y1, x0:x1] = np.asarray(seen.mask, bool)
        return out


def _complete_path(
    scene: Scene,
    directory: Path,
    traj: Trajectory,
    k: Intrinsics,
    frames: np.ndarray,
    gen: str,
    digest: str,
    completer,
    gen_name: str,
    lift_options: LiftOptions,
    sampling: SamplingParams,
    coverage: _Coverage,
    render_options: RenderOptions,
    bar: _Progress,
    cancel: _Cancel,
    stride: int = 1,
    windows: WindowOptions = WindowOptions(),  # noqa: B008 - frozen
    work_dir: Path | None = None,
) -> PathReport:
    n = len(traj)
    t0 = time.perf_counter()
    views = render_trajectory(
        scene,
        traj,
        render_options,
        frame_indices=frames,
        progress=bar.stage(0, n, f"{traj.name}: render"),
        cancel=cancel,
    )
    t1 = time.perf_counter()
    if cancel():
        raise Cancelled(f"completion was cancelled during path {traj.name!r}")
    request = GenerationRequest(
        colors=views.colors,
        masks=views.masks,
        sampling=sampling,
        windows=windows,
        work_dir=work_dir,
    )
    gen_progress = bar.stage(n, n, f"{traj.name}: generate")
    if isinstance(completer, PoseAwareCompleter) and hasattr(completer, "generate_along"):
        request.check()
        generated = np.asarray(completer.generate_along(traj, frames, k, request))
        if generated.shape != views.colors.shape or generated.dtype != np.uint8:
            raise InputError(
                f"completer {completer.name!r} returned {generated.shape} {generated.dtype}, "
                f"expected {views.colors.shape} uint8"
            )
        gen_progress(1, 1)
    else:
        try:
            generated = generate_views(completer, request, progress=gen_progress, cancel=cancel)
        except GenerationCancelled as exc:
            raise Cancelled(str(exc)) from None
    t2 = time.perf_counter()
    holes = {(int(t), traj.poses[i].tobytes()): ~views.masks[i] for i, t in enumerate(frames)}

    def covered(t: int, c2w: np.ndarray, k: Intrinsics) -> np.ndarray:
        return coverage.covered(t, c2w, k, holes.get((int(t), np.asarray(c2w).tobytes())))

    layers = lift_generation(
        scene,
        traj,
        frames,
        generated,
        views.masks,
        gen,
        lift_options,
        covered=covered,
        progress=bar.stage(2 * n, n, f"{traj.name}: lift"),
        cancel=cancel,
    )
    if cancel():
        raise Cancelled(f"completion was cancelled during path {traj.name!r}")
    meta = {
        "path": traj.name,
        "generator": gen_name,
        "completer": getattr(completer, "name", type(completer).__name__),
        "depth_fill": lift_options.depth_fill,
        "poses": n,
        "poses_digest": digest,
        "frames": [int(frames.min()), int(frames.max())],
        "stride": stride,
        "masked_pixels": int((~views.masks).sum()),
    }
    save_completions(directory, gen, layers, meta)
    if work_dir is not None:
        del generated  # may be a memory map of the work directory's output
        shutil.rmtree(work_dir, ignore_errors=True)  # the windows live on in the layers
    coverage.add(layers)
    t3 = time.perf_counter()
    return PathReport(
        traj.name,
        gen,
        "completed",
        n,
        layers=len(layers),
        pixels=int(sum(layer.num_pixels for layer in layers)),
        masked_pixels=meta["masked_pixels"],
        seconds=t3 - t0,
        render_s=t1 - t0,
        generate_s=t2 - t1,
        lift_s=t3 - t2,
    )


def export_completions(
    scene: Scene,
    scene_dir: str | os.PathLike,
    path: str | os.PathLike,
    *,
    frame: int = 0,
    generations: Sequence[str] | None = None,
    with_source: bool = False,
) -> Path:
    """Write the completion meshes of source frame ``frame`` (world coordinates, visible faces
    only) to ``path``: GLB with one node per generation (and ``source`` for the frame's
    DW-Mesh visible faces with ``with_source``), each with a material of its name, in glTF's
    axes (y up, -z forward; see :mod:`ex4d_bridge.geometry.export`), or one PLY mesh in the
    OpenCV axes (y down, z forward). Written atomically."""
    import trimesh

    from .layers import LayerMesh, layer_mesh

    out = Path(path)
    if out.suffix.lower() not in (".glb", ".ply"):
        raise InputError(
            f"cannot export completions as {out.suffix or 'no suffix'!r}; use .glb or .ply"
        )
    if not 0 <= int(frame) < scene.num_frames:
        raise InputError(f"frame {frame} is outside the scene's 0..{scene.num_frames - 1}")
    completions = load_completions(scene_dir, list(generations) if generations else None)
    layers = [layer for layer in completions.layers if layer.frame_index == int(frame)]
    if not layers:
        raise InputError(f"no completion layers for frame {frame} in {scene_dir}")
    parts: dict[str, list[LayerMesh]] = {}
    for i, layer in enumerate(layers):
        parts.setdefault(layer.generation, []).append(
            layer_mesh(layer, scene.mesh_options, layer_index=i)
        )
    meshes = {g: LayerMesh.concatenate(m) for g, m in parts.items()}
    if with_source:
        src = scene.mesh(int(frame)).numpy()
        keep = ~np.asarray(src.occluded, bool)
        faces = np.asarray(src.faces)[keep]
        used, inverse = np.unique(faces, return_inverse=True)
        meshes = {
            "source": LayerMesh(
                np.asarray(src.vertices, np.float32)[used],
                inverse.reshape(-1, 3).astype(np.int32),
                np.asarray(src.colors)[used],
                np.zeros(len(faces), np.int32),
            ),
            **meshes,
        }

    def trimesh_of(m: LayerMesh):
        rgba = np.concatenate([m.colors, np.full((len(m.colors), 1), 255, np.uint8)], 1)
        return trimesh.Trimesh(
            m.vertices, m.faces, vertex_colors=rgba, process=False, validate=False
        )

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix.lower() == ".glb":  # glTF axes and materials, as export_mesh writes them
        from ...geometry.export import glb_bytes

        tmp.write_bytes(glb_bytes({n: (m.vertices, m.faces, m.colors) for n, m in meshes.items()}))
    else:
        tmp.write_bytes(
            trimesh_of(LayerMesh.concatenate(list(meshes.values()))).export(file_type="ply")
        )
    os.replace(tmp, out)
    return out


def render_completed_files(
    scene: Scene,
    scene_dir: str | os.PathLike,
    trajectory: Trajectory,
    out_dir: str | os.PathLike,
    *,
    render: RenderOptions | None = None,
    window: int | None = None,
    progress: bool | Callable[[int, int], None] = True,
    cancel=None,
) -> dict[str, Path]:
    """Render ``trajectory`` through the scene's completion layers and write
    ``color_<tag>.mp4``, ``holes_<tag>.mp4`` (white where nothing is there) and the camera
    files (``camera_<tag>.npz``/``.json``, as ``render`` writes them). Pose i shows source
    frame i, or the frame of its time stamp (:func:`source_frames_for`). Everything is checked
    before anything is written, and the files appear together or not at all."""
    from ...video import write_mask_video, write_video
    from ..trajectory_render import _staged, trajectory_tag
    from .compose import render_completed_trajectory

    completions = load_completions(scene_dir)
    if not len(completions):
        raise InputError(
            f"{scene_dir} has no completions to render; run `ex4d-bridge complete {scene_dir}` "
            "first (or render without --completed)"
        )
    frames = source_frames_for(trajectory, scene.num_frames, scene.fps)
    options = CompositeOptions()
    changes = {}
    if render is not None:
        changes["render"] = render
    if window is not None:
        if window < 0:
            raise InputError(f"window must be >= 0 frames, got {window}")
        changes["window"] = int(window)
    if changes:
        options = replace(options, **changes)
    completed = CompletedScene(scene, completions, options)
    result = render_completed_trajectory(
        completed, trajectory, frame_indices=frames, progress=progress, cancel=cancel
    )
    colors, holes, traj, k = result.colors, result.holes, result.trajectory, result.intrinsics
    tag = trajectory_tag(trajectory.name)
    names = {
        "color": f"color_{tag}.mp4",
        "holes": f"holes_{tag}.mp4",
        "camera_npz": f"camera_{tag}.npz",
        "camera_json": f"camera_{tag}.json",
    }

    def write(staging: Path) -> None:
        write_video(staging / names["color"], colors, scene.fps)
        write_mask_video(staging / names["holes"], np.asarray(holes, bool), scene.fps)
        np.savez_compressed(
            staging / names["camera_npz"],
            extrinsics=traj.w2c_opengl().astype(np.float32),
            intrinsics=k.matrix().astype(np.float32),
        )
        Trajectory(traj.poses, k, traj.name, scene.fps, traj.times).save(
            staging / names["camera_json"]
        )

    out = Path(out_dir)
    _staged(out, list(names.values()), write)
    return {kind: out / name for kind, name in names.items()}


__all__ = [
    "GENERATORS",
    "CompletionReport",
    "PathReport",
    "PoseAwareCompleter",
    "ViewCompleter",
    "complete_scene",
    "export_completions",
    "generation_id",
    "generator_name",
    "poses_digest",
    "render_completed_files",
    "source_frames_for",
]
