"""The example clients (Python and Node.js) against a real server on loopback, with a token."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ex4d_bridge.camera import load_pose_path
from ex4d_bridge.client import BridgeClient
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.video import read_video

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NODE_DIR = EXAMPLES / "node"
TOKEN = "example-token-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    config = ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("data"), token=TOKEN)
    with ServerThread(config) as srv:
        yield srv


def run_example(script, *args, timeout=180):
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_python_orbit_example(server, tmp_path):
    out = tmp_path / "orbit"
    summary = run_example(
        "python_orbit.py",
        "--target",
        server.target,
        "--token",
        TOKEN,
        "--out",
        str(out),
        "--size",
        "64",
        "--frames",
        "5",
        "--steps",
        "6",
    )
    assert summary["frames_saved"] == 6
    assert len(list(out.glob("color_*.png"))) == 6 and len(list(out.glob("mask_*.png"))) == 6


def test_record_walkthrough_example(server, tmp_path):
    summary = run_example(
        "record_walkthrough.py",
        "--target",
        server.target,
        "--token",
        TOKEN,
        "--out",
        str(tmp_path),
        "--size",
        "64",
        "--frames",
        "5",
        "--trajectory",
        "yaw:20",
        "--system",
        "unity",
    )
    clip = read_video(summary["walkthrough.mp4"])
    poses = load_pose_path(summary["walkthrough.poses.json"])
    assert clip.frames.shape[1:3] == (64, 64) and len(clip.frames) == len(poses) == 5


@pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules").is_dir(),
    reason="needs node and `npm ci` in examples/node",
)
def test_node_client_checks_health_lists_scenes_and_views(server, tmp_path):
    with BridgeClient(server.target, token=TOKEN, progress=False) as c:
        if not c.list_scenes():
            sys.path.insert(0, str(EXAMPLES))
            from demo_scene import upload_demo_scene

            upload_demo_scene(c, 64, 5)
    env = {**os.environ, "EX4D_BRIDGE_TOKEN": TOKEN}
    r = subprocess.run(
        [
            "node",
            str(NODE_DIR / "client.js"),
            "--target",
            server.target,
            "--poses",
            "40",
            "--size",
            "96",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["health"] == "SERVING" and summary["scenes"] >= 1
    assert summary["last_sequence"] == 40 and summary["replies"] >= 1
    assert summary["replies"] + summary["dropped_total"] == 40
    assert 0 < summary["mask_fraction"] <= 1
    # Without the token the Node client is refused.
    r = subprocess.run(
        ["node", str(NODE_DIR / "client.js"), "--target", server.target],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "EX4D_BRIDGE_TOKEN"},
    )
    assert r.returncode == 1 and "UNAUTHENTICATED" in r.stderr


@pytest.mark.parametrize("script", ["python_orbit.py", "record_walkthrough.py"])
def test_examples_fail_in_one_line(server, script, tmp_path):
    cases = [
        (["--target", "127.0.0.1:9"], "UNAVAILABLE"),  # nothing listens on the discard port
        (["--target", server.target, "--token", "wrong"], "UNAUTHENTICATED"),
    ]
    for args, code in cases:
        r = subprocess.run(
            [sys.executable, str(EXAMPLES / script), *args, "--wait", "3", "--out", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert r.returncode == 2, r.stderr[-2000:]
        # The last line is the error; above it at most the upload's progress bar, no traceback.
        assert r.stderr.strip().splitlines()[-1].startswith(f"error: {code}"), r.stderr[-2000:]
        assert "Traceback" not in r.stderr, r.stderr[-2000:]
