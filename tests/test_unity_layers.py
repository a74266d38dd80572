"""The Unity client's C# core decodes completion layers as the Python client does (issue 12).

``tools/unity_layer_vectors.py`` encodes layered MeshFrames with the server's encoder
(``wire.encode_layer_frame`` of ``layer_grid``) and records what ``wire.decode_layer_frame``
rebuilds (and, where the encodings are lossless, the library's ``layer_mesh``); the C# runner
(unity_client/Tests/Layers, compiled with mcs, run with mono) checks every field and exits
non-zero on any mismatch. Skipped where mono is not installed (CI installs it).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.camera import load_pose_path
from ex4d_bridge.camera.conventions import pose_from_wire


def _load(name: str, file: str):
    path = Path(__file__).resolve().parents[1] / "tools" / file
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lv = _load("ex4d_unity_layer_vectors", "unity_layer_vectors.py")
uv = lv._unity_vectors()

needs_mono = pytest.mark.skipif(
    uv.mono_tools() is None,
    reason="mcs/mono not installed (apt-get install -y mono-mcs mono-runtime)",
)


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unity_layer_vectors")
    lv.write_vectors(out)
    return out


@pytest.fixture(scope="module")
def vectors(vectors_dir) -> dict:
    return json.loads((vectors_dir / lv.VECTORS_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def csharp_run(vectors_dir):
    exe = lv.build_test_runner(vectors_dir)
    out = vectors_dir / "csharp_out"
    proc = uv.run_mono(exe, str(vectors_dir / lv.VECTORS_FILE), str(out))
    return proc, out


def _arr(b64: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype)


def test_vectors_hold_what_the_library_builds(vectors):
    """Independent of C#: each expected layer is consistent with its own grid (the visible
    faces are the grid faces with bit 0, renumbered through vertex_source), and where the
    encodings are lossless the client decoder's world mesh is the library's layer_mesh."""
    from ex4d_bridge.geometry import grid_topology

    checked_library = 0
    for case in vectors["layer_frames"]:
        layers = case["frame"]["layers"]
        assert len(layers) == len(case["expected"])
        for sent, exp in zip(layers, case["expected"], strict=True):
            assert sent["layer_index"] == exp["layer_index"]
            w, h = exp["grid_width"], exp["grid_height"]
            x0, y0, x1, y1 = exp["region"]
            assert (w, h) == (x1 - x0 + 2, y1 - y0 + 2)
            faces = grid_topology(h, w).faces.numpy()
            occluded = _arr(exp["occluded"], "u1").astype(bool)
            source = _arr(exp["vertex_source"], "<i4")
            got = _arr(exp["faces"], "<i4").reshape(-1, 3)
            np.testing.assert_array_equal(source[got], faces[~occluded])
            if "library_vertices" in exp:
                np.testing.assert_allclose(
                    _arr(exp["vertices"], "<f4"),
                    _arr(exp["library_vertices"], "<f4"),
                    rtol=0,
                    atol=exp["world_atol"],
                )
                checked_library += 1
    assert checked_library >= 3
    assert {c["name"] for c in vectors["layer_frames"]} >= {"no_visible_faces", "f16_jpeg"}
    assert len(vectors["malformed_layers"]) >= 10


@needs_mono
def test_csharp_core_decodes_layers_as_the_python_client(csharp_run):
    proc, _ = csharp_run
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    summary = re.search(r"OK: (\d+) checks, 0 failed", proc.stdout)
    assert summary and int(summary.group(1)) > 250, report
    groups = dict(
        (name, int(count))
        for name, count in re.findall(r"(\w+)=(\d+)", proc.stdout.split("groups:")[1])
    )
    expected = {
        "layer_frames",
        "gpu_grid",
        "malformed_layers",
        "views",
        "malformed_views",
        "allocation",
        "tiers",
        "recorder",
    }
    assert expected <= set(groups), groups
    assert all(groups[g] > 0 for g in expected), groups


@needs_mono
def test_recorded_walkthroughs_say_whether_completions_were_drawn(csharp_run):
    """The library's pose-path loader reads the files the C# recorder wrote with the
    completed / completion_layers notes (unknown keys are ignored), to the poses given."""
    proc, out = csharp_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notes = {0: (True, 2), 1: (False, 0), 2: None}
    for c, note in notes.items():
        positions = [[0.1 * i, 0.02 * i, -0.05 * i] for i in range(4)]
        rotations = [[0.0, 0.05 * i, 0.0, 1.0] for i in range(4)]
        expected = pose_from_wire(np.array(positions), np.array(rotations), "unity")
        for ext in ("json", "csv"):
            traj = load_pose_path(out / f"completed_{c}.{ext}")
            np.testing.assert_allclose(traj.poses, expected, rtol=0, atol=1e-12)
            assert traj.fps == 30
            assert traj.name == f"completed-{c}"
        data = json.loads((out / f"completed_{c}.json").read_text(encoding="utf-8"))
        csv = (out / f"completed_{c}.csv").read_text(encoding="utf-8")
        if note is None:
            assert "completed" not in data and "# completed=" not in csv
        else:
            assert data["completed"] is note[0]
            assert data["completion_layers"] == note[1]
            assert f"# completed={'true' if note[0] else 'false'}\n" in csv
            assert f"# completion_layers={note[1]}\n" in csv
