"""Generation jobs: state in SQLite, worker threads that run them, progress events.

* ``JobDB`` keeps every job's state in ``DATA_DIR/jobs.sqlite`` (stdlib ``sqlite3``). At
  start, jobs left QUEUED or RUNNING by a previous process are marked INTERRUPTED: their
  worker is gone, and the client can resubmit.
* ``GenerationWorker`` takes queued jobs on its worker threads and keeps their bookkeeping:
  state, progress, cancellation, listeners, results. Where a job's body runs is its
  executor's business (``JobExecutor``): ``LocalExecutor`` (the default) runs one job at a
  time on the single worker thread, so only one generation holds the GPU and the View path
  never waits on it; ``ray_executor.RayExecutor`` (``serve --ray``) runs one job per Ray
  actor, with one worker thread following each. The body (``job_body``) renders the
  trajectory with the library (``render_trajectory``), completes the colours and masks with
  the configured ``NovelViewCompleter`` through ``generate_views`` (the call ``ex4d-bridge
  generate`` makes, with the same defaults); the worker then writes ``generated.mp4``,
  ``generated.npz`` (frames, poses, frame indices, intrinsics) and ``generated.poses.json``
  into ``DATA_DIR/jobs/<job_id>/``, staged and renamed like scenes. Cancelling sets the
  job's event; the completer and the render loop check it. A ``complete`` job then lifts what
  it generated into completion layers stored with the scene (the library's
  ``complete_scene``, as ``ex4d-bridge complete`` does); a ``coverage`` job does that along
  every path of a coverage set and keeps no video. Progress is reported per stage (render,
  generate, complete).
* Listeners (``WatchJob``) get a snapshot of the job after every change, from any thread.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgpack
import numpy as np

from ..cache import LRUCache
from ..camera import Intrinsics, Trajectory
from ..camera.poses import pose_distances
from ..errors import Cancelled, Ex4dError, InputError
from ..generation import (
    GenerationCancelled,
    NovelViewCompleter,
    SamplingParams,
    WindowOptions,
)
from ..geometry import RenderOptions
from .errors import NotFoundError, PreconditionError
from .job_body import (
    JobInputs,
    JobOutcome,
    RemoteJobError,
    complete_job,
    generate_job,
    load_completer,
)
from .memory import MemoryBudget, default_budget_bytes, generation_bytes
from .rpc import is_disk_full
from .store import JOB_ID_RE, SceneStore

if TYPE_CHECKING:
    from .ray_settings import RaySettings

log = logging.getLogger(__name__)

CompleterSpec = NovelViewCompleter | Callable[[], NovelViewCompleter] | None


class JobState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    scene_id: str
    state: JobState
    progress_done: int = 0
    progress_total: int = 0
    message: str = ""
    error: str = ""
    created_unix_s: float = 0.0
    started_unix_s: float = 0.0
    finished_unix_s: float = 0.0
    completer: str = ""
    num_frames: int = 0
    stage: str = ""
    stage_index: int = 0
    num_stages: int = 0
    generations: str = ""  # the completion generations stored, newline-separated
    queue_position: int = 0


_COLUMNS = [f for f in JobRecord.__dataclass_fields__ if f != "queue_position"]
# Columns added after the first release, with their SQL types: older databases gain them.
_ADDED_COLUMNS = {
    "stage": "TEXT",
    "stage_index": "INTEGER",
    "num_stages": "INTEGER",
    "generations": "TEXT",
}


def check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
        raise InputError(f"job id {str(job_id)[:80]!r} is malformed: a job id is 32 hex digits")
    return job_id


class JobDB:
    def __init__(self, path: str | os.PathLike) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS jobs ("
                "job_id TEXT PRIMARY KEY, scene_id TEXT NOT NULL, state TEXT NOT NULL, "
                "progress_done INTEGER, progress_total INTEGER, message TEXT, error TEXT, "
                "created_unix_s REAL, started_unix_s REAL, finished_unix_s REAL, "
                "completer TEXT, num_frames INTEGER, request BLOB)"
            )
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(jobs)")}
            for name, sql_type in _ADDED_COLUMNS.items():
                if name not in have:
                    self._conn.execute(f"ALTER TABLE jobs ADD COLUMN {name} {sql_type}")
            self._conn.execute(
                "UPDATE jobs SET state = ?, finished_unix_s = ?, "
                "message = 'the server stopped before the job finished; submit it again' "
                "WHERE state IN (?, ?)",
                (JobState.INTERRUPTED, time.time(), JobState.QUEUED, JobState.RUNNING),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def create(self, scene_id: str, request: dict[str, Any], num_frames: int) -> JobRecord:
        rec = JobRecord(
            job_id=uuid.uuid4().hex,
            scene_id=scene_id,
            state=JobState.QUEUED,
            created_unix_s=time.time(),
            num_frames=num_frames,
            message="queued",
            stage="queued",
        )
        row = asdict(rec)
        with self._lock:
            self._conn.execute(
                f"INSERT INTO jobs ({', '.join(_COLUMNS)}, request) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))}, ?)",
                [row[c] for c in _COLUMNS] + [msgpack.packb(request)],
            )
        return rec

    def update(self, job_id: str, **fields: Any) -> JobRecord:
        assert set(fields) <= set(_COLUMNS)
        with self._lock:
            self._conn.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE job_id = ?",
                [*fields.values(), job_id],
            )
        return self.get(job_id)

    def _row(self, row: tuple) -> JobRecord:
        d = dict(zip(_COLUMNS, row, strict=True))
        d["state"] = JobState(d["state"])
        return JobRecord(**{k: (v if v is not None else type_default(k)) for k, v in d.items()})

    def get(self, job_id: str) -> JobRecord:
        check_job_id(job_id)
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no job {job_id}; ListJobs shows the known jobs")
        return self._row(row)

    def list(self, scene_id: str | None = None, state: JobState | None = None) -> list[JobRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
        cond, args = [], []
        if scene_id:
            cond.append("scene_id = ?")
            args.append(scene_id)
        if state:
            cond.append("state = ?")
            args.append(str(state))
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY created_unix_s", args).fetchall()
        return [self._row(r) for r in rows]


def type_default(name: str) -> Any:
    return JobRecord.__dataclass_fields__[name].default


@dataclass(frozen=True)
class GenerationParams:
    """A validated SubmitGeneration request, in library terms: where to render and how to
    sample (the library's defaults where the client left a field unset).

    ``complete``: lift the result into completion layers stored with the scene.
    ``coverage``: instead of one trajectory, these paths (a coverage set, built for the scene)
    are generated, lifted and stored in one job; ``coverage_name`` is the set's name."""

    scene_id: str
    trajectory: Trajectory | None  # poses in the scene's world, intrinsics set
    sampling: SamplingParams = SamplingParams()
    complete: bool = False
    coverage: tuple[Trajectory, ...] = ()
    coverage_name: str = ""
    windows: WindowOptions = WindowOptions()

    def __post_init__(self) -> None:
        self.sampling.check()  # a bad value fails the RPC, not a queued job
        self.windows.check()
        if (self.trajectory is None) == (not self.coverage):
            raise InputError("a generation needs either a trajectory or a coverage set")

    @property
    def num_frames(self) -> int:
        if self.trajectory is not None:
            return len(self.trajectory)
        return sum(len(t) for t in self.coverage)

    def memory_bytes(self, backend: str) -> int:
        """The job's memory estimate (its largest path; see ``server.memory``)."""
        paths = [self.trajectory] if self.trajectory is not None else list(self.coverage)
        out = 0
        for t in paths:
            k = t.intrinsics
            w, h = (k.width, k.height) if k is not None else (512, 512)
            out = max(out, generation_bytes(len(t), w, h, backend))
        return out

    @property
    def stages(self) -> tuple[str, ...]:
        if self.coverage:
            return ("complete",)
        return ("render", "generate", "complete") if self.complete else ("render", "generate")

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scene_id": self.scene_id, **asdict(self.sampling)}
        out["windows"] = asdict(self.windows)
        if self.trajectory is not None:
            out["trajectory"] = self.trajectory.to_json_dict("opencv")
        if self.coverage:
            out["coverage"] = self.coverage_name
        out["complete"] = bool(self.complete or self.coverage)
        return out


@dataclass
class GeneratedResult:
    """A finished job's output, for View lookups."""

    job_id: str
    poses: np.ndarray  # (N, 4, 4) OpenCV c2w
    frame_indices: np.ndarray  # (N,)
    intrinsics: Intrinsics
    frames_path: Path

    def load_frames(self) -> np.ndarray:
        with np.load(self.frames_path) as z:
            return z["frames"]


Listener = Callable[[JobRecord], None]


class _Sink:
    """A running job's progress, into its record (``JobSink`` for ``job_body``)."""

    def __init__(self, worker: GenerationWorker, job_id: str) -> None:
        self.worker, self.job_id = worker, job_id

    def set(self, **fields: Any) -> None:
        self.worker._set(self.job_id, **fields)


class JobExecutor(Protocol):
    """Where job bodies run. ``slots``: how many jobs may run at once (one worker thread
    each). ``run`` reports progress to ``sink``, calls ``finish(outcome)`` once the body is
    done (the server then writes the result) and returns the outcome; it raises
    ``GenerationCancelled`` when ``cancel`` was set, anything else to fail the job."""

    slots: int

    def run(
        self,
        job_id: str,
        params: GenerationParams,
        cancel: threading.Event,
        sink: _Sink,
        finish: Callable[[JobOutcome], None],
    ) -> JobOutcome: ...

    def problem(self) -> str | None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Job bodies on the server's own worker thread, one at a time (the default): the
    completer is loaded there once, scenes and meshes come from the server's caches."""

    slots = 1

    def __init__(self, worker: GenerationWorker) -> None:
        self.worker = worker

    def problem(self) -> str | None:
        return None

    def close(self) -> None:
        pass

    def run(self, job_id, params, cancel, sink, finish) -> JobOutcome:
        w = self.worker
        started = time.perf_counter()
        completer = w._get_completer()
        sink.set(completer=completer.name)
        scene = w.store.load(params.scene_id)
        # The job holds its memory estimate while it runs (View renders wait for it, or it
        # for them); the model's own memory is not part of the estimate.
        with w.memory.reserve(
            params.memory_bytes(w.render_options.backend),
            "this generation job",
            wait_s=3600.0,
            cancelled=cancel.is_set,
        ):
            job = JobInputs(
                scene, params, completer, w.render_options, sink, cancel, w.work_dir(job_id)
            )
            if params.complete or params.coverage:
                try:
                    outcome = complete_job(job, w.store.scene_dir(params.scene_id), job_id)
                finally:
                    if w.on_completions is not None:
                        w.on_completions(params.scene_id)  # whatever was stored, even if cancelled
            else:
                outcome = generate_job(
                    job,
                    meshes=lambda t: w.store.mesh(params.scene_id, t, w.render_options.device),
                )
            outcome.seconds = time.perf_counter() - started
            finish(outcome)
        return outcome


class GenerationWorker:
    """Runs generation jobs on dedicated threads: one, running job bodies in this process, or
    with ``ray`` settings one per Ray actor, each body running on an actor of the cluster
    (``ray_executor``); the job records, listeners and results stay here either way."""

    def __init__(
        self,
        store: SceneStore,
        db: JobDB,
        jobs_dir: Path,
        *,
        completer: CompleterSpec = None,
        allow_fallback: bool = True,
        render_options: RenderOptions = RenderOptions(),
        on_completions: Callable[[str], None] | None = None,
        memory: MemoryBudget | None = None,
        ray: RaySettings | None = None,
    ) -> None:
        self.store, self.db, self.jobs_dir = store, db, Path(jobs_dir)
        # Told the scene id whenever a job stored completions (the View cache reloads it).
        self.on_completions = on_completions
        self.memory = memory if memory is not None else MemoryBudget(default_budget_bytes())
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        for pattern in (".staging-*", ".work-*"):
            for leftover in self.jobs_dir.glob(pattern):
                shutil.rmtree(leftover, ignore_errors=True)
        self._spec, self.allow_fallback = completer, allow_fallback
        self._completer: NovelViewCompleter | None = None
        # Generation inputs always get reference-shaped masks; backend and device come from here.
        self.render_options = render_options
        self._queue: queue.Queue[tuple[str, GenerationParams] | None] = queue.Queue()
        self._queued: list[str] = []
        self._cancel: dict[str, threading.Event] = {}
        self._listeners: dict[str, list[Listener]] = {}
        # Job changes the database could not store (a full disk): kept here, shown by get(),
        # written with the job's next change that succeeds.
        self._unsaved: dict[str, dict[str, Any]] = {}
        self._db_problem: str | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Poses of finished jobs are small and consulted on every View pose; frames are large
        # and only needed when a pose matches, so only the last few jobs' frames stay loaded.
        self._results = LRUCache(256)
        # Succeeded job ids per scene, oldest first: read from the database once per scene, then
        # kept current by the worker, so View replies never query SQLite.
        self._succeeded: dict[str, list[str]] = {}
        self._frames = LRUCache(2)
        # Worker threads: one per job that may run at once (the executor may ask for more).
        self._threads: list[threading.Thread] = []
        self.executor: JobExecutor
        if ray is not None:
            from .ray_executor import RayExecutor

            self.executor = RayExecutor(self, ray)
        else:
            self.executor = LocalExecutor(self)
        self.ensure_threads(max(1, self.executor.slots))
        self._thread = self._threads[0]

    # -- configuration -------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self._spec is not None or self.allow_fallback

    @property
    def completer_spec(self) -> CompleterSpec:
        return self._spec

    def _get_completer(self) -> NovelViewCompleter:
        if self._completer is None:
            # A factory loads its models on the worker thread, the one that owns the GPU.
            self._completer = load_completer(self._spec, self.allow_fallback)
        return self._completer

    # -- API (any thread) ----------------------------------------------------------------

    def check_configured(self) -> None:
        if not self.configured:
            raise PreconditionError(
                "generation weights are not configured and the classical fallback is disabled: "
                "start the server with --base/--adapter (or --completer MODULE:FACTORY), or "
                "without --no-fallback"
            )
        if isinstance(self.executor, LocalExecutor):
            return
        problem = self.executor.problem()
        if problem:
            raise PreconditionError(
                f"generation runs on a Ray cluster that cannot take jobs now ({problem}); "
                "try again when the server's health reports SERVING"
            )

    def submit(self, params: GenerationParams) -> JobRecord:
        self.check_configured()
        rec = self.db.create(params.scene_id, params.summary(), params.num_frames)
        with self._lock:
            self._cancel[rec.job_id] = threading.Event()
            self._queued.append(rec.job_id)
            # The reply says where the job joined the queue (the worker may take it at once).
            position = len(self._queued)
        self._queue.put((rec.job_id, params))
        return replace(rec, queue_position=position)

    def get(self, job_id: str) -> JobRecord:
        rec = self.db.get(job_id)
        with self._lock:
            unsaved = self._unsaved.get(job_id)
            if unsaved:
                rec = replace(rec, **unsaved)
            if rec.job_id in self._queued:
                rec = replace(rec, queue_position=self._queued.index(rec.job_id) + 1)
        return rec

    def health_problem(self) -> str | None:
        """Why generation cannot run now (the worker thread ended, or the job database cannot
        be written), or None: the server's health check reports NOT_SERVING with it."""
        with self._lock:
            threads = [self._thread, *self._threads[1:]]
        if not all(t.is_alive() for t in threads) and not self._stopping.is_set():
            return "the generation worker stopped; restart the server"
        with self._lock:
            if self._db_problem:
                return self._db_problem
        return self.executor.problem()

    def list(self, scene_id: str | None = None) -> list[JobRecord]:
        return [self.get(r.job_id) for r in self.db.list(scene_id or None)]

    def cancel(self, job_id: str) -> JobRecord:
        rec = self.db.get(job_id)
        if rec.state.finished:
            return rec
        with self._lock:
            event = self._cancel.get(job_id)
            was_queued = job_id in self._queued
            if was_queued:
                self._queued.remove(job_id)
        if was_queued:  # never started: cancelled at once
            self._set(
                job_id,
                state=JobState.CANCELLED,
                message="cancelled while queued",
                finished_unix_s=time.time(),
            )
        if event is not None:
            event.set()
        return self.get(job_id)

    def subscribe(self, job_id: str, listener: Listener) -> JobRecord:
        """Call ``listener`` with every later change of the job; returns its state now."""
        self.db.get(job_id)  # NOT_FOUND before anything is registered
        with self._lock:
            self._listeners.setdefault(job_id, []).append(listener)
        return self.get(job_id)

    def unsubscribe(self, job_id: str, listener: Listener) -> None:
        with self._lock:
            lst = self._listeners.get(job_id, [])
            if listener in lst:
                lst.remove(listener)
            if not lst:
                self._listeners.pop(job_id, None)

    def result(self, job_id: str) -> GeneratedResult:
        rec = self.db.get(job_id)
        if rec.state != JobState.SUCCEEDED:
            raise PreconditionError(f"job {job_id} is {rec.state.value}, it has no result")
        return self._results.get_or_build(job_id, lambda: self._load_result(job_id))

    def result_dir(self, job_id: str) -> Path:
        return self.jobs_dir / check_job_id(job_id)

    def _try_load_result(self, job_id: str) -> GeneratedResult | None:
        """The result, or None for a job without one (a coverage job keeps no video) or an
        unreadable one; cached either way, so View never asks the disk twice."""
        try:
            return self._load_result(job_id)
        except (OSError, KeyError, ValueError, Ex4dError):
            return None

    def _load_result(self, job_id: str) -> GeneratedResult:
        path = self.result_dir(job_id) / "generated.npz"
        with np.load(path) as z:
            k = Intrinsics.from_matrix(z["intrinsics"], int(z["size"][0]), int(z["size"][1]))
            return GeneratedResult(job_id, z["poses"], z["frame_indices"], k, path)

    def find_generated(
        self,
        scene_id: str,
        c2w: np.ndarray,
        frame_index: int,
        k: Intrinsics,
        pos_tol: float = 1e-3,
        rot_tol_deg: float = 0.1,
    ) -> tuple[str, np.ndarray] | None:
        """A generated frame of a finished job of this scene at this pose, source frame and
        lens (up to scale), or None."""
        for job_id in reversed(self._succeeded_jobs(scene_id)):
            res = self._results.get_or_build(job_id, lambda j=job_id: self._try_load_result(j))
            if res is None or not res.intrinsics.same_lens(k):
                continue
            dpos, angle = pose_distances(res.poses, c2w)
            ok = (dpos <= pos_tol) & (angle <= rot_tol_deg) & (res.frame_indices == frame_index)
            hits = np.flatnonzero(ok)
            if hits.size:
                frames = self._frames.get_or_build(job_id, res.load_frames)
                return job_id, frames[hits[0]]
        return None

    def _succeeded_jobs(self, scene_id: str) -> list[str]:
        with self._lock:
            ids = self._succeeded.get(scene_id)
        if ids is None:
            loaded = [r.job_id for r in self.db.list(scene_id, JobState.SUCCEEDED)]
            with self._lock:
                ids = self._succeeded.setdefault(scene_id, loaded)
        with self._lock:
            return list(ids)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def ensure_threads(self, count: int) -> None:
        """At least ``count`` worker threads (a Ray cluster reported more actors)."""
        with self._lock:
            while len(self._threads) < count and not self._stopping.is_set():
                t = threading.Thread(
                    target=self._run, name=f"ex4d-generation-{len(self._threads)}", daemon=True
                )
                self._threads.append(t)
                t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker: the running job and queued ones end INTERRUPTED."""
        self._stopping.set()
        with self._lock:
            events = list(self._cancel.values())
        for e in events:
            e.set()
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        end = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        self.executor.close()

    # -- worker thread -------------------------------------------------------------------

    def _set(self, job_id: str, **fields: Any) -> JobRecord:
        with self._lock:
            pending = self._unsaved.pop(job_id, {})
        fields = {**pending, **fields}
        try:
            self.db.update(job_id, **fields)
        except (sqlite3.Error, OSError) as exc:
            # The worker must outlive its database: the job's state stays visible from memory,
            # health reports the problem, and the next change that can be written catches up.
            reason = "disk full" if is_disk_full(exc) else f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._unsaved[job_id] = fields
                self._db_problem = f"the job database cannot be written ({reason})"
            log.error("job %s: cannot store its state: %s", job_id, reason)
        else:
            with self._lock:
                self._db_problem = None
                others = list(self._unsaved.items())
                self._unsaved.clear()
            for other, pending in others:  # the database works again: catch up
                self._set(other, **pending)
        rec = self.get(job_id)
        with self._lock:
            listeners = list(self._listeners.get(job_id, []))
        for fn in listeners:
            try:
                fn(rec)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the worker
                log.exception("job listener failed")
        return rec

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            job_id, params = item
            with self._lock:
                if job_id not in self._queued:
                    continue  # cancelled while queued
                self._queued.remove(job_id)
                cancel = self._cancel[job_id]
            if self._stopping.is_set():
                self._set(
                    job_id,
                    state=JobState.INTERRUPTED,
                    message="the server stopped",
                    finished_unix_s=time.time(),
                )
                continue
            try:
                self._execute(job_id, params, cancel)
            except Exception as exc:  # noqa: BLE001 - whatever happens, the queue moves on
                log.exception("generation job %s could not be finished", job_id)
                try:
                    self._set(
                        job_id,
                        state=JobState.FAILED,
                        finished_unix_s=time.time(),
                        error=f"the worker failed: {type(exc).__name__}: {exc}"[:2000],
                        message="failed",
                    )
                except Exception:  # noqa: BLE001
                    log.exception("job %s: cannot record the failure", job_id)
            finally:
                with self._lock:
                    self._cancel.pop(job_id, None)
        # Whatever is still queued never ran.
        with self._lock:
            left, self._queued = list(self._queued), []
        for job_id in left:
            self._set(
                job_id,
                state=JobState.INTERRUPTED,
                message="the server stopped",
                finished_unix_s=time.time(),
            )

    def _execute(self, job_id: str, params: GenerationParams, cancel: threading.Event) -> None:
        self._set(
            job_id,
            state=JobState.RUNNING,
            started_unix_s=time.time(),
            progress_done=0,
            progress_total=params.num_frames,
        )
        staging = self.jobs_dir / f".staging-{job_id}"

        def finish(outcome: JobOutcome) -> None:
            if outcome.frames is not None:
                self._write_result(
                    staging,
                    job_id,
                    params,
                    outcome.frames,
                    outcome.frame_indices,
                    outcome.intrinsics,
                    outcome.scene_fps,
                )
            if outcome.generations:
                self._set(job_id, generations="\n".join(outcome.generations))

        try:
            outcome = self.executor.run(job_id, params, cancel, _Sink(self, job_id), finish)
            self._set(
                job_id,
                state=JobState.SUCCEEDED,
                finished_unix_s=time.time(),
                message=outcome.message,
                stage="done",
            )
            with self._lock:
                known = self._succeeded.get(params.scene_id)
                if known is not None and job_id not in known:
                    known.append(job_id)
        except (GenerationCancelled, Cancelled):
            state = JobState.INTERRUPTED if self._stopping.is_set() else JobState.CANCELLED
            self._set(
                job_id,
                state=state,
                finished_unix_s=time.time(),
                message="the server stopped" if self._stopping.is_set() else "cancelled",
            )
        except Exception as exc:  # noqa: BLE001 - the job fails, the worker lives on
            if is_disk_full(exc):
                error = f"disk full: the server could not store the result ({exc})"
            elif isinstance(exc, RemoteJobError):
                error = str(exc)
            else:
                error = f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, Ex4dError):
                    log.exception("generation job %s failed", job_id)
            self._set(
                job_id,
                state=JobState.FAILED,
                finished_unix_s=time.time(),
                error=error[:2000],
                message="failed",
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(self.work_dir(job_id), ignore_errors=True)

    def work_dir(self, job_id: str) -> Path:
        """Where a windowed generation keeps finished windows while the job runs (a job is
        not resumed across restarts: it ends INTERRUPTED, so the folder goes with it)."""
        return self.jobs_dir / f".work-{job_id}"

    def _write_result(
        self,
        staging: Path,
        job_id: str,
        params: GenerationParams,
        frames: np.ndarray,
        idx: np.ndarray,
        k: Intrinsics,
        scene_fps: float,
    ) -> None:
        from ..video import write_video

        staging.mkdir(parents=True, exist_ok=True)
        fps = params.trajectory.fps or scene_fps
        write_video(staging / "generated.mp4", frames, fps)
        np.savez_compressed(
            staging / "generated.npz",
            frames=frames,
            poses=params.trajectory.poses,
            frame_indices=idx,
            intrinsics=k.matrix(),
            size=np.array([k.width, k.height]),
        )
        traj = replace(params.trajectory, intrinsics=k, fps=fps)
        traj.save(staging / "generated.poses.json")
        target = self.result_dir(job_id)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
