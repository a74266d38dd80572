"""Record a walkthrough: a pose path in, an mp4 and its poses (sidecar JSON) out.

    python examples/record_walkthrough.py --target 127.0.0.1:50051 [--token T]
        [--scene-id ID | (uploads the demo scene)] [--path poses.json | --trajectory orbit:45]
        [--system unity] [--size 256] [--out out/walkthrough/]

A pose file is read here (pose-path JSON/CSV, any coordinate system) and sent as poses; a
preset (orbit:DEG, surround, yaw:DEG, dolly:DIST, spiral:R) is expanded by the server. The
sidecar lists the rendered poses in --system axes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_scene import one_line_errors, upload_demo_scene  # noqa: E402

from ex4d_bridge.camera import load_pose_path  # noqa: E402
from ex4d_bridge.client import BridgeClient  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="127.0.0.1:50051")
    ap.add_argument("--token", default=None)
    ap.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the server")
    ap.add_argument("--start-server", action="store_true", help="serve from this process")
    ap.add_argument("--scene-id", default=None, help="a stored scene (default: upload the demo)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--path", default=None, help="pose-path file (.json or .csv)")
    src.add_argument("--trajectory", default="orbit:45", help="preset (default orbit:45)")
    ap.add_argument("--system", default="opencv", help="axes of the sidecar's poses")
    ap.add_argument("--size", type=int, default=256, help="output width and height")
    ap.add_argument("--frames", type=int, default=9, help="demo scene length (frames)")
    ap.add_argument(
        "--out", default="out/walkthrough", help="output folder (default out/walkthrough)"
    )
    args = ap.parse_args()

    server = None
    if args.start_server:
        from ex4d_bridge.server.app import ServerThread
        from ex4d_bridge.server.config import ServerConfig

        server = ServerThread(ServerConfig(port=0, data_dir=Path(tempfile.mkdtemp()))).start()
        args.target = server.target
    try:
        with BridgeClient(args.target, token=args.token) as client:
            client.wait_ready(args.wait)
            scene_id = args.scene_id or upload_demo_scene(client, args.size, args.frames).scene_id
            path = load_pose_path(args.path) if args.path else args.trajectory
            files = client.record_walkthrough(
                scene_id,
                path,
                args.out,
                coordinate_system=args.system,
                width=args.size,
                height=args.size,
            )
            print(json.dumps({"scene_id": scene_id, **{k: str(v) for k, v in files.items()}}))
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(one_line_errors(main))
