"""The windowed long-clip mode: every render frame generated, window by window, resumable.

:func:`~.interface.generate_views` calls :func:`generate_windowed` when the request's
``windows.mode`` is ``"windowed"``. The render is cut into overlapping windows of the model's
frame count (:func:`~.window_plan.window_bounds`); each window is one ordinary (``sampled``
mode) ``generate_views`` call on the render frames at its poses, so every completer (the EX-4D
pipeline, the classical fallback, a server's) works unchanged:

* window 1 is conditioned as the reference does (``request.first_frame``, default the masked
  render's frame 0); window k+1 on the output frame at its first frame, i.e. the frame the
  windows before it generated there;
* window k samples with seed ``request.sampling.seed + k - 1`` (a one-window render equals the
  sampled mode's output);
* overlaps are cross-faded linearly (:mod:`.window_plan`), so the join frame keeps the frame
  window k+1 was conditioned on.

Memory: with a ``work_dir`` every finished window is written there as ``window_NNNN.npy``
(atomically: written to a temporary name, synced, renamed), the output is assembled in
``frames.npy`` through short-lived memory maps and returned as a read-only memory map of it.
The process then holds one window's inputs and outputs and the model, whatever the clip's
length (input arrays that are themselves memory maps are read one window at a time). Without
a ``work_dir`` the output is an in-memory array (the clip's size) plus one window.

Resuming: a re-run with the same inputs, sampling and completer (its name, preset and
``describe()``: placement and options, not a digest of its weights) and the same
``work_dir`` loads the stored windows instead of generating them (their conditioning frames
are rebuilt from the stored windows), so it produces the frames an uninterrupted run does. A
work directory holding another generation is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import Ex4dError, InputError
from .window_plan import DEFAULT_WINDOW, crossfade_weights, window_bounds

if TYPE_CHECKING:
    from .interface import (
        GenerationRequest,
        NovelViewCompleter,
        ProgressCallback,
        SamplingParams,
    )

log = logging.getLogger(__name__)

MANIFEST = "windows.json"
OUTPUT = "frames.npy"
_FORMAT = "ex4d-bridge-windows"
_SEED_LIMIT = 2**63


def window_size(completer: NovelViewCompleter, request: GenerationRequest) -> int:
    """Frames per window: ``windows.size``, else the sampling's ``num_frames``, else the
    completer's preset's, else 49 (a completer without a frame budget, the fallback)."""
    size, frames = request.windows.size, request.sampling.num_frames
    if size is not None:
        if frames is not None and int(frames) != int(size):
            raise InputError(
                f"the window is {size} frames but sampling asks the model for {frames}: a "
                "window is one model call, so set one of them (or both the same)"
            )
        return int(size)
    if frames is not None:
        return int(frames)
    preset = getattr(completer, "preset", None)
    return int(getattr(preset, "num_frames", None) or DEFAULT_WINDOW)


def window_sampling(sampling: SamplingParams, size: int, index: int) -> SamplingParams:
    """Window ``index``'s (0-based) sampling: the window's frame count, seed + index."""
    return replace(sampling, num_frames=size, seed=(int(sampling.seed) + index) % _SEED_LIMIT)


# ---------------------------------------------------------------------- where frames live


class _MemoryFrames:
    """The output as one in-memory array (no work directory)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.array = np.empty(shape, np.uint8)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop].copy()

    def write(self, start: int, frames: np.ndarray) -> None:
        self.array[start : start + len(frames)] = frames

    def result(self) -> np.ndarray:
        return self.array


class _FileFrames:
    """The output in an ``.npy`` file, mapped only while a window is read or written, so its
    pages do not stay in the process's memory as the clip grows."""

    def __init__(self, directory: Path, shape: tuple[int, ...]) -> None:
        self.path = directory / OUTPUT
        self.partial = directory / (OUTPUT + ".partial")
        mm = np.lib.format.open_memmap(self.partial, mode="w+", dtype=np.uint8, shape=shape)
        del mm

    def read(self, start: int, stop: int) -> np.ndarray:
        mm = np.load(self.partial, mmap_mode="r")
        try:
            return np.array(mm[start:stop])
        finally:
            del mm

    def write(self, start: int, frames: np.ndarray) -> None:
        mm = np.load(self.partial, mmap_mode="r+")
        try:
            mm[start : start + len(frames)] = frames
            mm.flush()
        finally:
            del mm

    def result(self) -> np.ndarray:
        os.replace(self.partial, self.path)
        return np.load(self.path, mmap_mode="r")


# ---------------------------------------------------------------------- the work directory


def _digest_inputs(request: GenerationRequest, step: int = 16) -> str:
    """A digest of the render and the first frame, read a few frames at a time."""
    h = hashlib.blake2b(digest_size=16)
    colors, masks = request.colors, request.masks
    h.update(repr((colors.shape, masks.shape)).encode())
    for start in range(0, len(colors), step):
        h.update(np.ascontiguousarray(colors[start : start + step]).data)
        h.update(np.ascontiguousarray(masks[start : start + step]).data)
    if request.first_frame is not None:
        h.update(b"first")
        h.update(np.ascontiguousarray(request.first_frame).data)
    return h.hexdigest()


class WindowStore:
    """Finished windows of one generation in a work directory, each saved atomically.

    The manifest (``windows.json``) names what the windows belong to: the inputs' digest, the
    window bounds, the sampling and the completer. Opening a directory whose manifest differs
    is refused, so stale windows are never mixed into another generation.
    """

    def __init__(self, directory: str | PathLike, manifest: dict) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the work directory {self.directory}: {exc}") from exc
        path = self.directory / MANIFEST
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(
                    f"{path} is unreadable ({exc}); remove the work directory {self.directory}"
                ) from exc
            if stored != manifest:
                differ = sorted(
                    k for k in set(stored) | set(manifest) if stored.get(k) != manifest.get(k)
                )
                raise InputError(
                    f"the work directory {self.directory} holds the windows of another "
                    f"generation (different {', '.join(differ)}); remove it or give another "
                    "work directory"
                )
        else:
            _atomic_write(path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
        self.manifest = manifest

    def path(self, index: int) -> Path:
        return self.directory / f"window_{index:04d}.npy"

    def load(self, index: int, shape: tuple[int, ...]) -> np.ndarray | None:
        """Window ``index`` as a read-only memory map, or None when it is not stored (or its
        file is unusable: it is then generated again)."""
        path = self.path(index)
        if not path.is_file():
            return None
        try:
            frames = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            log.warning("stored window %s is unreadable (%s): generating it again", path, exc)
            return None
        if frames.shape != shape or frames.dtype != np.uint8:
            log.warning(
                "stored window %s is %s %s: generating it again", path, frames.shape, frames.dtype
            )
            return None
        return frames

    def save(self, index: int, frames: np.ndarray) -> None:
        _atomic_write(self.path(index), lambda f: np.save(f, frames, allow_pickle=False))


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise Ex4dError(f"cannot write {path}: {exc}") from exc


def manifest_for(
    completer: NovelViewCompleter,
    request: GenerationRequest,
    windows: list[tuple[int, int]],
    sampling: SamplingParams,
) -> dict:
    preset = getattr(getattr(completer, "preset", None), "name", None)
    described = {}
    if callable(getattr(completer, "describe", None)):
        # How the model is placed and what was applied changes its output; whether the text
        # encoder happens to be loaded does not.
        described = {k: v for k, v in completer.describe().items() if k != "text_encoder"}
    return {
        "format": _FORMAT,
        "version": 1,
        "frames": int(request.masks.shape[0]),
        "size": [int(request.masks.shape[2]), int(request.masks.shape[1])],
        "inputs": _digest_inputs(request),
        "windows": [[int(a), int(b)] for a, b in windows],
        "sampling": json.loads(json.dumps(asdict(sampling), default=str)),
        "completer": f"{completer.name}" + (f"/{preset}" if preset else ""),
        "model": json.loads(json.dumps(described, default=str)),
    }


# ---------------------------------------------------------------------- the driver


class _WindowProgress:
    """Per-window progress -> one count over every window: 'window 2/7, denoising step 13/50'.
    A window's reports are scaled by its own total, so counts stay whole steps."""

    def __init__(self, hook: ProgressCallback | None, count: int) -> None:
        self.hook, self.count, self.unit = hook, count, 1

    def done(self, index: int, message: str) -> None:
        if self.hook is not None:
            self.hook((index + 1) * self.unit, self.count * self.unit, message)

    def within(self, index: int) -> ProgressCallback | None:
        if self.hook is None:
            return None

        def report(done: int, total: int, message: str) -> None:
            self.unit = max(int(total), 1)
            self.hook(
                index * self.unit + int(done),
                self.count * self.unit,
                f"window {index + 1}/{self.count}, {message}",
            )

        return report


def generate_windowed(
    completer: NovelViewCompleter,
    request: GenerationRequest,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Every render frame of ``request``, generated in overlapping windows (module doc).

    ``request`` is checked by the caller (:func:`~.interface.generate_views`). Returns uint8
    (T, H, W, 3): an array, or a read-only memory map of ``work_dir/frames.npy``.
    """
    from .interface import GenerationCancelled, GenerationRequest, generate_views

    colors, masks = request.colors, request.masks
    count, height, width = masks.shape
    size = window_size(completer, request)
    overlap = request.windows.resolved_overlap(size)
    windows = window_bounds(count, size, overlap)
    samplings = [window_sampling(request.sampling, size, k) for k in range(len(windows))]
    store = None
    shape = (count, height, width, 3)
    if request.work_dir is not None:
        store = WindowStore(
            request.work_dir, manifest_for(completer, request, windows, request.sampling)
        )
        out = _FileFrames(store.directory, shape)
    else:
        out = _MemoryFrames(shape)
    bar = _WindowProgress(progress, len(windows))
    log.info(
        "windowed generation: %d frames in %d windows of %d (overlap %d)",
        count,
        len(windows),
        size,
        overlap,
    )
    end = 0  # frames before it are final or blended by the next window
    for k, (a, b) in enumerate(windows):
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled(f"generation was cancelled before window {k + 1}")
        frames = store.load(k, (b - a, height, width, 3)) if store is not None else None
        if frames is not None:
            bar.done(k, f"window {k + 1}/{len(windows)}: stored, resumed")
        else:
            first = request.first_frame if k == 0 else out.read(a, a + 1)[0]
            window = GenerationRequest(
                colors=np.ascontiguousarray(colors[a:b]),
                masks=np.ascontiguousarray(masks[a:b]),
                sampling=samplings[k],
                first_frame=first,
            )
            frames = generate_views(completer, window, progress=bar.within(k), cancel=cancel)
            if store is not None:
                store.save(k, frames)
        _place(out, frames, a, end)
        end = b
    return out.result()


def _place(out, frames: np.ndarray, start: int, end_before: int) -> None:
    """Write a window's frames into ``out`` from ``start``, cross-faded over the frames
    [start, end_before) the earlier windows already wrote."""
    if end_before > start:
        before = out.read(start, end_before)
        # One frame at a time: float temporaries of one frame, whatever the overlap.
        for j, w in enumerate(crossfade_weights(start, end_before)):
            old = before[j].astype(np.float32)
            mixed = old + w * (np.asarray(frames[j], dtype=np.float32) - old)
            before[j] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        out.write(start, before)
    first_new = max(end_before, start)
    out.write(first_new, np.asarray(frames[first_new - start :]))
