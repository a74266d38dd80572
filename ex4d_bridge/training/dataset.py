"""Training samples from monocular videos: ``make_dataset`` and the ``TrainingSample`` reader.

Layout of a dataset directory::

    index.jsonl                one line per complete sample (rewritten atomically each run)
    samples/<id>/target.mp4    the source clip (what the model must produce)
    samples/<id>/mask.mp4      lossless, white where the pixel is kept, black where hidden
    samples/<id>/input.mp4     target * mask (what the model sees)
    samples/<id>/cameras.json  the novel trajectory that made the render mask (pose-path JSON)
    samples/<id>/sample.json   written last: its presence marks the sample complete

Making a dataset is resumable: samples whose ``sample.json`` exists are skipped, half-written
ones (``.tmp-*`` directories) are discarded, and ids are deterministic, so rerunning the same
command continues where it stopped instead of overwriting.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..camera.trajectory import Trajectory
from ..errors import InputError
from ..geometry import build_dw_mesh
from ..synthetic import SyntheticScene
from ..video import probe_video, read_mask_video, read_video, write_mask_video, write_video
from .render_masks import random_novel_trajectory, render_mask_clip
from .tracking_masks import random_blobs, track_masks

MASK_KINDS = ("render", "tracking", "both")


@dataclass
class ClipSource:
    """One clip to make samples from: frames and their depth."""

    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    depth: np.ndarray  # (T, H, W) float32
    fps: float
    intrinsics: object  # Intrinsics


def make_masks(
    clip: ClipSource, rng: np.random.Generator, kind: str = "both", backend: str = "auto"
) -> tuple[np.ndarray, Trajectory]:
    """(T, H, W) bool masks (True = kept) and the novel trajectory behind the render part."""
    if kind not in MASK_KINDS:
        raise InputError(f"mask kind {kind!r} is not one of {', '.join(MASK_KINDS)}")
    t, h, w = clip.depth.shape
    meshes = (build_dw_mesh(clip.depth[i], clip.frames[i], clip.intrinsics) for i in range(t))
    depth0 = clip.depth[0]
    valid = np.isfinite(depth0) & (depth0 > 0)
    if not valid.any():
        raise InputError(f"{clip.name}: frame 0 has no valid depth")
    traj = random_novel_trajectory(rng, float(depth0[valid].min()), t, intrinsics=clip.intrinsics)
    masks = np.ones((t, h, w), bool)
    if kind in ("render", "both"):
        masks &= render_mask_clip(meshes, traj, backend=backend)
        masks[0] = True  # frame 0 is the source view itself, as in the reference's renders
    if kind in ("tracking", "both"):
        coverage = 0.15 if kind == "tracking" else 0.06
        masks &= track_masks(clip.frames, random_blobs(rng, h, w, coverage=coverage))
    return masks, traj


def _sample_id(name: str, index: int, seed: int) -> str:
    digest = hashlib.sha1(f"{name}\0{index}\0{seed}".encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).stem)[:40]
    return f"{stem or 'clip'}-{index:03d}-{digest}"


def _write_sample(directory: Path, sample_id: str, clip: ClipSource, masks, traj, meta) -> None:
    final = directory / "samples" / sample_id
    tmp = directory / "samples" / f".tmp-{sample_id}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_video(tmp / "target.mp4", clip.frames, clip.fps, crf=10)
    write_mask_video(tmp / "mask.mp4", masks, clip.fps)
    write_video(tmp / "input.mp4", clip.frames * masks[..., None], clip.fps, crf=10)
    traj.save(tmp / "cameras.json")
    (tmp / "sample.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _rewrite_index(directory: Path) -> int:
    lines = []
    for meta_path in sorted((directory / "samples").glob("*/sample.json")):
        lines.append(json.dumps(json.loads(meta_path.read_text()), sort_keys=True))
    tmp = directory / ".index.jsonl.tmp"
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, directory / "index.jsonl")
    return len(lines)


def video_clips(
    videos: Iterable[str | os.PathLike],
    depth,
    *,
    num_frames: int,
    size: int,
    rng: np.random.Generator,
    progress: bool = True,
) -> Iterator[ClipSource]:
    """Read each video, take a random window of ``num_frames`` consecutive frames resized to
    ``size`` x ``size`` (as the reference trains) and turn it into a scene with the reference
    camera. ``depth``: one source for every video (a ``DepthSpec`` or a depth backend, run on
    the window; see ``scene.reconstruct``), or a list with one source per video, each covering
    that whole video (depth the user provides: the window is cut from it)."""
    from ..depth import KnownDepth
    from ..scene import DepthSpec, reconstruct
    from ..video import VideoClip

    videos = list(videos)
    per_video = isinstance(depth, list | tuple)
    if per_video and len(depth) != len(videos):
        raise InputError(
            f"{len(depth)} depth files for {len(videos)} videos: give one per video, in order"
        )
    for i, path in enumerate(videos):
        info = probe_video(path)
        if info.num_frames < num_frames:
            raise InputError(
                f"{path} has {info.num_frames} frames, fewer than the clip length {num_frames}; "
                "use a longer video or a smaller --frames"
            )
        clip = read_video(path, size=(size, size))
        start = int(rng.integers(0, clip.frames.shape[0] - num_frames + 1))
        frames = np.ascontiguousarray(clip.frames[start : start + num_frames])
        source = depth
        if per_video:
            whole = depth[i].estimator() if isinstance(depth[i], DepthSpec) else depth[i]
            full = np.asarray(whole.estimate(clip.frames, progress=progress), np.float32)
            window = full[start : start + num_frames]
            source = KnownDepth(np.where(np.isfinite(window) & (window > 0), window, np.inf))
        scene = reconstruct(VideoClip(frames, clip.fps, str(path)), source, progress=progress)
        yield ClipSource(str(path), scene.frames, scene.depth, scene.fps, scene.intrinsics)


def synthetic_clips(count: int, *, num_frames: int, size: int) -> Iterator[ClipSource]:
    """``count`` clips of the demo's analytic scene (known depth)."""
    scene = SyntheticScene(width=size, height=size, num_frames=num_frames)
    for k in range(count):
        yield ClipSource(
            f"synthetic-{k}", scene.frames(), scene.depths(), scene.fps, scene.intrinsics
        )


def make_dataset(
    clips: Iterable[ClipSource],
    out_dir: str | os.PathLike,
    *,
    total: int | None = None,
    samples_per_clip: int = 1,
    mask_kind: str = "both",
    seed: int = 0,
    backend: str = "auto",
    progress: bool = True,
) -> dict[str, int]:
    """Write samples for every clip; returns counts of ``written``, ``skipped`` and ``total``."""
    if mask_kind not in MASK_KINDS:
        raise InputError(f"mask kind {mask_kind!r} is not one of {', '.join(MASK_KINDS)}")
    directory = Path(out_dir)
    (directory / "samples").mkdir(parents=True, exist_ok=True)
    for stale in (directory / "samples").glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    written = skipped = 0
    bar = tqdm(total=total, desc="samples", unit="sample", disable=not progress)
    try:
        for clip_index, clip in enumerate(clips):
            for k in range(samples_per_clip):
                sample_id = _sample_id(clip.name, clip_index * samples_per_clip + k, seed)
                if (directory / "samples" / sample_id / "sample.json").is_file():
                    skipped += 1
                    bar.update()
                    continue
                rng = np.random.default_rng([seed, clip_index, k])
                masks, traj = make_masks(clip, rng, mask_kind, backend)
                t, h, w = masks.shape
                meta = {
                    "id": sample_id,
                    "source": clip.name,
                    "num_frames": t,
                    "width": w,
                    "height": h,
                    "fps": clip.fps,
                    "trajectory": traj.name,
                    "mask_kind": mask_kind,
                    "hidden_fraction": float(1 - masks.mean()),
                    "intrinsics": clip.intrinsics.to_dict(),
                }
                _write_sample(directory, sample_id, clip, masks, traj, meta)
                written += 1
                bar.update()
    finally:
        bar.close()
        count = _rewrite_index(directory)
    return {"written": written, "skipped": skipped, "total": count}


@dataclass
class TrainingSample:
    meta: dict
    target: np.ndarray  # (T, H, W, 3) uint8
    masks: np.ndarray  # (T, H, W) bool
    inputs: np.ndarray  # (T, H, W, 3) uint8


def read_index(directory: str | os.PathLike) -> list[dict]:
    """The complete samples of a dataset; a clear error for a missing or empty dataset."""
    index = Path(directory) / "index.jsonl"
    if not index.is_file():
        raise InputError(
            f"{directory} is not a dataset (no index.jsonl); make one with "
            "`ex4d-bridge make-dataset`"
        )
    rows = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    if not rows:
        raise InputError(f"the dataset in {directory} has no samples")
    return rows


def load_sample(directory: str | os.PathLike, meta: dict) -> TrainingSample:
    d = Path(directory) / "samples" / meta["id"]
    return TrainingSample(
        meta,
        read_video(d / "target.mp4").frames,
        read_mask_video(d / "mask.mp4"),
        read_video(d / "input.mp4").frames,
    )
