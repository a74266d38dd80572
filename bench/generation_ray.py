"""Generation through the bridge on a Ray cluster (issue 16). Prints JSON; ``--out FILE`` also
writes it.

    python -m bench.generation_ray [--completer tiny|fallback] [--jobs 6] [--frames N]
                                   [--size WxH] [--repeat 2] [--out FILE]

A local Ray cluster with 2 CPUs (a head started by a child process on this machine), a real
server (``ServerThread`` with ``RaySettings``) and a real client over loopback. Every job
renders the synthetic scene (FRAMES frames) along ``orbit:30`` (one pose per frame) at SIZE
and completes it on a 1-CPU actor (one thread): with the ``tiny`` EX-4D preset (random
weights, 2 steps; default: 17 frames at 128x128, the preset's own size, so the job is model
work and its result small) or the classical ``fallback`` (default 49 frames at 384x288: a
short body and a 15 MB result, so writing the result weighs as much as the job).

* throughput: ``--jobs`` jobs submitted at once, with 1 and with 2 CPU actors; seconds from the
  first submission to the last job SUCCEEDED (``--repeat`` runs each), and the ratio of the
  best runs (goal >= 1.7 on two free cores). The machine is shared: before each run, a probe
  says how many cores were free (two spinning processes against one);
* dispatch overhead per job: jobs one at a time on one actor; the job's time as the server
  sees it (submitted to the driver -> the whole result received) minus the body's own time
  in the actor (render + generate), i.e. what Ray, the driver and the transfer of the result
  add (goal <= 1 s); then the writing of the result into DATA_DIR (video, arrays: the same
  work a local job does), the result's size, and the same job on the in-process worker (no
  Ray; torch's default threads) for reference, in the same run.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import emit, environment
from ex4d_bridge.client import BridgeClient
from ex4d_bridge.server.app import ServerThread
from ex4d_bridge.server.config import ServerConfig
from ex4d_bridge.server.ray_settings import RaySettings
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video
from ex4d_bridge.wire import jobs_pb2

HOLDER = """
import sys, time, ray
ray.init(num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[1], logging_level="ERROR")
print("ADDRESS", ray.get_runtime_context().gcs_address, flush=True)
time.sleep(36000)
"""


_SPIN = """
import time
t = time.perf_counter()
x = 0
for i in range({n}):
    x += i
print(time.perf_counter() - t)
"""


def free_cores(n: int = 10**7) -> float:
    """How many cores this run has now: one spinning process's time against two at once
    (about 2 on two free cores, about 1 when other work holds one). Child processes, not a
    fork: the server's gRPC threads make forking unsafe."""
    cmd = [sys.executable, "-c", _SPIN.format(n=n)]
    one = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    two = max(float(p.communicate()[0]) for p in procs)
    return round(2 * one / two, 2)


def start_cluster() -> tuple[subprocess.Popen, str, str]:
    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, tmp],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in proc.stdout:
        if line.startswith("ADDRESS"):
            return proc, line.split()[1], tmp
    raise RuntimeError("the local Ray cluster did not start")


def wait_ready(srv, actors: int, timeout: float = 180.0) -> None:
    ex = srv.service.worker.executor
    end = time.monotonic() + timeout
    while ex.problem() is not None or ex.info.get("ready", 0) < actors:
        if time.monotonic() > end:
            raise RuntimeError(f"the actors did not start: {ex.problem()} {ex.info}")
        time.sleep(0.1)


STEPS = 2


def run_jobs(client, scene_id, count: int, path: str, w: int, h: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    jobs = [
        client.submit_generation(scene_id, path, width=w, height=h, num_inference_steps=STEPS)
        for _ in range(count)
    ]
    done = [list(client.watch_job(j.job_id, timeout=900))[-1] for j in jobs]
    took = time.perf_counter() - t0
    for d in done:
        if d.state != jobs_pb2.JOB_STATE_SUCCEEDED:
            raise RuntimeError(f"job {d.job_id} ended {d.state}: {d.error}")
    return took, done


def sequential(client, scene_id, count, path, w, h) -> list[float]:
    out = []
    for _ in range(count):
        took, _ = run_jobs(client, scene_id, 1, path, w, h)
        out.append(took)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=6)
    ap.add_argument("--sequential", type=int, default=4, help="one-at-a-time jobs for overhead")
    ap.add_argument("--completer", choices=("tiny", "fallback"), default="tiny")
    ap.add_argument("--frames", type=int, default=0, help="source frames = poses per job")
    ap.add_argument("--size", default="", help="WxH (default: 128x128 tiny, 384x288 fallback)")
    ap.add_argument("--repeat", type=int, default=2, help="throughput runs per actor count")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tiny = args.completer == "tiny"
    w, h = (int(v) for v in (args.size or ("128x128" if tiny else "384x288")).split("x"))
    frames = args.frames or (17 if tiny else 49)
    spec = None
    if tiny:
        from ex4d_bridge.generation import EX4DPipeline

        spec = functools.partial(EX4DPipeline.tiny, seed=0)
    path = "orbit:30"  # 30 degrees, one pose per source frame
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a loopback cluster of this run only

    result = environment("generation_ray", "ray", "numpy")
    result.update(jobs=args.jobs, frames=frames, size=[w, h], completer=args.completer)
    if tiny:
        result["steps"] = STEPS
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    proc = tmp = None
    try:
        s = SyntheticScene(max(32, w // 2), max(32, h // 2), frames)
        video = write_video(work / "c.mp4", s.frames(), s.fps)
        np.savez(work / "d.npz", depth=s.depths())
        data = work / "data"

        # The in-process worker, for reference (the server's own threads; same job).
        local_spec = spec() if tiny else None  # an instance: loaded before the timing
        with ServerThread(ServerConfig(port=0, data_dir=data, completer=local_spec)) as srv:
            with BridgeClient(srv.target, progress=False, timeout=600) as c:
                sid = c.upload_scene(video, depth=work / "d.npz", intrinsics=s.intrinsics)
                sid = sid.scene_id
                run_jobs(c, sid, 1, path, w, h)  # warm-up
                local = sequential(c, sid, args.sequential, path, w, h)
        result["local_worker_job_s"] = round(statistics.median(local), 3)

        # The cluster only now: its processes start busy, and would slow the reference.
        proc, address, tmp = start_cluster()

        makespan = {}
        for actors in (1, 2):
            settings = RaySettings(address=address, workers=actors, cpus_per_worker=1.0)
            config = ServerConfig(port=0, data_dir=data, completer=spec, ray=settings)
            t_start = time.perf_counter()
            with ServerThread(config) as srv:
                wait_ready(srv, actors)
                result[f"ray_{actors}_actor_start_s"] = round(time.perf_counter() - t_start, 2)
                result[f"ray_{actors}_actor_workers"] = srv.service.worker.executor.info["workers"]
                with BridgeClient(srv.target, progress=False, timeout=600) as c:
                    run_jobs(c, sid, actors, path, w, h)  # warm-up: every actor, the scene
                    if actors == 1:
                        seq = sequential(c, sid, args.sequential, path, w, h)
                        timings = list(srv.service.worker.executor.timings.values())
                        timings = timings[-args.sequential :]
                        over = [t["done_s"] - t["body_s"] for t in timings]
                        write = [t["written_s"] - t["done_s"] for t in timings]
                        result["ray_1_actor_job_s"] = round(statistics.median(seq), 3)
                        result["actor_body_s"] = round(
                            statistics.median(t["body_s"] for t in timings), 3
                        )
                        result["to_actor_s"] = round(
                            statistics.median(t["on_actor_s"] for t in timings), 3
                        )
                        result["dispatch_overhead_s"] = round(statistics.median(over), 3)
                        result["dispatch_overhead_max_s"] = round(max(over), 3)
                        result["result_write_s"] = round(statistics.median(write), 3)
                        result["result_mib"] = round(timings[-1]["result_bytes"] / 2**20, 2)
                    runs, cores = [], []
                    for _ in range(args.repeat):
                        cores.append(free_cores())
                        took, _ = run_jobs(c, sid, args.jobs, path, w, h)
                        runs.append(round(took, 3))
                    makespan[actors] = min(runs)
                    result[f"ray_{actors}_actor_{args.jobs}_jobs_s"] = runs
                    result[f"free_cores_before_{actors}_actor_runs"] = cores
        result["throughput_ratio_2_vs_1"] = round(makespan[1] / makespan[2], 3)
        result["goals"] = {"throughput_ratio": ">= 1.7", "dispatch_overhead_s": "<= 1.0"}
        result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    emit(result, args.out)


if __name__ == "__main__":
    main()
