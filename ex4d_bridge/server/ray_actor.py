"""The Ray actor that runs generation jobs: one pipeline, loaded once, reused job after job.

The driver (``ray_driver``) creates these actors with ``ray.remote(GenerationActor)``; each
runs one job at a time (``run``, a streaming generator) and answers ``ping``/``cancel`` on
other threads meanwhile. A job's scene arrives through the object store as the scene
folder's files; its events go back the same way, as the items the generator yields:

* ``("set", fields)``: progress (a subset of the job record's fields);
* ``("chunk", relpath, bytes)``: a piece of a result file, at most ``chunk_bytes``, in order
  (``result.npz``: the frames; ``completions/<folder>/<file>``: a completion generation this
  job stored, sent also when the job then fails or is cancelled);
* one last ``("done", outcome)``, ``("error", text)`` or ``("cancelled", text)``.

Nothing here assumes the actor shares a disk with the server: scenes are materialised in a
private temporary folder and results leave only through the generator.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Cancelled, Ex4dError
from ..generation import GenerationCancelled
from .job_body import JobInputs, JobOutcome, complete_job, generate_job, load_completer

_END = object()
COMPLETIONS = "completions"


class _QueueSink:
    def __init__(self, events: queue.Queue) -> None:
        self.events = events

    def set(self, **fields: Any) -> None:
        self.events.put(("set", fields))


def _stored_generations(scene_dir: Path) -> dict[str, tuple[int, int]]:
    """Each stored generation folder with its summary's change time and size."""
    out = {}
    root = scene_dir / COMPLETIONS
    if root.is_dir():
        for d in root.iterdir():
            info = d / "completion.json"
            if not d.name.startswith(".") and d.is_dir() and info.is_file():
                st = info.stat()
                out[d.name] = (st.st_mtime_ns, st.st_size)
    return out


def _file_chunks(path: Path, relpath: str, chunk_bytes: int):
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk_bytes)
            if not data:
                break
            yield ("chunk", relpath, data)


class GenerationActor:
    """``completer_spec``: what the server would run (cloudpickled: an instance, a factory, or
    None for the classical fallback); ``render_options``: the server's; ``threads``: CPU
    threads for the job (the actor's CPUs)."""

    def __init__(
        self, completer_spec: bytes, allow_fallback: bool, render_options, threads: int = 1
    ) -> None:
        import cloudpickle
        import torch

        from ..runtime import THREADS_ENV

        # As many CPU threads as Ray gave the actor CPUs (torch, and the compiled renderer
        # through EX4D_THREADS): actors on one node must not take each other's cores.
        os.environ[THREADS_ENV] = str(threads)
        torch.set_num_threads(threads)

        self._spec = cloudpickle.loads(completer_spec)
        self._allow_fallback = allow_fallback
        self._render_options = render_options
        self._completer = None
        self._lock = threading.Lock()
        self._cancel: dict[str, threading.Event] = {}
        self._root = Path(tempfile.mkdtemp(prefix="ex4d-actor-"))
        self._scenes: OrderedDict[str, tuple[Path, Any]] = OrderedDict()

    # -- control (other threads of the actor) -----------------------------------------------

    def ping(self) -> dict[str, Any]:
        import ray
        import torch

        ctx = ray.get_runtime_context()
        return {
            "pid": os.getpid(),
            "node": ctx.get_node_id()[:12],
            "gpus": [str(g) for g in ray.get_gpu_ids()],
            "threads": torch.get_num_threads(),
            "jobs": list(self._cancel),
        }

    def warm(self) -> str:
        """Load the pipeline (and compile the renderer) before the first job needs it."""
        from ..geometry import raster_numba

        raster_numba.warm_up()
        return self._get_completer().name

    def cancel(self, job_id: str) -> bool:
        event = self._cancel.get(job_id)
        if event is not None:
            event.set()
        return event is not None

    # -- the job -----------------------------------------------------------------------------

    def _get_completer(self):
        with self._lock:  # warm() and the first job may race to load it
            if self._completer is None:
                self._completer = load_completer(self._spec, self._allow_fallback)
            return self._completer

    def _scene(self, scene_key: str, scene_ref: list) -> tuple[Path, Any]:
        """The job's scene, materialised once per version (the two latest are kept)."""
        import ray

        from ..scene import Scene

        if scene_key in self._scenes:
            self._scenes.move_to_end(scene_key)
            return self._scenes[scene_key]
        files: dict[str, bytes] = ray.get(scene_ref[0])
        d = self._root / f"scene-{scene_key}"
        shutil.rmtree(d, ignore_errors=True)
        for rel, data in files.items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        entry = (d, Scene.load(d))
        self._scenes[scene_key] = entry
        while len(self._scenes) > 2:
            _, (old, _) = self._scenes.popitem(last=False)
            shutil.rmtree(old, ignore_errors=True)
        return entry

    def run(self, job_id: str, params, scene_key: str, scene_ref: list, chunk_bytes: int):
        """Run one job; yields its events (see the module)."""
        import ray

        events: queue.Queue = queue.Queue()
        cancel = threading.Event()
        self._cancel[job_id] = cancel
        job_dir = self._root / f"job-{job_id}"
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        worker = threading.Thread(
            target=self._work,
            args=(job_id, params, scene_key, scene_ref, chunk_bytes, job_dir, cancel, events),
            name=f"ex4d-job-{job_id[:8]}",
            daemon=True,
        )
        worker.start()
        ctx = ray.get_runtime_context()
        held = None  # an event read ahead while merging progress
        try:
            while True:
                if held is not None:
                    ev, held = held, None
                else:
                    try:
                        ev = events.get(timeout=0.1)
                    except queue.Empty:
                        if ctx.is_canceled():  # ray.cancel() on this task
                            cancel.set()
                        continue
                if ev is _END:
                    break
                if ev[0] == "set":  # progress comes faster than it is worth sending
                    fields = dict(ev[1])
                    while held is None:
                        try:
                            nxt = events.get_nowait()
                        except queue.Empty:
                            break
                        if nxt is not _END and nxt[0] == "set":
                            fields.update(nxt[1])
                        else:
                            held = nxt
                    ev = ("set", fields)
                yield ev
        finally:
            cancel.set()  # the consumer went away: stop the work too
            worker.join()
            self._cancel.pop(job_id, None)
            shutil.rmtree(job_dir, ignore_errors=True)

    def _work(self, job_id, params, scene_key, scene_ref, chunk_bytes, job_dir, cancel, events):
        started = time.perf_counter()
        scene_dir, before = None, {}
        try:
            try:
                completer = self._get_completer()
                events.put(("set", {"completer": completer.name}))
                cached_dir, scene = self._scene(scene_key, scene_ref)
                job = JobInputs(
                    scene,
                    params,
                    completer,
                    self._render_options,
                    _QueueSink(events),
                    cancel,
                    job_dir / "work",
                )
                if params.complete or params.coverage:
                    # The job's own copy of the scene folder: the scene's files linked, its
                    # completions copied (complete_scene adds generations there).
                    scene_dir = job_dir / "scene"
                    scene_dir.mkdir()
                    for f in cached_dir.iterdir():
                        if f.is_file():
                            os.link(f, scene_dir / f.name)
                    if (cached_dir / COMPLETIONS).is_dir():
                        shutil.copytree(cached_dir / COMPLETIONS, scene_dir / COMPLETIONS)
                    before = _stored_generations(scene_dir)
                    outcome = complete_job(job, scene_dir, job_id)
                else:
                    outcome = generate_job(job)
            finally:
                if scene_dir is not None:
                    self._send_completions(scene_dir, before, chunk_bytes, events)
            outcome.seconds = time.perf_counter() - started
            self._send_outcome(outcome, job_dir, chunk_bytes, events)
        except (GenerationCancelled, Cancelled) as exc:
            events.put(("cancelled", str(exc) or "cancelled"))
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the server
            if not isinstance(exc, Ex4dError):  # a bug: its traceback goes to the node's Ray log
                logging.getLogger(__name__).exception("generation job %s failed", job_id)
            events.put(("error", f"{type(exc).__name__}: {exc}"[:2000]))
        finally:
            events.put(_END)

    @staticmethod
    def _send_completions(scene_dir: Path, before, chunk_bytes: int, events) -> None:
        after = _stored_generations(scene_dir)
        for folder, stamp in sorted(after.items()):
            if before.get(folder) == stamp:
                continue
            for name in ("completion.json", "layers.npz"):
                rel = f"{COMPLETIONS}/{folder}/{name}"
                for ev in _file_chunks(scene_dir / COMPLETIONS / folder / name, rel, chunk_bytes):
                    events.put(ev)

    @staticmethod
    def _send_outcome(outcome: JobOutcome, job_dir: Path, chunk_bytes: int, events) -> None:
        if outcome.frames is not None:
            buf = io.BytesIO()
            k = outcome.intrinsics
            np.savez(
                buf,
                frames=outcome.frames,
                frame_indices=outcome.frame_indices,
                intrinsics=k.matrix(),
                size=np.array([k.width, k.height]),
            )
            data = buf.getbuffer()
            for i in range(0, len(data), chunk_bytes):
                events.put(("chunk", "result.npz", bytes(data[i : i + chunk_bytes])))
        meta = {
            "message": outcome.message,
            "scene_fps": outcome.scene_fps,
            "generations": list(outcome.generations),
            "seconds": outcome.seconds,
        }
        events.put(("done", meta))
