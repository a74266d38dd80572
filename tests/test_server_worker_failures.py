"""The generation worker outlives a full disk (issue 13, item 2) and reports honestly.

A real server on loopback and a real client. The full disk is simulated where it strikes:
SQLite's "database or disk is full" from the job database, and ENOSPC when a result is
written; health is read from the gRPC health service."""

import errno
import sqlite3
import threading
import time

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_helpers import client_fixture, upload_synthetic

from ex4d_bridge.generation import GenerationCancelled, complete_frames
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.wire import jobs_pb2

DISK_FULL = sqlite3.OperationalError("database or disk is full")


class GatedCompleter:
    """The classical fill, held back while ``gate`` is clear."""

    name = "gated-test-fill"
    is_fallback = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()

    def generate(self, request, *, progress=None, cancel=None):
        while not self.gate.wait(0.02):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("cancelled")
        return complete_frames(request.colors, request.masks, progress=False)


@pytest.fixture(scope="module")
def completer():
    return GatedCompleter()


@pytest.fixture(scope="module")
def server(tmp_path_factory, completer):
    config = ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("data"), completer=completer)
    with ServerThread(config) as srv:
        yield srv


client = client_fixture(timeout=60)


@pytest.fixture(scope="module")
def scene_id(client, tmp_path_factory):
    return upload_synthetic(client, tmp_path_factory.mktemp("media"), SyntheticScene(32, 32, 4))


def health(server) -> int:
    import grpc

    with grpc.insecure_channel(server.target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status


def wait_health(server, status, timeout=5.0) -> None:
    end = time.monotonic() + timeout
    while health(server) != status:
        assert time.monotonic() < end, f"health did not become {status}"
        time.sleep(0.1)


def finish(client, job_id, timeout=120) -> jobs_pb2.Job:
    return list(client.watch_job(job_id, timeout=timeout))[-1]


def test_a_full_disk_while_writing_the_result_fails_the_job_and_the_queue_moves_on(
    client, server, scene_id, monkeypatch
):
    worker = server.service.worker
    real = worker._write_result

    def full(staging, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(staging / "generated.mp4"))

    monkeypatch.setattr(worker, "_write_result", full)
    first = finish(client, client.submit_generation(scene_id, "orbit:20").job_id)
    assert first.state == jobs_pb2.JOB_STATE_FAILED
    assert first.error.startswith("disk full")
    # The reason names the file, not the server's path to it.
    assert "generated.mp4" in first.error and str(worker.jobs_dir) not in first.error
    monkeypatch.setattr(worker, "_write_result", real)
    second = finish(client, client.submit_generation(scene_id, "orbit:20").job_id)
    assert second.state == jobs_pb2.JOB_STATE_SUCCEEDED, second.error


def test_the_worker_outlives_its_database_and_health_says_so(client, server, scene_id, monkeypatch):
    worker, db = server.service.worker, server.service.db
    real_update = db.update
    failing = threading.Event()
    failing.set()

    def update(job_id, **fields):
        if failing.is_set():
            raise DISK_FULL
        return real_update(job_id, **fields)

    monkeypatch.setattr(db, "update", update)
    job = client.submit_generation(scene_id, "orbit:20")
    # WatchJob ends: the job's state lives on in memory while it cannot be written.
    final = finish(client, job.job_id, timeout=60)
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    assert client.get_job(job.job_id).state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert "disk full" in (worker.health_problem() or "")
    wait_health(server, health_pb2.HealthCheckResponse.NOT_SERVING)
    # Space again: the next job's writes succeed, the first job's state is caught up.
    failing.clear()
    nxt = finish(client, client.submit_generation(scene_id, "orbit:20").job_id)
    assert nxt.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert worker.health_problem() is None
    assert real_update.__self__.get(job.job_id).state.value == "SUCCEEDED"
    wait_health(server, health_pb2.HealthCheckResponse.SERVING)


def test_a_dead_worker_thread_is_reported(server, monkeypatch):
    worker = server.service.worker
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    monkeypatch.setattr(worker, "_thread", dead)
    assert "worker stopped" in worker.health_problem()
    wait_health(server, health_pb2.HealthCheckResponse.NOT_SERVING)
    monkeypatch.undo()
    wait_health(server, health_pb2.HealthCheckResponse.SERVING)


def test_submit_reports_where_the_job_joined_the_queue(client, scene_id, completer):
    completer.gate.clear()
    try:
        jobs = [client.submit_generation(scene_id, "orbit:20") for _ in range(4)]
    finally:
        completer.gate.set()
    for job in jobs:
        assert job.state == jobs_pb2.JOB_STATE_QUEUED and job.queue_position >= 1
        assert job.stage == "queued"
    assert [j.queue_position for j in jobs[1:]] == sorted(j.queue_position for j in jobs[1:])
    for job in jobs:
        assert finish(client, job.job_id).state == jobs_pb2.JOB_STATE_SUCCEEDED


def test_export_mesh_chunks_have_a_floor(client, scene_id):
    from ex4d_bridge.server.service import MIN_CHUNK_BYTES
    from ex4d_bridge.wire import geometry_pb2

    req = geometry_pb2.ExportMeshRequest(scene_id=scene_id, frame_index=0, chunk_bytes=1)
    chunks = list(client.stub.ExportMesh(req, timeout=60))
    sizes = [len(c.data) for c in chunks]
    assert len(chunks) == -(-sum(sizes) // MIN_CHUNK_BYTES)  # 1 byte asked, 64 KiB sent
    assert max(sizes) == min(MIN_CHUNK_BYTES, sum(sizes))
