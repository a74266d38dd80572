"""What the server tests share: the small synthetic clip they write and upload, and the
``client`` fixture on a module's ``server``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ex4d_bridge.client import BridgeClient
from ex4d_bridge.synthetic import SyntheticScene
from ex4d_bridge.video import write_video


def write_synthetic(
    folder: Path, scene: SyntheticScene, depth_name: str = "depth.npz"
) -> tuple[Path, Path]:
    """Write ``scene`` as ``clip.mp4`` and its depth (``.npy``, or ``.npz`` under the key
    ``depth``) into ``folder``; returns the two paths, as an upload takes them."""
    video = write_video(folder / "clip.mp4", scene.frames(), scene.fps)
    depth = folder / depth_name
    if depth.suffix == ".npy":
        np.save(depth, scene.depths())
    else:
        np.savez(depth, depth=scene.depths())
    return video, depth


def upload_synthetic(client: BridgeClient, folder: Path, scene: SyntheticScene) -> str:
    """Write ``scene`` into ``folder`` and upload it with its depth and intrinsics: its scene id."""
    video, depth = write_synthetic(folder, scene)
    return client.upload_scene(video, depth=depth, intrinsics=scene.intrinsics).scene_id


def client_fixture(timeout: float):
    """A module-scoped ``client`` fixture: a ``BridgeClient`` (no progress bars, ``timeout``
    seconds a call) on the module's ``server`` fixture."""

    @pytest.fixture(scope="module")
    def client(server):
        with BridgeClient(server.target, progress=False, timeout=timeout) as c:
            yield c

    return client
