"""A full disk and the privacy of the data dir (issue 13 items 2, outside the generation
worker, and 7): ENOSPC and SQLite's "database or disk is full" are faked at the write points
(the real disk is never filled), over loopback with the Python client; the CLI runs as a user
runs it."""

import errno
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
from server_helpers import client_fixture, write_synthetic

import ex4d_bridge.video
from ex4d_bridge import cli
from ex4d_bridge.client import BridgeClient, job_state_name
from ex4d_bridge.geometry import export as mesh_export
from ex4d_bridge.scene import Scene
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.server.jobs import JobDB
from ex4d_bridge.synthetic import SyntheticScene

SIDE, FRAMES = 32, 3


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/srv/ex4d/data/tmp/x")


def sqlite_full(*args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    s = SyntheticScene(SIDE, SIDE, FRAMES)
    video, depth = write_synthetic(tmp_path_factory.mktemp("media"), s, "depth.npy")
    return {"video": video, "depth": depth, "intrinsics": s.intrinsics}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("data"), render_workers=2)
    with ServerThread(config) as srv:
        yield srv


client = client_fixture(timeout=30)


@pytest.fixture(scope="module")
def scene_id(client, media):
    info = client.upload_scene(media["video"], depth=media["depth"], intrinsics=media["intrinsics"])
    return info.scene_id


def refusal(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as err:
        r = fn(*args, **kwargs)
        if hasattr(r, "__next__"):
            list(r)
    return err.value.code(), err.value.details()


def assert_disk_full(code, details):
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert details.startswith("disk full") and "/srv" not in details


# -- item 2: disk full on the RPCs ----------------------------------------------------------


def test_upload_on_a_full_disk(client, media, monkeypatch):
    before = client.list_scenes()
    monkeypatch.setattr(Scene, "save", enospc)
    other_depth = np.load(media["depth"]) * 2  # a new scene: an identical one is not written
    assert_disk_full(*refusal(client.upload_scene, media["video"], depth=other_depth))
    assert len(client.list_scenes()) == len(before)


def test_submit_generation_on_a_full_disk(client, scene_id, monkeypatch):
    monkeypatch.setattr(JobDB, "create", sqlite_full)
    assert_disk_full(*refusal(client.submit_generation, scene_id, "orbit:10"))


def test_walkthrough_on_a_full_disk(client, scene_id, monkeypatch, tmp_path):
    monkeypatch.setattr(ex4d_bridge.video, "write_video", enospc)
    assert_disk_full(*refusal(client.record_walkthrough, scene_id, "orbit:10", tmp_path))


def test_export_mesh_on_a_full_disk(client, scene_id, monkeypatch):
    monkeypatch.setattr(mesh_export, "_write_glb", enospc)
    assert_disk_full(*refusal(client.export_mesh, scene_id, 0, format="glb"))
    assert client.export_mesh(scene_id, 0, format="msgpack")  # nothing to write: still works


def test_starting_on_a_full_disk_prints_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(JobDB, "__init__", sqlite_full)
    old = os.umask(0o022)
    try:
        code = cli.main(["serve", "--port", "0", "--data-dir", str(tmp_path / "d")])
    finally:
        os.umask(old)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "disk holding the data directory" in err and "is full" in err


# -- item 7: no server paths in messages ------------------------------------------------------


def test_error_messages_name_no_server_path(client, server, media, tmp_path):
    corrupt = tmp_path / "depth.npz"
    corrupt.write_bytes(b"PK\x03\x04" + bytes(200))
    code, details = refusal(client.upload_scene, media["video"], depth=corrupt)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    root = str(server.service.store.root)
    assert root not in details and not re.search(r"(?<![\w.])/\w+/", details), details


@pytest.mark.parametrize(
    "message, shown",
    [
        ("cannot read /srv/d/tmp/upload-x/depth.npz: bad", "cannot read depth.npz: bad"),
        ("video '/home/u/a b.mp4'", "video 'a b.mp4'"),
        ("see https://example.org/a/b", "see https://example.org/a/b"),
        ("d * (1/near - 1/far)", "d * (1/near - 1/far)"),
        ("use application/msgpack", "use application/msgpack"),
    ],
)
def test_paths_are_cut_to_their_file_name(message, shown):
    from ex4d_bridge.server.rpc import without_paths

    assert without_paths(message) == shown


# -- item 7: the data dir is owner-only -------------------------------------------------------


def _exposed(root) -> list[str]:
    return [
        f"{p} {stat.filemode(p.lstat().st_mode)}"
        for p in [root, *root.rglob("*")]
        if not p.is_symlink() and p.lstat().st_mode & 0o077
    ]


def test_existing_data_dirs_are_made_owner_only(tmp_path):
    root = tmp_path / "old"
    (root / "scenes").mkdir(parents=True)
    (root / "jobs.sqlite").write_bytes(b"")
    os.chmod(root, 0o755)
    os.chmod(root / "jobs.sqlite", 0o644)
    with ServerThread(ServerConfig(port=0, data_dir=root)):
        assert _exposed(root) == []


def test_serve_writes_everything_owner_only(tmp_path, media):
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ex4d_bridge", "serve", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        m = re.search(r"serving on (\S+):(\d+)", proc.stdout.readline())
        assert m, proc.stderr.read()
        with BridgeClient(f"{m.group(1)}:{m.group(2)}", progress=False, timeout=60) as c:
            info = c.upload_scene(media["video"], depth=media["depth"])
            job = c.submit_generation(info.scene_id, "orbit:10")
            deadline = time.time() + 120
            while job_state_name(c.get_job(job.job_id).state) not in ("SUCCEEDED", "FAILED"):
                assert time.time() < deadline
                time.sleep(0.2)
            assert job_state_name(c.get_job(job.job_id).state) == "SUCCEEDED"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "jobs.sqlite" for p in files) and any("jobs" in p.parts for p in files)
    assert _exposed(data) == []
