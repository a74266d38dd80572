"""Server settings, checked before anything listens."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import Ex4dError
from .jobs import CompleterSpec
from .ray_settings import RaySettings

MIB = 1 << 20
_TOKEN_RE = re.compile(r"[\x21-\x7e]{8,512}")  # visible ASCII: a valid metadata value


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    """Everything ``ex4d-bridge serve`` can set; see docs/server.md.

    ``completer`` is a ``NovelViewCompleter``, or a factory (called once, on the generation
    worker thread, when the first job runs) returning one; ``serve`` makes that factory from
    ``--base``/``--adapter``/``--preset`` and the memory flags of ``generate`` (or from
    ``--completer``). None uses the classical fallback unless ``allow_fallback`` is False, in
    which case SubmitGeneration fails with FAILED_PRECONDITION.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    data_dir: Path = Path("ex4d_data")
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The gRPC health service answers without a token (for probes that cannot send one).
    open_health: bool = False
    reflection: bool = True
    # Message-size limits (gRPC rejects larger messages with RESOURCE_EXHAUSTED).
    max_receive_bytes: int = 8 * MIB
    max_send_bytes: int = 16 * MIB
    # Upload limits: the video plus depth, or a bundle.
    max_upload_bytes: int = 2048 * MIB
    # The largest scene an upload may become, decoded: frames x height x width x 7 bytes (RGB
    # plus float32 depth). Video frames, provided depth and bundle arrays are checked against
    # it, as declared, before they are decoded or inflated.
    max_scene_bytes: int = 1024 * MIB
    max_scene_frames: int = 4096
    # Bridge calls in progress at once, counted from their first complete request message
    # (after authentication); health checks are never counted.
    max_concurrent_rpcs: int = 256
    # Seconds a call may take to deliver its first request message; a client stream (View,
    # UploadScene) that sends nothing for stream_idle_s is closed (DEADLINE_EXCEEDED).
    first_message_s: float = 10.0
    stream_idle_s: float = 60.0
    # HTTP/2 streams one connection may hold open; connections without calls close after
    # connection_idle_s; keepalive pings every keepalive_s find dead peers.
    max_streams_per_connection: int = 64
    connection_idle_s: float = 300.0
    keepalive_s: float = 60.0
    # Poses in one SubmitGeneration or RecordWalkthrough path.
    max_path_poses: int = 4096
    # Frames a walkthrough may hold in memory before encoding, in bytes of RGB.
    max_walkthrough_bytes: int = 2048 * MIB
    # Memory the server's requests may hold at once, by their estimates (server/memory.py);
    # 0: 60% of the machine's memory.
    max_memory_bytes: int = 0
    # Threads that render View frames (0: one per CPU core, at most 8); batch work (uploads,
    # walkthroughs, exports) has its own threads so it never holds up View.
    render_workers: int = 0
    batch_workers: int = 2
    # torch CPU threads of each render thread (View and batch pools); 0: the thread policy of
    # ex4d_bridge.runtime (one each, or EX4D_THREADS). Other threads keep their own setting.
    torch_threads: int = 0
    render_backend: str = "auto"
    device: str = "cpu"
    default_max_size: int = 512
    depth_model: Path | None = None
    completer: CompleterSpec = None
    allow_fallback: bool = True
    scene_cache: int = 4
    mesh_cache: int = 32
    # Memory for scenes held with their completion layers for View and StreamGeometry
    # (least recently used scenes are dropped past it; one scene is always kept).
    completion_cache_bytes: int = 2 << 30
    # Completed views fill what a frame's own layers leave empty from the layers of frames
    # t-1, t+1, ... t-w, t+w (the library's CompositeOptions.window): a smaller window renders
    # faster and leaves a few more holes (docs/server.md, Performance).
    completion_window: int = 8
    # Seconds a stopping server gives running calls to finish.
    grace_s: float = 2.0
    # Generation on a Ray cluster (``serve --ray``); None: the in-process worker.
    ray: RaySettings | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @property
    def view_threads(self) -> int:
        # At least two, so one slow stream (a huge resolution) never holds up the others.
        return self.render_workers or max(2, min(8, os.cpu_count() or 1))

    def validate(self) -> None:
        if not (0 <= int(self.port) <= 65535):
            raise Ex4dError(f"--port {self.port} must be 0..65535 (0 picks a free port)")
        if not 0 <= int(self.completion_window) <= 64:
            raise Ex4dError(
                f"--completion-window {self.completion_window} must be 0..64 (0: a frame's own "
                "layers only)"
            )
        if self.token is not None and not _TOKEN_RE.fullmatch(self.token):
            raise Ex4dError(
                "--token must be 8 to 512 visible ASCII characters (no spaces), e.g. the output "
                "of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        if not is_loopback(self.host) and not self.token:
            raise Ex4dError(
                f"refusing to listen on {self.host}, which other machines can reach, without a "
                "token: pass --token T (clients send 'authorization: Bearer T'), preferably "
                "with --tls-cert/--tls-key, or listen on 127.0.0.1"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise Ex4dError("--tls-cert and --tls-key go together: give both or neither")
        for flag, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key)):
            if path is not None and not Path(path).is_file():
                raise Ex4dError(f"{flag} {path} does not exist")
        if self.depth_model is not None and not Path(self.depth_model).is_dir():
            raise Ex4dError(
                f"--depth-model {self.depth_model} is not a folder; give a local transformers "
                "depth checkpoint or a hub id such as depth-anything/Depth-Anything-V2-Small-hf"
            )
        for name in ("max_receive_bytes", "max_send_bytes", "max_upload_bytes", "max_scene_bytes"):
            if getattr(self, name) < 64 * 1024:
                raise Ex4dError(f"{name} must be at least 64 KiB")
        for name in ("max_concurrent_rpcs", "max_streams_per_connection", "max_scene_frames"):
            if int(getattr(self, name)) < 1:
                raise Ex4dError(f"{name} must be at least 1")
        if self.ray is not None:
            self.ray.validate()
        for name in ("first_message_s", "stream_idle_s", "connection_idle_s", "keepalive_s"):
            v = float(getattr(self, name))
            if not (v > 0 and v < 1e6):
                raise Ex4dError(f"{name} must be a positive number of seconds, got {v}")
