import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ex4d_bridge.errors import InputError
from ex4d_bridge.geometry import build_dw_mesh, render
from ex4d_bridge.runtime import THREADS_ENV, render_threads, tune_allocator

_THREAD_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")
def test_tuning_the_allocator_changes_no_result():
    d = np.random.default_rng(0).uniform(2, 3, (40, 50)).astype(np.float32)
    before = render(build_dw_mesh(d, None), np.eye(4))
    assert tune_allocator() is True
    assert tune_allocator() is True  # idempotent
    after = render(build_dw_mesh(d, None), np.eye(4))
    np.testing.assert_array_equal(before.face_id, after.face_id)
    np.testing.assert_array_equal(before.depth, after.depth)


# The thread policy is process state that torch and libgomp fix when they load, so each case
# runs in a fresh interpreter whose environment names no thread settings unless the case does.


def _fresh(code: str, **env: str):
    clean = {k: v for k, v in os.environ.items() if k not in (*_THREAD_VARS, THREADS_ENV)}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


_WAIT_POLICY = """
    import json, os
    import ex4d_bridge, torch
    print(json.dumps([os.environ.get("OMP_WAIT_POLICY"), os.environ.get("GOMP_SPINCOUNT")]))
"""


def test_importing_the_package_first_makes_openmp_threads_wait_passively():
    assert _fresh(_WAIT_POLICY) == ["passive", None]


def test_a_users_openmp_wait_settings_are_kept():
    assert _fresh(_WAIT_POLICY, OMP_WAIT_POLICY="active") == ["active", None]
    assert _fresh(_WAIT_POLICY, GOMP_SPINCOUNT="10000") == [None, "10000"]


def test_nothing_is_set_once_torch_is_loaded():
    # libgomp has read its settings by then; a variable set now would only mislead children.
    code = (
        "import json, os, torch, ex4d_bridge; print(json.dumps(os.environ.get('OMP_WAIT_POLICY')))"
    )
    assert _fresh(code) is None


_POLICY = """
    import json
    import ex4d_bridge, torch
    from ex4d_bridge.runtime import apply_thread_policy
    default = torch.get_num_threads()
    compute = apply_thread_policy("compute")
    render = apply_thread_policy("render")
    print(json.dumps([default, compute, render]))
"""


def test_rendering_runs_one_thread_and_other_work_keeps_torchs_default():
    default, compute, render_n = _fresh(_POLICY)
    assert compute == default and render_n == 1


def test_ex4d_threads_sets_every_workload_and_a_users_omp_num_threads_is_kept():
    assert _fresh(_POLICY, EX4D_THREADS="3")[1:] == [3, 3]
    # torch reads OMP_NUM_THREADS itself (capped at the cores MKL sees): the policy keeps it.
    default, compute, render_n = _fresh(_POLICY, OMP_NUM_THREADS="2")
    assert default == compute == render_n == min(2, default)


def test_a_bad_thread_count_says_what_to_write(monkeypatch):
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(InputError, match="EX4D_THREADS=1"):
            render_threads()


def test_render_workers_get_their_own_count_and_leave_the_rest_of_the_process_alone():
    code = """
    import json, threading
    from concurrent.futures import ThreadPoolExecutor
    import ex4d_bridge, torch
    from ex4d_bridge.runtime import init_render_worker
    torch.set_num_threads(3)
    barrier = threading.Barrier(2)
    def count():
        barrier.wait()  # both pool threads exist, so each reports its own count
        return torch.get_num_threads()
    with ThreadPoolExecutor(2, initializer=init_render_worker) as pool:
        workers = sorted(f.result() for f in [pool.submit(count) for _ in range(2)])
    with ThreadPoolExecutor(1, initializer=init_render_worker, initargs=(2,)) as pool:
        explicit = pool.submit(torch.get_num_threads).result()
    later = []
    t = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    t.start(); t.join()
    print(json.dumps([workers, explicit, torch.get_num_threads(), later[0]]))
    """
    assert _fresh(code) == [[1, 1], 2, 3, 3]


def test_the_servers_render_threads_and_the_cli_apply_the_policy(tmp_path):
    code = f"""
    import json
    import ex4d_bridge, torch
    from ex4d_bridge import cli
    from ex4d_bridge.server.config import ServerConfig
    from ex4d_bridge.server.service import BridgeService
    torch.set_num_threads(3)
    seen = {{}}
    for torch_threads in (0, 2):
        service = BridgeService(ServerConfig(
            port=0, data_dir={str(tmp_path)!r} + str(torch_threads), torch_threads=torch_threads
        ))
        seen[torch_threads] = [
            service.view_pool.submit(torch.get_num_threads).result(),
            service.batch_pool.submit(torch.get_num_threads).result(),
        ]
        service.close()
    def fake_demo(args):
        seen["demo"] = torch.get_num_threads()
        return 0
    cli.cmd_demo = cli.COMMANDS["demo"] = fake_demo
    assert cli.main(["demo", "--quiet"]) == 0
    print(json.dumps(seen))
    """
    assert _fresh(code) == {"0": [1, 1], "2": [2, 2], "demo": 1}
    # A bad setting is an error message at start-up, not a traceback.
    out = subprocess.run(
        [sys.executable, "-m", "ex4d_bridge", "demo", "--quiet", "--out", str(tmp_path / "d")],
        env={**os.environ, THREADS_ENV: "many"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2 and "EX4D_THREADS" in out.stderr, out.stderr
