"""UploadScene: receiving a video (+ depth) or a scene bundle in chunks, under the size limit,
into a staging folder, then building the Scene with the library's ``reconstruct``."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import wire
from ..errors import InputError
from ..video.reader import FrameBudgetError
from ..wire import scenes_pb2
from .budget import SceneBudget
from .config import ServerConfig
from .errors import LimitError, PreconditionError
from .messages import DEPTH_KIND, scene_info
from .rpc import remove_tree, run_in_pool
from .store import SceneStore


class SceneUploads:
    def __init__(self, config: ServerConfig, store: SceneStore, pool: ThreadPoolExecutor) -> None:
        self.config, self.store, self.pool = config, store, pool
        self.budget = SceneBudget(config.max_scene_bytes, config.max_scene_frames)

    async def receive(self, request_iterator: AsyncIterator) -> scenes_pb2.SceneInfo:
        """Take one upload stream to a stored scene; the staging folder goes either way."""
        staging = self.store.staging_dir("upload-")
        try:
            return await self._upload(request_iterator, staging)
        finally:
            await asyncio.to_thread(remove_tree, staging)

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
        return await run_in_pool(self.pool, self._reconstruct, header, staging)

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
        self.budget.check_num_frames(o.num_frames)
        if o.depth_kind not in scenes_pb2.DepthKind.values():
            raise InputError(f"unknown depth_kind {o.depth_kind}")
        for name in ("focal_px", "fov_x_deg", "depth_scale"):
            v = getattr(o, name)
            if not math.isfinite(v) or v < 0:
                raise InputError(f"options.{name} = {v} must be a finite number >= 0")

    def _reconstruct(
        self, h: scenes_pb2.UploadHeader, staging: Path, cancel: threading.Event
    ) -> scenes_pb2.SceneInfo:
        completions = None
        if h.is_bundle:
            path = staging / "bundle_chunk"
            if not path.is_file():
                raise InputError("the bundle upload carried no bundle_chunk data")
            scene, name, completions = self.store.scene_from_bundle(
                path.read_bytes(), self.config.max_scene_bytes
            )
            source = "bundle"
            name = h.options.name or name
        else:
            scene, source = self._scene_from_video(h, staging)
            name = h.options.name
        if cancel.is_set():
            raise asyncio.CancelledError()
        rec, created = self.store.put(scene, name=name, depth_source=source)
        if completions is not None and completions.generations:
            # Beside the stored scene (a scene stored before keeps its other generations).
            self.store.put_completions(rec.scene_id, completions)
        return scene_info(rec, created)

    def _scene_from_video(self, h: scenes_pb2.UploadHeader, staging: Path):
        from ..scene import DepthSpec, load_clip, reconstruct

        video = staging / "video_chunk"
        if not video.is_file() or video.stat().st_size == 0:
            raise InputError("the upload carried no video data")
        named = video.rename(staging / f"video{Path(h.filename).suffix.lower()}")
        o = h.options
        if h.has_depth:
            raw = staging / "depth_chunk"
            if not raw.is_file():
                raise InputError("has_depth=true but no depth_chunk data arrived")
            with open(raw, "rb") as f:
                magic = f.read(6)
            suffix = ".npz" if magic.startswith(b"PK") else ".npy" if magic == b"\x93NUMPY" else ""
            if not suffix:
                raise InputError("depth must be a .npz or .npy file ([T, H, W] depth)")
            # Headers first: depth that would not fit is refused before the video is decoded.
            self.budget.check_depth_file(raw)
            depth = DepthSpec(
                provided=raw.rename(staging / f"depth{suffix}"),
                scale=o.depth_scale or 1.0,
                kind=DEPTH_KIND[o.depth_kind],
            )
        else:
            depth = DepthSpec(model=self.config.depth_model, device=self.config.device)
        try:
            clip = load_clip(
                named,
                o.num_frames or None,
                o.max_size or self.config.default_max_size,
                max_bytes=self.budget.frame_bytes,
            )
        except FrameBudgetError as exc:
            raise LimitError(
                f"{exc} (the server's scene limit is {self.config.max_scene_bytes} bytes of "
                "frames and depth)"
            ) from None
        if clip.num_frames > self.config.max_scene_frames:
            raise LimitError(
                f"the video has {clip.num_frames} frames, over the server's limit of "
                f"{self.config.max_scene_frames}; ask for fewer with options.num_frames"
            )
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


__all__ = ["SceneUploads"]
