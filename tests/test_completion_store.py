"""Completion layers stored with the scene: round trips, atomic replacement and removal, and
refusal of malformed (untrusted) files."""

import json
import os
import zipfile

import numpy as np
import pytest

import ex4d_bridge.scene.completion.store as store
from ex4d_bridge.camera import Intrinsics, look_at
from ex4d_bridge.errors import InputError
from ex4d_bridge.scene import Scene
from ex4d_bridge.scene.completion import (
    CompletionLayer,
    Completions,
    list_completions,
    load_completions,
    remove_completions,
    save_completions,
)
from ex4d_bridge.scene.completion.store import generation_folder, pack_layers, unpack_layers

K = Intrinsics(40.0, 40.0, 32.0, 24.0, 64, 48)


def make_layer(frame, generation="orbit:30", box=(10, 8, 20, 14), depth=3.0, seed=0, pose=None):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    d = rng.uniform(depth, depth + 1, (y1 - y0, x1 - x0)).astype(np.float32)
    d[0, 0] = np.inf  # a crop pixel outside the layer
    c = rng.integers(0, 256, (*d.shape, 3), dtype=np.uint8)
    if pose is None:
        pose = look_at(np.array([0.1 * frame, 0.0, 0.0]), np.array([0.0, 0.0, 4.0]))
    return CompletionLayer(frame, generation, pose, K, box, d, c)


@pytest.fixture
def scene_dir(tmp_path):
    frames = np.zeros((5, 48, 64, 3), np.uint8)
    Scene(frames, np.full((5, 48, 64), 4.0, np.float32), K, 10.0).save(tmp_path / "scene")
    return tmp_path / "scene"


def same_layers(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.frame_index, x.generation, x.region, x.intrinsics) == (
            y.frame_index,
            y.generation,
            y.region,
            y.intrinsics,
        )
        assert np.array_equal(x.pose, y.pose) and np.array_equal(x.color, y.color)
        assert np.array_equal(x.depth, y.depth)  # inf included


def test_round_trip_list_load_remove(scene_dir):
    orbit = [make_layer(3, seed=1), make_layer(0, seed=2, box=(0, 0, 64, 48)), make_layer(3)]
    hold = [make_layer(1, "hold:left", seed=3)]
    folder = save_completions(scene_dir, "orbit:30", orbit, {"generator": "classical", "n": 2})
    save_completions(scene_dir, "hold:left", hold)
    assert folder.parent == scene_dir / "completions" and ":" not in folder.name
    infos = list_completions(scene_dir)
    assert [i.generation for i in infos] == ["hold:left", "orbit:30"]
    o = infos[1]
    assert o.frames == [0, 3] and o.num_layers == 3
    assert o.num_pixels == sum(la.num_pixels for la in orbit)
    assert o.meta == {"generator": "classical", "n": 2} and o.created_unix_s > 0
    loaded = load_completions(scene_dir)
    assert loaded.generations == ["hold:left", "orbit:30"] and len(loaded) == 4
    assert loaded.frames() == [0, 1, 3]
    same_layers(loaded.of_generation("orbit:30"), orbit)
    same_layers(loaded.for_frame(3), [orbit[0], orbit[2]])
    assert loaded.for_frame(2) == []
    same_layers(load_completions(scene_dir, ["hold:left"]).layers, hold)
    with pytest.raises(InputError, match="hold:left"):
        load_completions(scene_dir, ["nope"])
    remove_completions(scene_dir, "hold:left")
    assert [i.generation for i in list_completions(scene_dir)] == ["orbit:30"]
    with pytest.raises(InputError, match="orbit:30"):  # names the stored ones
        remove_completions(scene_dir, "hold:left")
    assert sorted(os.listdir(scene_dir / "completions")) == [folder.name]


def test_a_scene_without_completions(tmp_path, scene_dir):
    assert list_completions(scene_dir) == [] and len(load_completions(scene_dir)) == 0
    with pytest.raises(InputError, match="none"):
        remove_completions(scene_dir, "g")
    with pytest.raises(InputError, match="scene directory"):
        save_completions(tmp_path / "nothing", "g", [make_layer(0, "g")])


def test_saving_again_replaces_the_generation(scene_dir):
    save_completions(scene_dir, "g", [make_layer(0, "g"), make_layer(1, "g")])
    save_completions(scene_dir, "g", [make_layer(4, "g", seed=9)], {"v": 2})
    (info,) = list_completions(scene_dir)
    assert info.frames == [4] and info.meta == {"v": 2}
    same_layers(load_completions(scene_dir).layers, [make_layer(4, "g", seed=9)])
    assert len(os.listdir(scene_dir / "completions")) == 1


def test_a_failing_write_leaves_the_previous_generation_and_no_half_folder(scene_dir, monkeypatch):
    old = [make_layer(2, "g")]
    save_completions(scene_dir, "g", old)
    before = sorted(os.listdir(scene_dir / "completions"))

    def half_then_fail(folder, info_text, arrays):
        (folder / store.LAYERS_FILE).write_bytes(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_generation", half_then_fail)
    for generation in ("g", "new"):
        with pytest.raises(OSError, match="disk full"):
            save_completions(scene_dir, generation, [make_layer(1, generation, seed=5)])
    monkeypatch.undo()
    assert sorted(os.listdir(scene_dir / "completions")) == before
    same_layers(load_completions(scene_dir).layers, old)

    # The final rename fails after the old folder was moved aside: it is put back.
    real_rename = os.rename

    def rename(src, dst):
        if os.path.basename(src).startswith(".staging-"):
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(store.os, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        save_completions(scene_dir, "g", [make_layer(1, "g", seed=5)])
    monkeypatch.undo()
    assert sorted(os.listdir(scene_dir / "completions")) == before
    same_layers(load_completions(scene_dir).layers, old)


def test_a_crash_between_the_renames_is_repaired(scene_dir):
    save_completions(scene_dir, "g", [make_layer(2, "g")])
    root = scene_dir / "completions"
    name = generation_folder("g")
    os.rename(root / name, root / f".old.{name}")  # the moment of the crash
    (root / ".staging-abc").mkdir()  # the new one, never renamed: ignored
    assert [i.generation for i in list_completions(scene_dir)] == ["g"]
    assert (root / name).is_dir() and not (root / f".old.{name}").exists()


def test_generation_ids_become_safe_distinct_folders(scene_dir):
    ids = ["../../escape", "a/b", "a_b", "a:b", "  .hidden", "é" * 100]
    names = {generation_folder(g) for g in ids}
    assert len(names) == len(ids)
    for name in names:
        assert "/" not in name and not name.startswith(".") and len(name) <= 61
    for g in ids[:3]:
        save_completions(scene_dir, g, [make_layer(0, g)])
    assert sorted(os.listdir(scene_dir)) == ["completions", "scene.json", "scene.npz"]
    assert {i.generation for i in list_completions(scene_dir)} == set(ids[:3])
    for bad in ("", "   ", "x\n", "x" * 300, None, 3):
        with pytest.raises(InputError):
            generation_folder(bad)


def test_saving_refuses_layers_that_do_not_belong(scene_dir):
    with pytest.raises(InputError, match="frame 7"):
        save_completions(scene_dir, "g", [make_layer(7, "g")])
    with pytest.raises(InputError, match="generation"):
        save_completions(scene_dir, "g", [make_layer(0, "other")])
    with pytest.raises(InputError, match="JSON"):
        save_completions(scene_dir, "g", [make_layer(0, "g")], {"x": object()})
    bad = make_layer(0, "g")
    bad.depth[1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        save_completions(scene_dir, "g", [bad])
    assert list_completions(scene_dir) == []


def rewrite(scene_dir, generation, **arrays):
    """Replace arrays of a stored generation's layers.npz by hand."""
    path = scene_dir / "completions" / generation_folder(generation) / store.LAYERS_FILE
    with np.load(path) as z:
        current = {k: z[k] for k in z.files}
    current.update(arrays)
    current = {k: v for k, v in current.items() if v is not None}
    with open(path, "wb") as f:
        np.savez(f, **current)
    return path


@pytest.mark.parametrize(
    "change, match",
    [
        ({"region": np.array([[60, 8, 70, 14]], "<i4")}, "region"),
        ({"region": np.array([[10, 8, 10, 14]], "<i4")}, "empty"),
        ({"depth": np.zeros(60, "<f4")}, "depth"),
        ({"depth": np.full(59, 3.0, "<f4")}, "depth"),
        ({"depth": np.full(60, 3.0, "<f8")}, "depth"),
        ({"pose": np.full((1, 4, 4), np.nan)}, "pose"),
        ({"pose": np.eye(4)[None] * 2}, "rigid"),
        ({"intrinsics": np.array([[40.0, 40, 32, 24, 64.5, 48]])}, "size"),
        ({"frame_index": np.array([-1], "<i4")}, "frame_index"),
        ({"color": None}, "exactly"),
        ({"extra": np.zeros(3)}, "exactly"),
        ({"color": np.array([object()] * 3)}, "unreadable"),
    ],
)
def test_malformed_layer_files_are_refused(scene_dir, change, match):
    save_completions(scene_dir, "g", [make_layer(0, "g")])
    rewrite(scene_dir, "g", **change)
    with pytest.raises(InputError, match=match):
        load_completions(scene_dir)


def test_a_declared_size_beyond_the_layers_is_refused_before_reading(scene_dir):
    save_completions(scene_dir, "g", [make_layer(0, "g")])
    # A small file that inflates to 64 MB of depth: refused from its declared size.
    path = scene_dir / "completions" / generation_folder("g") / store.LAYERS_FILE
    with np.load(path) as zf:
        arrays = {k: zf[k] for k in zf.files}
    arrays["depth"] = np.zeros(16 << 20, "<f4")
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("depth.npy").file_size > 64 << 20
    assert path.stat().st_size < 1 << 20
    with pytest.raises(InputError, match="larger than its layers need"):
        load_completions(scene_dir)


@pytest.mark.parametrize(
    "edit",
    [
        lambda i: "not json",
        lambda i: json.dumps(dict(i, format=9)),
        lambda i: json.dumps(dict(i, generation="someone else")),
        lambda i: json.dumps({k: v for k, v in i.items() if k != "frames"}),
        lambda i: json.dumps(dict(i, meta=[1])),
        lambda i: json.dumps(dict(i, num_layers=5)),
    ],
)
def test_malformed_summaries_are_refused(scene_dir, edit):
    folder = save_completions(scene_dir, "g", [make_layer(0, "g")])
    path = folder / store.INFO_FILE
    path.write_text(edit(json.loads(path.read_text())))
    with pytest.raises(InputError):
        load_completions(scene_dir)


def test_garbage_in_place_of_the_layers_is_refused(scene_dir):
    folder = save_completions(scene_dir, "g", [make_layer(0, "g")])
    (folder / store.LAYERS_FILE).write_bytes(b"garbage")
    with pytest.raises(InputError, match="unreadable"):
        load_completions(scene_dir)
    (folder / store.LAYERS_FILE).unlink()
    with pytest.raises(InputError, match="no layers.npz"):
        load_completions(scene_dir)
    remove_completions(scene_dir, "g")  # what cannot be read can still be removed
    assert list_completions(scene_dir) == []


def test_completions_in_memory():
    a = [make_layer(0, "a"), make_layer(2, "a")]
    b = [make_layer(2, "b")]
    c = Completions(a).merge(Completions(b))
    assert c.generations == ["a", "b"] and c.frames() == [0, 2] and len(c) == 3
    assert len(c.for_frame(2)) == 2
    replaced = c.merge(Completions([make_layer(4, "a")]))
    assert replaced.frames() == [2, 4] and len(replaced.of_generation("a")) == 1
    assert c.info("a").frames == [0, 2] and c.info("a").num_layers == 2
    assert len(Completions.empty()) == 0 and Completions.empty().generations == []
    with pytest.raises(InputError):
        Completions(["not a layer"])


def test_packing_round_trips_and_allows_no_layers():
    layers = [make_layer(0), make_layer(3, box=(0, 0, 64, 48))]
    same_layers(unpack_layers(pack_layers(layers), "orbit:30"), layers)
    empty = pack_layers([])
    assert all(len(v) == 0 for v in empty.values())
    assert unpack_layers(empty, "g") == []
