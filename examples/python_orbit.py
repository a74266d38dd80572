"""Upload the demo scene, orbit it with a View stream and save the frames.

    python examples/python_orbit.py --target 127.0.0.1:50051 [--token T] [--out out/orbit_frames]
    python examples/python_orbit.py --start-server          # runs a server in this process

Poses are sent as a headset would: position + quaternion in Unity's axes (the server converts);
each reply carries the rendered colour, the visibility mask and the server's timings. Prints a
JSON summary (frames saved, reply sizes, round-trip times).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_scene import one_line_errors, upload_demo_scene  # noqa: E402

from ex4d_bridge.camera import pose_to_wire, reference_orbit  # noqa: E402
from ex4d_bridge.client import BridgeClient  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:50051")
    ap.add_argument("--token", default=None)
    ap.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the server")
    ap.add_argument("--start-server", action="store_true", help="serve from this process")
    ap.add_argument(
        "--out", default="out/orbit_frames", help="output folder (default out/orbit_frames)"
    )
    ap.add_argument("--size", type=int, default=256, help="demo scene size (pixels)")
    ap.add_argument("--frames", type=int, default=9, help="demo scene length (frames)")
    ap.add_argument("--angle", type=float, default=60.0, help="orbit angle in degrees")
    ap.add_argument("--steps", type=int, default=24, help="poses along the orbit")
    args = ap.parse_args()

    server = None
    if args.start_server:
        from ex4d_bridge.server.app import ServerThread
        from ex4d_bridge.server.config import ServerConfig

        server = ServerThread(ServerConfig(port=0, data_dir=Path(tempfile.mkdtemp()))).start()
        args.target = server.target
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with BridgeClient(args.target, token=args.token) as client:
            client.wait_ready(args.wait)
            info = upload_demo_scene(client, args.size, args.frames)
            print(f"scene {info.scene_id}: {info.num_frames} frames {info.width}x{info.height}")
            orbit = reference_orbit(info.min_depth, args.angle, args.steps)
            sizes, rtts = [], []
            with client.view_session(
                info.scene_id, info.width, info.height, coordinate_system="unity"
            ) as view:
                for i, c2w in enumerate(orbit.poses):
                    pos, quat = pose_to_wire(c2w, "unity")  # what a Unity client would send
                    t = int(round(i * (info.num_frames - 1) / max(1, args.steps - 1)))
                    t0 = time.perf_counter()
                    view.send((pos, quat), frame_index=t)
                    frame = view.receive()  # one pose at a time: nothing is dropped
                    rtts.append((time.perf_counter() - t0) * 1e3)
                    sizes.append(frame.reply_bytes)
                    cv2.imwrite(str(out / f"color_{i:03d}.png"), frame.color[..., ::-1])
                    cv2.imwrite(str(out / f"mask_{i:03d}.png"), frame.mask.astype(np.uint8) * 255)
            summary = {
                "scene_id": info.scene_id,
                "frames_saved": len(sizes),
                "out": str(out),
                "reply_bytes_mean": round(statistics.mean(sizes)),
                "reply_bytes_max": max(sizes),
                "round_trip_ms_p50": round(statistics.median(rtts), 2),
            }
            print(json.dumps(summary))
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(one_line_errors(main))
