"""The ``ex4d.v1.Bridge`` service on grpc.aio: each RPC validates its request, calls the
library (or a helper of this package that does), and encodes the reply. Status codes: see
``rpc.rpc_errors`` and docs/server.md.

Threads: View renders run on a pool of their own (``views``), one render in flight per stream;
uploads, exports and walkthroughs run on a separate batch pool; generation runs on the single
worker of ``jobs``. The event loop only moves messages.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .. import wire
from ..camera import Trajectory
from ..errors import Cancelled, InputError
from ..generation import SamplingParams
from ..geometry import RenderOptions, export_mesh
from ..geometry.rendering import choose_backend
from ..runtime import init_render_worker
from ..scene import render_trajectory, save_walkthrough
from ..scene.completion import CompletionInfo, list_completions, render_completed_trajectory
from ..scene.completion.layers import layer_grid
from ..wire import bridge_pb2_grpc, common_pb2, geometry_pb2, jobs_pb2, scenes_pb2
from .completed import CompletedScenes
from .config import ServerConfig
from .errors import LimitError, PreconditionError
from .jobs import GenerationParams, GenerationWorker, JobDB, JobRecord, JobState, check_job_id
from .memory import (
    MemoryBudget,
    default_budget_bytes,
    generation_bytes,
    trajectory_render_bytes,
)
from .messages import (
    MASK_STYLE,
    check_completion_path,
    completion_summary,
    coverage_from_msg,
    job_msg,
    output_intrinsics,
    path_from_msg,
    scene_info,
    windows_from_msg,
)
from .rpc import remove_tree, rpc_errors, run_in_pool
from .store import SceneRecord, SceneStore, check_scene_id
from .uploads import SceneUploads
from .views import ViewStreams

# The smallest ExportMesh chunk the server sends; smaller requests are raised to it.
MIN_CHUNK_BYTES = 64 * 1024


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
        self.memory = MemoryBudget(config.max_memory_bytes or default_budget_bytes())
        self.backend = choose_backend(config.render_backend, torch.device(self.device or "cpu"))
        self.completed = CompletedScenes(
            self.store,
            RenderOptions(backend=config.render_backend, mask_style="face", device=self.device),
            config.completion_cache_bytes,
            config.completion_window,
        )
        self.worker = GenerationWorker(
            self.store,
            self.db,
            self.store.root / "jobs",
            completer=config.completer,
            allow_fallback=config.allow_fallback,
            render_options=RenderOptions(backend=config.render_backend, device=self.device),
            on_completions=self.completed.invalidate,
            memory=self.memory,
            ray=config.ray,
        )
        self.view_pool = ThreadPoolExecutor(
            config.view_threads,
            thread_name_prefix="ex4d-view",
            initializer=init_render_worker,
            initargs=(config.torch_threads,),  # 0: the render policy in runtime
        )
        self.batch_pool = ThreadPoolExecutor(
            max(1, config.batch_workers),
            thread_name_prefix="ex4d-batch",
            initializer=init_render_worker,
            initargs=(config.torch_threads,),  # 0: the render policy in runtime
        )
        self.uploads = SceneUploads(config, self.store, self.batch_pool)
        self.views = ViewStreams(
            config,
            self.store,
            self.worker,
            self.view_pool,
            self.device,
            self.completed,
            self.memory,
        )

    def close(self) -> None:
        self.worker.stop()
        self.view_pool.shutdown(wait=False, cancel_futures=True)
        self.batch_pool.shutdown(wait=False, cancel_futures=True)
        self.db.close()

    # -- scenes --------------------------------------------------------------------------

    def _completion_infos(self, scene_id: str) -> list[CompletionInfo]:
        infos = list_completions(self.store.scene_dir(scene_id))
        return sorted(infos, key=lambda c: (c.created_unix_s, c.generation))

    def _scene_info(self, rec: SceneRecord, created: bool = False) -> scenes_pb2.SceneInfo:
        return scene_info(rec, created, self._completion_infos(rec.scene_id))

    @rpc_errors
    async def UploadScene(self, request_iterator, context):
        info = await self.uploads.receive(request_iterator)
        # A bundle may bring completions (to a scene already stored, too): list them, and
        # make View and StreamGeometry load them.
        self.completed.invalidate(info.scene_id)
        infos = await asyncio.to_thread(self._completion_infos, info.scene_id)
        info.completions.extend(completion_summary(c) for c in infos)
        return info

    @rpc_errors
    async def ListScenes(self, request, context):
        def infos() -> list[scenes_pb2.SceneInfo]:
            return [self._scene_info(r) for r in self.store.list()]

        return scenes_pb2.ListScenesResponse(scenes=await asyncio.to_thread(infos))

    @rpc_errors
    async def GetScene(self, request, context):
        def info() -> scenes_pb2.SceneInfo:
            return self._scene_info(self.store.get(request.scene_id))

        return await asyncio.to_thread(info)

    @rpc_errors
    async def DeleteScene(self, request, context):
        await asyncio.to_thread(self.store.delete, request.scene_id)
        self.completed.invalidate(request.scene_id)
        return scenes_pb2.DeleteSceneResponse(scene_id=request.scene_id)

    @rpc_errors
    async def ExportScene(self, request, context):
        check_scene_id(request.scene_id)
        data = await run_in_pool(self.batch_pool, self.store.bundle_bytes, request.scene_id)
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
            yield await run_in_pool(self.batch_pool, self._mesh_frame, rec, t, request)

    def _layer_frames(
        self, rec: SceneRecord, t: int, req
    ) -> list[geometry_pb2.CompletionLayerFrame]:
        """Frame t's completion layers as the library composites them (``frame_layers``)."""
        entry = self.completed.get(rec.scene_id)
        if not entry.has_completions:
            return []
        pieces = entry.completed.frame_layers(t)
        if req.max_layers:
            pieces = pieces[: req.max_layers]
        return [
            wire.encode_layer_frame(
                layer_grid(piece, entry.scene.mesh_options),
                layer_index=i,
                generation=piece.generation,
                frame_index=t,
                pose=piece.pose,
                intrinsics=piece.intrinsics,
                region=piece.region,
                depth_encoding=req.depth_encoding,
                color_encoding=req.color_encoding,
                jpeg_quality=req.jpeg_quality,
            )
            for i, piece in pieces
        ]

    def _mesh_frame(self, rec: SceneRecord, t: int, req, cancel: threading.Event):
        t0 = time.perf_counter()
        mesh = self.store.mesh(rec.scene_id, t, self.device).numpy()
        layers = self._layer_frames(rec, t, req) if req.include_completions else []
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
        frame.layers.extend(layers)
        t2 = time.perf_counter()
        size = frame.ByteSize()
        if size > self.config.max_send_bytes - 1024:
            raise LimitError(
                f"frame {t} with its {len(layers)} completion layers would be {size} bytes, over "
                f"the server's message limit of {self.config.max_send_bytes}: ask for fewer "
                "layers (max_layers), JPEG colour or 16-bit depth"
            )
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
        # Tiny chunks cost a message each (chunk_bytes=1 made 65k of them): raise to a floor.
        chunk = max(chunk, MIN_CHUNK_BYTES)
        if chunk > limit:
            raise LimitError(f"chunk_bytes {chunk} is over the server's message limit ({limit})")
        if request.frame_index >= rec.num_frames:
            raise InputError(
                f"frame_index {request.frame_index} is out of range ({rec.num_frames} frames)"
            )
        name, ctype, data = await run_in_pool(self.batch_pool, self._mesh_bytes, rec, request)
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
            remove_tree(staging)

    # -- view ----------------------------------------------------------------------------

    @rpc_errors
    async def View(self, request_iterator, context):
        async for reply in self.views.serve(request_iterator):
            yield reply

    # -- generation ----------------------------------------------------------------------

    @rpc_errors
    async def SubmitGeneration(self, request, context):
        rec = await asyncio.to_thread(self.store.get, request.scene_id)
        self.worker.check_configured()
        k = output_intrinsics(request.width, request.height, rec)
        traj, coverage = None, ()
        if request.coverage:
            if request.HasField("trajectory"):
                raise InputError("give either a trajectory or a coverage set, not both")
            coverage = coverage_from_msg(request.coverage, rec, k, self.config.max_path_poses)
        else:
            traj, _, _ = path_from_msg(request.trajectory, rec, k, self.config.max_path_poses)
            if request.complete:
                # Completions attach to source frames: pose i shows frame i (or the poses' times).
                check_completion_path(traj, rec)
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
        sizes = [traj] if traj is not None else list(coverage)
        need = max(generation_bytes(len(t), k.width, k.height, self.backend) for t in sizes)
        self.memory.check(
            need, f"generating {max(len(t) for t in sizes)} poses at {k.width}x{k.height}"
        )
        params = GenerationParams(
            scene_id=rec.scene_id,
            trajectory=traj,
            sampling=sampling,
            complete=bool(request.complete),
            coverage=coverage,
            coverage_name=request.coverage,
            windows=windows_from_msg(request.long_clip, request.window_overlap),
        )
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
        if not await asyncio.to_thread((d / "generated.mp4").is_file):
            raise PreconditionError(
                f"job {rec.job_id} stored completions along a coverage set and keeps no video: "
                "View and StreamGeometry (include_completions) show them"
            )
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
        k = output_intrinsics(request.width, request.height, rec, request.fov_y_deg)
        traj, frames, system = path_from_msg(request.path, rec, k, self.config.max_path_poses)
        if request.mask_style not in MASK_STYLE:
            raise InputError(f"unknown mask_style {request.mask_style}")
        if request.crf > 51:
            raise InputError(f"crf {request.crf} must be 0..51")
        self.memory.check(
            trajectory_render_bytes(len(traj), k.width, k.height, self.backend, True),
            f"a walkthrough of {len(traj)} frames at {k.width}x{k.height}",
        )
        need = len(traj) * k.width * k.height * 3
        if need > self.config.max_walkthrough_bytes:
            raise LimitError(
                f"{len(traj)} frames of {k.width}x{k.height} need {need} bytes, over the limit of "
                f"{self.config.max_walkthrough_bytes}: send fewer poses or a smaller size"
            )
        staging = self.store.staging_dir("walk-")
        try:
            await run_in_pool(
                self.batch_pool, self._walkthrough, rec, traj, frames, system, request, staging
            )
            for name, ctype in (
                ("walkthrough.mp4", "video/mp4"),
                ("walkthrough.poses.json", "application/json"),
            ):
                for chunk in wire.iter_file_chunks(staging / name, name, ctype):
                    yield chunk
        finally:
            await asyncio.to_thread(remove_tree, staging)

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
        entry = self.completed.get(rec.scene_id)
        options = RenderOptions(
            backend=self.config.render_backend,
            mask_style=MASK_STYLE[req.mask_style],
            device=self.device,
        )
        # What View shows: completed where the scene has completions, unless asked raw.
        raw = req.raw or options.mask_style == "reference" or not entry.has_completions
        k = traj.intrinsics
        need = trajectory_render_bytes(len(traj), k.width, k.height, self.backend, not raw)
        what = f"a walkthrough of {len(traj)} frames at {k.width}x{k.height}"
        with self.memory.reserve(need, what, wait_s=120.0, cancelled=cancel.is_set):
            result = self._walkthrough_frames(entry, traj, frames, options, raw, cancel)
        fps = traj.fps or rec.fps
        save_walkthrough(result, staging, fps, crf=int(req.crf or 18), coordinate_system=system)

    def _walkthrough_frames(self, entry, traj, frames, options, raw, cancel):
        try:
            if raw:
                return render_trajectory(
                    entry.scene,
                    traj,
                    options,
                    frame_indices=frames,
                    meshes=lambda t: self.store.mesh(entry.record.scene_id, t, self.device),
                    progress=False,
                    cancel=cancel,
                )
            else:
                return render_completed_trajectory(
                    entry.completed, traj, frame_indices=frames, progress=False, cancel=cancel
                )
        except Cancelled:
            raise asyncio.CancelledError() from None


__all__ = ["BridgeService"]
