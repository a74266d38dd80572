"""A 90 Hz View client and a health checker while attackers hold 256 streams open (issue 13).

    python -m bench.server_abuse [--seconds 7] [--streams 256] [--size 128] [--rate 90]
                                 [--baseline-pythonpath DIR] [--out FILE]

The server runs as ``ex4d-bridge serve --token T`` in its own process. One View stream (with
the token) sends poses at ``--rate`` through the whole run and a health check goes out every
second; between quiet phases, attackers open ``--streams`` streams:

* ``truncated_unauthenticated``: raw HTTP/2 streams without a token, each sending 5 bytes of
  a message that declares 1000 and half-closing (written by hand: no gRPC on that side);
* ``truncated_authenticated``: the same with the token;
* ``idle_view``: gRPC View streams with the token that send one pose and then nothing.

Per phase: the View client's frames per second and round-trip p50/p99 (pose sent to its reply
received), and how many health checks were answered SERVING. Goal: health always answered, the
View client within 20% of its undisturbed frame rate. ``--baseline-pythonpath`` runs the same
phases against another checkout of the package (e.g. the code before the fix) afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import emit, environment
from ex4d_bridge.client import BridgeClient
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video
from ex4d_bridge.wire import bridge_pb2_grpc, common_pb2, view_pb2

TOKEN = "bench-abuse-token-0123456789"
META = (("authorization", f"Bearer {TOKEN}"),)
STREAMS_PER_CONNECTION = 32  # under the server's per-connection limit
GOAL_FPS_RATIO = 0.8


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def start_server(data_dir: str, pythonpath: str | None) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, "-m", "ex4d_bridge", "serve", "--port", "0", "--data-dir", data_dir]
    cmd += ["--token", TOKEN, "--render-workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=pythonpath)
    m = re.search(r"serving on (\S+):(\d+)", proc.stdout.readline())
    if not m:
        proc.kill()
        raise SystemExit("the server did not start")
    return proc, f"{m.group(1)}:{m.group(2)}"


# -- attackers -------------------------------------------------------------------------------


def _frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    head = struct.pack(">I", len(payload))[1:] + bytes([ftype, flags])
    return head + struct.pack(">I", stream) + payload


def _literal(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def open_truncated(port: int, n: int, token: str | None) -> list[socket.socket]:
    socks = []
    for first in range(0, n, STREAMS_PER_CONNECTION):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0))
        for i in range(min(STREAMS_PER_CONNECTION, n - first)):
            headers = [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/ex4d.v1.Bridge/ListScenes"),
                (":authority", f"127.0.0.1:{port}"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ]
            if token:
                headers.append(("authorization", f"Bearer {token}"))
            block = b"".join(_literal(k, v) for k, v in headers)
            sid = 2 * i + 1
            s.sendall(_frame(1, 0x4, sid, block) + _frame(0, 0x1, sid, struct.pack(">BI", 0, 1000)))
        socks.append(s)
    return socks


async def open_idle_views(target: str, scene_id: str, n: int):
    """``n`` View streams that send one pose each, then nothing."""
    channels, calls, hold = [], [], asyncio.Event()
    for first in range(0, n, STREAMS_PER_CONNECTION):
        ch = grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        channels.append(ch)
        stub = bridge_pb2_grpc.BridgeStub(ch)
        for _ in range(min(STREAMS_PER_CONNECTION, n - first)):

            async def one_pose():
                yield view_pb2.ViewRequest(
                    scene_id=scene_id, width=16, height=16, pose=head_pose(0, 0)
                )
                await hold.wait()

            calls.append(stub.View(one_pose(), metadata=META))

    async def drain(call):
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        except asyncio.CancelledError:
            return "open until the phase ended"
        return "OK"

    tasks = [asyncio.create_task(drain(c)) for c in calls]

    async def close() -> dict:
        """How each stream fared: ended by the server (its status) or still open."""
        hold.set()
        for c in calls:
            c.cancel()
        codes = await asyncio.gather(*tasks)
        for ch in channels:
            await ch.close()
        return {name: codes.count(name) for name in sorted(set(codes))}

    return close


# -- the measured client -----------------------------------------------------------------------


def head_pose(i: int, rate: float) -> common_pb2.Pose:
    a = 2 * math.pi * 0.25 * i / max(rate, 1.0)
    yaw = 0.3 * math.sin(a)
    return common_pb2.Pose(
        position=common_pb2.Vec3(x=0.05 * math.sin(a)),
        rotation=common_pb2.Quaternion(y=math.sin(yaw / 2), w=math.cos(yaw / 2)),
        coordinate_system=common_pb2.COORDINATE_SYSTEM_OPENGL,
    )


async def view_client(target, scene_id, size, rate, log: list, errors: list, stop: asyncio.Event):
    sent: dict[int, float] = {}
    async with grpc.aio.insecure_channel(target) as ch:
        stub = bridge_pb2_grpc.BridgeStub(ch)
        while not stop.is_set():
            t_start = time.perf_counter()

            async def poses(t_start=t_start):
                i = 0
                while not stop.is_set():
                    i += 1
                    sent[i] = time.perf_counter()
                    yield view_pb2.ViewRequest(
                        scene_id=scene_id if i == 1 else "",
                        sequence=i,
                        pose=head_pose(i, rate),
                        width=size,
                        height=size,
                    )
                    await asyncio.sleep(max(0.0, t_start + i / rate - time.perf_counter()))

            call = stub.View(poses(), metadata=META)
            try:
                async for reply in call:
                    now = time.perf_counter()
                    log.append((now, (now - sent.pop(reply.sequence)) * 1e3))
                    for s in [s for s in sent if s < reply.sequence]:
                        del sent[s]
            except grpc.aio.AioRpcError as exc:
                errors.append((time.perf_counter(), exc.code().name))
                await asyncio.sleep(0.2)  # then open a new stream, as a client would


async def health_checker(target, log: list, stop: asyncio.Event):
    async with grpc.aio.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r = await stub.Check(health_pb2.HealthCheckRequest(), metadata=META, timeout=2)
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)
            except grpc.aio.AioRpcError as exc:
                status = exc.code().name
            log.append((t0, status, (time.perf_counter() - t0) * 1e3))
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))


async def run_phases(target, port, scene_id, args) -> list[dict]:
    view_log, view_errors, health_log = [], [], []
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(
            view_client(target, scene_id, args.size, args.rate, view_log, view_errors, stop)
        ),
        asyncio.create_task(health_checker(target, health_log, stop)),
    ]
    await asyncio.sleep(5.0)  # warm: caches, first renders, lazily compiled kernels
    phases = []
    for name in (
        "undisturbed",
        "truncated_unauthenticated",
        "truncated_authenticated",
        "idle_view",
    ):
        closer, socks = None, []
        if name.startswith("truncated"):
            token = TOKEN if name == "truncated_authenticated" else None
            socks = await asyncio.to_thread(open_truncated, port, args.streams, token)
        elif name == "idle_view":
            closer = await open_idle_views(target, scene_id, args.streams)
        await asyncio.sleep(1.0)  # the attack settles (idle views: their one render each)
        w0 = time.perf_counter()
        await asyncio.sleep(args.seconds)
        w1 = time.perf_counter()
        attack_result = await closer() if closer else None
        for s in socks:
            s.close()
        lat = [ms for t, ms in view_log if w0 <= t < w1]
        checks = [(s, ms) for t, s, ms in health_log if w0 <= t < w1]
        phases.append(
            {
                "phase": name,
                "attack_streams": 0 if name == "undisturbed" else args.streams,
                "view_fps": round(len(lat) / (w1 - w0), 1),
                "view_latency_ms_p50": pct(lat, 50),
                "view_latency_ms_p99": pct(lat, 99),
                "view_stream_errors": [c for t, c in view_errors if w0 <= t < w1],
                "health_checks": len(checks),
                "health_serving": sum(s == "SERVING" for s, _ in checks),
                "health_other": sorted({s for s, _ in checks if s != "SERVING"}),
                "health_ms_max": round(max((ms for _, ms in checks), default=0.0), 1),
                "idle_view_stream_outcomes": attack_result,
            }
        )
        await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    base = phases[0]["view_fps"] or 1.0
    for p in phases:
        p["view_fps_ratio"] = round(p["view_fps"] / base, 2)
        p["goal_met"] = (
            p["health_serving"] == p["health_checks"] and p["view_fps_ratio"] >= GOAL_FPS_RATIO
        )
    return phases


def bench_server(args, pythonpath: str | None) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        s = SyntheticScene(args.size, args.size, 8)
        video = write_video(f"{tmp}/clip.mp4", s.frames(), s.fps)
        np.save(f"{tmp}/depth.npy", s.depths())
        proc, target = start_server(f"{tmp}/data", pythonpath)
        try:
            with BridgeClient(target, token=TOKEN, progress=False) as c:
                scene_id = c.upload_scene(
                    video, depth=f"{tmp}/depth.npy", intrinsics=s.intrinsics
                ).scene_id
            port = int(target.rsplit(":", 1)[1])
            return asyncio.run(run_phases(target, port, scene_id, args))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--seconds",
        type=float,
        default=7.0,
        help="per phase (under 10: the "
        "server's first-message timeout would end the truncated streams)",
    )
    p.add_argument("--streams", type=int, default=256)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--rate", type=float, default=90.0)
    p.add_argument("--baseline-pythonpath", default=None, help="another checkout to compare")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    result = {
        "environment": environment("server_abuse", "grpc"),
        "settings": {
            "seconds_per_phase": args.seconds,
            "attack_streams": args.streams,
            "view": f"{args.size}x{args.size} JPEG at {args.rate} Hz, one stream with the token",
            "health": "one Check a second with the token, 2 s deadline",
            "goal": f"every health check SERVING; View fps >= {GOAL_FPS_RATIO} x undisturbed",
        },
        "this_checkout": bench_server(args, None),
    }
    if args.baseline_pythonpath:
        result["baseline"] = {
            "pythonpath": args.baseline_pythonpath,
            "phases": bench_server(args, args.baseline_pythonpath),
        }
    emit(result, args.out)


if __name__ == "__main__":
    main()
