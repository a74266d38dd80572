"""The ``ex4d.v1.Bridge`` service on grpc.aio: validates requests, calls the library stages,
encodes replies. Status codes: see ``rpc_errors`` and docs/server.md.

Threads: View renders run on a pool of their own (torch and OpenCV release the GIL), one render
in flight per stream, so a slow stream never holds up another; uploads, exports and
walkthroughs run on a separate batch pool; generation runs on the single worker of ``jobs``.
The event loop only moves messages.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import torch

from .. import wire
from ..camera import Intrinsics, Trajectory, parse_trajectory, pose_from_wire
from ..errors import Cancelled, Ex4dError, InputError
from ..generation import SamplingParams
from ..geometry import RenderOptions, export_mesh, render
from ..scene import render_trajectory, save_walkthrough
from ..wire import (
    bridge_pb2_grpc,
    common_pb2,
    geometry_pb2,
    jobs_pb2,
    scenes_pb2,
    view_pb2,
)
from .config import ServerConfig
from .errors import LimitError, NotFoundError, PreconditionError
from .jobs import (
    GenerationParams,
    GenerationWorker,
    JobDB,
    JobRecord,
    JobState,
    check_job_id,
)
from .store import SceneRecord, SceneStore, check_scene_id

log = logging.getLogger(__name__)

_STATUS = (
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (LimitError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Ex4dError, grpc.StatusCode.INVALID_ARGUMENT),  # InputError and other bad input
)
# Presets a client may name; file paths are never read on a client's behalf.
_PRESET_RE = re.compile(r"\s*(surround|(orbit|yaw|dolly|spiral)\s*:\s*[-+]?[0-9.]+(e[-+]?\d+)?)\s*")
_MASK_STYLE = {
    view_pb2.MASK_STYLE_UNSPECIFIED: "face",
    view_pb2.MASK_STYLE_FACE: "face",
    view_pb2.MASK_STYLE_REFERENCE: "reference",
}
_DEPTH_KIND = {
    scenes_pb2.DEPTH_KIND_UNSPECIFIED: "depth",
    scenes_pb2.DEPTH_KIND_DEPTH: "depth",
    scenes_pb2.DEPTH_KIND_DISPARITY: "disparity",
    scenes_pb2.DEPTH_KIND_RELATIVE: "relative",
}
_JOB_STATE = {s: getattr(jobs_pb2, f"JOB_STATE_{s.value}") for s in JobState}


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code, str(exc)[:2000]
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"


def rpc_errors(fn: Callable) -> Callable:
    """Answer library errors with their status code; log and hide unexpected ones."""

    async def abort(context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code, message = status_for(exc)
        if code == grpc.StatusCode.INTERNAL:
            log.error("%s failed", fn.__name__, exc_info=exc)
        await context.abort(code, message)

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(self, request, context):
            try:
                wire.checked(request)
                async for item in fn(self, request, context):
                    yield item
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to a status code
                await abort(context, exc)

        return stream

    @functools.wraps(fn)
    async def unary_checked(self, request, context):
        try:
            return await fn(self, wire.checked(request), context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a status code
            await abort(context, exc)

    return unary_checked


async def _run(pool: ThreadPoolExecutor, fn: Callable, *args: Any) -> Any:
    """Run ``fn`` on ``pool``; if the call is cancelled (client gone, deadline), the event
    passed as ``cancel=`` is set so the thread stops at its next check."""
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    call = (
        functools.partial(fn, *args, cancel=cancel)
        if _takes_cancel(fn)
        else functools.partial(fn, *args)
    )
    try:
        return await loop.run_in_executor(pool, call)
    finally:
        cancel.set()


@functools.cache
def _takes_cancel(fn: Callable) -> bool:
    return "cancel" in inspect.signature(fn).parameters


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def scene_info(rec: SceneRecord, created: bool = False) -> scenes_pb2.SceneInfo:
    return scenes_pb2.SceneInfo(
        scene_id=rec.scene_id,
        name=rec.name,
        num_frames=rec.num_frames,
        width=rec.width,
        height=rec.height,
        fps=rec.fps,
        intrinsics=wire.intrinsics_to_msg(rec.intrinsics),
        min_depth=rec.min_depth,
        depth_source=rec.depth_source,
        created_unix_s=rec.created_unix_s,
        created=created,
        size_bytes=rec.size_bytes,
    )


def job_msg(rec: JobRecord) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        job_id=rec.job_id,
        scene_id=rec.scene_id,
        state=_JOB_STATE[rec.state],
        progress_done=rec.progress_done,
        progress_total=rec.progress_total,
        message=rec.message,
        error=rec.error,
        created_unix_s=rec.created_unix_s,
        started_unix_s=rec.started_unix_s,
        finished_unix_s=rec.finished_unix_s,
        completer=rec.completer,
        num_frames=rec.num_frames,
        queue_position=rec.queue_position,
    )


def frame_for(
    req_time: str | None, frame_index: int, time_s: float, num_frames: int, fps: float
) -> int:
    """Source frame of a request's ``time`` oneof: an index (checked) or a looped time."""
    if req_time == "frame_index":
        if frame_index >= num_frames:
            raise InputError(
                f"frame_index {frame_index} is out of range: the scene has {num_frames} frames"
            )
        return int(frame_index)
    if req_time == "time_s":
        if not (math.isfinite(time_s) and time_s >= 0):
            raise InputError(f"time_s {time_s} must be a finite number >= 0")
        return int(round(time_s * fps)) % num_frames
    return 0


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


class BridgeService(bridge_pb2_grpc.BridgeServicer):
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        data = Path(config.data_dir)
        self.store = SceneStore(
            data,
            scene_cache=config.scene_cache,
            mesh_cache=config.mesh_cache,
            max_scene_bytes=config.max_upload_bytes * 8,
        )
        self.db = JobDB(self.store.root / "jobs.sqlite")
        self.device = config.device if config.device != "cpu" else None
        self.worker = GenerationWorker(
            self.store,
            self.db,
            self.store.root / "jobs",
            completer=config.completer,
            allow_fallback=config.allow_fallback,
            render_options=RenderOptions(backend=config.render_backend, device=self.device),
        )
        self.view_pool = ThreadPoolExecutor(config.view_threads, thread_name_prefix="ex4d-view")
        self.batch_pool = ThreadPoolExecutor(
            max(1, config.batch_workers), thread_name_prefix="ex4d-batch"
        )
        self._view_options = {
            wire_style: RenderOptions(
                backend=config.render_backend, mask_style=style, device=self.device
            )
            for wire_style, style in _MASK_STYLE.items()
        }

    def close(self) -> None:
        self.worker.stop()
        self.view_pool.shutdown(wait=False, cancel_futures=True)
        self.batch_pool.shutdown(wait=False, cancel_futures=True)
        self.db.close()

    # -- scenes --------------------------------------------------------------------------

    @rpc_errors
    async def UploadScene(self, request_iterator, context):
        staging = self.store.staging_dir("upload-")
        try:
            return await self._upload(request_iterator, staging)
        finally:
            await asyncio.to_thread(_rmtree, staging)

    async def _upload(self, request_iterator: AsyncIterator, staging: Path):
        limit = self.config.max_upload_bytes
        header: scenes_pb2.UploadHeader | None = None
        files: dict[str, Any] = {}
        total = 0
        try:
            async for msg in request_iterator:
                kind = wire.checked(msg).WhichOneof("payload")
                if header is None:
                    if kind != "header":
                        raise InputError("the first UploadScene message must be an UploadHeader")
                    header = msg.header
                    self._check_upload_header(header)
                    continue
                if kind == "header":
                    raise InputError("an upload has one UploadHeader, first")
                if kind is None:
                    continue
                allowed = ("bundle_chunk",) if header.is_bundle else ("video_chunk", "depth_chunk")
                if kind not in allowed:
                    raise InputError(
                        f"{kind} does not belong in this upload (is_bundle={header.is_bundle}, "
                        f"has_depth={header.has_depth})"
                    )
                if kind == "depth_chunk" and not header.has_depth:
                    raise InputError("depth_chunk sent but the header says has_depth=false")
                data = getattr(msg, kind)
                total += len(data)
                if total > limit:
                    raise LimitError(f"the upload exceeds the server's limit of {limit} bytes")
                if kind not in files:
                    files[kind] = open(staging / kind, "wb")  # noqa: SIM115 - closed below
                files[kind].write(data)
        finally:
            for f in files.values():
                f.close()
        if header is None:
            raise InputError("empty upload: send an UploadHeader and the video")
        return await _run(self.batch_pool, self._reconstruct, header, staging)

    def _check_upload_header(self, h: scenes_pb2.UploadHeader) -> None:
        from ..video import VIDEO_EXTENSIONS

        limit = self.config.max_upload_bytes
        if h.video_size + h.depth_size > limit:
            raise LimitError(
                f"the upload ({h.video_size + h.depth_size} bytes) exceeds the server's limit of "
                f"{limit} bytes"
            )
        if h.is_bundle:
            return
        suffix = Path(h.filename).suffix.lower()
        if suffix not in VIDEO_EXTENSIONS:
            raise InputError(
                f"filename {h.filename[:100]!r} has no video extension: use one of "
                f"{', '.join(VIDEO_EXTENSIONS)}"
            )
        if not h.has_depth and self.config.depth_model is None:
            raise PreconditionError(
                "this server has no depth model, so an upload must bring its depth: send an "
                ".npz/.npy with the video (has_depth=true), or start the server with "
                "--depth-model DIR (a local transformers depth checkpoint; nothing can be "
                "downloaded)"
            )
        o = h.options
        if o.depth_kind not in scenes_pb2.DepthKind.values():
            raise InputError(f"unknown depth_kind {o.depth_kind}")
        for name in ("focal_px", "fov_x_deg", "depth_scale"):
            v = getattr(o, name)
            if not math.isfinite(v) or v < 0:
                raise InputError(f"options.{name} = {v} must be a finite number >= 0")

    def _reconstruct(
        self, h: scenes_pb2.UploadHeader, staging: Path, cancel: threading.Event
    ) -> scenes_pb2.SceneInfo:
        if h.is_bundle:
            path = staging / "bundle_chunk"
            if not path.is_file():
                raise InputError("the bundle upload carried no bundle_chunk data")
            scene, name = self.store.scene_from_bundle(path.read_bytes())
            source = "bundle"
            name = h.options.name or name
        else:
            scene, source = self._scene_from_video(h, staging)
            name = h.options.name
        if cancel.is_set():
            raise asyncio.CancelledError()
        rec, created = self.store.put(scene, name=name, depth_source=source)
        return scene_info(rec, created)

    def _scene_from_video(self, h: scenes_pb2.UploadHeader, staging: Path):
        from ..scene import DepthSpec, load_clip, reconstruct

        video = staging / "video_chunk"
        if not video.is_file() or video.stat().st_size == 0:
            raise InputError("the upload carried no video data")
        named = video.rename(staging / f"video{Path(h.filename).suffix.lower()}")
        o = h.options
        clip = load_clip(named, o.num_frames or None, o.max_size or self.config.default_max_size)
        if h.has_depth:
            raw = staging / "depth_chunk"
            if not raw.is_file():
                raise InputError("has_depth=true but no depth_chunk data arrived")
            with open(raw, "rb") as f:
                magic = f.read(6)
            suffix = ".npz" if magic.startswith(b"PK") else ".npy" if magic == b"\x93NUMPY" else ""
            if not suffix:
                raise InputError("depth must be a .npz or .npy file ([T, H, W] depth)")
            depth = DepthSpec(
                provided=raw.rename(staging / f"depth{suffix}"),
                scale=o.depth_scale or 1.0,
                kind=_DEPTH_KIND[o.depth_kind],
            )
        else:
            depth = DepthSpec(model=self.config.depth_model, device=self.config.device)
        estimator = depth.estimator()
        k = None
        if h.HasField("intrinsics"):
            k = wire.intrinsics_from_msg(h.intrinsics, clip.width, clip.height)
        scene = reconstruct(
            clip,
            estimator,
            # Explicit intrinsics win over a focal length, which wins over a field of view.
            intrinsics=k,
            focal_px=(o.focal_px or None) if k is None else None,
            fov_x_deg=(o.fov_x_deg or None) if k is None and not o.focal_px else None,
            source=Path(h.filename).name[:200],
            progress=False,
        )
        return scene, estimator.name

    @rpc_errors
    async def ListScenes(self, request, context):
        records = await asyncio.to_thread(self.store.list)
        return scenes_pb2.ListScenesResponse(scenes=[scene_info(r) for r in records])

    @rpc_errors
    async def GetScene(self, request, context):
        return scene_info(await asyncio.to_thread(self.store.get, request.scene_id))

    @rpc_errors
    async def DeleteScene(self, request, context):
        await asyncio.to_thread(self.store.delete, request.scene_id)
        return scenes_pb2.DeleteSceneResponse(scene_id=request.scene_id)

    @rpc_errors
    async def ExportScene(self, request, context):
        check_scene_id(request.scene_id)
        data = await _run(self.batch_pool, self.store.bundle_bytes, request.scene_id)
        for chunk in wire.byte_chunks(data, f"{request.scene_id}.ex4d", "application/msgpack"):
            yield chunk

    # -- geometry ------------------------------------------------------------------------

    @rpc_errors
    async def StreamGeometry(self, request, context):
        rec = await asyncio.to_thread(self.store.get, request.scene_id)
        last = request.last_frame or rec.num_frames - 1
        if not request.first_frame <= last < rec.num_frames:
            raise InputError(
                f"frames {request.first_frame}..{last} are out of range: the scene has "
                f"{rec.num_frames} frames"
            )
        if request.jpeg_quality > 100:
            raise InputError(f"jpeg_quality {request.jpeg_quality} must be 1..100")
        for t in range(request.first_frame, last + 1):
            yield await _run(self.batch_pool, self._mesh_frame, rec, t, request)

    def _mesh_frame(self, rec: SceneRecord, t: int, req, cancel: threading.Event):
        t0 = time.perf_counter()
        mesh = self.store.mesh(rec.scene_id, t, self.device).numpy()
        t1 = time.perf_counter()
        frame = wire.encode_mesh_frame(
            mesh.depth,
            mesh.colors,
            None if req.skip_occluded else mesh.occluded,
            mesh.intrinsics,
            mesh.far_depth,
            mesh.vertices[-1],
            depth_encoding=req.depth_encoding,
            color_encoding=req.color_encoding,
            jpeg_quality=req.jpeg_quality,
            scene_id=rec.scene_id,
            frame_index=t,
            num_frames=rec.num_frames,
            time_s=t / rec.fps,
        )
        t2 = time.perf_counter()
        frame.timings.CopyFrom(
            common_pb2.ServerTimings(
                render_ms=(t1 - t0) * 1e3,
                encode_ms=(t2 - t1) * 1e3,
                total_ms=(t2 - t0) * 1e3,
                server_time_s=time.time(),
            )
        )
        return frame

    @rpc_errors
    async def ExportMesh(self, request, context):
        rec = await asyncio.to_thread(self.store.get, request.scene_id)
        limit = self.config.max_send_bytes - 64 * 1024
        chunk = request.chunk_bytes or min(wire.CHUNK_BYTES, limit)
        if chunk > limit:
            raise LimitError(f"chunk_bytes {chunk} is over the server's message limit ({limit})")
        if request.frame_index >= rec.num_frames:
            raise InputError(
                f"frame_index {request.frame_index} is out of range ({rec.num_frames} frames)"
            )
        name, ctype, data = await _run(self.batch_pool, self._mesh_bytes, rec, request)
        for piece in wire.byte_chunks(data, name, ctype, chunk):
            yield piece

    def _mesh_bytes(self, rec: SceneRecord, req, cancel: threading.Event):
        mesh = self.store.mesh(rec.scene_id, int(req.frame_index), self.device).numpy()
        stem = f"{rec.scene_id}_{req.frame_index:05d}"
        if req.format in (geometry_pb2.MESH_FORMAT_UNSPECIFIED, geometry_pb2.MESH_FORMAT_MSGPACK):
            arrays = (mesh.vertices, mesh.faces, mesh.colors, mesh.occluded)
            data = wire.encode_mesh_msgpack(*arrays, mesh.intrinsics, mesh.far_depth)
            return f"{stem}.msgpack", "application/msgpack", data
        suffix = {geometry_pb2.MESH_FORMAT_GLB: ".glb", geometry_pb2.MESH_FORMAT_PLY: ".ply"}
        if req.format not in suffix:
            raise InputError(f"unknown mesh format {req.format}: use MSGPACK, GLB or PLY")
        staging = self.store.staging_dir("mesh-")
        try:
            path = export_mesh(mesh, staging / f"{stem}{suffix[req.format]}")
            ctype = (
                "model/gltf-binary"
                if req.format == geometry_pb2.MESH_FORMAT_GLB
                else "application/x-ply"
            )
            return path.name, ctype, path.read_bytes()
        finally:
            _rmtree(staging)

    # -- view ----------------------------------------------------------------------------

    @rpc_errors
    async def View(self, request_iterator, context):
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
                    if req.options.mask_style not in _MASK_STYLE:
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
                reply, item = await _run(self.view_pool, self._render_latest, slot)
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
        rec = self.store.get(item.scene_id)
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
        mesh = self.store.mesh(item.scene_id, t, self.device)
        out = render(mesh, item.c2w, k, self._view_options[opts.mask_style])
        color, mask = _to_numpy(out.color), _to_numpy(out.mask)
        t1 = time.perf_counter()
        reply = view_pb2.ViewReply(
            sequence=req.sequence,
            pose=req.pose,
            client_time_s=req.client_time_s,
            frame_index=t,
            color=wire.encode_image(color, opts.color_encoding, opts.jpeg_quality),
            mask=wire.pack_bits(mask),
            intrinsics=wire.intrinsics_to_msg(k),
        )
        if opts.include_depth:
            reply.depth.CopyFrom(wire.encode_depth(_to_numpy(out.depth), opts.depth_encoding))
        if not opts.skip_generated:
            found = self.worker.find_generated(item.scene_id, item.c2w, t, k)
            if found is not None:
                job_id, frame = found
                if frame.shape[:2] != (k.height, k.width):
                    import cv2

                    frame = cv2.resize(frame, (k.width, k.height), interpolation=cv2.INTER_AREA)
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

    # -- paths ---------------------------------------------------------------------------

    def _path_poses(
        self, path: jobs_pb2.PosePath, rec: SceneRecord, k: Intrinsics
    ) -> tuple[Trajectory, np.ndarray | None, str]:
        """(trajectory with intrinsics k, per-pose frame indices or None, coordinate system
        name) from a wire path."""
        if path.preset and len(path.poses):
            raise InputError("a path has either a preset or poses, not both")
        fps = path.fps or None
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise InputError(f"path fps {path.fps} must be positive")
        if path.preset:
            if not _PRESET_RE.fullmatch(path.preset.lower()):
                raise InputError(
                    f"unknown preset {path.preset[:80]!r}: use orbit:DEG, surround, yaw:DEG, "
                    "dolly:DIST or spiral:RADIUS (files are not read over the wire; send poses)"
                )
            traj = parse_trajectory(
                path.preset.lower(),
                min_depth=rec.min_depth,
                num_frames=rec.num_frames,
                intrinsics=k,
            )
            return replace(traj, intrinsics=k, fps=fps), None, "opencv"
        n = len(path.poses)
        if n == 0:
            raise InputError("the path is empty: give a preset or at least one pose")
        if n > self.config.max_path_poses:
            raise LimitError(
                f"the path has {n} poses, over the limit of {self.config.max_path_poses}"
            )
        system = wire.system_from_wire(path.coordinate_system)
        pos = np.array([[p.position.x, p.position.y, p.position.z] for p in path.poses])
        quat = np.array(
            [[p.rotation.x, p.rotation.y, p.rotation.z, p.rotation.w] for p in path.poses]
        )
        poses = pose_from_wire(pos, quat, system)
        which = [p.WhichOneof("time") for p in path.poses]
        frames = None
        if any(which):
            frames = np.array(
                [
                    frame_for(w, p.frame_index, p.time_s, rec.num_frames, rec.fps)
                    for w, p in zip(which, path.poses, strict=True)
                ]
            )
        name = path.name[:100] or "custom"
        return Trajectory(poses, intrinsics=k, name=name, fps=fps), frames, system.value

    def _size(
        self, width: int, height: int, rec: SceneRecord, fov_y_deg: float = 0.0
    ) -> Intrinsics:
        if not width and not height and not fov_y_deg:
            return rec.intrinsics
        if not width and not height:
            width, height = rec.width, rec.height
        return wire.view_intrinsics(width, height, rec.intrinsics, fov_y_deg=fov_y_deg)

    # -- generation ----------------------------------------------------------------------

    @rpc_errors
    async def SubmitGeneration(self, request, context):
        rec = await asyncio.to_thread(self.store.get, request.scene_id)
        self.worker.check_configured()
        k = self._size(request.width, request.height, rec)
        traj, _, _ = self._path_poses(request.trajectory, rec, k)
        for name in ("guidance_scale",):
            v = getattr(request, name)
            if not math.isfinite(v) or v < 0:
                raise InputError(f"{name} {v} must be a finite number >= 0")
        sampling = SamplingParams(
            prompt=request.prompt or None,
            negative_prompt=request.negative_prompt or None,
            seed=int(request.seed),
            num_inference_steps=request.num_inference_steps or None,
            guidance_scale=request.guidance_scale or None,
        )
        params = GenerationParams(scene_id=rec.scene_id, trajectory=traj, sampling=sampling)
        return job_msg(await asyncio.to_thread(self.worker.submit, params))

    @rpc_errors
    async def GetJob(self, request, context):
        return job_msg(await asyncio.to_thread(self.worker.get, request.job_id))

    @rpc_errors
    async def ListJobs(self, request, context):
        if request.scene_id:
            check_scene_id(request.scene_id)
        jobs = await asyncio.to_thread(self.worker.list, request.scene_id)
        return jobs_pb2.ListJobsResponse(jobs=[job_msg(j) for j in jobs])

    @rpc_errors
    async def CancelJob(self, request, context):
        return job_msg(await asyncio.to_thread(self.worker.cancel, request.job_id))

    @rpc_errors
    async def WatchJob(self, request, context):
        check_job_id(request.job_id)
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[JobRecord] = asyncio.Queue()

        def listener(rec: JobRecord) -> None:
            try:
                loop.call_soon_threadsafe(updates.put_nowait, rec)
            except RuntimeError:  # the loop closed: the server is stopping
                pass

        rec = await asyncio.to_thread(self.worker.subscribe, request.job_id, listener)
        try:
            yield jobs_pb2.JobEvent(job=job_msg(rec), time_unix_s=time.time())
            while not rec.state.finished:
                rec = await updates.get()
                while not updates.empty():  # a slow watcher gets the newest state, not a backlog
                    rec = updates.get_nowait()
                yield jobs_pb2.JobEvent(job=job_msg(rec), time_unix_s=time.time())
        finally:
            self.worker.unsubscribe(request.job_id, listener)

    @rpc_errors
    async def GetJobResult(self, request, context):
        check_job_id(request.job_id)
        rec = await asyncio.to_thread(self.worker.get, request.job_id)
        if rec.state != JobState.SUCCEEDED:
            raise PreconditionError(
                f"job {rec.job_id} is {rec.state.value}; results exist once it has SUCCEEDED"
            )
        d = self.worker.result_dir(rec.job_id)
        for name, ctype in (
            ("generated.mp4", "video/mp4"),
            ("generated.poses.json", "application/json"),
        ):
            for chunk in wire.iter_file_chunks(d / name, name, ctype):
                yield chunk

    # -- walkthrough ---------------------------------------------------------------------

    @rpc_errors
    async def RecordWalkthrough(self, request, context):
        rec = await asyncio.to_thread(self.store.get, request.scene_id)
        k = self._size(request.width, request.height, rec, request.fov_y_deg)
        traj, frames, system = self._path_poses(request.path, rec, k)
        if request.mask_style not in _MASK_STYLE:
            raise InputError(f"unknown mask_style {request.mask_style}")
        if request.crf > 51:
            raise InputError(f"crf {request.crf} must be 0..51")
        need = len(traj) * k.width * k.height * 3
        if need > self.config.max_walkthrough_bytes:
            raise LimitError(
                f"{len(traj)} frames of {k.width}x{k.height} need {need} bytes, over the limit of "
                f"{self.config.max_walkthrough_bytes}: send fewer poses or a smaller size"
            )
        staging = self.store.staging_dir("walk-")
        try:
            await _run(
                self.batch_pool, self._walkthrough, rec, traj, frames, system, request, staging
            )
            for name, ctype in (
                ("walkthrough.mp4", "video/mp4"),
                ("walkthrough.poses.json", "application/json"),
            ):
                for chunk in wire.iter_file_chunks(staging / name, name, ctype):
                    yield chunk
        finally:
            await asyncio.to_thread(_rmtree, staging)

    def _walkthrough(
        self,
        rec: SceneRecord,
        traj: Trajectory,
        frames: np.ndarray | None,
        system: str,
        req,
        staging: Path,
        cancel: threading.Event,
    ) -> None:
        scene = self.store.load(rec.scene_id)
        options = RenderOptions(
            backend=self.config.render_backend,
            mask_style=_MASK_STYLE[req.mask_style],
            device=self.device,
        )
        try:
            result = render_trajectory(
                scene,
                traj,
                options,
                frame_indices=frames,
                meshes=lambda t: self.store.mesh(rec.scene_id, t, self.device),
                progress=False,
                cancel=cancel,
            )
        except Cancelled:
            raise asyncio.CancelledError() from None
        fps = traj.fps or rec.fps
        save_walkthrough(result, staging, fps, crf=int(req.crf or 18), coordinate_system=system)


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


__all__ = ["BridgeService", "rpc_errors", "scene_info", "status_for"]
