"""View: a bidirectional stream of head poses in and rendered views out.

The reader keeps only the newest unrendered pose of a stream (older ones count as dropped), and
one render per stream is in flight on the shared View pool, so a slow client or a slow render
never builds a backlog and never holds up another stream.

Each reply is the completed render (the library's ``CompletedScene.render``: the source DW-Mesh
and the scene's completion layers) unless the client asks for the raw raster; the scene and its
completions come from memory (``completed.CompletedScenes``), never from disk or SQLite."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import numpy as np
import torch

from .. import wire
from ..errors import InputError
from ..geometry import RenderOptions, render
from ..geometry.rendering import choose_backend
from ..video.resize import resize_image
from ..wire import view_pb2
from .completed import CompletedScenes
from .config import ServerConfig
from .errors import LimitError
from .jobs import GenerationWorker
from .memory import MemoryBudget, render_bytes
from .messages import MASK_STYLE, frame_for
from .rpc import run_in_pool
from .store import SceneStore, check_scene_id


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@dataclass
class _PendingPose:
    request: view_pb2.ViewRequest
    scene_id: str
    c2w: np.ndarray
    arrived: float


class _PoseSlot:
    """The newest unrendered pose of one View stream, shared by the event loop (which puts)
    and a render thread (which takes); a pose replaced before it is taken counts as dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: _PendingPose | None = None
        self._dropped = 0

    def put(self, item: _PendingPose) -> None:
        with self._lock:
            if self._item is not None:
                self._dropped += 1
            self._item = item

    def full(self) -> bool:
        with self._lock:
            return self._item is not None

    def take(self) -> tuple[_PendingPose | None, int]:
        with self._lock:
            item, self._item = self._item, None
            dropped, self._dropped = self._dropped, 0
            return item, dropped


class ViewStreams:
    """Serves View streams: validates each pose, renders the newest on ``pool``."""

    def __init__(
        self,
        config: ServerConfig,
        store: SceneStore,
        worker: GenerationWorker,
        pool: ThreadPoolExecutor,
        device: str | None,
        completed: CompletedScenes,
        memory: MemoryBudget,
    ) -> None:
        self.config, self.store, self.worker, self.pool = config, store, worker, pool
        self.device, self.completed, self.memory = device, completed, memory
        self.backend = choose_backend(config.render_backend, torch.device(device or "cpu"))
        self._options = {
            wire_style: RenderOptions(
                backend=config.render_backend, mask_style=style, device=device
            )
            for wire_style, style in MASK_STYLE.items()
        }

    async def serve(self, request_iterator):
        slot = _PoseSlot()
        error: BaseException | None = None
        finished = False
        wake = asyncio.Event()
        scene_id = ""
        dropped_total = 0

        async def read() -> None:
            nonlocal error, finished, scene_id
            try:
                async for req in request_iterator:
                    now = time.perf_counter()
                    wire.checked(req)
                    if req.scene_id:
                        scene_id = check_scene_id(req.scene_id)
                    if not scene_id:
                        raise InputError("the first ViewRequest must name a scene_id")
                    wire.check_resolution(req.width, req.height)
                    if req.options.mask_style not in MASK_STYLE:
                        raise InputError(f"unknown mask_style {req.options.mask_style}")
                    if req.options.jpeg_quality > 100:
                        raise InputError(f"jpeg_quality {req.options.jpeg_quality} must be 1..100")
                    if not req.HasField("pose"):
                        raise InputError("ViewRequest.pose is missing")
                    slot.put(_PendingPose(req, scene_id, wire.pose_from_msg(req.pose), now))
                    wake.set()
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as exc:  # noqa: BLE001 - reported by the writer
                error = exc
            finally:
                finished = True
                wake.set()

        reader = asyncio.create_task(read())
        try:
            while True:
                if error is not None:
                    raise error
                if not slot.full():
                    if finished:
                        break
                    # No await between the checks and clear(): the reader cannot slip in.
                    wake.clear()
                    await wake.wait()
                    continue
                # The render thread takes the pose when it starts, not now: while this stream
                # waits for a free thread, newer poses keep replacing the one it will render.
                reply, item = await run_in_pool(self.pool, self._render_latest, slot)
                dropped_total += reply.dropped
                reply.dropped_total = dropped_total
                reply.timings.total_ms = (time.perf_counter() - item.arrived) * 1e3
                reply.timings.server_time_s = time.time()
                yield reply
        finally:
            reader.cancel()

    def _render_latest(self, slot: _PoseSlot) -> tuple[view_pb2.ViewReply, _PendingPose]:
        item, dropped = slot.take()
        assert item is not None  # only this stream's writer takes, after seeing it full
        reply = self._render_view(item)
        reply.dropped = dropped
        return reply, item

    def _render_view(self, item: _PendingPose) -> view_pb2.ViewReply:
        t0 = time.perf_counter()
        req = item.request
        entry = self.completed.get(item.scene_id)
        rec = entry.record
        t = frame_for(req.WhichOneof("time"), req.frame_index, req.time_s, rec.num_frames, rec.fps)
        k = wire.view_intrinsics(
            req.width,
            req.height,
            rec.intrinsics,
            req.intrinsics if req.HasField("intrinsics") else None,
            req.fov_angles if req.HasField("fov_angles") else None,
            req.fov_y_deg,
        )
        opts = req.options
        layers = len(entry.completions.for_frame(t))
        # The reference mask style is the generation model's input: always the raw raster.
        raw = (
            opts.raw
            or opts.mask_style == view_pb2.MASK_STYLE_REFERENCE
            or not entry.has_completions
        )
        need = render_bytes(k.width, k.height, self.backend, completed=not raw)
        # Large views wait for memory held by others (up to a few seconds), then are refused.
        with self.memory.reserve(need, f"a {k.width}x{k.height} view", wait_s=10.0):
            if raw:
                mesh = self.store.mesh(item.scene_id, t, self.device)
                out = render(mesh, item.c2w, k, self._options[opts.mask_style])
                color, mask = _to_numpy(out.color), _to_numpy(out.mask)
                depth = _to_numpy(out.depth) if opts.include_depth else None
                provenance = mask.astype(np.uint8) if opts.include_provenance else None  # 0/1
                del out
            else:
                done = entry.completed.render(t, item.c2w, k)
                color, mask, depth = done.color, ~done.holes, done.depth
                provenance = done.provenance
                del done
        t1 = time.perf_counter()
        reply = view_pb2.ViewReply(
            sequence=req.sequence,
            pose=req.pose,
            client_time_s=req.client_time_s,
            frame_index=t,
            color=wire.encode_image(color, opts.color_encoding, opts.jpeg_quality),
            mask=wire.pack_bits(mask),
            intrinsics=wire.intrinsics_to_msg(k),
            completion_layers=layers,
        )
        if opts.include_depth:
            reply.depth.CopyFrom(wire.encode_depth(depth, opts.depth_encoding))
        if opts.include_provenance:
            reply.provenance.CopyFrom(wire.encode_provenance(provenance))
        if not opts.skip_generated:
            found = self.worker.find_generated(item.scene_id, item.c2w, t, k)
            if found is not None:
                job_id, frame = found
                frame = resize_image(frame, k.width, k.height)
                reply.generated.CopyFrom(
                    wire.encode_image(frame, opts.color_encoding, opts.jpeg_quality)
                )
                reply.generated_job_id = job_id
        t2 = time.perf_counter()
        size = reply.ByteSize()
        if size > self.config.max_send_bytes - 1024:
            raise LimitError(
                f"the reply would be {size} bytes, over the server's limit of "
                f"{self.config.max_send_bytes}: use JPEG colour or a smaller resolution"
            )
        reply.timings.wait_ms = (t0 - item.arrived) * 1e3
        reply.timings.render_ms = (t1 - t0) * 1e3
        reply.timings.encode_ms = (t2 - t1) * 1e3
        return reply


__all__ = ["ViewStreams"]
