"""Job bodies on a Ray cluster, seen from the server (``serve --ray``).

The server keeps what clients see: the job database, the listeners, the results in
``DATA_DIR``. This executor runs each job's body on a ``GenerationActor`` through the Ray
driver, a child process (``ray_driver``, which says why), and turns the driver's messages back
into the job's progress, its result files and its completions, written here atomically as a
local job writes them. One worker thread of the server follows each actor's job.

Failures: an actor that dies mid-job is replaced and the job runs again on another actor
(``RaySettings.retries`` times), then FAILED with the reason; ``CancelJob`` cancels the Ray
task; a driver that exits or a cluster that stops answering for ``heartbeat_s`` fails the
running jobs, makes ``problem()`` (health, SubmitGeneration) say why, and the driver is
started again until the cluster answers.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..camera import Intrinsics
from ..errors import Ex4dError
from ..generation import GenerationCancelled
from .job_body import JobOutcome, RemoteJobError
from .ray_settings import RaySettings

if TYPE_CHECKING:
    from .jobs import GenerationParams, GenerationWorker

log = logging.getLogger(__name__)

# What an actor may send back: the frames, and completion generations of the job.
_RESULT_FILE = re.compile(
    r"result\.npz|completions/[A-Za-z0-9][A-Za-z0-9._-]{0,200}/(completion\.json|layers\.npz)"
)
_RESTART_S = (1.0, 2.0, 5.0, 10.0)


class RayExecutor:
    """``JobExecutor`` for ``GenerationWorker`` on a Ray cluster."""

    def __init__(self, worker: GenerationWorker, settings: RaySettings) -> None:
        settings.validate()
        self.worker, self.settings = worker, settings
        # Threads the worker starts now; more are added when the driver reports more actors.
        self.slots = max(1, settings.workers)
        self._lock = threading.Lock()
        self._jobs: dict[str, queue.Queue] = {}
        self._conn: Connection | None = None
        self._proc: subprocess.Popen | None = None
        self._send_lock = threading.Lock()
        self._status: str | None = "connecting to the Ray cluster"
        self._info: dict[str, Any] = {}
        self._last_beat = 0.0
        self._closed = threading.Event()
        # Where each recent job's time went (seconds from its submission to the driver): to
        # an actor, in the body (the actor's own count), to the result written here; and the
        # pid of the (last) actor that ran it.
        self.timings: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._supervisor = threading.Thread(target=self._supervise, name="ex4d-ray", daemon=True)
        self._supervisor.start()

    # -- the driver process ----------------------------------------------------------------

    def _config(self) -> bytes:
        import cloudpickle

        w = self.worker
        return cloudpickle.dumps(
            {
                "settings": self.settings,
                "completer": cloudpickle.dumps(w.completer_spec),
                "allow_fallback": w.allow_fallback,
                "render_options": w.render_options,
            }
        )

    def _start_driver(self) -> Connection:
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ex4d_bridge.server.ray_driver", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the server, which stops the driver
        )
        theirs.close()
        conn = Connection(os.dup(ours.fileno()))
        ours.close()
        conn.send_bytes(self._config())
        with self._lock:
            self._proc, self._conn = proc, conn
            self._last_beat = time.monotonic()
        return conn

    def _supervise(self) -> None:
        """Run the driver, read its messages, start it again when it exits."""
        failures = 0
        while not self._closed.is_set():
            try:
                conn = self._start_driver()
            except Exception as exc:  # noqa: BLE001 - e.g. cloudpickle missing, fd limits
                self._set_status(f"cannot start the Ray driver: {type(exc).__name__}: {exc}")
                self._closed.wait(_RESTART_S[-1])
                continue
            watchdog = threading.Thread(target=self._watch, args=(conn,), daemon=True)
            watchdog.start()
            reason = self._read(conn)
            proc = self._proc
            code = None
            if proc is not None:
                try:
                    code = proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._kill(proc)
                    code = proc.wait()
            with self._lock:
                self._conn = None
                lost = dict(self._jobs)
                was = self._status
            if self._closed.is_set():
                break
            reason = was if was and reason is None else reason
            reason = reason or f"the Ray driver exited (code {code})"
            self._set_status(reason)
            for q in lost.values():
                q.put(("lost", f"the connection to the Ray cluster was lost: {reason}"))
            failures += 1
            self._closed.wait(_RESTART_S[min(failures, len(_RESTART_S)) - 1])
            if self._info.get("ready"):
                failures = 0

    def _read(self, conn: Connection) -> str | None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return None
            kind = msg[0]
            if kind == "status":
                _, problem, info = msg
                with self._lock:
                    self._last_beat = time.monotonic()
                    self._status = problem
                    if info:
                        self._info = info
                if info.get("actors", 0) > self.slots:
                    self.slots = info["actors"]
                    self.worker.ensure_threads(self.slots)
            elif kind == "event":
                with self._lock:
                    q = self._jobs.get(msg[1])
                if q is not None:
                    q.put(msg[2:])

    def _watch(self, conn: Connection) -> None:
        """A cluster whose GCS is gone blocks the driver's calls: its heartbeat stops."""
        while not self._closed.wait(0.5):
            with self._lock:
                if self._conn is not conn:
                    return
                silent = time.monotonic() - self._last_beat
                proc = self._proc
            if silent > self.settings.heartbeat_s:
                self._set_status(
                    f"the Ray cluster at {self.settings.address} did not answer for {silent:.0f} s"
                )
                if proc is not None:
                    self._kill(proc)
                return

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _set_status(self, problem: str | None) -> None:
        with self._lock:
            self._status = problem
        if problem:
            log.error("ray: %s", problem)

    def _send(self, msg: tuple) -> bool:
        with self._lock:
            conn = self._conn
        if conn is None:
            return False
        try:
            with self._send_lock:
                conn.send(msg)
            return True
        except OSError:
            return False

    # -- JobExecutor -------------------------------------------------------------------------

    def problem(self) -> str | None:
        with self._lock:
            if self._conn is None and self._status is None:
                return "the Ray driver is not running"
            return self._status

    @property
    def info(self) -> dict[str, Any]:
        """The driver's last report: actors (ready, free, their pid and GPUs), resources."""
        with self._lock:
            return dict(self._info)

    def close(self) -> None:
        self._closed.set()
        self._send(("stop",))
        proc = self._proc
        with self._lock:
            answering = time.monotonic() - self._last_beat < 3.0 and self._conn is not None
        if proc is not None:
            try:
                # A driver that answers cancels its jobs and kills its actors first; one that
                # does not (the cluster is gone) would only make the server wait.
                proc.wait(5 if answering else 0.5)
            except subprocess.TimeoutExpired:
                self._kill(proc)

    def run(
        self,
        job_id: str,
        params: GenerationParams,
        cancel: threading.Event,
        sink,
        finish,
    ) -> JobOutcome:
        w = self.worker
        events: queue.Queue = queue.Queue()
        incoming = w.jobs_dir / f".incoming-{job_id}"
        with self._lock:
            self._jobs[job_id] = events
        ended = False  # the driver said how the job ended (or never had it)
        try:
            shutil.rmtree(incoming, ignore_errors=True)
            request = {"params": params, "scene_dir": str(w.store.scene_dir(params.scene_id))}
            if not self._send(("submit", job_id, request)):
                ended = True
                raise RemoteJobError(
                    f"the Ray cluster cannot take jobs now ({self.problem()}); submit it again "
                    "when the server's health reports SERVING"
                )
            t0 = time.perf_counter()
            timing: dict[str, float] = {"result_bytes": 0}
            with self._lock:
                self.timings[job_id] = timing
                while len(self.timings) > 256:
                    self.timings.popitem(last=False)
            sink.set(message="waiting for a Ray actor")
            cancel_sent, give_up = False, 0.0
            while True:
                try:
                    ev = events.get(timeout=0.2)
                except queue.Empty:
                    now = time.monotonic()
                    if cancel.is_set() and not cancel_sent:
                        self._send(("cancel", job_id))
                        cancel_sent = True
                        # A stopping server waits briefly; the driver stops the job anyway.
                        give_up = now + (2.0 if w.stopping else 30.0)
                    elif cancel_sent and now > give_up:
                        raise GenerationCancelled(
                            "cancelled (the actor did not confirm in time)"
                        ) from None
                    continue
                kind = ev[0]
                ended = kind in ("done", "cancelled", "error", "failed", "lost")
                if kind == "set":
                    sink.set(**ev[1])
                elif kind == "attempt":
                    timing.setdefault("on_actor_s", time.perf_counter() - t0)
                    a = ev[1]
                    timing["actor_pid"] = a.get("pid", 0)
                    where = f"Ray actor pid {a.get('pid')} on node {a.get('node', '?')}"
                    if a.get("gpus"):
                        where += f", GPU {','.join(a['gpus'])}"
                    sink.set(message=f"attempt {a['attempt']}: running on {where}")
                elif kind == "retry":
                    shutil.rmtree(incoming, ignore_errors=True)
                    sink.set(message=f"retrying on another actor: {ev[1]}")
                elif kind == "chunk":
                    self._append(incoming, ev[1], ev[2])
                    timing["result_bytes"] += len(ev[2])
                elif kind == "done":
                    timing["done_s"] = time.perf_counter() - t0
                    self._install_completions(incoming, params.scene_id)
                    outcome = self._outcome(incoming, ev[1])
                    finish(outcome)
                    timing["body_s"] = outcome.seconds
                    timing["written_s"] = time.perf_counter() - t0
                    return outcome
                elif kind == "cancelled":
                    self._install_completions(incoming, params.scene_id)
                    raise GenerationCancelled(ev[1])
                elif kind in ("error", "failed", "lost"):
                    self._install_completions(incoming, params.scene_id)
                    raise RemoteJobError(ev[1])
        finally:
            with self._lock:
                self._jobs.pop(job_id, None)
            if not ended:  # failed here (e.g. a full disk): stop the actor's work too
                self._send(("cancel", job_id))
            shutil.rmtree(incoming, ignore_errors=True)

    # -- results -----------------------------------------------------------------------------

    @staticmethod
    def _append(incoming: Path, relpath: str, data: bytes) -> None:
        if not isinstance(relpath, str) or not _RESULT_FILE.fullmatch(relpath):
            raise RemoteJobError(f"the actor sent an unexpected result file {relpath!r:.200}")
        path = incoming / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(data)

    def _install_completions(self, incoming: Path, scene_id: str) -> None:
        """Store the generations the actor sent with the scene (each atomically, checked
        as a bundle's are), then tell the View cache."""
        from ..scene.completion import load_completions, save_completions

        if not (incoming / "completions").is_dir():
            return
        w = self.worker
        try:
            got = load_completions(incoming)
            for g in got.generations:
                info = got.info(g)
                save_completions(
                    w.store.scene_dir(scene_id),
                    g,
                    got.of_generation(g),
                    info.meta,
                    created_unix_s=info.created_unix_s,
                )
        finally:
            shutil.rmtree(incoming / "completions", ignore_errors=True)
            if w.on_completions is not None:
                w.on_completions(scene_id)

    def _outcome(self, incoming: Path, meta: dict[str, Any]) -> JobOutcome:
        out = JobOutcome(
            str(meta["message"]),
            scene_fps=float(meta["scene_fps"]),
            generations=[str(g) for g in meta.get("generations", [])],
            seconds=float(meta.get("seconds", 0.0)),
        )
        path = incoming / "result.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    out.frames = z["frames"]
                    out.frame_indices = z["frame_indices"]
                    size = z["size"]
                    out.intrinsics = Intrinsics.from_matrix(
                        z["intrinsics"], int(size[0]), int(size[1])
                    )
            except (OSError, ValueError, KeyError) as exc:
                raise Ex4dError(f"the actor's result is unreadable: {exc}") from None
        return out
