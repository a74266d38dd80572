"""The Unity client's C# core decodes completion layers as the Python client does (issue 12).

``tools/unity_layer_vectors.py`` encodes layered MeshFrames with the server's encoder
(``wire.encode_layer_frame`` of ``layer_grid``) and records what ``wire.decode_layer_frame``
rebuilds (and, where the encodings are lossless, the library's ``layer_mesh``); the C# runner
(unity_client/Tests/Layers, compiled with mcs, run with mono) checks every field and exits
non-zero on any mismatch. Skipped where mono is not installed (CI installs it).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.camera import load_pose_path
from ex4d_bridge.camera.conventions import pose_from_wire
from tests.float_tolerance import float_tolerance
from tests.unity_harness import (
    SHADERS,
    assert_console_checks_pass,
    build_kernel_harness,
    compile_hlsl_kernel,
    compile_hlsl_shader,
    layer_vectors,
    needs_cxx,
    needs_glslang,
    needs_mono,
    run_console_tests,
    unity_vectors,
)

lv = layer_vectors()
uv = unity_vectors()


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
    return run_console_tests(lv, vectors_dir)


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
    assert_console_checks_pass(proc, expected, more_than=250)


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


# -- the layer compute kernel, run on the CPU and compiled as HLSL ---------------------------

LAYER_KERNEL = SHADERS / "Ex4dLayerBuild.compute"


@needs_mono
@needs_cxx
def test_layer_kernel_builds_what_layer_grid_builds(csharp_run, tmp_path):
    """GPU path vs its tested CPU twin (LayerGrid, itself checked against the compacted layers
    and so against the Python decoder): indices exactly, positions and uv within float
    tolerance (a GPU divides less exactly than IEEE)."""
    proc, out = csharp_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe = build_kernel_harness(tmp_path, LAYER_KERNEL, "layer_build")
    cases = sorted(out.glob("layer_*.gpu_input.bin"))
    assert len(cases) >= 8
    for case in cases:
        stem = str(case)[: -len(".gpu_input.bin")]
        gpu_v, gpu_i = tmp_path / "v.bin", tmp_path / "i.bin"
        run = subprocess.run(
            [str(exe), str(case), str(gpu_v), str(gpu_i)], capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        cpu = np.fromfile(f"{stem}.vertices.bin", "<f4").reshape(-1, 6)
        gpu = np.fromfile(gpu_v, "<f4").reshape(-1, 6)
        np.testing.assert_array_equal(
            np.fromfile(gpu_i, "<i4"), np.fromfile(f"{stem}.indices.bin", "<i4"), stem
        )
        np.testing.assert_array_equal(gpu[:, 5], cpu[:, 5], stem)
        scale = float(np.abs(cpu[:, :3]).max())
        np.testing.assert_allclose(
            gpu[:, :3], cpu[:, :3], rtol=0, atol=float_tolerance(scale=scale)
        )
        np.testing.assert_allclose(gpu[:, 3:5], cpu[:, 3:5], rtol=0, atol=float_tolerance())


@needs_glslang
@pytest.mark.parametrize("kernel", ["LayerVertices", "LayerFaces"])
def test_layer_kernels_compile_as_hlsl(tmp_path, kernel):
    proc = compile_hlsl_kernel(LAYER_KERNEL, kernel, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_glslang
def test_layer_push_compiles_in_a_vertex_shader(tmp_path):
    """The depth push the layer shader applies (Ex4dCommon.hlsl) compiles as HLSL."""
    source = (
        '#include "Ex4dCommon.hlsl"\n'
        "float4 main(float3 viewPos : POSITION) : SV_Position\n"
        "{\n"
        "    return float4(viewPos * Ex4dLayerPush(0.02, 1.0), 1.0);\n"
        "}\n"
    )
    proc = compile_hlsl_shader("vert", source, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unity_tier_enum_matches_the_core():
    """Ex4dQualityTier is cast to the core's QualityTierKind: same names, same order."""

    def names(path: Path, enum: str) -> list[str]:
        text = path.read_text(encoding="utf-8")
        body = text.split(f"enum {enum}", 1)[1].split("{", 1)[1].split("}", 1)[0]
        body = re.sub(r"///.*", "", body)
        return [m.group(1) for m in re.finditer(r"^\s*(\w+)\s*(?:=\s*\d+)?,", body, re.M)]

    core = names(lv.CORE_SOURCES / "QualityTiers.cs", "QualityTierKind")
    unity = names(lv.UNITY_ROOT / "Runtime" / "Unity" / "Ex4dQuality.cs", "Ex4dQualityTier")
    assert core == unity == ["Auto", "Desktop", "StandaloneHigh", "StandaloneLow"]
