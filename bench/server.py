"""Server benchmark over loopback: geometry stream size and speed against raw msgpack mesh
buffers measured in the same run, and View latency for 1 and N concurrent streams sending poses
at 90 Hz. Prints JSON; ``--out FILE`` also writes it.

    python -m bench.server [--size 512] [--seconds 20] [--streams 1,16] [--rate 90]
                           [--device cpu|cuda] [--backends auto,torch] [--render-workers 0]
                           [--out FILE]

The server runs as a separate process (``ex4d-bridge serve`` on port 0), so its memory is
measured alone (VmRSS at the start and end of each View run). Latency is measured by the
client from sending a pose to receiving the reply that echoes it; the server's own share
(``timings.total_ms``: from the pose's arrival to the reply) is reported beside it. On a small
CPU the clients share the cores with the server, so both numbers include that contention.
Each backend in ``--backends`` gets its own server process and the same View runs, one after
the other (``auto`` is the compiled CPU backend when numba is installed, as ``serve`` picks it).

``--completions SET`` (default ``walk-small``; empty to skip) then completes the scene on the
first backend's server with a coverage job (the classical fallback) and measures, in that run:
StreamGeometry bytes per frame with 0, 2 and 6 completion layers (and bytes per layer), and View
latency of the completed render against the raw render, one stream each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np

from ex4d_bridge.client import BridgeClient
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video
from ex4d_bridge.wire import bridge_pb2_grpc, common_pb2, view_pb2

GOALS = {
    "geometry_bytes_per_frame": 150_000,
    "view_p99_ms_cpu_1_stream": 100,
    "view_server_p99_ms_gpu": 11,
    "unity_safe_reply_bytes": 100_000,
    "completion_layer_bytes": 150_000,
}


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return round(int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024, 1)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(float(np.percentile(values, q)), 2)


def start_server(data_dir: str, args, backend: str) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "ex4d_bridge",
        "serve",
        "--port",
        "0",
        "--data-dir",
        data_dir,
        "--device",
        args.device,
        "--render-workers",
        str(args.render_workers),
        "--backend",
        backend,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"serving on (\S+):(\d+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, f"{m.group(1)}:{m.group(2)}"


def bench_geometry(client: BridgeClient, scene_id: str, num_frames: int) -> dict:
    out: dict = {}
    for label, kwargs in {
        "uint16_jpeg": {"depth_encoding": "uint16", "color_encoding": "jpeg"},
        "float16_jpeg": {"depth_encoding": "float16", "color_encoding": "jpeg"},
        "float32_raw": {"depth_encoding": "float32", "color_encoding": "raw"},
    }.items():
        list(client.stream_geometry(scene_id, last_frame=0, **kwargs))  # warm the mesh cache
        t0 = time.perf_counter()
        sizes = [f.ByteSize() for f in client.stream_geometry(scene_id, **kwargs)]
        dt = time.perf_counter() - t0
        out[label] = {
            "bytes_per_frame_mean": round(statistics.mean(sizes)),
            "bytes_per_frame_max": max(sizes),
            "frames_per_s": round(len(sizes) / dt, 1),
            "mb_per_s": round(sum(sizes) / dt / 1e6, 2),
        }
    t0 = time.perf_counter()
    raw = [len(client.export_mesh(scene_id, t)) for t in range(min(3, num_frames))]
    dt = time.perf_counter() - t0
    out["baseline_msgpack_buffers"] = {
        "what": "vertices float32, faces int32, colours uint8, occluded bits (msgpack)",
        "bytes_per_frame_mean": round(statistics.mean(raw)),
        "mib_per_frame": round(statistics.mean(raw) / 2**20, 2),
        "frames_per_s": round(len(raw) / dt, 1),
        "mb_per_s": round(sum(raw) / dt / 1e6, 2),
    }
    out["compression_vs_baseline"] = round(
        out["baseline_msgpack_buffers"]["bytes_per_frame_mean"]
        / out["uint16_jpeg"]["bytes_per_frame_mean"],
        1,
    )
    return out


def head_pose(i: int, stream: int, rate: float) -> common_pb2.Pose:
    """A head wandering around the source camera, in OpenXR axes."""
    t = i / rate
    a = 2 * math.pi * (0.25 * t + stream / 16)
    yaw, pitch = 0.35 * math.sin(a), 0.1 * math.sin(2 * a)
    cy, sy, cp, sp = math.cos(yaw / 2), math.sin(yaw / 2), math.cos(pitch / 2), math.sin(pitch / 2)
    return common_pb2.Pose(
        position=common_pb2.Vec3(x=0.1 * math.sin(a), y=0.03 * math.cos(a), z=0.05 * math.sin(a)),
        rotation=common_pb2.Quaternion(x=cy * sp, y=sy * cp, z=-sy * sp, w=cy * cp),
        coordinate_system=common_pb2.COORDINATE_SYSTEM_OPENGL,
    )


async def view_stream(target, scene_id, size, rate, seconds, stream, num_frames, raw=False) -> dict:
    sent: dict[int, float] = {}
    lat, server_ms, server_render_ms, reply_bytes = [], [], [], []
    dropped_total = 0
    n_sent = 0
    async with grpc.aio.insecure_channel(
        target, options=[("grpc.max_receive_message_length", 64 << 20)]
    ) as ch:
        stub = bridge_pb2_grpc.BridgeStub(ch)

        t_start = time.perf_counter()

        async def poses():
            nonlocal n_sent
            i = 0
            while True:  # until the call is cancelled at the end of the run
                i += 1
                sent[i] = time.perf_counter()
                n_sent = i
                yield view_pb2.ViewRequest(
                    scene_id=scene_id if i == 1 else "",
                    sequence=i,
                    pose=head_pose(i, stream, rate),
                    time_s=(i / rate) % (num_frames / 16.0),
                    width=size,
                    height=size,
                    options=view_pb2.ViewOptions(raw=raw),
                )
                await asyncio.sleep(max(0.0, t_start + i / rate - time.perf_counter()))

        # Steady state only: the call is cut at the end of the run instead of draining the
        # poses still waiting for a render thread, which would measure the shutdown.
        call = stub.View(poses())
        timer = asyncio.get_running_loop().call_later(seconds, call.cancel)
        try:
            async for reply in call:
                now = time.perf_counter()
                lat.append((now - sent.pop(reply.sequence)) * 1e3)
                for s in [s for s in sent if s < reply.sequence]:
                    del sent[s]
                server_ms.append(reply.timings.total_ms)
                server_render_ms.append(reply.timings.render_ms + reply.timings.encode_ms)
                reply_bytes.append(reply.ByteSize())
                dropped_total = reply.dropped_total
        except asyncio.CancelledError:
            pass
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise
        finally:
            timer.cancel()
    return {
        "sent": n_sent,
        "frames": len(lat),
        "dropped": dropped_total,
        "latency_ms": lat,
        "server_ms": server_ms,
        "work_ms": server_render_ms,
        "reply_bytes": reply_bytes,
    }


def bench_view(
    target, scene_id, size, rate, seconds, streams, num_frames, pid, warmup, raw=False
) -> dict:
    async def run(duration):
        return await asyncio.gather(
            *(
                view_stream(target, scene_id, size, rate, duration, s, num_frames, raw)
                for s in range(streams)
            )
        )

    # The same load first, so caches and the allocator's pools are at their working size:
    # memory measured from here on must stay flat.
    asyncio.run(run(warmup))
    rss_start = rss_mib(pid)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append(rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    results = asyncio.run(run(seconds))
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    lat = [x for r in results for x in r["latency_ms"]]
    srv = [x for r in results for x in r["server_ms"]]
    work = [x for r in results for x in r["work_ms"]]
    sizes = [x for r in results for x in r["reply_bytes"]]
    fps = [r["frames"] / wall for r in results]
    return {
        "streams": streams,
        "resolution": f"{size}x{size}",
        "pose_rate_hz": rate,
        "seconds": round(wall, 1),
        "latency_ms_p50": pct(lat, 50),
        "latency_ms_p99": pct(lat, 99),
        "server_ms_p50": pct(srv, 50),
        "server_ms_p99": pct(srv, 99),
        "render_plus_encode_ms_p50": pct(work, 50),
        "frames_per_stream": [r["frames"] for r in results],
        "fps_per_stream_min_max": [round(min(fps), 2), round(max(fps), 2)],
        "poses_sent_per_stream": [r["sent"] for r in results],
        "poses_dropped_per_stream": [r["dropped"] for r in results],
        "reply_bytes_mean": round(statistics.mean(sizes)) if sizes else None,
        "reply_bytes_max": max(sizes) if sizes else None,
        "server_rss_mib_start": rss_start,
        "server_rss_mib_max": max(samples, default=rss_start),
        "server_rss_mib_end": rss_mib(pid),
    }


def bench_completions(client: BridgeClient, target, scene_id, args, pid) -> dict:
    """Complete the scene with a coverage job, then layered geometry bytes and View latency of
    the completed render against the raw one (both on this server, one after the other)."""
    t0 = time.perf_counter()
    job = client.submit_generation(scene_id, coverage=args.completions)
    final = client.wait_job(job.job_id, progress=False)
    out: dict = {
        "coverage": args.completions,
        "job_state": final.message if final.error == "" else final.error,
        "job_seconds": round(time.perf_counter() - t0, 1),
        "generations": len(final.generations),
    }
    geometry: dict = {}
    for cap in (0, 2, 6):
        frames = list(client.stream_geometry(scene_id, include_completions=cap > 0, max_layers=cap))
        layers = [len(f.layers) for f in frames]
        layer_bytes = [la.ByteSize() for f in frames for la in f.layers]
        geometry[f"max_layers_{cap}"] = {
            "layers_per_frame_mean": round(statistics.mean(layers), 2),
            "layers_per_frame_max": max(layers),
            "bytes_per_frame_mean": round(statistics.mean(f.ByteSize() for f in frames)),
            "bytes_per_frame_max": max(f.ByteSize() for f in frames),
            "bytes_per_layer_mean": round(statistics.mean(layer_bytes)) if layer_bytes else 0,
            "bytes_per_layer_max": max(layer_bytes, default=0),
        }
    out["geometry"] = geometry
    # The first completed view of each frame fuses that frame's layers (and its neighbours');
    # measured here, so the View runs below measure the steady state.
    cold = []
    for t in range(args.frames):
        t0 = time.perf_counter()
        client.view(scene_id, np.eye(4), args.size, args.size, frame_index=t)
        cold.append((time.perf_counter() - t0) * 1e3)
    out["first_view_per_frame_ms"] = [round(x, 1) for x in cold]
    views = {}
    for label, raw in (("raw", True), ("completed", False)):
        row = {"load_average_1m": round(os.getloadavg()[0], 2)}
        row.update(
            bench_view(
                target,
                scene_id,
                args.size,
                args.rate,
                args.seconds,
                1,
                args.frames,
                pid,
                args.warmup,
                raw=raw,
            )
        )
        views[label] = row
    out["view"] = views
    out["completed_over_raw_p50"] = round(
        views["completed"]["server_ms_p50"] / views["raw"]["server_ms_p50"], 2
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=9, help="scene length in frames")
    ap.add_argument("--seconds", type=float, default=20.0, help="per View run")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured run before each")
    ap.add_argument("--streams", default="1,16", help="concurrent View streams, comma separated")
    ap.add_argument("--rate", type=float, default=90.0, help="poses per second per stream")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--backends", default="auto,torch", help="render backends, one server each (comma list)"
    )
    ap.add_argument("--render-workers", type=int, default=0)
    ap.add_argument("--torch-threads", type=int, default=0)
    ap.add_argument(
        "--completions", default="walk-small", help="coverage set to complete ('' to skip)"
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    result: dict = {
        "benchmark": "server",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": args.device,
        "render_workers": args.render_workers or "auto",
        "torch_threads": args.torch_threads or "auto",
        "frame": f"{args.size}x{args.size}",
        "scene_frames": args.frames,
        "goals": GOALS,
        # Other work on the machine slows every number here; see it alongside.
        "load_average_1m_start": round(os.getloadavg()[0], 2),
        "view": [],
    }
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            proc, target = start_server(os.path.join(tmp, "data"), args, backend)
            try:
                scene = SyntheticScene(args.size, args.size, args.frames)
                video = write_video(Path(tmp) / "scene.mp4", scene.frames(), scene.fps)
                with BridgeClient(target, progress=False) as client:
                    client.wait_ready(60)
                    info = client.upload_scene(
                        video, depth=scene.depths(), intrinsics=scene.intrinsics
                    )
                    if "geometry" not in result:
                        result["server_rss_mib_after_upload"] = rss_mib(proc.pid)
                        result["geometry"] = bench_geometry(client, info.scene_id, args.frames)
                    # Warm the mesh cache and the render path before timing.
                    with client.view_session(info.scene_id, args.size, args.size) as v:
                        for t in range(args.frames):
                            v.send(np.eye(4), frame_index=t)
                            v.receive()
                for n in args.streams.split(","):
                    row = {"backend": backend, "load_average_1m": round(os.getloadavg()[0], 2)}
                    row.update(
                        bench_view(
                            target,
                            info.scene_id,
                            args.size,
                            args.rate,
                            args.seconds,
                            int(n),
                            args.frames,
                            proc.pid,
                            args.warmup,
                        )
                    )
                    result["view"].append(row)
                if args.completions and "completions" not in result:
                    with BridgeClient(target, progress=False, timeout=3600) as client:
                        result["completions"] = bench_completions(
                            client, target, info.scene_id, args, proc.pid
                        )
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    result["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
