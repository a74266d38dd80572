"""Generation on a Ray cluster (issue 16): a real local cluster on this machine (2 CPUs, started
by a child process, so the test can take it away), a real server with ``ray`` settings, a real
client over loopback.

The completer is the classical fill held at a gate that lives on disk, so that a test can keep
a job reliably mid-way inside an actor process, see which process runs it (the actor writes its
pid) and kill it. Ground truth for the results is the library run here on the same data."""

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

import cloudpickle  # noqa: E402 - only with ray
from server_helpers import client_fixture, upload_synthetic  # noqa: E402

from ex4d_bridge.camera import Trajectory  # noqa: E402
from ex4d_bridge.client import BridgeClient  # noqa: E402
from ex4d_bridge.generation import (  # noqa: E402
    GenerationCancelled,
    GenerationRequest,
    complete_frames,
    generate_views,
)
from ex4d_bridge.geometry import RenderOptions  # noqa: E402
from ex4d_bridge.scene import Scene, render_trajectory  # noqa: E402
from ex4d_bridge.server.app import ServerThread  # noqa: E402
from ex4d_bridge.server.config import ServerConfig  # noqa: E402
from ex4d_bridge.server.ray_settings import RaySettings  # noqa: E402
from ex4d_bridge.synthetic import SyntheticScene  # noqa: E402
from ex4d_bridge.wire import jobs_pb2  # noqa: E402

pytestmark = pytest.mark.ray

# The actors import this completer by value: the test folder is not on their path.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

HOLDER = """
import sys, time, ray
ray.init(num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[1],
         _node_ip_address="127.0.0.1", logging_level="ERROR")
print("ADDRESS", ray.get_runtime_context().gcs_address, flush=True)
time.sleep(3600)
"""


class GatedFileCompleter:
    """The classical fill, held while ``DIR/open`` is missing (and failing while ``DIR/fail``
    exists); each generation writes the pid of the process that runs it into
    ``DIR/started-<pid>-<n>``."""

    name = "gated-file-fill"
    is_fallback = True

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def generate(self, request, *, progress=None, cancel=None):
        d = Path(self.folder)
        n = len(list(d.glob(f"started-{os.getpid()}-*")))
        tmp = d / f".tmp-{os.getpid()}"
        tmp.write_text(repr(time.time()))
        os.replace(tmp, d / f"started-{os.getpid()}-{n}")  # never seen half-written
        if progress is not None:
            progress(0, 1, "waiting at the gate")
        if (d / "fail").exists():
            raise RuntimeError("the completer failed on purpose")
        while not (d / "open").exists():
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("cancelled at the gate")
            time.sleep(0.02)
        return complete_frames(request.colors, request.masks, progress=False)


class Gate:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self) -> None:
        (self.folder / "open").write_text("")

    def close(self) -> None:
        (self.folder / "open").unlink(missing_ok=True)
        for f in self.folder.glob("started-*"):
            f.unlink()

    def wait_started(self, count: int, timeout: float = 60.0) -> list[int]:
        end = time.monotonic() + timeout
        while len(list(self.folder.glob("started-*"))) < count:
            assert time.monotonic() < end, f"{count} generations did not start"
            time.sleep(0.05)
        # In the order they started (each marker holds its start time).
        marks = sorted(self.folder.glob("started-*"), key=lambda f: float(f.read_text()))
        return [int(f.name.split("-")[1]) for f in marks]


class LocalCluster:
    """A Ray head on this machine, owned by a child process: killing that process group
    takes the whole cluster (GCS, raylet, actors) away."""

    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, self.tmp],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        end = time.monotonic() + 120
        self.address = ""
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if line.startswith("ADDRESS"):
                self.address = line.split()[1]
                break
            if not line and self.proc.poll() is not None:
                break
        assert self.address, "the local Ray cluster did not start"

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    # Ray's token auth is for real clusters (docs/server.md); this one lives on loopback.
    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    c = LocalCluster()
    yield c
    c.kill()
    if old is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = old


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    g = Gate(tmp_path_factory.mktemp("gate"))
    g.open()
    return g


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def ray_config(data_dir, cluster, gate, **kw) -> ServerConfig:
    kw = {"workers": 2, **kw}
    # Half a CPU each: a second server (the restart test) fits beside the first on 2 CPUs.
    # Small chunks: a result travels in many pieces, more than the stream runs ahead.
    settings = RaySettings(
        address=cluster.address, cpus_per_worker=0.5, heartbeat_s=5.0, chunk_bytes=64 * 1024, **kw
    )
    return ServerConfig(
        port=0,
        data_dir=data_dir,
        completer=GatedFileCompleter(str(gate.folder)),
        ray=settings,
    )


@pytest.fixture(scope="module")
def server(data_dir, cluster, gate):
    with ServerThread(ray_config(data_dir, cluster, gate)) as srv:
        wait_ready(srv, 2)
        yield srv


client = client_fixture(timeout=60)


@pytest.fixture(scope="module")
def scene_id(client, tmp_path_factory):
    return upload_synthetic(client, tmp_path_factory.mktemp("media"), SyntheticScene(32, 32, 4))


def wait_ready(srv, actors: int, timeout: float = 90.0) -> None:
    ex = srv.service.worker.executor
    end = time.monotonic() + timeout
    while ex.problem() is not None or ex.info.get("ready", 0) < actors:
        assert time.monotonic() < end, f"the actors did not start: {ex.problem()} {ex.info}"
        time.sleep(0.1)


def health(srv) -> int:
    import grpc

    with grpc.insecure_channel(srv.target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status


def finish(client, job_id, timeout=90) -> jobs_pb2.Job:
    return list(client.watch_job(job_id, timeout=timeout))[-1]


def wait_job(client, job_id, pred, timeout=60.0) -> jobs_pb2.Job:
    end = time.monotonic() + timeout
    while True:
        job = client.get_job(job_id)
        if pred(job):
            return job
        assert time.monotonic() < end, f"job {job_id} stayed {job}"
        time.sleep(0.05)


def assert_frames_match(got: np.ndarray, want: np.ndarray) -> None:
    """Frames made in an actor (one thread) against the library here (the test's threads):
    the same maths summed in another order, so a value that lands on a rounding boundary may
    come out one level apart; anything more, or more often, is a real difference."""
    assert got.shape == want.shape and got.dtype == want.dtype
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= max(8, diff.size // 10_000), (
        diff.max(),
        np.count_nonzero(diff),
    )


def library_frames(server, scene_id, job_id, gate) -> tuple[np.ndarray, np.ndarray]:
    """What the library makes here for the job's path: render, then the same fill."""
    worker = server.service.worker
    traj = Trajectory.load(worker.result_dir(job_id) / "generated.poses.json")
    scene = Scene.load(worker.store.scene_dir(scene_id))
    views = render_trajectory(
        scene, traj, RenderOptions(backend=worker.render_options.backend, mask_style="reference")
    )
    request = GenerationRequest(colors=views.colors, masks=views.masks)
    return generate_views(GatedFileCompleter(str(gate.folder)), request), views.frame_indices


def test_two_jobs_run_at_once_on_two_actors_and_land_in_the_store(client, server, scene_id, gate):
    gate.close()
    try:
        jobs = [
            client.submit_generation(scene_id, "orbit:12"),
            client.submit_generation(scene_id, "orbit:12", width=512, height=384),  # 36 chunks
        ]
        pids = gate.wait_started(2)
        # Both are mid-way at the same time, in two processes, neither of them the server.
        assert len(set(pids)) == 2 and os.getpid() not in pids
        for job in jobs:  # progress arrives from the actor a moment after the gate is reached
            now = wait_job(client, job.job_id, lambda j: j.stage == "generate", timeout=10)
            assert now.state == jobs_pb2.JOB_STATE_RUNNING
            assert now.stage_index == 2 and now.num_stages == 2
    finally:
        gate.open()
    for job in jobs:
        done = finish(client, job.job_id)
        assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.error
        assert done.completer == "gated-file-fill"
        d = server.service.worker.result_dir(job.job_id)
        assert sorted(p.name for p in d.iterdir()) == [
            "generated.mp4",
            "generated.npz",
            "generated.poses.json",
        ]
        with np.load(d / "generated.npz") as z:
            got, idx = z["frames"], z["frame_indices"]
        want, want_idx = library_frames(server, scene_id, job.job_id, gate)
        np.testing.assert_array_equal(idx, want_idx)
        assert_frames_match(got, want)


def test_a_complete_job_on_an_actor_stores_the_layers_the_library_makes(
    client, server, scene_id, gate, tmp_path
):
    from dataclasses import replace

    from ex4d_bridge.camera import look_at
    from ex4d_bridge.scene.completion import load_completions
    from ex4d_bridge.server.job_body import JobInputs, complete_job, load_completer

    worker = server.service.worker
    scene_dir = worker.store.scene_dir(scene_id)
    copy = tmp_path / "scene"
    shutil.copytree(scene_dir, copy)  # the scene as the job found it
    poses = np.stack(
        [
            look_at(np.array([-0.3 + 0.05 * i, 0.1, 0.1]), np.array([0.0, 0.0, 3.0]))
            for i in range(4)
        ]
    )
    traj = Trajectory(poses, name="side")
    job = client.submit_generation(scene_id, traj, complete=True)
    done = finish(client, job.job_id)
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.error
    (gen,) = done.generations
    assert gen.startswith("side.")
    assert gen in {c.generation for c in client.get_scene(scene_id).completions}
    assert (worker.result_dir(job.job_id) / "generated.mp4").is_file()

    class Sink:
        def set(self, **fields):
            pass

    # The library here, on the copy, along the path the server built from the request.
    params = worker.db.get(job.job_id)
    stored = Trajectory.load(worker.result_dir(job.job_id) / "generated.poses.json")
    from ex4d_bridge.server.jobs import GenerationParams

    inputs = JobInputs(
        Scene.load(copy),
        GenerationParams(scene_id, replace(stored, name="side"), complete=True),
        load_completer(GatedFileCompleter(str(gate.folder)), True),
        worker.render_options,
        Sink(),
        None,
        tmp_path / "work",
    )
    local = complete_job(inputs, copy, params.job_id)
    assert local.generations == [gen]
    want = load_completions(copy, [gen]).of_generation(gen)
    got = load_completions(scene_dir, [gen]).of_generation(gen)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want, strict=True):
        assert a.frame_index == b.frame_index
        assert_frames_match(a.color, b.color)
        np.testing.assert_allclose(a.depth, b.depth, rtol=1e-5, atol=1e-6)
        # The path here was read back from generated.poses.json (text): the last bits differ.
        np.testing.assert_allclose(a.pose, b.pose, rtol=0, atol=1e-12)


def test_two_jobs_with_the_tiny_ex4d_preset_on_two_cpu_actors(cluster, tmp_path, server):
    """The real pipeline (the tiny preset: random weights, no files), loaded once per actor:
    two jobs at once on two actors give the frames the pipeline gives here."""
    from ex4d_bridge.generation import EX4DPipeline, SamplingParams

    data = tmp_path / "data"
    settings = RaySettings(address=cluster.address, workers=2, cpus_per_worker=0.5, heartbeat_s=5)
    factory = functools.partial(EX4DPipeline.tiny, seed=0)
    config = ServerConfig(port=0, data_dir=data, completer=factory, ray=settings)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False, timeout=120) as c:
        sid = upload_synthetic(c, tmp_path, SyntheticScene(48, 32, 5))
        wait_ready(srv, 2)
        jobs = [c.submit_generation(sid, "orbit:30", seed=7, num_inference_steps=2) for _ in "ab"]
        watched = [list(c.watch_job(j.job_id, timeout=120)) for j in jobs]
        worker = srv.service.worker
        results = []
        for events in watched:
            final = events[-1]
            assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
            assert final.completer == "ex4d"
            with np.load(worker.result_dir(final.job_id) / "generated.npz") as z:
                results.append(z["frames"])
        pids = {worker.executor.timings[j.job_id]["actor_pid"] for j in jobs}
        assert len(pids) == 2, pids  # one actor each, at the same time
        traj = Trajectory.load(worker.result_dir(jobs[0].job_id) / "generated.poses.json")
        scene = Scene.load(worker.store.scene_dir(sid))
    np.testing.assert_array_equal(results[0], results[1])  # same program, same data
    views = render_trajectory(
        scene, traj, RenderOptions(backend=worker.render_options.backend, mask_style="reference")
    )
    request = GenerationRequest(
        colors=views.colors,
        masks=views.masks,
        sampling=SamplingParams(seed=7, num_inference_steps=2),
    )
    want = generate_views(EX4DPipeline.tiny(seed=0), request)
    assert results[0].shape == want.shape and want.std() > 1.0
    # Other thread counts here than in the actor: float sums may round differently.
    diff = np.abs(results[0].astype(np.int16) - want.astype(np.int16))
    assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())


def test_a_job_that_fails_on_its_actor_fails_with_its_error_and_the_actor_lives_on(
    client, server, scene_id, gate
):
    wait_ready(server, 2)
    gate.close()
    gate.open()
    (gate.folder / "fail").write_text("")
    try:
        failed = finish(client, client.submit_generation(scene_id, "orbit:12").job_id)
    finally:
        (gate.folder / "fail").unlink()
    assert failed.state == jobs_pb2.JOB_STATE_FAILED
    assert failed.error == "RuntimeError: the completer failed on purpose"
    (pid,) = gate.wait_started(1)
    os.kill(pid, 0)  # not replaced: a failing job is not a dying actor
    assert server.service.worker.executor.info["ready"] == 2
    assert finish(client, client.submit_generation(scene_id, "orbit:12").job_id).state == (
        jobs_pb2.JOB_STATE_SUCCEEDED
    )


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def test_an_actor_killed_mid_job_is_replaced_and_the_job_runs_again_elsewhere(
    client, server, scene_id, gate
):
    gate.close()
    job = client.submit_generation(scene_id, "orbit:12")
    (first,) = gate.wait_started(1)
    kill(first)
    second = gate.wait_started(2)[-1]
    assert second != first
    assert client.get_job(job.job_id).state == jobs_pb2.JOB_STATE_RUNNING
    gate.open()
    done = finish(client, job.job_id)
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED, done.error
    want, _ = library_frames(server, scene_id, job.job_id, gate)
    with np.load(server.service.worker.result_dir(job.job_id) / "generated.npz") as z:
        assert_frames_match(z["frames"], want)


def test_a_job_whose_actors_die_twice_fails_with_the_reason(client, server, scene_id, gate):
    wait_ready(server, 2)  # the actor killed before has been replaced
    gate.close()
    try:
        job = client.submit_generation(scene_id, "orbit:12")
        (first,) = gate.wait_started(1)
        kill(first)
        second = gate.wait_started(2)[-1]
        assert second != first
        kill(second)
        failed = finish(client, job.job_id)
    finally:
        gate.open()
    assert failed.state == jobs_pb2.JOB_STATE_FAILED
    print("ERROR:", failed.error, "PROBLEM:", server.service.worker.health_problem())
    assert "Ray actor running the job died, 2 time(s)" in failed.error
    assert "ActorDiedError" in failed.error or "RayActorError" in failed.error
    # Both actors were replaced: the next job runs.
    wait_ready(server, 2)
    nxt = finish(client, client.submit_generation(scene_id, "orbit:12").job_id)
    assert nxt.state == jobs_pb2.JOB_STATE_SUCCEEDED, nxt.error


def test_cancel_job_cancels_the_ray_task_and_the_actor_lives_on(client, server, scene_id, gate):
    wait_ready(server, 2)
    gate.close()
    try:
        job = client.submit_generation(scene_id, "orbit:12")
        (pid,) = gate.wait_started(1)
        t0 = time.monotonic()
        client.cancel_job(job.job_id)
        cancelled = finish(client, job.job_id)
        took = time.monotonic() - t0
    finally:
        gate.open()
    assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
    assert took < 10.0
    os.kill(pid, 0)  # the actor process is alive: cancelling stops the task, not the actor
    assert not server.service.worker.result_dir(job.job_id).exists()
    jobs = [client.submit_generation(scene_id, "orbit:12") for _ in range(2)]
    for j in jobs:
        assert finish(client, j.job_id).state == jobs_pb2.JOB_STATE_SUCCEEDED


def test_a_server_restarted_while_a_job_runs_reports_it_interrupted(
    cluster, gate, scene_id, tmp_path, client
):
    data = tmp_path / "data"
    config = ray_config(data, cluster, gate, workers=1)
    gate.close()
    try:
        with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as c:
            wait_ready(srv, 1)
            sid = upload_synthetic(c, tmp_path, SyntheticScene(32, 32, 3))
            job = c.submit_generation(sid, "orbit:12")
            (pid,) = gate.wait_started(1)
        # The driver went with the server, and its actor with the driver.
        end = time.monotonic() + 30
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < end, "the actor outlived the server"
            time.sleep(0.1)
    finally:
        gate.open()
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as c:
        again = c.get_job(job.job_id)
        assert again.state == jobs_pb2.JOB_STATE_INTERRUPTED
        wait_ready(srv, 1)
        assert finish(c, c.submit_generation(sid, "orbit:12").job_id).state == (
            jobs_pb2.JOB_STATE_SUCCEEDED
        )


def test_a_lost_driver_fails_its_job_and_generation_comes_back(client, server, scene_id, gate):
    """The Ray driver process dies (as it does when the cluster is gone for a minute): the
    job fails with the reason, health goes NOT_SERVING, a new driver connects, jobs run."""
    ex = server.service.worker.executor
    wait_ready(server, 2)
    gate.close()
    try:
        job = client.submit_generation(scene_id, "orbit:12")
        (actor,) = gate.wait_started(1)
        old = ex._proc.pid
        os.killpg(old, signal.SIGKILL)
        failed = finish(client, job.job_id)
    finally:
        gate.open()
    assert failed.state == jobs_pb2.JOB_STATE_FAILED
    assert "connection to the Ray cluster was lost" in failed.error, failed.error
    assert "driver exited" in failed.error
    end = time.monotonic() + 30
    while True:  # the actors went with the driver that owned them
        try:
            os.kill(actor, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < end, "the actor outlived its driver"
        time.sleep(0.1)
    wait_ready(server, 2)
    assert ex._proc.pid != old
    assert health(server) == health_pb2.HealthCheckResponse.SERVING
    nxt = finish(client, client.submit_generation(scene_id, "orbit:12").job_id)
    assert nxt.state == jobs_pb2.JOB_STATE_SUCCEEDED, nxt.error


def test_a_cluster_that_goes_away_fails_its_jobs_and_health_says_so(
    client, server, scene_id, gate, cluster
):
    """Last: it takes the module's cluster away."""
    import grpc

    wait_ready(server, 2)
    assert health(server) == health_pb2.HealthCheckResponse.SERVING
    gate.close()
    try:
        job = client.submit_generation(scene_id, "orbit:12")
        gate.wait_started(1)
        cluster.kill()
        failed = finish(client, job.job_id, timeout=60)
    finally:
        gate.open()
    assert failed.state == jobs_pb2.JOB_STATE_FAILED
    assert "connection to the Ray cluster was lost" in failed.error, failed.error
    end = time.monotonic() + 15
    while health(server) != health_pb2.HealthCheckResponse.NOT_SERVING:
        assert time.monotonic() < end, "health stayed SERVING without a cluster"
        time.sleep(0.2)
    problem = server.service.worker.health_problem()
    assert problem and "Ray" in problem
    with pytest.raises(grpc.RpcError) as err:
        client.submit_generation(scene_id, "orbit:12")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Ray cluster" in err.value.details() and "SERVING" in err.value.details()
    # Geometry and View do not need the cluster.
    frames = list(client.stream_geometry(scene_id))
    assert len(frames) == 4
    pose = np.eye(4)
    view = client.view(scene_id, pose, 32, 24, frame_index=1)
    assert view.color.shape[:2] == (24, 32)
