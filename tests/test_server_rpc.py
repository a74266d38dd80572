"""The Bridge service over real gRPC on loopback (an ephemeral port), through BridgeClient and
raw stubs: uploads, geometry rebuilt exactly, View semantics, jobs, recording, status codes."""

import asyncio
import threading
import time

import grpc
import numpy as np
import pytest
from server_helpers import client_fixture, write_synthetic
from tiny_models import save_tiny_depth_anything

from ex4d_bridge import wire
from ex4d_bridge.camera import Intrinsics, Trajectory, convert_pose, look_at, reference_orbit
from ex4d_bridge.camera.pose_path import load_pose_path
from ex4d_bridge.client import BridgeClient, job_state_name, mesh_from_frame, pose_message
from ex4d_bridge.generation import GenerationCancelled, complete_frames
from ex4d_bridge.geometry import build_dw_mesh, grid_topology, render
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import read_video, write_video
from ex4d_bridge.wire import bridge_pb2_grpc, common_pb2, jobs_pb2, scenes_pb2, view_pb2

KIB = 1024


class GatedCompleter:
    """The classical fill, held back while ``gate`` is clear (to test queueing and cancel)."""

    name = "gated-test-fill"
    is_fallback = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def generate(self, request, *, progress=None, cancel=None):
        self.started.set()
        while not self.gate.wait(0.02):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("cancelled")
        if progress is not None:
            progress(1, 1, "filled")
        return complete_frames(request.colors, request.masks, progress=False)


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticScene(64, 64, 9)


@pytest.fixture(scope="module")
def media(synthetic, tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    video, depth = write_synthetic(d, synthetic)
    return {"video": video, "depth": depth, "dir": d}


@pytest.fixture(scope="module")
def completer():
    return GatedCompleter()


@pytest.fixture(scope="module")
def server(tmp_path_factory, completer):
    config = ServerConfig(
        port=0,
        data_dir=tmp_path_factory.mktemp("data"),
        completer=completer,
        max_receive_bytes=256 * KIB,
        max_upload_bytes=1024 * KIB,
        max_walkthrough_bytes=64 << 20,
        render_workers=2,
    )
    with ServerThread(config) as srv:
        yield srv


client = client_fixture(timeout=30)


@pytest.fixture(scope="module")
def scene_id(client, media, synthetic):
    info = client.upload_scene(
        media["video"], depth=media["depth"], intrinsics=synthetic.intrinsics, name="synthetic"
    )
    return info.scene_id


def code_of(fn, *args, **kwargs) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        r = fn(*args, **kwargs)
        if hasattr(r, "__next__"):
            list(r)
    return err.value.code()


# -- scenes --------------------------------------------------------------------------------


def test_upload_builds_the_scene_and_is_content_addressed(
    client, server, scene_id, media, synthetic
):
    info = client.get_scene(scene_id)
    assert (info.num_frames, info.width, info.height) == (9, 64, 64)
    assert info.name == "synthetic" and info.depth_source.startswith("provided")
    assert wire.intrinsics_from_msg(info.intrinsics) == synthetic.intrinsics
    stored = server.service.store.load(scene_id)
    assert np.array_equal(stored.depth, synthetic.depths())  # the provided depth, unchanged
    assert np.array_equal(stored.frames, read_video(media["video"]).frames)  # the video, decoded
    again = client.upload_scene(
        media["video"], depth=media["depth"], intrinsics=synthetic.intrinsics
    )
    assert again.scene_id == scene_id and not again.created
    assert scene_id in [s.scene_id for s in client.list_scenes()]


def test_upload_refusals(client, server, media, tmp_path):
    # No depth and no depth model on this server: FAILED_PRECONDITION, nothing stored.
    before = len(client.list_scenes())
    assert code_of(client.upload_scene, media["video"]) == grpc.StatusCode.FAILED_PRECONDITION
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    code = code_of(client.upload_scene, corrupt, depth=media["depth"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    big = tmp_path / "big.mp4"
    big.write_bytes(np.random.default_rng(0).bytes(1100 * KIB))
    code = code_of(client.upload_scene, big, depth=media["depth"], chunk_bytes=200 * KIB)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # One message above the receive limit is refused by gRPC itself.
    code = code_of(client.upload_scene, big, depth=media["depth"], chunk_bytes=300 * KIB)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    assert (
        code_of(client.upload_scene, txt, depth=media["depth"]) == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert len(client.list_scenes()) == before
    assert list((server.service.store.root / "tmp").iterdir()) == []  # staging cleaned


def test_an_abandoned_upload_leaves_nothing_behind(client, server, media):
    header = scenes_pb2.UploadHeader(filename="clip.mp4", has_depth=True)
    release = threading.Event()

    def messages():
        yield scenes_pb2.UploadSceneRequest(header=header)
        yield scenes_pb2.UploadSceneRequest(video_chunk=b"\0" * 1000)
        release.wait(30)  # the client hangs mid-upload, then goes away

    staging = server.service.store.root / "tmp"
    future = client.stub.UploadScene.future(messages(), timeout=30)
    deadline = time.time() + 10
    while not any(staging.iterdir()) and time.time() < deadline:
        time.sleep(0.02)
    assert any(staging.iterdir())  # the upload is being staged
    future.cancel()
    release.set()
    deadline = time.time() + 10
    while any(staging.iterdir()) and time.time() < deadline:
        time.sleep(0.05)
    assert list(staging.iterdir()) == []


def test_export_bundle_reuploads_to_the_same_scene(client, scene_id, tmp_path, server):
    path = client.export_scene(scene_id, tmp_path / "scene.ex4d")
    server.service.store.delete(scene_id)
    assert code_of(client.get_scene, scene_id) == grpc.StatusCode.NOT_FOUND
    info = client.upload_bundle(path)
    assert info.scene_id == scene_id and info.created and info.depth_source == "bundle"


def test_delete_and_not_found(client, synthetic, tmp_path):
    s = SyntheticScene(32, 32, 2)
    write_video(tmp_path / "small.mp4", s.frames(), s.fps)
    info = client.upload_scene(tmp_path / "small.mp4", depth=s.depths())
    client.delete_scene(info.scene_id)
    assert info.scene_id not in [x.scene_id for x in client.list_scenes()]
    assert code_of(client.delete_scene, info.scene_id) == grpc.StatusCode.NOT_FOUND
    assert code_of(client.get_scene, "0" * 32) == grpc.StatusCode.NOT_FOUND
    assert code_of(client.get_scene, "../../etc/passwd") == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(client.get_job, "f" * 32) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: list(client.watch_job("f" * 32))) == grpc.StatusCode.NOT_FOUND
    assert code_of(client.stream_geometry, "0" * 32) == grpc.StatusCode.NOT_FOUND


# -- geometry ------------------------------------------------------------------------------


def rebuild_like_a_foreign_client(frame) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces by the rule written in geometry.proto, in plain numpy (what a C# or
    JavaScript client does), to check that the documented rule is the library's."""
    k, h, w = frame.intrinsics, frame.intrinsics.height, frame.intrinsics.width
    depth = wire.decode_depth(frame.depth)
    x = (np.arange(w, dtype=np.float32) + np.float32(0.5) - np.float32(k.cx)) / np.float32(k.fx)
    y = (np.arange(h, dtype=np.float32) + np.float32(0.5) - np.float32(k.cy)) / np.float32(k.fy)
    v = np.stack([depth * x[None, :], depth * y[:, None], depth], -1).reshape(-1, 3)
    c = frame.closure.cap_center
    v = np.concatenate([v, np.float32([[c.x, c.y, c.z]])])
    idx = np.arange(h * w).reshape(h, w)
    tl, tr, bl, br = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    grid = [np.stack([bl, tl, tr], -1).reshape(-1, 3), np.stack([bl, tr, br], -1).reshape(-1, 3)]
    loop = np.concatenate([idx[0], idx[1:, -1], idx[-1, :-1][::-1], idx[1:-1, 0][::-1]])
    fan = np.stack([np.full_like(loop, h * w), np.roll(loop, -1), loop], -1)
    return v, np.concatenate(grid + [fan]).astype(np.int32)


def test_mesh_frames_rebuild_the_dw_mesh_exactly(client, server, scene_id):
    stored = server.service.store.load(scene_id)
    frames = list(client.stream_geometry(scene_id, depth_encoding="float32", color_encoding="raw"))
    assert [f.frame_index for f in frames] == list(range(9))
    for f in frames[::4]:
        truth = build_dw_mesh(
            stored.depth[f.frame_index], stored.frames[f.frame_index], stored.intrinsics
        )
        mesh = mesh_from_frame(f)
        assert np.array_equal(mesh.vertices, truth.vertices)  # bit-exact
        assert np.array_equal(mesh.faces, truth.faces)
        assert np.array_equal(mesh.occluded, truth.occluded)
        assert np.array_equal(mesh.colors, truth.colors)
        assert mesh.far_depth == truth.far_depth
        v, faces = rebuild_like_a_foreign_client(f)
        assert np.array_equal(v, truth.vertices) and np.array_equal(faces, truth.faces)


def test_quantised_mesh_frames_stay_within_their_bound(client, server, scene_id):
    stored = server.service.store.load(scene_id)
    f = next(iter(client.stream_geometry(scene_id, first_frame=4, last_frame=4)))
    truth = build_dw_mesh(stored.depth[4], stored.frames[4], stored.intrinsics)
    mesh = mesh_from_frame(f)
    bound = wire.uint16_error_bound(f.depth.near, f.depth.far) + 2**-22
    # Every vertex lies on its pixel's ray, so the relative position error is the depth's.
    err = np.linalg.norm(mesh.vertices - truth.vertices, axis=1)
    assert np.all(err <= bound * np.linalg.norm(truth.vertices, axis=1) + 1e-7)
    assert np.array_equal(mesh.occluded, truth.occluded) and np.array_equal(mesh.faces, truth.faces)
    assert np.abs(mesh.colors.astype(int) - truth.colors).mean() < 4  # JPEG colour
    arrays = (truth.vertices, truth.faces, truth.colors, truth.occluded, truth.intrinsics)
    assert f.ByteSize() < 0.5 * len(wire.encode_mesh_msgpack(*arrays, truth.far_depth))


def test_export_mesh_in_chunks(client, server, scene_id, tmp_path):
    import msgpack

    stored = server.service.store.load(scene_id)
    truth = build_dw_mesh(stored.depth[2], stored.frames[2], stored.intrinsics)
    data = client.export_mesh(scene_id, 2, chunk_bytes=16 * KIB)
    m = msgpack.unpackb(data)
    assert np.array_equal(np.frombuffer(m["vertices"], "<f4").reshape(-1, 3), truth.vertices)
    assert np.array_equal(np.frombuffer(m["faces"], "<i4").reshape(-1, 3), truth.faces)
    occ = np.unpackbits(np.frombuffer(m["occluded"], np.uint8), count=m["num_faces"]).astype(bool)
    assert np.array_equal(occ, truth.occluded)
    glb = client.export_mesh(scene_id, 2, format="glb", path=tmp_path / "m.glb")
    assert glb.read_bytes()[:4] == b"glTF"
    assert code_of(client.export_mesh, scene_id, 99) == grpc.StatusCode.INVALID_ARGUMENT


# -- view ----------------------------------------------------------------------------------


def test_view_renders_what_the_library_renders(client, server, scene_id):
    stored = server.service.store.load(scene_id)
    c2w = look_at((0.25, -0.1, 0.2), (0.0, 0.2, 3.0))
    # Sent in Unity axes: the server converts to its OpenCV frame.
    unity = convert_pose(c2w, "opencv", "unity")
    from ex4d_bridge.camera import position_quaternion_from_pose

    pos, quat = position_quaternion_from_pose(unity)
    with client.view_session(
        scene_id,
        80,
        60,
        coordinate_system="unity",
        color_encoding="raw",
        include_depth=True,
        fov_y_deg=50,
    ) as view:
        seq = view.send((pos, quat), frame_index=5)
        view.close()
        frame = view.receive()
    k = Intrinsics.from_fov(80, 60, fov_y_deg=50)
    truth = render(build_dw_mesh(stored.depth[5], stored.frames[5], stored.intrinsics), c2w, k)
    assert frame.sequence == seq and frame.frame_index == 5 and frame.intrinsics == k
    assert np.allclose(frame.pose, c2w, atol=1e-9)  # the echo, back in OpenCV
    assert np.array_equal(frame.color, truth.color) and np.array_equal(frame.mask, truth.mask)
    fin = np.isfinite(truth.depth)
    assert np.array_equal(np.isfinite(frame.depth), fin)
    assert np.allclose(frame.depth[fin], truth.depth[fin], rtol=1e-3)
    t = frame.timings
    assert t["render_ms"] > 0 and t["total_ms"] >= t["render_ms"] and frame.reply_bytes > 0


def test_view_latest_pose_wins(server, scene_id):
    """Poses sent faster than frames render are dropped, never queued; every reply says how
    many it replaced, and the newest pose is always answered."""
    ch = grpc.insecure_channel(server.target)
    stub = bridge_pb2_grpc.BridgeStub(ch)
    n = 60
    pose = wire.pose_to_msg(np.eye(4), "opengl")

    def burst():
        for i in range(n):
            yield view_pb2.ViewRequest(
                scene_id=scene_id if i == 0 else "",
                sequence=i,
                pose=pose,
                width=256,
                height=256,
                time_s=i / 90,
            )

    replies = list(stub.View(burst(), timeout=60))
    ch.close()
    seqs = [r.sequence for r in replies]
    assert seqs == sorted(seqs) and seqs[-1] == n - 1
    assert len(replies) < n  # some were dropped: the server does not queue
    assert sum(r.dropped for r in replies) + len(replies) == n
    assert replies[-1].dropped_total == n - len(replies)
    # Each reply's count is exactly the gap since the previous answered pose.
    gaps = np.diff([-1] + seqs) - 1
    assert [r.dropped for r in replies] == gaps.tolist()
    assert all(r.color.encoding == common_pb2.IMAGE_ENCODING_JPEG for r in replies)


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda r: setattr(r.pose.rotation, "w", float("nan")), "INVALID_ARGUMENT"),
        (lambda r: r.pose.rotation.Clear(), "INVALID_ARGUMENT"),
        (lambda r: setattr(r.pose, "coordinate_system", 17), "INVALID_ARGUMENT"),
        (lambda r: setattr(r, "width", 0), "INVALID_ARGUMENT"),
        (lambda r: setattr(r, "height", 4097), "INVALID_ARGUMENT"),
        (lambda r: setattr(r, "frame_index", 9), "INVALID_ARGUMENT"),
        (lambda r: setattr(r, "scene_id", "0" * 32), "NOT_FOUND"),
        (lambda r: setattr(r, "scene_id", "../x"), "INVALID_ARGUMENT"),
    ],
)
def test_view_bad_input_gets_its_status_and_the_server_keeps_serving(
    server, client, scene_id, mutate, code
):
    stub = client.stub
    req = view_pb2.ViewRequest(
        scene_id=scene_id, pose=wire.pose_to_msg(np.eye(4), "opencv"), width=32, height=32
    )
    mutate(req)
    assert code_of(stub.View, iter([req]), timeout=20).name == code
    assert client.health() == "SERVING"


def test_view_streams_do_not_wait_for_each_other_or_for_generation(
    client, server, scene_id, completer
):
    completer.gate.clear()
    completer.started.clear()
    try:
        job = client.submit_generation(scene_id, "orbit:30")
        assert completer.started.wait(30)  # the worker is busy generating
        # The generation stays blocked until the end: frames can only come if View never
        # waits for it (the deadline turns a wait into a failure instead of a hang).
        slow = client.view_session(scene_id, 512, 512, timeout=60)
        fast = client.view_session(scene_id, 32, 32, timeout=60)
        slow.send(np.eye(4))
        fast.send(np.eye(4))
        frame = fast.receive()
        assert frame.color.shape == (32, 32, 3)
        assert client.get_job(job.job_id).state == jobs_pb2.JOB_STATE_RUNNING
        assert slow.receive().color.shape == (512, 512, 3)
        slow.cancel()
        fast.cancel()
    finally:
        completer.gate.set()
    assert job_state_name(client.wait_job(job.job_id, progress=False).state) == "SUCCEEDED"


def _open_view_readers(server) -> int:
    """View streams still reading poses on the server (each runs one reader task)."""

    async def count() -> int:
        return sum(
            1
            for task in asyncio.all_tasks()
            if task.get_coro().__qualname__ == "ViewStreams.serve.<locals>.read" and not task.done()
        )

    return asyncio.run_coroutine_threadsafe(count(), server._loop).result(10)


def test_client_disconnect_ends_its_view(server, client, scene_id):
    before = _open_view_readers(server)
    session = client.view_session(scene_id, 64, 64)
    session.send(np.eye(4))
    session.receive()
    assert _open_view_readers(server) == before + 1
    session.cancel()
    deadline = time.time() + 10
    while _open_view_readers(server) > before and time.time() < deadline:
        time.sleep(0.05)
    assert _open_view_readers(server) == before


# -- generation ----------------------------------------------------------------------------


def test_generation_job_runs_reports_progress_and_is_viewable(client, scene_id, tmp_path):
    info = client.get_scene(scene_id)
    job = client.submit_generation(scene_id, "orbit:30", seed=3)
    events = list(client.watch_job(job.job_id, timeout=120))
    states = [job_state_name(e.state) for e in events]
    assert states[-1] == "SUCCEEDED" and "RUNNING" in states
    assert events[-1].completer == "gated-test-fill" and events[-1].num_frames == 9
    assert any(e.progress_total == 9 and 0 < e.progress_done < 9 for e in events)
    files = client.download_job_result(job.job_id, tmp_path)
    clip = read_video(files["generated.mp4"])
    assert clip.frames.shape == (9, 64, 64, 3)
    traj = load_pose_path(files["generated.poses.json"])
    expected = reference_orbit(info.min_depth, 30, 9)
    assert np.allclose(traj.poses, expected.poses, atol=1e-9)
    # A View at one of the job's poses comes with the generated frame.
    frame = client.view(scene_id, expected.poses[4], 64, 64, frame_index=4, color_encoding="raw")
    assert frame.generated_job_id == job.job_id and frame.generated.shape == (64, 64, 3)
    assert (frame.generated.astype(int) - clip.frames[4]).__abs__().mean() < 8


def test_view_replies_do_no_database_work(server, client, scene_id, monkeypatch):
    job = client.submit_generation(scene_id, "orbit:10", width=64, height=64)
    client.wait_job(job.job_id, progress=False)
    pose = reference_orbit(client.get_scene(scene_id).min_depth, 10, 17).poses[3]
    client.view(scene_id, pose, 64, 64, frame_index=3)  # the first reply may read the index
    queries = []
    db = server.service.worker.db
    for name in ("list", "get"):
        method = getattr(db, name)
        monkeypatch.setattr(
            db, name, lambda *a, _m=method, _n=name, **k: queries.append(_n) or _m(*a, **k)
        )
    for _ in range(3):
        client.view(scene_id, pose, 64, 64, frame_index=3)
    assert queries == []
    assert job.job_id in [j.job_id for j in client.list_jobs(scene_id)]


def test_jobs_queue_and_cancel(client, scene_id, completer):
    completer.gate.clear()
    completer.started.clear()
    try:
        first = client.submit_generation(scene_id, "yaw:20")
        assert completer.started.wait(30)
        second = client.submit_generation(scene_id, "dolly:0.2")
        assert second.state == jobs_pb2.JOB_STATE_QUEUED and second.queue_position == 1
        cancelled = client.cancel_job(second.job_id)
        assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
        client.cancel_job(first.job_id)
        final = client.wait_job(first.job_id, progress=False, timeout=30)
        assert job_state_name(final.state) == "CANCELLED"
        # Cancelling a finished job changes nothing.
        assert client.cancel_job(first.job_id).state == jobs_pb2.JOB_STATE_CANCELLED
    finally:
        completer.gate.set()
    code = code_of(client.submit_generation, scene_id, "file:/etc/passwd")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(client.submit_generation, "0" * 32) == grpc.StatusCode.NOT_FOUND
    assert code_of(client.cancel_job, "nope") == grpc.StatusCode.INVALID_ARGUMENT


def test_generation_without_weights_or_fallback_is_a_precondition(tmp_path, media, synthetic):
    config = ServerConfig(port=0, data_dir=tmp_path, completer=None, allow_fallback=False)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as c:
        info = c.upload_scene(media["video"], depth=media["depth"])
        err = pytest.raises(grpc.RpcError, c.submit_generation, info.scene_id, "orbit:30")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "fallback" in err.value.details()


def test_restart_keeps_scenes_and_marks_interrupted_jobs(tmp_path, media):
    gated = GatedCompleter()
    gated.gate.clear()
    config = ServerConfig(port=0, data_dir=tmp_path, completer=gated)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as c:
        info = c.upload_scene(media["video"], depth=media["depth"])
        job = c.submit_generation(info.scene_id, "orbit:20")
        assert gated.started.wait(30)
    config = ServerConfig(port=0, data_dir=tmp_path)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as c:
        assert [s.scene_id for s in c.list_scenes()] == [info.scene_id]
        assert job_state_name(c.get_job(job.job_id).state) == "INTERRUPTED"


# -- recording -----------------------------------------------------------------------------


def test_record_walkthrough_returns_mp4_and_pose_sidecar(client, scene_id, tmp_path):
    info = client.get_scene(scene_id)
    traj = reference_orbit(info.min_depth, -20, 6)
    files = client.record_walkthrough(
        scene_id,
        Trajectory(traj.poses, fps=12.0),
        tmp_path,
        coordinate_system="unreal",
        width=48,
        height=32,
        fov_y_deg=60,
        frame_indices=np.arange(6),
    )
    clip = read_video(files["walkthrough.mp4"])
    assert clip.frames.shape == (6, 32, 48, 3) and clip.fps == pytest.approx(12.0)
    side = load_pose_path(files["walkthrough.poses.json"])
    assert np.allclose(side.poses, traj.poses, atol=1e-9)
    assert side.intrinsics == Intrinsics.from_fov(48, 32, fov_y_deg=60)
    import json

    assert json.loads(files["walkthrough.poses.json"].read_text())["coordinate_system"] == "unreal"


def test_deadline_stops_a_long_walkthrough(client, server, scene_id, monkeypatch):
    store = server.service.store
    built = []
    mesh = store.mesh

    def counting_mesh(*args, **kwargs):
        built.append(1)
        time.sleep(0.005)  # 400 frames outlast the deadline even with the fastest renderer
        return mesh(*args, **kwargs)

    monkeypatch.setattr(store, "mesh", counting_mesh)
    poses = np.repeat(np.eye(4)[None], 400, 0)
    poses[:, 0, 3] = np.linspace(0, 0.3, 400)
    stub = client.stub
    path = jobs_pb2.PosePath(coordinate_system=common_pb2.COORDINATE_SYSTEM_OPENCV)
    for p in poses:
        m = pose_message(p)
        path.poses.append(jobs_pb2.PoseSample(position=m.position, rotation=m.rotation))
    req = jobs_pb2.RecordWalkthroughRequest(scene_id=scene_id, path=path, width=160, height=160)
    code = code_of(stub.RecordWalkthrough, req, timeout=0.5)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(1.0)
    done = len(built)
    time.sleep(1.0)
    assert len(built) == done < 400  # stopped, not finished


# -- protocol robustness -------------------------------------------------------------------


def test_fuzzed_messages_to_every_rpc_leave_the_server_serving(server, client, scene_id):
    from ex4d_bridge.wire import bridge_pb2

    rng = np.random.default_rng(7)
    ch = grpc.insecure_channel(server.target)
    service = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"]
    valid = scenes_pb2.GetSceneRequest(scene_id=scene_id).SerializeToString()
    payloads = [rng.bytes(int(n)) for n in rng.integers(0, 300, 6)] + [
        valid[: len(valid) // 2],
        b"\xff" * 10,
        b"\x0a\xff\xff\xff\xff\x0f",
    ]
    codes = set()
    for m in service.methods:
        path = f"/{service.full_name}/{m.name}"
        kinds = (m.client_streaming, m.server_streaming)
        for data in payloads:
            if kinds == (False, False):
                call = ch.unary_unary(path)
            elif kinds == (False, True):
                call = ch.unary_stream(path)
            elif kinds == (True, False):
                call = ch.stream_unary(path)
            else:
                call = ch.stream_stream(path)
            arg = iter([data, data[::-1]]) if m.client_streaming else data
            try:
                out = call(arg, timeout=20)
                if m.server_streaming:
                    list(out)
            except grpc.RpcError as exc:
                codes.add(exc.code())
    ch.close()
    # Every refusal is a specific status: nothing crashed (INTERNAL/UNKNOWN) or hung.
    assert grpc.StatusCode.INVALID_ARGUMENT in codes
    assert codes <= {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }, codes
    assert client.health() == "SERVING"
    assert client.get_scene(scene_id).scene_id == scene_id


def test_reflection_lists_the_services(server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.target) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(stub.ServerReflectionInfo(iter([req]), timeout=10)))
    names = {s.name for s in reply.list_services_response.service}
    assert {"ex4d.v1.Bridge", "grpc.health.v1.Health"} <= names


def test_grid_topology_is_what_mesh_frames_promise():
    # The cap fan's loop order in geometry.proto matches the library's topology.
    faces = grid_topology(4, 5).faces.numpy()
    assert faces.shape[0] == 2 * 3 * 4 + 2 * (4 + 5) - 4


def test_upload_without_depth_uses_the_configured_depth_model(tmp_path):
    model = save_tiny_depth_anything(tmp_path / "depth-model")
    s = SyntheticScene(32, 32, 3)
    video = write_video(tmp_path / "v.mp4", s.frames(), s.fps)
    config = ServerConfig(port=0, data_dir=tmp_path / "data", depth_model=model)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as c:
        info = c.upload_scene(video)
        assert info.created and info.depth_source.startswith("transformers")
        depth = srv.service.store.load(info.scene_id).depth
        assert depth.shape == (3, 32, 32) and np.all(depth > 0)
