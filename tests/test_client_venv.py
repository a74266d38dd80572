"""The base install (``pip install ex4d-bridge``, no extras) is a working client.

A fresh virtual environment gets a regular (non-editable) install of this checkout with only
the base dependencies from the package index (or pip's cache), so no torch, OpenCV or PyAV.
Its Python client then talks to a real server on loopback, started here from the full install:
it uploads a small synthetic scene with its depth, streams geometry and rebuilds a MeshFrame
(compared bit for bit with the mesh the server built), and renders one View (compared with the
same View asked for from this interpreter). About 20 s, most of it pip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.client import BridgeClient
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video

ROOT = Path(__file__).resolve().parents[1]
PIP_TIMEOUT_S = 600

CLIENT_SCRIPT = r"""
import json, sys
import numpy as np
from ex4d_bridge.client import BridgeClient, mesh_from_frame

target, video, depth, out = sys.argv[1:5]
with BridgeClient(target, progress=False) as client:
    client.wait_ready(30)
    health = client.health()
    info = client.upload_scene(video, depth=depth, name="from a base install")
    frames = list(
        client.stream_geometry(
            info.scene_id, last_frame=1, depth_encoding="float32", color_encoding="raw"
        )
    )
    mesh = mesh_from_frame(frames[1])
    pose = np.eye(4)
    pose[0, 3] = 0.05
    view = client.view(info.scene_id, pose, 40, 24, frame_index=1, color_encoding="raw")
np.savez(
    out,
    vertices=mesh.vertices,
    faces=mesh.faces,
    occluded=mesh.occluded,
    colors=mesh.colors,
    view_color=view.color,
    view_mask=view.mask,
)
heavy = {"torch", "cv2", "av", "trimesh", "diffusers", "transformers"}
print(json.dumps({
    "scene_id": info.scene_id,
    "health": health,
    "frames": [f.frame_index for f in frames],
    "heavy_modules": sorted(heavy & {m.split(".")[0] for m in sys.modules}),
    "package": __import__("ex4d_bridge").__file__,
}))
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _run(cmd, cwd, timeout):
    r = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    )
    return r.stdout


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> Path:
    """A venv holding ex4d-bridge with its base dependencies only."""
    tmp = tmp_path_factory.mktemp("base_install")
    src = tmp / "src"  # a copy, so the build writes nothing into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "ex4d_bridge",
        src / "ex4d_bridge",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp, 120)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", src], tmp, PIP_TIMEOUT_S)
    return python


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerThread(ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("data"))) as srv:
        yield srv


def test_the_base_install_has_no_model_or_server_stack(base_venv):
    code = (
        "import importlib.util as u, json; "
        "print(json.dumps({m: u.find_spec(m) is not None for m in "
        "('torch', 'cv2', 'av', 'trimesh', 'diffusers', 'transformers', 'grpc', 'PIL')}))"
    )
    found = json.loads(_run([base_venv, "-c", code], base_venv.parent, 60).splitlines()[-1])
    assert found == {
        "torch": False,
        "cv2": False,
        "av": False,
        "trimesh": False,
        "diffusers": False,
        "transformers": False,
        "grpc": True,
        "PIL": True,
    }


def test_a_base_install_client_against_a_real_server(base_venv, server, tmp_path):
    scene = SyntheticScene(48, 32, 3)
    video = write_video(tmp_path / "clip.mp4", scene.frames(), scene.fps)
    np.savez(tmp_path / "depth.npz", depth=scene.depths())
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    out = tmp_path / "decoded.npz"
    stdout = _run(
        [base_venv, script, server.target, video, tmp_path / "depth.npz", out], tmp_path, 300
    )
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["package"].startswith(str(base_venv.parent.parent))  # not the checkout
    assert summary["health"] == "SERVING" and summary["frames"] == [0, 1]
    assert summary["heavy_modules"] == []

    got = np.load(out)
    truth = server.service.store.mesh(summary["scene_id"], 1).numpy()
    # The client rebuilds vertices with its own numpy (another build than the server's torch):
    # equal to float32 rounding; the integer and bit arrays exactly.
    eps = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(got["vertices"], truth.vertices, rtol=4 * eps, atol=0)
    for name in ("faces", "occluded", "colors"):
        assert np.array_equal(got[name], getattr(truth, name)), name
    pose = np.eye(4)
    pose[0, 3] = 0.05
    with BridgeClient(server.target, progress=False) as client:
        here = client.view(summary["scene_id"], pose, 40, 24, frame_index=1, color_encoding="raw")
    assert got["view_mask"].any() and np.array_equal(got["view_mask"], here.mask)
    assert np.array_equal(got["view_color"], here.color)


def test_the_command_on_a_base_install_says_what_to_install(base_venv):
    cli = base_venv.parent / "ex4d-bridge"  # beside the venv's python
    r = subprocess.run(
        [str(cli), "demo", "--out", str(base_venv.parent / "demo")],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and "ex4d-bridge[all]" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
