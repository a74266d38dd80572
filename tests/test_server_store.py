"""Scene store, job database and server settings, without a network."""

import os
import sqlite3

import msgpack
import numpy as np
import pytest

from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.errors import Ex4dError, InputError
from ex4d_bridge.scene import Scene, reconstruct
from ex4d_bridge.server.config import ServerConfig, is_loopback
from ex4d_bridge.server.errors import LimitError, NotFoundError
from ex4d_bridge.server.jobs import JobDB, JobState
from ex4d_bridge.server.store import MANIFEST, SceneStore, scene_content_id
from ex4d_bridge.synthetic import SyntheticScene


@pytest.fixture(scope="module")
def scene():
    s = SyntheticScene(32, 24, 3)
    return reconstruct(s.frames(), KnownDepth(s.depths()), intrinsics=s.intrinsics, progress=False)


def test_scenes_are_content_addressed_and_stored_once(scene, tmp_path):
    store = SceneStore(tmp_path)
    rec, created = store.put(scene, name="a", depth_source="known")
    assert created and rec.scene_id == scene_content_id(scene) and len(rec.scene_id) == 32
    again, created = store.put(scene, name="b")
    assert not created and again.scene_id == rec.scene_id and again.name == "a"
    other = Scene(scene.frames.copy(), scene.depth * 2, scene.intrinsics, scene.fps)
    assert store.put(other)[0].scene_id != rec.scene_id
    manifest = msgpack.unpackb((tmp_path / "scenes" / rec.scene_id / MANIFEST).read_bytes())
    assert manifest["scene_id"] == rec.scene_id and manifest["num_frames"] == 3
    loaded = store.load(rec.scene_id)
    assert np.array_equal(loaded.frames, scene.frames) and np.array_equal(loaded.depth, scene.depth)
    assert [r.scene_id for r in SceneStore(tmp_path).list()] == [
        rec.scene_id,
        store.list()[1].scene_id,
    ]


def test_a_failed_write_leaves_nothing_visible_and_restart_cleans_up(scene, tmp_path, monkeypatch):
    store = SceneStore(tmp_path)

    def crash(self, directory):
        (directory / "scene.npz").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Scene, "save", crash)
    with pytest.raises(OSError):
        store.put(scene)
    assert list((tmp_path / "scenes").iterdir()) == []
    monkeypatch.undo()
    # A crash mid-write leaves staging directories behind; the next start removes them.
    (tmp_path / "tmp" / "scene-crashed").mkdir()
    SceneStore(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_delete_and_unknown_ids(scene, tmp_path):
    store = SceneStore(tmp_path)
    rec, _ = store.put(scene)
    store.delete(rec.scene_id)
    assert store.list() == []
    with pytest.raises(NotFoundError):
        store.get(rec.scene_id)
    with pytest.raises(NotFoundError):
        store.delete(rec.scene_id)


@pytest.mark.parametrize(
    "bad", ["../../etc", "..", "", "/etc/passwd", "A" * 32, "0" * 31, "0" * 32 + "/..", "0" * 33]
)
def test_scene_ids_cannot_escape_the_data_dir(tmp_path, bad):
    store = SceneStore(tmp_path / "data")
    (tmp_path / "outside").mkdir()
    with pytest.raises(InputError, match="malformed"):
        store.get(bad)
    with pytest.raises(InputError):
        store.delete(bad)
    assert (tmp_path / "outside").is_dir()


def test_a_symlinked_scene_dir_pointing_outside_is_refused(tmp_path):
    store = SceneStore(tmp_path / "data")
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "data" / "scenes" / ("0" * 32))
    with pytest.raises(InputError, match="escapes"):
        store.get("0" * 32)


def test_bundles_round_trip_and_reject_garbage(scene, tmp_path):
    store = SceneStore(tmp_path / "a")
    rec, _ = store.put(scene, name="bundled")
    data = store.bundle_bytes(rec.scene_id)
    back, name = SceneStore(tmp_path / "b").scene_from_bundle(data)
    assert name == "bundled" and scene_content_id(back) == rec.scene_id
    for junk in (b"", b"\x00\x01", msgpack.packb({"format": "nope"}), data[: len(data) // 2]):
        with pytest.raises(InputError):
            store.scene_from_bundle(junk)
    small = SceneStore(tmp_path / "c", max_scene_bytes=1000)
    with pytest.raises(LimitError):
        small.scene_from_bundle(data)


def test_job_db_marks_unfinished_jobs_interrupted_on_restart(tmp_path):
    db = JobDB(tmp_path / "jobs.sqlite")
    running = db.create("0" * 32, {"k": 1}, 5)
    db.update(running.job_id, state=JobState.RUNNING)
    queued = db.create("0" * 32, {}, 5)
    done = db.create("1" * 32, {}, 5)
    db.update(done.job_id, state=JobState.SUCCEEDED)
    db.close()
    db = JobDB(tmp_path / "jobs.sqlite")
    assert db.get(running.job_id).state == JobState.INTERRUPTED
    assert db.get(queued.job_id).state == JobState.INTERRUPTED
    assert db.get(done.job_id).state == JobState.SUCCEEDED
    assert [j.job_id for j in db.list("1" * 32)] == [done.job_id]
    with pytest.raises(NotFoundError):
        db.get("f" * 32)
    with sqlite3.connect(tmp_path / "jobs.sqlite") as conn:  # plain SQLite, readable by tools
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 3


def test_config_refuses_unsafe_setups(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    ServerConfig().validate()
    with pytest.raises(Ex4dError, match="without a token"):
        ServerConfig(host="0.0.0.0").validate()
    ServerConfig(host="0.0.0.0", token="s3cret-token").validate()
    with pytest.raises(Ex4dError, match="token must be"):
        ServerConfig(token="has space in it").validate()
    with pytest.raises(Ex4dError, match="go together"):
        ServerConfig(tls_cert=tmp_path / "c.pem").validate()
    with pytest.raises(Ex4dError, match="does not exist"):
        ServerConfig(tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem").validate()
