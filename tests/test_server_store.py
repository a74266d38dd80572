"""Scene store, job database and server settings, without a network."""

import os
import sqlite3

import msgpack
import numpy as np
import pytest

from ex4d_bridge.camera import Intrinsics
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.errors import Ex4dError, InputError
from ex4d_bridge.scene import Scene, reconstruct
from ex4d_bridge.scene.completion import (
    CompletionLayer,
    list_completions,
    load_completions,
    save_completions,
)
from ex4d_bridge.scene.completion.store import pack_layers
from ex4d_bridge.server.config import ServerConfig, is_loopback
from ex4d_bridge.server.errors import LimitError, NotFoundError
from ex4d_bridge.server.jobs import JobDB, JobState
from ex4d_bridge.server.store import MANIFEST, SceneStore, scene_content_id
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.wire import pack_array


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
    back, name, completions = SceneStore(tmp_path / "b").scene_from_bundle(data)
    assert name == "bundled" and scene_content_id(back) == rec.scene_id and len(completions) == 0
    for junk in (b"", b"\x00\x01", msgpack.packb({"format": "nope"}), data[: len(data) // 2]):
        with pytest.raises(InputError):
            store.scene_from_bundle(junk)
    small = SceneStore(tmp_path / "c", max_scene_bytes=1000)
    with pytest.raises(LimitError):
        small.scene_from_bundle(data)


def completion_layer(frame, generation, value=3.0):
    k = Intrinsics(20.0, 20.0, 16.0, 12.0, 32, 24)
    d = np.full((4, 5), value, np.float32)
    d[0, 0] = np.inf
    c = np.full((4, 5, 3), 7, np.uint8)
    return CompletionLayer(frame, generation, np.eye(4), k, (2, 3, 7, 7), d, c)


def test_bundles_carry_completions_into_the_stored_scene(scene, tmp_path):
    store = SceneStore(tmp_path / "a")
    rec, _ = store.put(scene, name="bundled")
    layers = [completion_layer(0, "orbit:30"), completion_layer(2, "orbit:30", 5.0)]
    save_completions(store.scene_dir(rec.scene_id), "orbit:30", layers, {"generator": "x"})
    data = store.bundle_bytes(rec.scene_id)

    other = SceneStore(tmp_path / "b")
    back, _, completions = other.scene_from_bundle(data)
    assert completions.generations == ["orbit:30"] and completions.frames() == [0, 2]
    assert completions.info("orbit:30").meta == {"generator": "x"}
    for a, b in zip(completions.layers, layers, strict=True):
        assert np.array_equal(a.depth, b.depth) and np.array_equal(a.color, b.color)
        assert a.region == b.region and a.intrinsics == b.intrinsics
    # Stored beside the scene, as the upload path does; a scene stored before keeps its other
    # generations.
    rec2, _ = other.put(back)
    save_completions(other.scene_dir(rec2.scene_id), "mine", [completion_layer(1, "mine")])
    other.put_completions(rec2.scene_id, completions)
    stored = list_completions(other.scene_dir(rec2.scene_id))
    assert [i.generation for i in stored] == ["mine", "orbit:30"]
    assert stored[1].created_unix_s == completions.info("orbit:30").created_unix_s
    assert load_completions(other.scene_dir(rec2.scene_id)).frames() == [0, 1, 2]

    # Completions that do not fit the scene, or are malformed, are refused with the scene.
    b = msgpack.unpackb(data)
    late = pack_layers([completion_layer(9, "late")])
    entry = {"generation": "late", "meta": {}, "created_unix_s": 0.0}
    entry["arrays"] = {k: msgpack.unpackb(msgpack.packb(pack_array(v))) for k, v in late.items()}
    with pytest.raises(InputError, match="frame 9"):
        other.scene_from_bundle(msgpack.packb(dict(b, completions=[entry])))
    zero_depth = dict(entry["arrays"], depth=pack_array(np.zeros(20, "<f4")))
    bad = dict(entry, generation="g", arrays=zero_depth)
    with pytest.raises(InputError, match="depth"):
        other.scene_from_bundle(msgpack.packb(dict(b, completions=[bad])))


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
