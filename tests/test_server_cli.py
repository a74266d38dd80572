"""``ex4d-bridge serve`` as a user runs it: a real process on loopback, stopped by SIGTERM."""

import re
import signal
import subprocess
import sys

import pytest

from ex4d_bridge.client import BridgeClient


def start_server(*args, env=None):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ex4d_bridge", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    m = re.search(r"serving on (\S+):(\d+)", line)
    if not m:
        proc.kill()
        raise AssertionError(f"no 'serving on' line: {line!r} {proc.stderr.read()}")
    return proc, f"{m.group(1)}:{m.group(2)}"


def test_serve_starts_answers_and_stops_cleanly(tmp_path):
    proc, target = start_server("--data-dir", str(tmp_path), "--token", "cli-token-12345")
    try:
        with BridgeClient(target, token="cli-token-12345", progress=False) as c:
            assert c.health() == "SERVING" and c.list_scenes() == []
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert (tmp_path / "jobs.sqlite").is_file() and (tmp_path / "scenes").is_dir()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "0.0.0.0"], "without a token"),
        (["--tls-cert", "missing.pem"], "go together"),
        (["--completer", "no_such_module:make"], "--completer"),
    ],
)
def test_serve_refuses_bad_setups_with_one_line(tmp_path, args, message):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ex4d_bridge",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
