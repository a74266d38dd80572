"""What the Unity client's tests share (test_unity_core, test_unity_layers, test_unity_review):
the vector tools loaded by path, skip markers for the external compilers, the console runners'
summary check, and the compute kernels built as C++ (tests/unity_compute) or as HLSL
(glslangValidator).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
UNITY = REPO / "unity_client"
SHADERS = UNITY / "Runtime" / "Resources" / "Ex4d"
HLSL_HARNESS = Path(__file__).resolve().parent / "unity_compute"
# -ffp-contract=off: no fused multiply-adds, so the C++ build rounds as IEEE single steps.
CXX = ["g++", "-std=c++17", "-O1", "-ffp-contract=off", "-Wall", "-Wno-unknown-pragmas"]


def _load_tool(name: str, file: str) -> ModuleType:
    """tools/FILE by path (tools/ is a folder of scripts, not a package), once per process:
    the tools load each other under the same names."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TOOLS / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def unity_vectors() -> ModuleType:
    """tools/unity_vectors.py: the core vectors and the mono build helpers."""
    return _load_tool("ex4d_unity_vectors", "unity_vectors.py")


def layer_vectors() -> ModuleType:
    """tools/unity_layer_vectors.py: the completion-layer vectors."""
    return _load_tool("ex4d_unity_layer_vectors", "unity_layer_vectors.py")


needs_mono = pytest.mark.skipif(
    unity_vectors().mono_tools() is None,
    reason="mcs/mono not installed (apt-get install -y mono-mcs mono-runtime)",
)
needs_cxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
needs_glslang = pytest.mark.skipif(
    shutil.which("glslangValidator") is None,
    reason="glslangValidator not installed (apt-get install -y glslang-tools)",
)


def run_console_tests(
    tool: ModuleType, vectors_dir: Path
) -> tuple[subprocess.CompletedProcess, Path]:
    """Builds TOOL's C# test runner and runs it on the vectors TOOL wrote to VECTORS_DIR: the
    finished process and the folder the runner wrote its files to."""
    exe = tool.build_test_runner(vectors_dir)
    out = vectors_dir / "csharp_out"
    proc = unity_vectors().run_mono(exe, str(vectors_dir / tool.VECTORS_FILE), str(out))
    return proc, out


def console_groups(stdout: str) -> dict[str, int]:
    """Checks per group, from a console runner's `groups:` line."""
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stdout.split("groups:")[1])}


def assert_console_checks_pass(
    proc: subprocess.CompletedProcess, expected_groups: set[str], more_than: int = 0
) -> None:
    """The runner passed more than MORE_THAN checks, none failed, and every expected group ran
    checks (a section that silently stopped would show 0 or be missing)."""
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    summary = re.search(r"OK: (\d+) checks, 0 failed", proc.stdout)
    assert summary, report
    assert int(summary.group(1)) > more_than, report
    groups = console_groups(proc.stdout)
    assert expected_groups <= set(groups), groups
    assert all(groups[g] > 0 for g in expected_groups), groups


def kernel_as_cpp(source: str) -> str:
    """A compute file as C++ for hlsl_shim.h: drops what C++ has no syntax for (kernel
    pragmas, [numthreads], semantics, `precise`) and makes float literals float."""
    out = []
    for line in source.splitlines():
        if line.startswith("#pragma kernel") or re.match(r"\s*\[numthreads\(", line):
            continue
        line = line.replace(": SV_DispatchThreadID", "").replace("precise ", "")
        line = re.sub(r"\.xyz\b", ".xyz()", line)
        if not line.lstrip().startswith("//"):
            line = re.sub(r"(?<![\w.])(\d+\.\d+)(?![\w.])", r"\1f", line)
        out.append(line)
    return "\n".join(out) + "\n"


def build_kernel_harness(build: Path, kernel: Path, name: str) -> Path:
    """Compiles tests/unity_compute/NAME_main.cpp with KERNEL translated into NAME_kernels.inc,
    in BUILD; the executable's path."""
    (build / f"{name}_kernels.inc").write_text(
        kernel_as_cpp(kernel.read_text(encoding="utf-8")), encoding="utf-8"
    )
    for file in ("hlsl_shim.h", "kernel_harness.h", f"{name}_main.cpp"):
        shutil.copy(HLSL_HARNESS / file, build / file)
    exe = build / name
    proc = subprocess.run(
        [*CXX, "-o", str(exe), str(build / f"{name}_main.cpp")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return exe


def compile_hlsl_kernel(shader: Path, kernel: str, out_dir: Path) -> subprocess.CompletedProcess:
    """KERNEL of the compute SHADER through a real HLSL front end (glslang, to SPIR-V)."""
    return subprocess.run(
        ["glslangValidator", "-D", "-S", "comp", "-e", kernel, "-V"]
        + ["-o", str(out_dir / f"{kernel}.spv"), str(shader)],
        capture_output=True,
        text=True,
    )


def compile_hlsl_shader(stage: str, source: str, out_dir: Path) -> subprocess.CompletedProcess:
    """SOURCE, a STAGE ("vert", "frag") shader with entry point main that may include the
    package's shaders, through glslang."""
    src = out_dir / f"{stage}_user.hlsl"
    src.write_text(source, encoding="utf-8")
    return subprocess.run(
        ["glslangValidator", "-D", "-S", stage, "-e", "main", "-V", f"-I{SHADERS}"]
        + ["-o", str(out_dir / f"{stage}.spv"), str(src)],
        capture_output=True,
        text=True,
    )
