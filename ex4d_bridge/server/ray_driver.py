"""The bridge's Ray driver: a child process of ``serve --ray`` that owns the connection to the
cluster, the pool of ``GenerationActor``s, and the jobs dispatched to them.

Why a separate process: a Ray driver shares its fate with the cluster (when the cluster's
GCS is gone for a minute, Ray terminates the driver's process; while it is gone, Ray calls
block). The server must outlive that, keep serving geometry and View, and report the cluster
as unavailable, so Ray lives here, and the server (``ray_executor``) talks to it over a
socket with pickled messages:

server -> driver: ``("submit", job_id, request)``, ``("cancel", job_id)``, ``("stop",)``;
driver -> server: ``("status", problem | None, info)`` about every second (the heartbeat),
``("event", job_id, kind, *data)`` for each actor event (``ray_actor``) plus
``("event", job_id, "attempt", info)`` and ``("event", job_id, "retry", reason)``, and
``("event", job_id, "failed", reason)`` when the job's actors died ``1 + retries`` times.

The first message from the server is the configuration, cloudpickled (it holds the completer
spec). When the server's end of the socket closes (the server exited, even killed), the
driver cancels its jobs, kills its actors and exits.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger("ex4d_bridge.ray_driver")

SCENE_FILES = ("scene.json", "scene.npz")
COMPLETIONS = "completions"
RETRY_ACTOR_S = 30.0  # after an actor failed to load its pipeline
# Items of a job's stream the actor may run ahead of the driver: a result in the object store
# is at most this many chunks (16 x 4 MiB by default) at a time.
BACKPRESSURE = 16


class _Out:
    """The socket to the server (sends from many threads)."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.lock = conn, threading.Lock()

    def send(self, msg: tuple) -> None:
        try:
            with self.lock:
                self.conn.send(msg)
        except OSError:
            pass  # the server is gone; the reader notices and shuts down


def scene_files(scene_dir: Path) -> tuple[str, dict[str, Path]]:
    """The files an actor needs to rebuild the scene folder (the scene and its stored
    completions), and a key that changes when any of them does."""
    files = {name: scene_dir / name for name in SCENE_FILES if (scene_dir / name).is_file()}
    root = scene_dir / COMPLETIONS
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if d.name.startswith(".") or not d.is_dir():
                continue
            for f in sorted(d.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    files[f"{COMPLETIONS}/{d.name}/{f.name}"] = f
    h = hashlib.sha1(str(scene_dir).encode())
    for rel, p in sorted(files.items()):
        st = p.stat()
        h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:20], files


class Pool:
    """The actors, each free or running one job; a dead one is replaced by a new one."""

    def __init__(self, ray, cls, cfg: dict[str, Any], count: int, out: _Out) -> None:
        self.ray, self.cls, self.cfg, self.out = ray, cls, cfg, out
        self.cond = threading.Condition()
        self.actors: dict[int, Any] = {}
        self.free: list[int] = []
        self.info: dict[int, dict] = {}
        self.problem: str | None = None
        self.next_key = 0
        self.closed = False
        for _ in range(count):
            self._add()

    def _add(self) -> None:
        if self.closed:
            return
        s = self.cfg["settings"]
        opts: dict[str, Any] = {
            "num_cpus": s.cpus_per_worker,
            "max_concurrency": 4,  # run + ping + cancel at once
            "max_restarts": 0,  # a dead actor is replaced here, its job retried elsewhere
        }
        if s.gpus_per_worker:
            opts["num_gpus"] = s.gpus_per_worker
        actor = self.cls.options(**opts).remote(
            self.cfg["completer"],
            self.cfg["allow_fallback"],
            self.cfg["render_options"],
            max(1, round(s.cpus_per_worker)),
        )
        key = self.next_key
        self.next_key += 1
        with self.cond:
            self.actors[key] = actor
        # Loading the pipeline takes long: the actor is free once it has, and a failure to
        # load is reported through health instead of failing job after job.
        threading.Thread(target=self._warm, args=(key, actor), daemon=True).start()

    def _warm(self, key: int, actor) -> None:
        try:
            name = self.ray.get(actor.warm.remote())
            info = self.ray.get(actor.ping.remote())
        except Exception as exc:  # noqa: BLE001 - reported, the actor is dropped
            reason = _reason(exc)
            log.error("a generation actor could not start: %s", reason)
            with self.cond:
                self.problem = f"a generation actor could not load its pipeline: {reason}"
                self.actors.pop(key, None)
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - it is dead already
                pass
            # Try again later: a node may have been short of memory, or come back.
            if not self.closed:
                retry = threading.Timer(RETRY_ACTOR_S, self._add)
                retry.daemon = True
                retry.start()
            return
        with self.cond:
            if key not in self.actors:
                return
            self.info[key] = {**info, "completer": name}
            self.free.append(key)
            self.problem = None
            self.cond.notify_all()

    def acquire(self, cancelled: threading.Event) -> tuple[int, Any] | None:
        with self.cond:
            while not self.free:
                if cancelled.is_set() or self.closed:
                    return None
                self.cond.wait(0.2)
            key = self.free.pop(0)
            return key, self.actors[key]

    def release(self, key: int) -> None:
        with self.cond:
            if key in self.actors:
                self.free.append(key)
                self.cond.notify_all()

    def replace(self, key: int) -> None:
        with self.cond:
            actor = self.actors.pop(key, None)
            self.info.pop(key, None)
            if key in self.free:
                self.free.remove(key)
        if actor is None:
            return  # replaced already (the job and the health check both saw it die)
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - it is dead already
            pass
        if not self.closed:
            self._add()

    def check(self) -> None:
        """Ping every actor; replace those that died while idle."""
        with self.cond:
            items = [(k, a) for k, a in self.actors.items() if k in self.info]
        refs = {actor.ping.remote(): key for key, actor in items}
        if not refs:
            return
        # An actor that does not answer in time is busy (a job holds its interpreter), not dead.
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=3.0)
        for ref in ready:
            try:
                self.ray.get(ref)
            except Exception as exc:  # noqa: BLE001
                if _actor_died(self.ray, exc):
                    log.warning("a generation actor died: %s", _reason(exc))
                    self.replace(refs[ref])

    def snapshot(self) -> dict[str, Any]:
        with self.cond:
            return {
                "actors": len(self.actors),
                "ready": len(self.info),
                "free": len(self.free),
                "workers": [dict(i) for i in self.info.values()],
            }

    def close(self) -> None:
        with self.cond:
            self.closed = True
            actors = list(self.actors.values())
            self.cond.notify_all()
        for a in actors:
            try:
                self.ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001
                pass


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def _actor_died(ray, exc: BaseException) -> bool:
    ex = ray.exceptions
    kinds = tuple(
        getattr(ex, n)
        for n in ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError")
        if hasattr(ex, n)
    )
    return isinstance(exc, kinds)


class Driver:
    def __init__(self, ray, cfg: dict[str, Any], out: _Out) -> None:
        from .ray_actor import GenerationActor

        self.ray, self.cfg, self.out = ray, cfg, out
        self.settings = cfg["settings"]
        count = self.settings.workers or _auto_workers(ray, self.settings)
        self.pool = Pool(ray, ray.remote(GenerationActor), cfg, count, out)
        self.lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}  # job_id -> cancel event, task, actor
        self.scenes: OrderedDict[str, Any] = OrderedDict()  # scene key -> object ref
        self.stopping = threading.Event()

    # -- jobs ------------------------------------------------------------------------------

    def submit(self, job_id: str, request: dict[str, Any]) -> None:
        entry = {"cancel": threading.Event(), "task": None, "actor": None}
        with self.lock:
            self.jobs[job_id] = entry
        threading.Thread(
            target=self._job, args=(job_id, request, entry), name=f"job-{job_id[:8]}", daemon=True
        ).start()

    def cancel(self, job_id: str) -> None:
        with self.lock:
            entry = self.jobs.get(job_id)
        if entry is None:
            return
        entry["cancel"].set()
        task, actor = entry["task"], entry["actor"]
        if task is not None:
            try:
                self.ray.cancel(task)  # Ray's own cancellation of the actor task
            except Exception:  # noqa: BLE001 - it finished meanwhile
                pass
        if actor is not None:
            # A running sync actor task is only flagged by ray.cancel; the actor's own event
            # stops the render and the sampler at their next check.
            actor.cancel.remote(job_id)

    def _scene_ref(self, scene_dir: Path) -> tuple[str, Any]:
        for attempt in range(3):
            key, files = scene_files(scene_dir)
            with self.lock:
                ref = self.scenes.get(key)
                if ref is not None:
                    self.scenes.move_to_end(key)
                    return key, ref
            try:
                data = {rel: p.read_bytes() for rel, p in files.items()}
                break
            except FileNotFoundError:
                # A completion generation was replaced while it was read: read the folder again.
                if attempt == 2:
                    raise
        ref = self.ray.put(data)
        with self.lock:
            self.scenes[key] = ref
            while len(self.scenes) > 4:
                self.scenes.popitem(last=False)
        return key, ref

    def _job(self, job_id: str, request: dict[str, Any], entry: dict[str, Any]) -> None:
        send = self.out.send
        cancel = entry["cancel"]
        last = ""
        try:
            scene_key, scene_ref = self._scene_ref(Path(request["scene_dir"]))
            attempts = 1 + int(self.settings.retries)
            for attempt in range(1, attempts + 1):
                got = self.pool.acquire(cancel)
                if got is None:
                    send(("event", job_id, "cancelled", "cancelled before it reached an actor"))
                    return
                key, actor = got
                info = self.pool.info.get(key, {})
                send(("event", job_id, "attempt", {"attempt": attempt, **info}))
                task = actor.run.options(
                    num_returns="streaming", _generator_backpressure_num_objects=BACKPRESSURE
                ).remote(
                    job_id, request["params"], scene_key, [scene_ref], self.settings.chunk_bytes
                )
                entry["task"], entry["actor"] = task, actor
                if cancel.is_set():
                    self.cancel(job_id)
                try:
                    for ref in task:
                        ev = self.ray.get(ref)
                        send(("event", job_id, *ev))
                except self.ray.exceptions.TaskCancelledError:
                    self.pool.release(key)
                    send(("event", job_id, "cancelled", "cancelled"))
                    return
                except Exception as exc:  # noqa: BLE001
                    if not _actor_died(self.ray, exc):
                        self.pool.release(key)
                        raise
                    last = _reason(exc)
                    log.warning("job %s: its actor died (attempt %d): %s", job_id, attempt, last)
                    entry["task"] = entry["actor"] = None
                    self.pool.replace(key)
                    if cancel.is_set():
                        send(("event", job_id, "cancelled", "cancelled"))
                        return
                    if attempt < attempts:
                        send(("event", job_id, "retry", f"its Ray actor died ({last})"))
                        continue
                    break
                else:
                    self.pool.release(key)
                    return
            send(
                (
                    "event",
                    job_id,
                    "failed",
                    f"the Ray actor running the job died, {attempts} time(s) on "
                    f"{attempts} actor(s); last: {last}",
                )
            )
        except Exception as exc:  # noqa: BLE001 - the job fails, the driver lives on
            log.exception("job %s failed in the driver", job_id)
            send(("event", job_id, "failed", f"the Ray driver failed the job: {_reason(exc)}"))
        finally:
            with self.lock:
                self.jobs.pop(job_id, None)

    # -- health ----------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Every second: ask the cluster (blocks while its GCS is unreachable: the server
        notices the silence), then report."""
        last_check = 0.0
        while not self.stopping.is_set():
            problem = None
            try:
                resources = self.ray.cluster_resources()
                if time.monotonic() - last_check > 2.0:
                    self.pool.check()
                    last_check = time.monotonic()
            except Exception as exc:  # noqa: BLE001
                problem = f"the Ray cluster does not answer: {_reason(exc)}"
                resources = {}
            snap = self.pool.snapshot()
            if problem is None:
                problem = self.pool.problem if not snap["ready"] else None
            if problem is None and snap["actors"] == 0:
                problem = "no generation actor is running"
            info = {
                **snap,
                "resources": {k: v for k, v in resources.items() if "CPU" in k or "GPU" in k},
            }
            self.out.send(("status", problem, info))
            self.stopping.wait(1.0)

    def close(self) -> None:
        self.stopping.set()
        with self.lock:
            ids = list(self.jobs)
        for j in ids:
            self.cancel(j)
        self.pool.close()


def _auto_workers(ray, settings) -> int:
    if settings.gpus_per_worker:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        return max(1, int(gpus // settings.gpus_per_worker))
    return 1


def main(argv: list[str]) -> int:
    import cloudpickle

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s ray-driver: %(message)s")
    conn = Connection(int(argv[0]))
    out = _Out(conn)
    cfg = cloudpickle.loads(conn.recv_bytes())
    settings = cfg["settings"]
    try:
        import ray
    except ImportError:
        out.send(("status", "ray is not installed: pip install 'ex4d-bridge[ray]'", {}))
        return 3
    try:
        ray.init(
            address=settings.address,
            namespace=settings.namespace,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except Exception as exc:  # noqa: BLE001 - reported to the server, which tries again
        out.send(
            (
                "status",
                f"cannot connect to the Ray cluster at {settings.address}: {_reason(exc)}",
                {},
            )
        )
        return 2
    driver = Driver(ray, cfg, out)
    threading.Thread(target=driver.heartbeat, name="heartbeat", daemon=True).start()
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break  # the server is gone
            if msg[0] == "submit":
                driver.submit(msg[1], msg[2])
            elif msg[0] == "cancel":
                driver.cancel(msg[1])
            elif msg[0] == "stop":
                break
    finally:
        driver.close()
        try:
            ray.shutdown()
        finally:
            os._exit(0)  # Ray's threads must not keep a driver without a server alive
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
