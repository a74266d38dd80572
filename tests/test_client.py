"""BridgeClient helpers that need no server: pose and path messages, chunked downloads."""

import numpy as np
import pytest

from ex4d_bridge.camera import Trajectory, look_at, pose_from_wire, save_pose_path
from ex4d_bridge.client import _save_chunks, mesh_from_frame, pose_message, pose_path_message
from ex4d_bridge.errors import InputError
from ex4d_bridge.wire import common_pb2, geometry_pb2


def test_pose_message_from_matrix_or_pair():
    c2w = look_at((0.2, -0.1, 0.3), (0, 0, 2))
    msg = pose_message(c2w, "unreal")
    assert msg.coordinate_system == common_pb2.COORDINATE_SYSTEM_UNREAL
    p, q = msg.position, msg.rotation
    back = pose_from_wire([p.x, p.y, p.z], [q.x, q.y, q.z, q.w], "unreal")
    assert np.allclose(back, c2w, atol=1e-12)
    pair = pose_message(([1, 2, 3], [0, 0, 0, 2]), "unity")
    assert (pair.position.z, pair.rotation.w) == (3, 2)  # sent as given; the server normalises
    with pytest.raises(InputError):
        pose_message(([1, 2], [0, 0, 0, 1]))


def test_pose_path_message_forms(tmp_path):
    assert pose_path_message("orbit:45").preset == "orbit:45"
    poses = np.stack([look_at((x, 0, 0), (0, 0, 2)) for x in (0.0, 0.1, 0.2)])
    traj = Trajectory(poses, fps=10.0, name="walk")
    msg = pose_path_message(traj, "opengl", frame_indices=np.array([0, 2, 4]))
    assert len(msg.poses) == 3 and msg.fps == 10.0 and msg.name == "walk"
    assert [p.frame_index for p in msg.poses] == [0, 2, 4]
    assert msg.coordinate_system == common_pb2.COORDINATE_SYSTEM_OPENGL
    # A pose file is read on the client and sent as poses.
    save_pose_path(tmp_path / "p.csv", traj, "unity")
    from_file = pose_path_message(str(tmp_path / "p.csv"), "unity")
    assert from_file.preset == "" and len(from_file.poses) == 3
    with pytest.raises(InputError):
        pose_path_message(traj, frame_indices=np.arange(2))


def test_downloads_never_write_outside_the_folder(tmp_path):
    def chunks(name):
        yield common_pb2.FileChunk(name=name, data=b"ab", offset=0, total_size=4)
        yield common_pb2.FileChunk(name=name, data=b"cd", offset=2, total_size=4, last=True)

    files = _save_chunks(chunks("../../evil.txt"), tmp_path / "out")
    assert files == {"evil.txt": tmp_path / "out" / "evil.txt"}
    assert (tmp_path / "out" / "evil.txt").read_bytes() == b"abcd"
    with pytest.raises(InputError):
        _save_chunks(chunks(".."), tmp_path / "out")

    # An interrupted download leaves no partial file.
    def broken():
        yield common_pb2.FileChunk(name="x.mp4", data=b"ab")
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError):
        _save_chunks(broken(), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["evil.txt"]


def test_mesh_from_frame_refuses_unknown_topology():
    with pytest.raises(InputError, match="topology"):
        mesh_from_frame(geometry_pb2.MeshFrame(topology=0))
