"""Shared by the examples: make the demo scene's video and depth, and upload them."""

from __future__ import annotations

import tempfile
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
