"""Small uploads that would expand to gigabytes, finite but absurd numbers and bad bundle
manifests (issue 13 items 3, 5 and 6), over loopback with the Python client and raw stubs."""

import math
import tracemalloc
import zlib

import grpc
import msgpack
import numpy as np
import pytest
from server_helpers import client_fixture, write_synthetic

from ex4d_bridge.camera import look_at
from ex4d_bridge.client import BridgeClient
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.wire import common_pb2, jobs_pb2, scenes_pb2, view_pb2

KIB, MIB = 1024, 1 << 20
SIDE, FRAMES = 32, 3


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticScene(SIDE, SIDE, FRAMES)


@pytest.fixture(scope="module")
def media(synthetic, tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    video, depth = write_synthetic(d, synthetic, "depth.npy")
    return {"video": video, "depth": depth, "dir": d}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Uploads up to 1 MiB (the old per-array bundle cap was 8x that); scenes up to 2 MiB.
    config = ServerConfig(
        port=0,
        data_dir=tmp_path_factory.mktemp("data"),
        max_upload_bytes=1 * MIB,
        max_scene_bytes=2 * MIB,
        max_scene_frames=64,
        render_workers=2,
    )
    with ServerThread(config) as srv:
        yield srv


client = client_fixture(timeout=30)


@pytest.fixture(scope="module")
def scene_id(client, media, synthetic):
    return client.upload_scene(
        media["video"], depth=media["depth"], intrinsics=synthetic.intrinsics
    ).scene_id


def refusal(fn, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        r = fn(*args, **kwargs)
        if hasattr(r, "__next__"):
            list(r)
    return err.value.code(), err.value.details()


def stored(client) -> list[str]:
    return sorted(s.scene_id for s in client.list_scenes())


# -- item 3: decompression bombs -------------------------------------------------------------


def test_a_depth_npz_bomb_is_refused_from_its_header(client, media, tmp_path):
    # 9 MB of float64 zeros in a few KB: fits the upload limit, not the scene's depth budget.
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, depth=np.zeros((FRAMES, 640, 600)))
    assert bomb.stat().st_size < 64 * KIB
    before = stored(client)
    tracemalloc.start()
    try:
        code, details = refusal(client.upload_scene, media["video"], depth=bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "depth.npy" in details and "(3, 640, 600)" in details
    assert peak < 4 * MIB  # nothing near the 9 MB the array declares was allocated
    assert stored(client) == before


def test_a_zip_member_that_is_not_an_array_counts_by_its_size(client, media, tmp_path):
    import zipfile

    bomb = tmp_path / "raw.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        np.save(tmp_path / "d.npy", np.ones((FRAMES, SIDE, SIDE), np.float32))
        z.write(tmp_path / "d.npy", "depth.npy")
        z.writestr("junk.bin", b"\0" * (2 * MIB))
    code, details = refusal(client.upload_scene, media["video"], depth=bomb)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "junk.bin" in details


def test_asking_for_more_frames_than_a_scene_may_hold_is_refused(client, media):
    code, details = refusal(
        client.upload_scene, media["video"], depth=media["depth"], num_frames=65
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "num_frames 65" in details


def test_decoded_frames_over_the_scene_budget_are_refused_before_decoding(tmp_path, media):
    """A 3-frame video asked for N frames decodes to N frames (linear in N): the budget is
    checked from the header, before the array is allocated."""
    frame_bytes = SIDE * SIDE * 7
    config = ServerConfig(port=0, data_dir=tmp_path, max_scene_bytes=45 * frame_bytes)
    with ServerThread(config) as srv, BridgeClient(srv.target, progress=False) as c:
        code, details = refusal(c.upload_scene, media["video"], depth=media["depth"], num_frames=50)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "50 frames of 32x32" in details
        # 40 frames fit the budget (and are then refused for their 3 depth maps).
        code, details = refusal(c.upload_scene, media["video"], depth=media["depth"], num_frames=40)
        assert code == grpc.StatusCode.INVALID_ARGUMENT


def _bundle(frames, depth, manifest) -> bytes:
    def pack(a):
        return {"shape": list(a.shape), "dtype": a.dtype.str, "zlib": zlib.compress(a.tobytes())}

    return msgpack.packb(
        {
            "format": "ex4d-scene-bundle",
            "version": 1,
            "manifest": manifest,
            "frames": pack(frames),
            "depth": pack(depth),
        }
    )


def _manifest(**kw):
    k = {"fx": 30.0, "fy": 30.0, "cx": 16.0, "cy": 16.0, "width": SIDE, "height": SIDE}
    return {"name": "b", "fps": 10.0, "intrinsics": k, **kw}


def upload_bundle_bytes(client, tmp_path, data: bytes):
    path = tmp_path / "scene.ex4d"
    path.write_bytes(data)
    return client.upload_bundle(path)


def test_a_bundle_is_budgeted_as_a_whole_before_inflating(client, tmp_path):
    # Frames 0.9 MB and depth 1.2 MB: each under the old per-array cap (8 MiB), together over
    # the 2 MiB scene limit; the upload itself is a few KB.
    t, side = 3, 320
    frames, depth = np.zeros((t, side, side, 3), np.uint8), np.ones((t, side, side), np.float32)
    m = _manifest(
        intrinsics={"fx": 300.0, "fy": 300.0, "cx": 160, "cy": 160, "width": side, "height": side}
    )
    data = _bundle(frames, depth, m)
    assert len(data) < 64 * KIB
    code, details = refusal(upload_bundle_bytes, client, tmp_path, data)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "together" in details


# -- item 5: finite but absurd numbers --------------------------------------------------------


def _view_request(scene_id, **kw) -> view_pb2.ViewRequest:
    r = view_pb2.ViewRequest(scene_id=scene_id, width=SIDE, height=SIDE, **kw)
    r.pose.rotation.w = 1.0
    r.pose.coordinate_system = common_pb2.COORDINATE_SYSTEM_OPENCV
    return r


def view_once(client, request):
    return list(client.stub.View(iter([request]), timeout=30))


@pytest.mark.parametrize(
    "setup, field",
    [
        (lambda r: setattr(r, "time_s", 1e308), "ViewRequest.time_s"),
        (lambda r: setattr(r, "fov_y_deg", 1e-300), "ViewRequest.fov_y_deg"),
        (lambda r: setattr(r.intrinsics, "cx", 1e300), "ViewRequest.intrinsics.cx"),
        (lambda r: setattr(r.intrinsics, "fx", 1e-300), "ViewRequest.intrinsics.fx"),
        (lambda r: setattr(r.pose.position, "x", 1e300), "ViewRequest.pose.position.x"),
        (lambda r: setattr(r, "client_time_s", -1e300), "ViewRequest.client_time_s"),
        (lambda r: setattr(r.pose.rotation, "y", math.inf), "ViewRequest.pose.rotation.y"),
    ],
)
def test_absurd_view_numbers_name_their_field(client, scene_id, setup, field):
    r = _view_request(scene_id)
    setup(r)
    code, details = refusal(view_once, client, r)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field), details


def test_huge_and_tiny_quaternions_render_as_their_rotation(client, scene_id):
    """A quaternion is a direction: (1e200, 0, 0, 1e200) is a 90-degree turn about x, not the
    identity that overflowing normalisation made of it."""
    c2w = look_at(np.array([0.0, 0.0, -0.2]), np.array([0.3, 0.1, 1.0]))
    from ex4d_bridge.client import pose_message

    unit = pose_message(c2w, "opencv")
    frames = []
    for scale in (1.0, 1e200, 1e-200):
        r = _view_request(scene_id)
        r.pose.CopyFrom(unit)
        q = r.pose.rotation
        q.x, q.y, q.z, q.w = (v * scale for v in (q.x, q.y, q.z, q.w))
        (reply,) = view_once(client, r)
        frames.append(reply.color.data)
    assert frames[0] == frames[1] == frames[2]
    r = _view_request(scene_id)
    r.pose.rotation.x = r.pose.rotation.w = 1e200
    (turned,) = view_once(client, r)
    assert turned.color.data != view_once(client, _view_request(scene_id))[0].color.data


def test_absurd_path_numbers_name_their_field(client, scene_id):
    path = jobs_pb2.PosePath(preset="orbit:10", fps=1e300)
    code, details = refusal(
        client.stub.SubmitGeneration,
        jobs_pb2.SubmitGenerationRequest(scene_id=scene_id, trajectory=path),
        timeout=10,
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("SubmitGenerationRequest.trajectory.fps")
    req = jobs_pb2.RecordWalkthroughRequest(
        scene_id=scene_id, path=jobs_pb2.PosePath(preset="orbit:10"), fov_y_deg=1e-300
    )
    code, details = refusal(client.stub.RecordWalkthrough, req, timeout=10)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("RecordWalkthroughRequest.fov_y_deg")
    sample = jobs_pb2.PoseSample(time_s=1e308)
    sample.rotation.w = 1.0
    path = jobs_pb2.PosePath(poses=[sample], coordinate_system=common_pb2.COORDINATE_SYSTEM_OPENCV)
    code, details = refusal(
        client.stub.RecordWalkthrough,
        jobs_pb2.RecordWalkthroughRequest(scene_id=scene_id, path=path),
        timeout=10,
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("RecordWalkthroughRequest.path.poses[0].time_s")


def test_absurd_upload_intrinsics_name_their_field(client, media):
    header = scenes_pb2.UploadHeader(filename="clip.mp4", has_depth=True)
    header.intrinsics.CopyFrom(common_pb2.Intrinsics(fx=30, fy=30, cx=1e300, cy=16))
    code, details = refusal(
        client.stub.UploadScene, iter([scenes_pb2.UploadSceneRequest(header=header)]), timeout=10
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("UploadSceneRequest.header.intrinsics.cx")


# -- item 6: bundles validated on upload ------------------------------------------------------


BAD_MANIFESTS = [
    (_manifest(fps=1e308), "fps"),
    (_manifest(fps=True), "fps"),
    (_manifest(mesh_options={"border_depth": float("nan")}), "border"),
    (_manifest(mesh_options={"min_angle_deg": -1}), "min_angle_deg"),
    (_manifest(mesh_options={"min_angle_deg": True}), "min_angle_deg"),
    (_manifest(mesh_options={"border_depth": "far"}), "border_depth"),
    (_manifest(mesh_options={"border_depth": {"a": 1}}), "border_depth"),
    (_manifest(mesh_options={"bogus": 1.0}), "bogus"),
    (_manifest(mesh_options=[1, 2]), "mesh options"),
    (_manifest(name={"nested": 1}), "name"),
    (
        _manifest(
            intrinsics={"fx": 30, "fy": 30, "cx": 1e300, "cy": 16, "width": SIDE, "height": SIDE}
        ),
        "cx",
    ),
    (
        _manifest(intrinsics={"fx": 30, "fy": 30, "cx": 16, "cy": 16, "width": 64, "height": SIDE}),
        "frames are 32x32",
    ),
]


@pytest.mark.parametrize("manifest, word", BAD_MANIFESTS)
def test_bad_bundle_manifests_are_refused_on_upload(client, tmp_path, synthetic, manifest, word):
    before = stored(client)
    data = _bundle(synthetic.frames(), synthetic.depths().astype(np.float32), manifest)
    code, details = refusal(upload_bundle_bytes, client, tmp_path, data)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and word in details, details
    assert stored(client) == before


def test_a_good_bundle_still_uploads_and_renders(client, tmp_path, synthetic):
    data = _bundle(synthetic.frames(), synthetic.depths().astype(np.float32), _manifest())
    info = upload_bundle_bytes(client, tmp_path, data)
    (reply,) = view_once(client, _view_request(info.scene_id))
    assert reply.color.data
