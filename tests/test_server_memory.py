"""Admission control for memory (issue 13, item 4): estimates bound the real peaks, requests
that cannot fit are refused up front, concurrent large work is bounded, and memory goes back
after a large render.

Peaks are measured in fresh subprocesses (ru_maxrss before and after one render), so the
numbers are the real process's, not an allocator's view of them."""

import json
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from server_helpers import upload_synthetic

from ex4d_bridge.client import BridgeClient
from ex4d_bridge.geometry import raster_numba
from ex4d_bridge.server import memory
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.server.errors import LimitError
from ex4d_bridge.synthetic import SyntheticScene

PROBE = r"""
import json, sys
import numpy as np
from ex4d_bridge.runtime import tune_allocator
tune_allocator()  # as the server does
from ex4d_bridge.camera import look_at
from ex4d_bridge.depth import KnownDepth
from ex4d_bridge.geometry import RenderOptions
from ex4d_bridge.scene import reconstruct
from ex4d_bridge.scene.completion import (
    CompletedScene, CompletionLayer, Completions, CompositeOptions)
from ex4d_bridge.server.memory import release_memory
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.wire import view_intrinsics

backend, size, completed = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
s = SyntheticScene(128, 128, 2)
scene = reconstruct(s.frames(), KnownDepth(s.depths()), intrinsics=s.intrinsics, progress=False)
k0 = scene.intrinsics
layers = []
if completed:  # a layer over a quarter of the image, so the compositing really runs
    d = np.full((64, 64), 2.5, np.float32)
    c = np.full((64, 64, 3), 200, np.uint8)
    layers = [CompletionLayer(0, "g", np.eye(4), k0, (32, 32, 96, 96), d, c)]
opts = CompositeOptions(render=RenderOptions(backend=backend))
done = CompletedScene(scene, Completions(layers), opts)
pose = look_at(np.array([0.3, 0.0, 0.2]), np.array([0.0, 0.0, 3.0]))
done.render(0, pose, view_intrinsics(64, 64, k0))  # warm: kernels, caches
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
release_memory()
# Reset the peak to the current size (Linux >= 4.0), so whatever ran before (imports, a numba
# compile) does not hide the render's own peak.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = rss()
out = done.render(0, pose, view_intrinsics(size, size, k0))
peak = hwm() - base
del out
release_memory()
print(json.dumps({"peak": peak, "left": rss() - base}))
"""


def measure(backend: str, size: int, completed: bool) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, backend, str(size), "1" if completed else "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


BACKENDS = ["torch"] + (["cpu"] if raster_numba.available() else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("completed", [False, True])
def test_estimates_bound_the_real_peak_and_memory_is_given_back(backend, completed):
    size = 1536
    got = measure(backend, size, completed)
    estimate = memory.render_bytes(size, size, backend, completed)
    assert got["peak"] <= estimate, (got, estimate)
    # Not absurdly loose either: the estimate is within 4x of what the render really took.
    assert got["peak"] >= estimate / 4, (got, estimate)
    # After release_memory the process keeps at most a quarter of the peak.
    assert got["left"] <= max(got["peak"] / 4, 32 << 20), got


def test_the_budget_refuses_what_never_fits_and_bounds_what_runs_together():
    budget = memory.MemoryBudget(100)
    with pytest.raises(LimitError, match="over the server's budget"):
        budget.check(101, "a thing")
    held = threading.Event()
    release = threading.Event()

    def hold():
        with budget.reserve(70, "first"):
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    with pytest.raises(LimitError, match="try again"):
        with budget.reserve(40, "second", wait_s=0.2):
            pass
    threading.Timer(0.2, release.set).start()
    t0 = time.monotonic()
    with budget.reserve(40, "second", wait_s=5):  # waits for the first to finish
        assert budget.used == 40
    assert time.monotonic() - t0 >= 0.15
    t.join()
    assert budget.peak_used <= 100 and budget.used == 0


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    config = ServerConfig(
        port=0, data_dir=tmp_path_factory.mktemp("data"), max_memory_bytes=96 << 20
    )
    with ServerThread(config) as srv:
        with BridgeClient(srv.target, progress=False, timeout=60) as c:
            scene_id = upload_synthetic(c, tmp_path_factory.mktemp("m"), SyntheticScene(32, 32, 3))
            yield srv, c, scene_id


def code_and_details(fn):
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()


def test_requests_over_the_budget_are_refused_up_front(small_server, tmp_path):
    srv, client, scene_id = small_server
    assert client.view(scene_id, np.eye(4), 256, 256).color.shape == (256, 256, 3)
    code, details = code_and_details(lambda: client.view(scene_id, np.eye(4), 2048, 2048))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "memory" in details
    code, details = code_and_details(
        lambda: client.submit_generation(scene_id, "orbit:30", width=2048, height=2048)
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "budget" in details
    code, details = code_and_details(
        lambda: client.record_walkthrough(
            scene_id, "orbit:30", tmp_path / "walk", width=2048, height=2048
        )
    )
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "budget" in details
    # The server is fine afterwards.
    assert client.view(scene_id, np.eye(4), 64, 64).color.shape == (64, 64, 3)
    assert srv.service.memory.used == 0


def test_the_server_budget_defaults_from_the_machine():
    total = memory.machine_memory_bytes()
    assert total > 0
    assert memory.default_budget_bytes() == int(total * 0.6)
