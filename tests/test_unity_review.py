"""Fixes from the review of the Unity client (issue 12 item 4), tested where no Unity editor is
needed: logic moved into the engine-independent C# core runs under mono
(unity_client/Tests/Review), the mesh-building compute kernel runs on the CPU as C++ through a
small HLSL shim (tests/unity_compute), and the rest is checked statically where nothing else is
possible (package manifest, link.xml, shader pragmas).

Coarse grids (standalone quality tiers) are checked against ground truth computed here from the
library's ``DWMesh.vertex_visible``: a coarse vertex is hidden when any fine pixel of its block
(the pixels nearest to it) is, and every coarse face that contains an invisible fine pixel is
hidden. The compute kernel must build what RenderGrid builds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.camera import Intrinsics
from ex4d_bridge.geometry import build_dw_mesh, grid_topology
from ex4d_bridge.wire import common_pb2 as pb
from tests.float_tolerance import float_tolerance
from tests.unity_harness import (
    HLSL_HARNESS,
    SHADERS,
    UNITY,
    assert_console_checks_pass,
    build_kernel_harness,
    compile_hlsl_kernel,
    compile_hlsl_shader,
    kernel_as_cpp,
    needs_cxx,
    needs_glslang,
    needs_mono,
    unity_vectors,
)

REVIEW_SOURCES = UNITY / "Tests" / "Review"
COMPUTE_SHADER = SHADERS / "Ex4dMeshBuild.compute"


uv = unity_vectors()

STRIDES = [1, 2, 3, 4, 5, 7]


# -- vectors -----------------------------------------------------------------------------------


def _step_scene():
    """A near box in front of a far wall: its right and bottom depth edges fall between the
    samples of a stride-3 grid (fine columns 10-11, rows 13-14), so sampling visibility only at
    the coarse vertices' own pixels misses the stretched faces there."""
    d = np.full((30, 40), 4.0, np.float32)
    d[7:14, 4:11] = 1.0
    return build_dw_mesh(d, None, Intrinsics.reference(40, 30))


def grid_meshes() -> dict[str, object]:
    _scene, meshes, odd, deep, _tiny, small = uv._scene_meshes()
    return {
        "step_edges": _step_scene(),
        "synthetic_0": meshes[0],
        "synthetic_1": meshes[1],
        "odd_intrinsics_invalid_pixels": odd,
        "deep": deep,
        "small_5x3": small,
    }


def _certificate(common_name: str, ca: bool):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("10.0.0.5"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def tls_vectors() -> dict:
    """A self-signed server certificate (what ``--tls-cert`` serves), its key, and a CA bundle
    as CA tools write them (comments between blocks, CRLF line ends), with the bundle's
    certificates re-encoded by ``cryptography`` as the expected normalised form."""
    from cryptography.hazmat.primitives import serialization

    server, key = _certificate("ex4d-bridge server", ca=False)
    ca1, _ = _certificate("Private CA 1", ca=True)
    ca2, _ = _certificate("Private CA 2", ca=True)
    pem = serialization.Encoding.PEM
    ca_pems = [c.public_bytes(pem).decode("ascii") for c in (ca1, ca2)]
    bundle = "# Private CA 1\n" + ca_pems[0] + "\n# Private CA 2 (issued 2026)\n" + ca_pems[1]
    return {
        "certificate_pem": server.public_bytes(pem).decode("ascii"),
        "key_pem": key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        "bundle_pem": bundle.replace("\n", "\r\n"),
        "bundle_normalized": "".join(ca_pems),
    }


def build_review_vectors() -> dict:
    grids = []
    for name, mesh in grid_meshes().items():
        vec = uv.mesh_frame_vector(name, mesh, depth_encoding=pb.DEPTH_ENCODING_FLOAT32)
        grids.append({"name": name, "frame": vec["frame"], "strides": STRIDES})
    # Without occluded bits every vertex is visible and nothing is hidden.
    vec = uv.mesh_frame_vector("no_bits", grid_meshes()["step_edges"], occluded="skip", color="raw")
    grids.append({"name": "no_bits", "frame": vec["frame"], "strides": STRIDES})
    _meshes, _topologies, m0 = uv.mesh_vectors()
    views, _bad = uv.view_vectors(m0)
    return {"grids": grids, "tls": tls_vectors(), "view_replies": views}


def _sample_positions(n_fine: int, stride: int) -> np.ndarray:
    n_coarse = (n_fine - 1 + stride - 1) // stride + 1
    return np.minimum(np.arange(n_coarse) * stride, n_fine - 1)


def _nearest(n_fine: int, samples: np.ndarray, ties_to_larger: bool) -> np.ndarray:
    """For every fine index, the coarse index with the nearest sample; ties go to the smaller
    coarse index (rows: upwards) or the larger one (columns: rightwards)."""
    dist = np.abs(np.arange(n_fine)[:, None] - samples[None, :])
    if ties_to_larger:
        return len(samples) - 1 - np.argmin(dist[:, ::-1], axis=1)
    return np.argmin(dist, axis=1)


def expected_coarse_visibility(fine_visible: np.ndarray, stride: int) -> np.ndarray:
    h, w = fine_visible.shape
    rows, cols = _sample_positions(h, stride), _sample_positions(w, stride)
    row_of = _nearest(h, rows, ties_to_larger=False)
    col_of = _nearest(w, cols, ties_to_larger=True)
    out = np.ones((len(rows), len(cols)), bool)
    for i in range(h):
        for j in range(w):
            out[row_of[i], col_of[j]] &= bool(fine_visible[i, j])
    return out


def _pixels_in_triangle(corners: np.ndarray) -> np.ndarray:
    """Fine pixels (row, col) inside or on the closed triangle with integer corners."""
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    ii, jj = np.mgrid[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1]
    p = np.stack([ii.ravel(), jj.ravel()], axis=1)
    a, b, c = corners

    def cross(o, u, v):
        return (u[0] - o[0]) * (v[:, 1] - o[1]) - (u[1] - o[1]) * (v[:, 0] - o[0])

    d1, d2, d3 = cross(a, b, p), cross(b, c, p), cross(c, a, p)
    inside = ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
    return p[inside]


def faces_over_invisible_pixels(fine_visible: np.ndarray, stride: int) -> np.ndarray:
    """Per coarse grid face: does it contain an invisible fine pixel (edges included)?"""
    h, w = fine_visible.shape
    rows, cols = _sample_positions(h, stride), _sample_positions(w, stride)
    faces = grid_topology(len(rows), len(cols)).faces.numpy()
    n_grid = 2 * (len(rows) - 1) * (len(cols) - 1)
    out = np.zeros(n_grid, bool)
    for f in range(n_grid):
        v = faces[f]
        corners = np.stack([rows[v // len(cols)], cols[v % len(cols)]], axis=1)
        px = _pixels_in_triangle(corners)
        out[f] = not fine_visible[px[:, 0], px[:, 1]].all()
    return out


# -- running the C# tests ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def review_vectors(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("unity_review")
    vectors = build_review_vectors()
    (out / "review_vectors.json").write_text(json.dumps(vectors), encoding="utf-8")
    return out, vectors


@pytest.fixture(scope="module")
def review_run(review_vectors):
    out, _ = review_vectors
    shared = [uv.TEST_SOURCES / n for n in ("MiniJson.cs", "VectorReader.cs", "ConsoleChecks.cs")]
    editor = [UNITY / "Editor" / "ToolPermissions.cs"]  # engine-independent editor code
    sources = [uv.CORE_SOURCES, *shared, *editor, REVIEW_SOURCES]
    exe = uv.compile_program("Ex4dReviewTests", sources, out)
    proc = uv.run_mono(exe, str(out / "review_vectors.json"), str(out / "csharp_out"))
    return proc, out / "csharp_out"


@needs_mono
def test_review_core_checks_pass(review_run):
    proc, _ = review_run
    expected = {
        "grids",
        "kernels",
        "stream_tasks",
        "tls",
        "color_transport",
        "background_views",
        "tool_permissions",
        "head_fallback",
    }
    assert_console_checks_pass(proc, expected)


def test_step_scene_has_occluded_faces_between_samples():
    """The vector can catch the defect: at stride 3 some coarse face lies over invisible fine
    pixels while all three of its corners' own pixels are visible (the old rule drew it)."""
    mesh = _step_scene()
    vis = np.asarray(mesh.vertex_visible[:-1]).reshape(mesh.depth.shape)
    rows, cols = _sample_positions(30, 3), _sample_positions(40, 3)
    faces = grid_topology(len(rows), len(cols)).faces.numpy()
    over = faces_over_invisible_pixels(vis, 3)
    corner_visible = vis[rows[:, None], cols[None, :]].reshape(-1)
    missed = [f for f in np.flatnonzero(over) if corner_visible[faces[f]].all()]
    assert len(missed) >= 4, missed


@needs_mono
def test_coarse_grids_hide_every_face_over_an_invisible_pixel(review_run, review_vectors):
    proc, out = review_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meshes = grid_meshes()
    for vec in review_vectors[1]["grids"]:
        name = vec["name"]
        mesh = meshes["step_edges" if name == "no_bits" else name]
        h, w = mesh.depth.shape
        if name == "no_bits":
            fine_visible = np.ones((h, w), bool)
        else:
            fine_visible = np.asarray(mesh.vertex_visible[:-1], bool).reshape(h, w)
        for stride in vec["strides"]:
            stem = out / f"grid_{name}_s{stride}"
            data = np.fromfile(f"{stem}.vertices.bin", "<f4").reshape(-1, 6)
            indices = np.fromfile(f"{stem}.indices.bin", "<i4").reshape(-1, 3)
            rows, cols = _sample_positions(h, stride), _sample_positions(w, stride)
            cap = len(rows) * len(cols)
            what = f"{name} stride {stride}"
            coarse = expected_coarse_visibility(fine_visible, stride)
            np.testing.assert_array_equal(data[:-1, 5], coarse.reshape(-1).astype(np.float32), what)
            hidden = (indices == cap).all(axis=1)
            n_grid = 2 * (len(rows) - 1) * (len(cols) - 1)
            assert hidden[n_grid:].all(), what  # cap faces
            if name == "no_bits":
                assert not hidden[:n_grid].any(), what
                continue
            faces = grid_topology(len(rows), len(cols)).faces.numpy()[:n_grid]
            if stride == 1:
                want = np.asarray(mesh.occluded[:n_grid], bool)
            else:
                want = ~coarse.reshape(-1)[faces].all(axis=1)
            np.testing.assert_array_equal(hidden[:n_grid], want, what)
            if stride == 1:
                continue  # full resolution hides exactly the occluded faces
            over = faces_over_invisible_pixels(fine_visible, stride)
            assert not (over & ~hidden[:n_grid]).any(), f"{what}: a face over an invisible pixel"


# -- the compute kernel, run on the CPU -------------------------------------------------------


@pytest.fixture(scope="module")
def hlsl_harness(tmp_path_factory) -> Path:
    return build_kernel_harness(
        tmp_path_factory.mktemp("hlsl_harness"), COMPUTE_SHADER, "mesh_build"
    )


@needs_mono
@needs_cxx
def test_compute_kernel_builds_what_render_grid_builds(review_run, review_vectors, hlsl_harness):
    """GPU path vs CPU path: visibility and masked indices exactly, positions and uv within
    float tolerance (separately built programs; a GPU divides less exactly than IEEE)."""
    proc, out = review_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for vec in review_vectors[1]["grids"]:
        for stride in vec["strides"]:
            stem = out / f"grid_{vec['name']}_s{stride}"
            gpu_v, gpu_i = Path(f"{stem}.gpu_vertices.bin"), Path(f"{stem}.gpu_indices.bin")
            run = subprocess.run(
                [str(hlsl_harness), f"{stem}.gpu_input.bin", str(gpu_v), str(gpu_i)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, run.stderr
            what = f"{vec['name']} stride {stride}"
            cpu = np.fromfile(f"{stem}.vertices.bin", "<f4").reshape(-1, 6)
            gpu = np.fromfile(gpu_v, "<f4").reshape(-1, 6)
            np.testing.assert_array_equal(gpu[:, 5], cpu[:, 5], what)
            np.testing.assert_array_equal(
                np.fromfile(gpu_i, "<i4"), np.fromfile(f"{stem}.indices.bin", "<i4"), what
            )
            scale = float(np.abs(cpu[:, :3]).max())
            np.testing.assert_allclose(
                gpu[:, :3], cpu[:, :3], rtol=0, atol=float_tolerance(scale=scale), err_msg=what
            )
            np.testing.assert_allclose(
                gpu[:, 3:5], cpu[:, 3:5], rtol=0, atol=float_tolerance(), err_msg=what
            )


# -- the shaders' dither, run on the CPU ------------------------------------------------------

# The 4x4 Bayer matrix the dither used before it became float-only (rows are y).
BAYER4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32)


@needs_cxx
def test_dither_is_float_only_and_keeps_the_bayer_thresholds(tmp_path):
    """Ex4dCommon.hlsl: integer ops need shader model 3.5, so the dither is float-only now; it
    must still give (bayer[y % 4][x % 4] + 0.5) / 16 at every pixel, near 4096 too."""
    source = (SHADERS / "Ex4dCommon.hlsl").read_text(encoding="utf-8")
    code = "\n".join(line.split("//")[0] for line in source.splitlines())
    assert not re.search(r"\b(u?int[234]?)\b|>>|<<|[^&]&[^&]", code), "integer ops left"
    (tmp_path / "ex4d_common.inc").write_text(kernel_as_cpp(source), encoding="utf-8")
    for name in ("hlsl_shim.h", "dither_main.cpp"):
        shutil.copy(HLSL_HARNESS / name, tmp_path / name)
    exe = tmp_path / "dither"
    proc = subprocess.run(
        ["g++", "-std=c++17", "-O1", "-Wall", "-o", str(exe), str(tmp_path / "dither_main.cpp")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    n = 64
    subprocess.run([str(exe), str(tmp_path / "d.bin"), str(n)], check=True, timeout=60)
    values = np.fromfile(tmp_path / "d.bin", "<f4").reshape(2, n, n)
    for band, base in enumerate((0, 4096 - n // 2)):
        idx = np.arange(base, base + n) % 4
        expected = (BAYER4[idx[:, None], idx[None, :]] + 0.5) / 16
        np.testing.assert_array_equal(values[band], expected, f"band at {base}")


# -- static checks where nothing runs without Unity -------------------------------------------


def test_package_declares_the_modules_it_uses():
    """XRSettings lives in com.unity.modules.vr and Collider in com.unity.modules.physics: a
    project that disabled either would fail to compile the package."""
    package = json.loads((UNITY / "package.json").read_text(encoding="utf-8"))
    deps = package["dependencies"]
    sources = "\n".join(p.read_text(encoding="utf-8") for p in UNITY.rglob("*.cs"))
    for module, used in (
        ("com.unity.modules.vr", "XRSettings"),
        ("com.unity.modules.physics", "Collider"),
        ("com.unity.modules.xr", "InputDevices"),
        ("com.unity.modules.imgui", "OnGUI"),
        ("com.unity.modules.imageconversion", "LoadImage"),
    ):
        assert used in sources, used
        assert deps.get(module) == "1.0.0", module
    readme = (UNITY / "README.md").read_text(encoding="utf-8")
    assert '"testables": ["com.ex4d.bridge"]' in readme


def test_link_xml_preserves_the_grpc_assemblies():
    import xml.etree.ElementTree as ET

    root = ET.parse(UNITY / "link.xml").getroot()
    preserved = {a.get("fullname"): a.get("preserve") for a in root.iter("assembly")}
    for name in ("Google.Protobuf", "Grpc.Core.Api", "Grpc.Net.Client", "Grpc.Net.Common"):
        assert preserved.get(name) == "all", name
    # Unity reads link.xml only under Assets/: the editor hands the package's file to the
    # linker, and only when the gRPC layer (and so those assemblies) is compiled.
    processor = (UNITY / "Editor" / "Ex4dLinkXml.cs").read_text(encoding="utf-8")
    assert "IUnityLinkerProcessor" in processor
    assert re.search(r"#if EX4D_BRIDGE_GRPC.*\"link\.xml\".*#endif", processor, re.S)


def test_find_kernel_only_after_the_compute_support_check():
    """FindKernel throws where the shader has no variant for the platform; the only call sites
    hand it to ComputeKernels.TryFind (tested above), whose first argument is the support check
    and which never calls it when that is false."""
    for path in (UNITY / "Runtime").rglob("*.cs"):
        text = re.sub(r"//.*", "", path.read_text(encoding="utf-8"))  # code only
        for m in re.finditer(r"FindKernel", text):
            call = text.rfind("ComputeKernels.TryFind(", 0, m.start())
            assert call >= 0 and m.start() - call < 300, f"{path.name}: FindKernel outside TryFind"
            first_arg = text[call : text.index(",", call)]
            assert "GpuSupported" in first_arg or "supportsComputeShaders" in first_arg, path.name


@needs_glslang
@pytest.mark.parametrize("kernel", ["VertexVisibility", "BuildVertices", "MaskFaces"])
def test_compute_kernels_compile_as_hlsl(tmp_path, kernel):
    """A real HLSL front end (glslang, to SPIR-V) accepts each kernel: the C++ harness above
    runs the logic but is more lenient than HLSL about syntax and types."""
    proc = compile_hlsl_kernel(COMPUTE_SHADER, kernel, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_glslang
def test_common_include_compiles_in_a_fragment_shader(tmp_path):
    source = (
        '#include "Ex4dCommon.hlsl"\n'
        "float4 main(float4 pos : SV_Position, float3 uvVis : TEXCOORD0) : SV_Target\n"
        "{\n"
        "    Ex4dFade(uvVis.z, 1.0, 0.35, pos.xy);\n"
        "    return float4(Ex4dColorUv(uvVis, 1.0), Ex4dDither(pos.xy), 1.0);\n"
        "}\n"
    )
    proc = compile_hlsl_shader("frag", source, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
