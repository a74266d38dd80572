"""The Unity client's engine-independent C# core against the Python library.

``tools/unity_vectors.py`` writes what the library computes (pose conversions, mesh frames in
every wire encoding with the vertices, faces and occluded bits ``build_dw_mesh`` builds, view
replies, zlib streams); the C# test runner (compiled with mcs, run with mono) checks every value
and exits non-zero on any mismatch. Skipped, with the reason, where mono is not installed
(CI installs it: ``apt-get install -y mono-mcs mono-runtime``).
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.camera import load_pose_path
from ex4d_bridge.camera.conventions import pose_from_wire
from ex4d_bridge.geometry import grid_topology
from tests.unity_harness import (
    assert_console_checks_pass,
    needs_mono,
    run_console_tests,
    unity_vectors,
)

uv = unity_vectors()


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unity_vectors")
    uv.write_vectors(out)
    return out


@pytest.fixture(scope="module")
def vectors(vectors_dir) -> dict:
    return json.loads((vectors_dir / uv.VECTORS_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def csharp_run(vectors_dir):
    """Compile the core and its tests, run them on the vectors once for the module."""
    return run_console_tests(uv, vectors_dir)


def _floats(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), "<f4")


def test_vectors_follow_the_documented_encodings(vectors):
    """Independent of the C# side: the payloads decode by the proto's formulas to the
    expected depth, and the expected vertices are the library's where depth is lossless."""
    for vec in vectors["mesh_frames"]:
        frame, exp = vec["frame"], vec["expected"]
        d = frame["depth"]
        decoded = _floats(exp["depth_decoded"])
        raw = base64.b64decode(d["data"])
        if d["compression"] == 1:
            raw = zlib.decompress(raw)
        if d["encoding"] in (0, 1):
            q = np.frombuffer(raw, "<u2").astype(np.int64).reshape(d["height"], d["width"])
            if d["predictor"] == 1:  # running sums down columns, then along rows, mod 2^16
                q = np.cumsum(np.cumsum(q, axis=0), axis=1) & 0xFFFF
            q = q.reshape(-1)
            near, far = d["near"], d["far"]
            formula = 1.0 / (1.0 / far + q / 65534 * (1.0 / near - 1.0 / far))
            formula = np.where(q == 65535, d["far_code_depth"], formula)
            np.testing.assert_allclose(decoded, formula, rtol=2e-7, err_msg=vec["name"])
        else:
            dtype = "<f2" if d["encoding"] == 2 else "<f4"
            values = np.frombuffer(raw, dtype).astype(np.float32)
            values = np.where(np.isfinite(values), values, np.float32(d["far_code_depth"]))
            np.testing.assert_array_equal(decoded, values, err_msg=vec["name"])
        if exp["library_vertex_rel_tol"] == 0.0:
            np.testing.assert_array_equal(
                _floats(exp["vertices_decoded"]), _floats(exp["library_vertices"]), vec["name"]
            )
        topo = grid_topology(exp["height"], exp["width"])
        faces = np.frombuffer(base64.b64decode(vectors["topologies"][exp["topology"]]), "<i4")
        np.testing.assert_array_equal(faces, topo.faces.numpy().reshape(-1))
        assert frame["num_faces"] == topo.faces.shape[0]


@needs_mono
def test_csharp_core_agrees_with_the_library(csharp_run):
    proc, _ = csharp_run
    expected_groups = {
        "axes",
        "poses",
        "points",
        "float16",
        "zlib",
        "topology",
        "mesh_frames",
        "malformed_mesh_frames",
        "render_grid",
        "view_replies",
        "malformed_view_replies",
        "fuzz",
        "allocation",
        "sender",
        "sender_threads",
        "backoff",
        "stats",
        "playback",
        "background_decoder",
        "recorder",
        "edge_cases",
    }
    assert_console_checks_pass(proc, expected_groups, more_than=3000)


@needs_mono
def test_csharp_recorder_writes_the_pose_path_format(csharp_run, vectors):
    """The walkthrough files the C# recorder wrote load with the Python reader to exactly the
    poses the same numbers give in Python."""
    proc, out = csharp_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for i, rec in enumerate(vectors["recorder"]):
        positions = np.array([p["position"] for p in rec["poses"]])
        rotations = np.array([p["rotation"] for p in rec["poses"]])
        expected = pose_from_wire(positions, rotations, rec["system"])
        for ext in ("json", "csv"):
            traj = load_pose_path(out / f"walkthrough_{i}.{ext}")
            np.testing.assert_array_equal(traj.poses, expected, err_msg=f"{i}.{ext}")
            if rec["timed"]:
                np.testing.assert_array_equal(traj.times, [p["t"] for p in rec["poses"]])
            else:
                assert traj.times is None
            assert traj.fps == rec["fps"]
            assert traj.fov_y_deg == rec["fov_y_deg"]
            if rec["intrinsics"] is None:
                assert traj.intrinsics is None
            else:
                assert traj.intrinsics.to_dict() == pytest.approx(rec["intrinsics"])
            name = rec["name"] if ext == "json" else " ".join(rec["name"].split())
            if ext == "csv" and not name:
                name = f"walkthrough_{i}"  # no name line: the reader uses the file's stem
            assert traj.name == name
        data = json.loads((out / f"walkthrough_{i}.json").read_text(encoding="utf-8"))
        assert data["coordinate_system"] == rec["system"]


@needs_mono
def test_decode_benchmark_runs_without_allocating(tmp_path):
    """The benchmark builds, runs and prints its JSON (small frame: no timing claims here)."""
    frame = uv.write_bench_frame(tmp_path, size=48)
    exe = uv.build_bench(tmp_path)
    proc = uv.run_mono(exe, str(frame), "3", "10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["benchmark"] == "unity_core_decode"
    paths = {(r["variant"], r["path"]) for r in result["results"]}
    assert ("default_jpeg", "cpu_vertices") in paths
    # The frame with completion layers (issue 12), both decode paths and the source alone.
    layered = result["layered"]["variant"]
    assert layered.startswith("layered_") and result["layered"]["num_layers"] >= 1
    for path in ("cpu_vertices", "gpu_upload_inputs", "cpu_vertices_source_only"):
        assert (layered, path) in paths
    for r in result["results"]:
        assert r["ms_median"] > 0
        if r["path"] != "baseline_naive":
            assert r["allocated_bytes_per_decode"] == 0, r
        else:
            assert r["allocated_bytes_per_decode"] > 0, r


def test_core_is_engine_independent():
    asmdef = json.loads((uv.CORE_SOURCES / "Ex4d.Bridge.Core.asmdef").read_text())
    assert asmdef["noEngineReferences"] is True
    assert asmdef["references"] == []
    for path in uv.CORE_SOURCES.glob("*.cs"):
        text = path.read_text(encoding="utf-8")
        assert "UnityEngine" not in text.replace("no UnityEngine", ""), path
        assert "UnityEditor" not in text, path


def test_package_layout_and_meta_files():
    root = uv.UNITY_ROOT
    package = json.loads((root / "package.json").read_text())
    assert package["name"] == "com.ex4d.bridge"
    samples = {s["displayName"]: s["path"] for s in package["samples"]}
    assert set(samples) == {"VR Exploration", "Editor Play Mode"}
    for path in samples.values():
        assert list((root / path).rglob("*.asmdef")), path
    # Unity ignores assets without .meta files in immutable (git/registry) packages, and
    # duplicate GUIDs break references: every visible file and folder needs a unique one.
    guids: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.endswith("~") or part.startswith(".") for part in rel.parts):
            continue
        if path.suffix == ".meta":
            assert path.with_suffix("").exists(), f"orphan {rel}"
            guid = re.search(r"^guid: ([0-9a-f]{32})$", path.read_text(), re.M)
            assert guid, f"{rel} has no guid"
            assert guid.group(1) not in guids, f"{rel} repeats the guid of {guids[guid.group(1)]}"
            guids[guid.group(1)] = rel
        else:
            assert Path(str(path) + ".meta").exists(), f"{rel} has no .meta file"
