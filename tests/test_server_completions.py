"""Completed scenes over gRPC: completion jobs, View at any pose, layers in StreamGeometry.

Ground truth is the library on the same data: the server's scene directory holds the scene and
the completions its jobs stored, and ``CompletedScene`` built from them (the same program on the
same data) must give what View and StreamGeometry send. A real client over loopback talks to a
real server running the classical fallback as its generator."""

import shutil
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from server_helpers import client_fixture, upload_synthetic

from ex4d_bridge import wire
from ex4d_bridge.camera import look_at
from ex4d_bridge.client import BridgeClient, layers_from_frame, mesh_from_frame
from ex4d_bridge.geometry import RenderOptions
from ex4d_bridge.scene.completion import (
    CompletedScene,
    CompositeOptions,
    Provenance,
    layer_mesh,
    load_completions,
)
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video
from ex4d_bridge.wire import jobs_pb2

KIB = 1024
# A pose off every walk-small path (those hold at yaw +-35, pitch +-15 around the pivot).
OFF_PATH = look_at(np.array([0.35, -0.05, 0.25]), np.array([0.0, 0.0, 3.0]))


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticScene(64, 48, 6)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = ServerConfig(
        port=0,
        data_dir=tmp_path_factory.mktemp("data"),
        max_receive_bytes=256 * KIB,
        max_upload_bytes=1024 * KIB,
        render_workers=2,
    )
    with ServerThread(config) as srv:
        yield srv


client = client_fixture(timeout=60)


@pytest.fixture(scope="module")
def uploaded(client, synthetic, tmp_path_factory):
    scene_id = upload_synthetic(client, tmp_path_factory.mktemp("media"), synthetic)
    # What an old client streams before the scene has any completion.
    before = [_without_timings(f) for f in client.stream_geometry(scene_id)]
    return scene_id, before


def _without_timings(frame):
    frame.ClearField("timings")
    return frame.SerializeToString()


@pytest.fixture(scope="module")
def covered(client, uploaded):
    """The scene after a coverage job (walk-small: 4 paths) stored its completions."""
    scene_id, _ = uploaded
    job = client.submit_generation(scene_id, coverage="walk-small")
    assert job.state == jobs_pb2.JOB_STATE_QUEUED or job.state == jobs_pb2.JOB_STATE_RUNNING
    events = list(client.watch_job(job.job_id, timeout=300))
    final = events[-1]
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    return scene_id, final, events


def library_scene(server, scene_id: str) -> CompletedScene:
    store = server.service.store
    scene = store.load(scene_id)
    completions = load_completions(store.scene_dir(scene_id))
    config = server.server.config
    render = RenderOptions(backend=config.render_backend, mask_style="face")
    options = CompositeOptions(window=config.completion_window, render=render)
    return CompletedScene(scene, completions, options)


def test_a_coverage_job_stores_completions_with_progress_across_paths(client, covered, tmp_path):
    scene_id, final, events = covered
    assert len(final.generations) == 4
    assert final.stage == "done"
    running = [e for e in events if e.state == jobs_pb2.JOB_STATE_RUNNING and e.progress_total]
    assert running, "no progress was reported"
    assert max(e.progress_total for e in running) >= 4 * 6  # every path's frames counted
    assert any("path 4/4" in e.message for e in running)
    info = client.get_scene(scene_id)
    assert sorted(c.generation for c in info.completions) == sorted(final.generations)
    for c in info.completions:
        assert c.num_layers > 0 and c.num_pixels > 0 and c.path_name and c.generator
        assert 0 <= c.first_frame <= c.last_frame < 6
    listed = {s.scene_id: s for s in client.list_scenes()}
    assert len(listed[scene_id].completions) == 4
    # A coverage job keeps no video.
    with pytest.raises(grpc.RpcError) as err:
        client.download_job_result(final.job_id, tmp_path / "result")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_view_off_every_path_is_the_library_completed_render(client, server, covered):
    scene_id, _, _ = covered
    done = client.view(
        scene_id,
        OFF_PATH,
        64,
        48,
        frame_index=3,
        color_encoding="raw",
        include_provenance=True,
        include_depth=True,
        depth_encoding="float32",
    )
    raw = client.view(scene_id, OFF_PATH, 64, 48, frame_index=3, color_encoding="raw", raw=True)
    assert done.completion_layers > 0 and raw.completion_layers == done.completion_layers
    assert done.holes.sum() < raw.holes.sum(), "completions filled no hole"
    want = library_scene(server, scene_id).render(3, OFF_PATH, done.intrinsics)
    assert np.array_equal(done.color, want.color)
    assert np.array_equal(done.holes, want.holes)
    assert np.array_equal(done.provenance, want.provenance)
    assert np.array_equal(done.provenance == Provenance.HOLE, done.holes)
    assert set(np.unique(done.provenance)) >= {Provenance.SOURCE}
    assert (done.provenance >= Provenance.COMPLETION).any()
    np.testing.assert_array_equal(np.isfinite(done.depth), ~done.holes)
    # The raw render's provenance is its mask: source or hole.
    assert raw.provenance is None


def test_view_reads_no_disk_and_no_database_per_frame(client, server, covered, monkeypatch):
    scene_id, _, _ = covered
    client.view(scene_id, OFF_PATH, 32, 24, frame_index=1)  # warm: the scene is in memory
    service = server.service
    loads = service.completed.loads
    calls = []
    import ex4d_bridge.scene.completion.store as completion_store

    def spy(*args, **kwargs):
        calls.append(args)
        raise AssertionError("View read completions from disk")

    monkeypatch.setattr(completion_store, "load_completions", spy)
    monkeypatch.setattr(service.db, "list", spy)
    monkeypatch.setattr(service.db, "get", spy)
    for t in (1, 2, 4):
        frame = client.view(scene_id, OFF_PATH, 32, 24, frame_index=t)
        assert frame.completion_layers >= 0
    assert service.completed.loads == loads and not calls


def test_stream_geometry_layers_rebuild_as_the_library_builds_them(client, server, covered):
    scene_id, _, _ = covered
    lib = library_scene(server, scene_id)
    frames = list(
        client.stream_geometry(
            scene_id,
            include_completions=True,
            depth_encoding="float32",
            color_encoding="raw",
        )
    )
    assert len(frames) == 6
    total = 0
    for frame in frames:
        t = frame.frame_index
        pieces = lib.frame_layers(t)
        rebuilt = layers_from_frame(frame)
        assert [r.layer_index for r in rebuilt] == [i for i, _ in pieces]
        for r, (_, piece) in zip(rebuilt, pieces, strict=True):
            want = layer_mesh(piece, lib.scene.mesh_options)
            assert r.generation == piece.generation and r.region == piece.region
            assert np.array_equal(r.faces, want.faces)
            assert np.array_equal(r.colors, want.colors)
            scale = max(1.0, float(np.abs(want.vertices).max()))
            np.testing.assert_allclose(r.vertices, want.vertices, rtol=0, atol=2.4e-7 * scale)
            total += 1
        # The source mesh is unchanged by the layers.
        assert mesh_from_frame(frame).vertices.shape[0] == 64 * 48 + 1
    assert total > 0
    capped = next(client.stream_geometry(scene_id, include_completions=True, max_layers=1))
    assert len(capped.layers) <= 1


def test_old_clients_get_byte_identical_streams(client, covered, uploaded):
    scene_id, before = uploaded
    assert covered  # the scene has completions now
    after = [_without_timings(f) for f in client.stream_geometry(scene_id)]
    assert after == before


def test_a_complete_job_fuses_its_path_and_reports_stages(client, covered, tmp_path):
    scene_id, _, _ = covered
    poses = np.stack(
        [
            look_at(np.array([-0.3 + 0.02 * i, 0.1, 0.1]), np.array([0.0, 0.0, 3.0]))
            for i in range(6)
        ]
    )
    from ex4d_bridge.camera import Trajectory

    traj = Trajectory(poses, name="side")
    before = {c.generation for c in client.get_scene(scene_id).completions}
    job = client.submit_generation(scene_id, traj, complete=True)
    events = list(client.watch_job(job.job_id, timeout=300))
    final = events[-1]
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    stages = [(e.stage, e.stage_index, e.num_stages) for e in events if e.stage]
    seen = [s for s, _, _ in stages]
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert [s for s in order if s in ("render", "generate", "complete", "done")] == [
        "render",
        "generate",
        "complete",
        "done",
    ] or order[-1] == "done"  # a fast job may skip reporting an intermediate stage
    assert all(n == 3 for s, _, n in stages if s in ("render", "generate", "complete"))
    for e in events:  # progress never runs past its stage's total
        assert e.progress_done <= e.progress_total or e.progress_total == 0
    assert len(final.generations) == 1
    gen = final.generations[0]
    assert gen.startswith("side.") and gen not in before
    assert gen in {c.generation for c in client.get_scene(scene_id).completions}
    # The job's own result is still there, and View shows the new layers at once.
    out = client.download_job_result(final.job_id, tmp_path)
    assert any(p.name == "generated.mp4" for p in out.values())
    frame = client.view(scene_id, poses[4], 64, 48, frame_index=4, include_provenance=True)
    assert frame.completion_layers >= 1


def test_completion_requests_are_validated(client, uploaded):
    scene_id, _ = uploaded
    with pytest.raises(grpc.RpcError) as err:
        client.submit_generation(scene_id, coverage="../etc/passwd")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "coverage set" in err.value.details()
    req = jobs_pb2.SubmitGenerationRequest(scene_id=scene_id, coverage="walk")
    req.trajectory.preset = "orbit:30"
    with pytest.raises(grpc.RpcError) as err:
        client.stub.SubmitGeneration(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Completing needs one pose per source frame at most (6 here).
    from ex4d_bridge.camera import Trajectory
    from ex4d_bridge.client import pose_path_message

    seven = Trajectory(np.stack([OFF_PATH] * 7), name="seven")
    many = jobs_pb2.SubmitGenerationRequest(
        scene_id=scene_id, complete=True, trajectory=pose_path_message(seven)
    )
    with pytest.raises(grpc.RpcError) as err:
        client.stub.SubmitGeneration(many, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_deleted_scene_leaves_the_view_cache(client, server, synthetic, tmp_path):
    video = write_video(tmp_path / "c.mp4", synthetic.frames()[:3], synthetic.fps)
    np.savez(tmp_path / "d.npz", depth=synthetic.depths()[:3])
    info = client.upload_scene(video, depth=tmp_path / "d.npz", intrinsics=synthetic.intrinsics)
    client.view(info.scene_id, OFF_PATH, 16, 12)
    assert info.scene_id in server.service.completed._entries
    client.delete_scene(info.scene_id)
    assert info.scene_id not in server.service.completed._entries
    time.sleep(0)
    with pytest.raises(grpc.RpcError) as err:
        client.view(info.scene_id, OFF_PATH, 16, 12)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_provenance_maps_round_trip_and_refuse_bad_values():
    a = np.array([[0, 1], [2, 3]], np.uint8)
    assert np.array_equal(wire.decode_provenance(wire.encode_provenance(a)), a)
    bad = wire.encode_provenance(a, compress=False)
    bad.data = bytes([0, 1, 2, 9])
    with pytest.raises(Exception, match="not a Provenance"):
        wire.decode_provenance(bad)


def test_a_long_path_is_generated_in_windows_over_grpc(client, uploaded, tmp_path):
    """60 poses with the classical fallback (49-frame windows): every pose is generated."""
    from ex4d_bridge.camera import Trajectory
    from ex4d_bridge.video import read_video

    scene_id, _ = uploaded
    poses = np.stack(
        [
            look_at(np.array([0.2 * np.sin(i / 9), 0.0, 0.0]), np.array([0.0, 0.0, 3.0]))
            for i in range(60)
        ]
    )
    job = client.submit_generation(
        scene_id, Trajectory(poses, name="long"), long_clip="windowed", window_overlap=6
    )
    final = list(client.watch_job(job.job_id, timeout=300))[-1]
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    out = client.download_job_result(final.job_id, tmp_path)
    video = next(p for p in out.values() if p.suffix == ".mp4")
    assert len(read_video(video).frames) == 60
    with pytest.raises(grpc.RpcError) as err:
        client.submit_generation(scene_id, "orbit:30", window_overlap=4)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "window_overlap" in err.value.details()


NODE_DIR = Path(__file__).resolve().parents[1] / "examples" / "node"


@pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules").is_dir(),
    reason="needs node and `npm ci` in examples/node",
)
def test_a_node_client_rebuilds_each_layer_as_the_library(server, covered, tmp_path):
    import base64
    import json
    import subprocess

    scene_id, _, _ = covered
    out = tmp_path / "layers.jsonl"
    r = subprocess.run(
        [
            "node",
            str(NODE_DIR / "layers.js"),
            "--target",
            server.target,
            "--scene-id",
            scene_id,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    lib = library_scene(server, scene_id)
    want = {
        (t, i): layer_mesh(piece, lib.scene.mesh_options)
        for t in range(6)
        for i, piece in lib.frame_layers(t)
    }
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["frames"] == 6 and summary["layers"] == len(got) == len(want) > 0
    for g in got:
        w = want[(g["frame_index"], g["layer_index"])]
        v = np.frombuffer(base64.b64decode(g["vertices"]), "<f4").reshape(-1, 3)
        f = np.frombuffer(base64.b64decode(g["faces"]), "<i4").reshape(-1, 3)
        c = np.frombuffer(base64.b64decode(g["colors"]), np.uint8).reshape(-1, 3)
        assert np.array_equal(f, w.faces) and np.array_equal(c, w.colors)
        scale = max(1.0, float(np.abs(w.vertices).max()))
        np.testing.assert_allclose(v, w.vertices, rtol=0, atol=2.4e-7 * scale)


def test_the_completed_scene_cache_is_bounded_by_size(
    client, server, uploaded, synthetic, tmp_path
):
    cache = server.service.completed
    scene_id, _ = uploaded
    video = write_video(tmp_path / "c.mp4", synthetic.frames()[:4], synthetic.fps)
    np.savez(tmp_path / "d.npz", depth=synthetic.depths()[:4])
    other = client.upload_scene(video, depth=tmp_path / "d.npz", intrinsics=synthetic.intrinsics)
    both = cache.get(scene_id).nbytes + cache.get(other.scene_id).nbytes
    assert len(cache) >= 2 and cache.nbytes >= both
    old = cache.budget_bytes
    try:
        cache.budget_bytes = both - 1  # room for one of them: the least recently used goes
        cache.invalidate(scene_id)
        loads = cache.loads
        client.view(other.scene_id, OFF_PATH, 16, 12)  # the other is used last
        cache.get(scene_id)  # loaded again, which evicts `other`
        assert cache.loads == loads + 1
        assert scene_id in cache._entries and other.scene_id not in cache._entries
        assert cache.nbytes <= cache.budget_bytes
    finally:
        cache.budget_bytes = old
        client.delete_scene(other.scene_id)


def test_walkthroughs_record_what_was_seen(client, covered, tmp_path):
    """RecordWalkthrough renders completed by default; a pose file from a headset that drew
    no completion layers ("completed": false, the Unity recorder's key) replays raw."""
    import json

    from ex4d_bridge.camera import Trajectory
    from ex4d_bridge.video import read_video

    scene_id, _, _ = covered
    traj = Trajectory(np.stack([OFF_PATH] * 4), name="walk", fps=10.0)
    holes = {}
    for seen in (True, False):
        path = tmp_path / f"walk_{seen}.json"
        traj.save(path)
        doc = json.loads(path.read_text())
        doc["completed"] = seen
        path.write_text(json.dumps(doc))
        out = client.record_walkthrough(
            scene_id, path, tmp_path / f"out_{seen}", width=64, height=48, frame_indices=None
        )
        video = next(p for p in out.values() if p.suffix == ".mp4")
        frames = read_video(video).frames
        holes[seen] = float((frames.max(-1) < 8).mean())  # black: nothing drawn there
    assert holes[True] < holes[False] - 0.01, holes


def test_the_completion_window_is_a_server_setting(server, covered, tmp_path):
    from ex4d_bridge.errors import Ex4dError

    scene_id, _, _ = covered
    config = ServerConfig(port=0, data_dir=server.server.config.data_dir, completion_window=1)
    with ServerThread(config) as narrow, BridgeClient(narrow.target, progress=False) as c:
        got = c.view(scene_id, OFF_PATH, 64, 48, frame_index=3, color_encoding="raw")
        want = library_scene(narrow, scene_id).render(3, OFF_PATH, got.intrinsics)
        assert np.array_equal(got.color, want.color) and np.array_equal(got.holes, want.holes)
    with pytest.raises(Ex4dError, match="completion-window"):
        ServerConfig(port=0, data_dir=tmp_path, completion_window=-1).validate()
