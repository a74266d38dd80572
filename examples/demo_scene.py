"""Shared by the examples: make the demo scene's video and depth, and upload them."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ex4d_bridge.client import BridgeClient
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video


def upload_demo_scene(client: BridgeClient, size: int = 256, frames: int = 9):
    """Render the built-in synthetic scene (known depth), write it as an mp4 plus a depth .npz
    and upload both; returns the server's SceneInfo."""
    scene = SyntheticScene(width=size, height=size, num_frames=frames)
    with tempfile.TemporaryDirectory() as tmp:
        video = write_video(Path(tmp) / "demo.mp4", scene.frames(), scene.fps)
        np.savez(Path(tmp) / "depth.npz", depth=scene.depths())
        return client.upload_scene(
            video,
            depth=Path(tmp) / "depth.npz",
            intrinsics=scene.intrinsics,
            name="ex4d demo scene",
        )


def one_line_errors(main: Callable[[], int]) -> int:
    """Run an example's ``main``; a server that cannot be reached, a refused token, bad input
    and the like end as one line on stderr and exit status 2, as the CLI does."""
    import grpc

    from ex4d_bridge.errors import Ex4dError

    hints = {
        grpc.StatusCode.UNAVAILABLE: "is a server running at --target? start one with "
        "`ex4d-bridge serve`, or pass --start-server",
        grpc.StatusCode.UNAUTHENTICATED: "pass the server's token with --token",
        grpc.StatusCode.DEADLINE_EXCEEDED: "the server did not answer in time",
    }
    try:
        return main()
    except grpc.RpcError as exc:
        code = exc.code()
        detail = (exc.details() or "").splitlines()[0] if exc.details() else ""
        hint = hints.get(code, "")
        print(
            f"error: {code.name}: {detail}" + (f" ({hint})" if hint else ""),
            file=sys.stderr,
        )
    except (Ex4dError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except (TimeoutError, grpc.FutureTimeoutError):
        print(
            f"error: UNAVAILABLE: no answer ({hints[grpc.StatusCode.UNAVAILABLE]})",
            file=sys.stderr,
        )
    return 2
