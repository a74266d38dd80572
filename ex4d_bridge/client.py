"""The Python client of the ex4d-bridge gRPC server.

    from ex4d_bridge.client import BridgeClient

    with BridgeClient("127.0.0.1:50051", token=None) as client:
        info = client.upload_scene("clip.mp4", depth="depth.npz")
        with client.view_session(info.scene_id, 512, 512) as view:
            view.send(np.eye(4))                     # a 4x4 OpenCV camera-to-world pose
            frame = view.receive()                   # ViewFrame: colour, mask, timings, ...
        for mf in client.stream_geometry(info.scene_id):
            mesh = mesh_from_frame(mf)               # GridMesh: the server's DW-Mesh, numpy
        job = client.submit_generation(info.scene_id, "orbit:90")
        client.wait_job(job.job_id)
        client.download_job_result(job.job_id, "out/")

Scene and job descriptions are the contract's messages (``SceneInfo``, ``Job``); frames and
meshes come back decoded as numpy. Poses are 4x4 OpenCV camera-to-world matrices (the library's
convention) or ``(position, quaternion_xyzw)`` pairs in the coordinate system you name.

The client needs only the base install (``pip install ex4d-bridge``): it imports the wire
encodings (:mod:`ex4d_bridge.wire`) and the camera conventions, never torch.
"""

from __future__ import annotations

import io
import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from tqdm.auto import tqdm

from . import wire
from .camera import CoordinateSystem, Intrinsics, Trajectory, load_pose_path
from .errors import InputError
from .wire import (
    GridMesh,
    bridge_pb2_grpc,
    common_pb2,
    geometry_pb2,
    jobs_pb2,
    scenes_pb2,
    view_pb2,
)

DEFAULT_TARGET = "127.0.0.1:50051"
MIB = 1 << 20
_DEPTH_ENCODINGS = {
    "uint16": common_pb2.DEPTH_ENCODING_UINT16_INVERSE,
    "float16": common_pb2.DEPTH_ENCODING_FLOAT16,
    "float32": common_pb2.DEPTH_ENCODING_FLOAT32,
}
_IMAGE_ENCODINGS = {
    "jpeg": common_pb2.IMAGE_ENCODING_JPEG,
    "raw": common_pb2.IMAGE_ENCODING_RAW_RGB,
    "png": common_pb2.IMAGE_ENCODING_PNG,
}
_MESH_FORMATS = {
    "msgpack": geometry_pb2.MESH_FORMAT_MSGPACK,
    "glb": geometry_pb2.MESH_FORMAT_GLB,
    "ply": geometry_pb2.MESH_FORMAT_PLY,
}
_MASK_STYLES = {"face": view_pb2.MASK_STYLE_FACE, "reference": view_pb2.MASK_STYLE_REFERENCE}
_LONG_CLIP = {
    "sampled": jobs_pb2.LONG_CLIP_MODE_SAMPLED,
    "windowed": jobs_pb2.LONG_CLIP_MODE_WINDOWED,
}
_DEPTH_KINDS = {
    "depth": scenes_pb2.DEPTH_KIND_DEPTH,
    "disparity": scenes_pb2.DEPTH_KIND_DISPARITY,
    "relative": scenes_pb2.DEPTH_KIND_RELATIVE,
}


def _choice(table: dict[str, int], value: str, what: str) -> int:
    try:
        return table[value.lower()]
    except KeyError:
        raise InputError(f"unknown {what} {value!r}: use one of {', '.join(table)}") from None


def job_state_name(state: int) -> str:
    """``"SUCCEEDED"`` for ``JOB_STATE_SUCCEEDED`` and so on."""
    return jobs_pb2.JobState.Name(state).removeprefix("JOB_STATE_")


def pose_message(
    pose: np.ndarray | tuple, system: str | CoordinateSystem = "opencv"
) -> common_pb2.Pose:
    """A wire pose from a 4x4 OpenCV camera-to-world matrix (sent in ``system``) or from a
    ``(position, quaternion_xyzw)`` pair already given in ``system``."""
    if isinstance(pose, tuple) and len(pose) == 2:
        p, q = (np.asarray(v, dtype=np.float64).reshape(-1) for v in pose)
        if p.size != 3 or q.size != 4:
            raise InputError("a (position, quaternion) pose needs 3 and 4 numbers")
        return common_pb2.Pose(
            position=common_pb2.Vec3(x=p[0], y=p[1], z=p[2]),
            rotation=common_pb2.Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]),
            coordinate_system=wire.system_to_wire(system),
        )
    return wire.pose_to_msg(np.asarray(pose, dtype=np.float64), system)


def mesh_from_frame(frame: geometry_pb2.MeshFrame) -> GridMesh:
    """Rebuild the DW-Mesh a MeshFrame describes (numpy arrays), exactly as the server's
    ``build_dw_mesh`` built it, up to the depth encoding's error (none for FLOAT32); see
    :func:`ex4d_bridge.wire.decode_mesh_frame`."""
    return wire.decode_mesh_frame(frame)


def layers_from_frame(frame: geometry_pb2.MeshFrame) -> list[wire.DecodedLayer]:
    """Rebuild a MeshFrame's completion layers (``stream_geometry(include_completions=True)``):
    each layer's visible faces in world coordinates, exactly as the library's ``layer_mesh``
    builds them up to the depth encoding's error; see :func:`ex4d_bridge.wire.decode_layer_frame`.
    """
    return [wire.decode_layer_frame(layer) for layer in frame.layers]


@dataclass
class ViewFrame:
    """One decoded View reply."""

    sequence: int
    frame_index: int
    color: np.ndarray  # (H, W, 3) uint8, black where mask is False
    mask: np.ndarray  # (H, W) bool
    intrinsics: Intrinsics
    pose: np.ndarray  # the echoed pose, 4x4 OpenCV camera-to-world
    dropped: int
    dropped_total: int
    timings: dict[str, float]
    reply_bytes: int
    client_time_s: float
    depth: np.ndarray | None = None
    generated: np.ndarray | None = None
    generated_job_id: str = ""
    provenance: np.ndarray | None = None  # (H, W) uint8 Provenance, with include_provenance
    completion_layers: int = 0  # the frame's completion layers (0: the colour is the raw render)
    received_s: float = field(default_factory=time.perf_counter)

    @property
    def holes(self) -> np.ndarray:
        """(H, W) bool: pixels where neither the source nor a completion shows a surface."""
        return ~self.mask

    @classmethod
    def from_reply(cls, r: view_pb2.ViewReply) -> ViewFrame:
        k = wire.intrinsics_from_msg(r.intrinsics)
        return cls(
            sequence=r.sequence,
            frame_index=r.frame_index,
            color=wire.decode_image(r.color),
            mask=wire.unpack_bits(r.mask, (k.height, k.width)),
            intrinsics=k,
            pose=wire.pose_from_msg(r.pose, "echoed pose"),
            dropped=r.dropped,
            dropped_total=r.dropped_total,
            timings={
                "wait_ms": r.timings.wait_ms,
                "render_ms": r.timings.render_ms,
                "encode_ms": r.timings.encode_ms,
                "total_ms": r.timings.total_ms,
            },
            reply_bytes=r.ByteSize(),
            client_time_s=r.client_time_s,
            depth=wire.decode_depth(r.depth) if r.HasField("depth") else None,
            generated=wire.decode_image(r.generated) if r.HasField("generated") else None,
            generated_job_id=r.generated_job_id,
            provenance=wire.decode_provenance(r.provenance) if r.HasField("provenance") else None,
            completion_layers=r.completion_layers,
        )


class ViewSession:
    """A View stream: ``send`` poses whenever you have them, ``receive`` frames as they come.

    The server renders the newest pose it has and drops older unrendered ones (each frame says
    how many), so sending at display rate never builds a queue. Use as a context manager, or
    call ``close``.
    """

    def __init__(
        self,
        stub: bridge_pb2_grpc.BridgeStub,
        metadata: tuple,
        scene_id: str,
        width: int,
        height: int,
        *,
        coordinate_system: str = "opencv",
        fov_y_deg: float = 0.0,
        intrinsics: Intrinsics | None = None,
        color_encoding: str = "jpeg",
        jpeg_quality: int = 0,
        include_depth: bool = False,
        depth_encoding: str = "uint16",
        mask_style: str = "face",
        raw: bool = False,
        include_provenance: bool = False,
        timeout: float | None = None,
    ) -> None:
        """``raw``: the source DW-Mesh raster only (default: the completed render, source and
        completion layers); ``include_provenance``: each frame's ``provenance`` map."""
        self.scene_id = scene_id
        self.system = coordinate_system
        self._template = view_pb2.ViewRequest(
            width=width,
            height=height,
            fov_y_deg=fov_y_deg,
            options=view_pb2.ViewOptions(
                color_encoding=_choice(_IMAGE_ENCODINGS, color_encoding, "colour encoding"),
                jpeg_quality=jpeg_quality,
                include_depth=include_depth,
                depth_encoding=_choice(_DEPTH_ENCODINGS, depth_encoding, "depth encoding"),
                mask_style=_choice(_MASK_STYLES, mask_style, "mask style"),
                raw=raw,
                include_provenance=include_provenance,
            ),
        )
        if intrinsics is not None:
            self._template.intrinsics.CopyFrom(wire.intrinsics_to_msg(intrinsics))
        self._queue: queue.Queue[view_pb2.ViewRequest | None] = queue.Queue()
        self._sequence = 0
        self._first = True
        self._lock = threading.Lock()
        self._replies = stub.View(self._requests(), metadata=metadata, timeout=timeout)

    def _requests(self) -> Iterator[view_pb2.ViewRequest]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            yield item

    def send(
        self,
        pose: np.ndarray | tuple,
        *,
        frame_index: int | None = None,
        time_s: float | None = None,
    ) -> int:
        """Queue a pose for sending; returns its sequence number (echoed by its frame)."""
        req = view_pb2.ViewRequest()
        req.CopyFrom(self._template)
        req.pose.CopyFrom(pose_message(pose, self.system))
        if frame_index is not None:
            req.frame_index = int(frame_index)
        elif time_s is not None:
            req.time_s = float(time_s)
        req.client_time_s = time.perf_counter()
        with self._lock:
            self._sequence += 1
            req.sequence = self._sequence
            if self._first:  # later requests keep the scene: smaller messages
                req.scene_id, self._first = self.scene_id, False
        self._queue.put(req)
        return req.sequence

    def receive(self) -> ViewFrame:
        """The next frame (blocks); raises ``grpc.RpcError`` with the server's status on error
        and ``StopIteration`` when the stream has ended."""
        return ViewFrame.from_reply(next(self._replies))

    def receive_raw(self) -> view_pb2.ViewReply:
        return next(self._replies)

    def __iter__(self) -> Iterator[ViewFrame]:
        for r in self._replies:
            yield ViewFrame.from_reply(r)

    def close(self) -> None:
        """Half-close: frames for poses already sent still arrive through ``receive``."""
        self._queue.put(None)

    def cancel(self) -> None:
        self._replies.cancel()
        self._queue.put(None)

    def __enter__(self) -> ViewSession:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


class BridgeClient:
    """A connection to an ex4d-bridge server.

    ``token``: sent as ``authorization: Bearer <token>``. TLS: pass ``root_certificates`` (PEM
    bytes or a file path; None with ``tls=True`` uses the system's roots) and, for a
    certificate issued to another name than the target's host, ``server_name``.
    ``timeout`` (seconds) is the default deadline of unary calls; streams take their own.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | str | os.PathLike | None = None,
        server_name: str | None = None,
        timeout: float | None = 60.0,
        max_message_bytes: int = 64 * MIB,
        progress: bool = True,
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", int(max_message_bytes)),
            ("grpc.max_send_message_length", int(max_message_bytes)),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if tls or root_certificates is not None:
            roots = root_certificates
            if roots is not None and not isinstance(roots, bytes):
                roots = Path(roots).read_bytes()
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            self.channel = grpc.secure_channel(target, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self.target = target
        self.stub = bridge_pb2_grpc.BridgeStub(self.channel)
        self.metadata: tuple = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        self.progress = progress

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> BridgeClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _kw(self, timeout: float | None = None) -> dict[str, Any]:
        return {"metadata": self.metadata, "timeout": timeout or self.timeout}

    # -- health --------------------------------------------------------------------------

    def health(self, service: str = "", timeout: float = 10.0) -> str:
        """The gRPC health status name ("SERVING", "NOT_SERVING", ...)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        r = stub.Check(health_pb2.HealthCheckRequest(service=service), **self._kw(timeout))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)

    def wait_ready(self, timeout: float = 30.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    # -- scenes --------------------------------------------------------------------------

    def upload_scene(
        self,
        video: str | os.PathLike,
        *,
        depth: str | os.PathLike | np.ndarray | None = None,
        intrinsics: Intrinsics | None = None,
        name: str = "",
        num_frames: int = 0,
        max_size: int = 0,
        focal_px: float = 0.0,
        fov_x_deg: float = 0.0,
        depth_scale: float = 1.0,
        depth_kind: str = "depth",
        chunk_bytes: int = MIB,
        progress: bool | None = None,
        timeout: float | None = None,
    ) -> scenes_pb2.SceneInfo:
        """Upload a video (and its depth: an .npz/.npy path or a [T, H, W] array) and build
        the scene on the server. Without depth the server needs a configured depth model."""
        video = Path(video)
        depth_bytes = None
        if isinstance(depth, np.ndarray):
            buf = io.BytesIO()
            np.savez(buf, depth=np.asarray(depth, np.float32))
            depth_bytes = buf.getvalue()
        elif depth is not None:
            depth_bytes = Path(depth).read_bytes()
        header = scenes_pb2.UploadHeader(
            filename=video.name,
            video_size=video.stat().st_size,
            depth_size=len(depth_bytes or b""),
            has_depth=depth_bytes is not None,
            options=scenes_pb2.UploadOptions(
                name=name,
                num_frames=num_frames,
                max_size=max_size,
                focal_px=focal_px,
                fov_x_deg=fov_x_deg,
                depth_scale=depth_scale,
                depth_kind=_choice(_DEPTH_KINDS, depth_kind, "depth kind"),
            ),
        )
        if intrinsics is not None:
            header.intrinsics.CopyFrom(wire.intrinsics_to_msg(intrinsics))
        total = header.video_size + header.depth_size
        bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=f"upload {video.name}",
            disable=not (self.progress if progress is None else progress),
        )

        def messages() -> Iterator[scenes_pb2.UploadSceneRequest]:
            yield scenes_pb2.UploadSceneRequest(header=header)
            with open(video, "rb") as f:
                while data := f.read(chunk_bytes):
                    bar.update(len(data))
                    yield scenes_pb2.UploadSceneRequest(video_chunk=data)
            if depth_bytes is not None:
                for i in range(0, len(depth_bytes), chunk_bytes):
                    piece = depth_bytes[i : i + chunk_bytes]
                    bar.update(len(piece))
                    yield scenes_pb2.UploadSceneRequest(depth_chunk=piece)

        try:
            return self.stub.UploadScene(messages(), **self._kw(timeout or 3600))
        finally:
            bar.close()

    def upload_bundle(
        self, path: str | os.PathLike, *, name: str = "", chunk_bytes: int = MIB
    ) -> scenes_pb2.SceneInfo:
        """Upload a scene bundle written by :meth:`export_scene`."""
        data = Path(path).read_bytes()
        header = scenes_pb2.UploadHeader(
            is_bundle=True,
            video_size=len(data),
            filename=Path(path).name,
            options=scenes_pb2.UploadOptions(name=name),
        )

        def messages():
            yield scenes_pb2.UploadSceneRequest(header=header)
            for i in range(0, len(data), chunk_bytes):
                yield scenes_pb2.UploadSceneRequest(bundle_chunk=data[i : i + chunk_bytes])

        return self.stub.UploadScene(messages(), **self._kw(3600))

    def list_scenes(self) -> list[scenes_pb2.SceneInfo]:
        return list(self.stub.ListScenes(scenes_pb2.ListScenesRequest(), **self._kw()).scenes)

    def get_scene(self, scene_id: str) -> scenes_pb2.SceneInfo:
        return self.stub.GetScene(scenes_pb2.GetSceneRequest(scene_id=scene_id), **self._kw())

    def delete_scene(self, scene_id: str) -> None:
        self.stub.DeleteScene(scenes_pb2.DeleteSceneRequest(scene_id=scene_id), **self._kw())

    def export_scene(self, scene_id: str, path: str | os.PathLike) -> Path:
        """Save the scene's msgpack bundle to ``path``."""
        chunks = self.stub.ExportScene(
            scenes_pb2.ExportSceneRequest(scene_id=scene_id), **self._kw(3600)
        )
        return _save_chunks(chunks, {None: Path(path)})[None]

    # -- geometry ------------------------------------------------------------------------

    def stream_geometry(
        self,
        scene_id: str,
        *,
        first_frame: int = 0,
        last_frame: int = 0,
        depth_encoding: str = "uint16",
        color_encoding: str = "jpeg",
        jpeg_quality: int = 0,
        skip_occluded: bool = False,
        include_completions: bool = False,
        max_layers: int = 0,
        timeout: float | None = None,
    ) -> Iterator[geometry_pb2.MeshFrame]:
        """One MeshFrame per frame; :func:`mesh_from_frame` rebuilds the mesh.
        ``include_completions``: each frame also carries its completion layers (up to
        ``max_layers``, 0: all); :func:`layers_from_frame` rebuilds them."""
        req = geometry_pb2.StreamGeometryRequest(
            scene_id=scene_id,
            first_frame=first_frame,
            last_frame=last_frame,
            depth_encoding=_choice(_DEPTH_ENCODINGS, depth_encoding, "depth encoding"),
            color_encoding=_choice(_IMAGE_ENCODINGS, color_encoding, "colour encoding"),
            jpeg_quality=jpeg_quality,
            skip_occluded=skip_occluded,
            include_completions=include_completions,
            max_layers=max_layers,
        )
        return self.stub.StreamGeometry(req, metadata=self.metadata, timeout=timeout)

    def export_mesh(
        self,
        scene_id: str,
        frame_index: int = 0,
        *,
        format: str = "msgpack",
        path: str | os.PathLike | None = None,
        chunk_bytes: int = 0,
    ) -> bytes | Path:
        """Frame ``frame_index``'s full mesh (vertices, faces, colours, occluded) as msgpack,
        GLB or PLY: the bytes, or the file written when ``path`` is given."""
        req = geometry_pb2.ExportMeshRequest(
            scene_id=scene_id,
            frame_index=frame_index,
            format=_choice(_MESH_FORMATS, format, "mesh format"),
            chunk_bytes=chunk_bytes,
        )
        chunks = self.stub.ExportMesh(req, **self._kw(600))
        if path is not None:
            return _save_chunks(chunks, {None: Path(path)})[None]
        return b"".join(c.data for c in chunks)

    # -- view ----------------------------------------------------------------------------

    def view_session(self, scene_id: str, width: int, height: int, **kwargs) -> ViewSession:
        """Open a View stream; see :class:`ViewSession` for the keyword options."""
        return ViewSession(self.stub, self.metadata, scene_id, width, height, **kwargs)

    def view(
        self,
        scene_id: str,
        pose: np.ndarray | tuple,
        width: int,
        height: int,
        *,
        frame_index: int | None = None,
        time_s: float | None = None,
        timeout: float | None = None,
        **kwargs,
    ) -> ViewFrame:
        """Render one pose (a View stream with one request)."""
        session = self.view_session(
            scene_id, width, height, timeout=timeout or self.timeout, **kwargs
        )
        session.send(pose, frame_index=frame_index, time_s=time_s)
        session.close()
        return session.receive()

    # -- generation ----------------------------------------------------------------------

    def submit_generation(
        self,
        scene_id: str,
        trajectory: str | Trajectory | os.PathLike = "orbit:90",
        *,
        coordinate_system: str = "opencv",
        width: int = 0,
        height: int = 0,
        prompt: str = "",
        negative_prompt: str = "",
        seed: int = 0,
        num_inference_steps: int = 0,
        guidance_scale: float = 0.0,
        complete: bool = False,
        coverage: str = "",
        long_clip: str = "sampled",
        window_overlap: int = 0,
    ) -> jobs_pb2.Job:
        """Queue a generation job along a preset (``"orbit:90"``), a Trajectory or a pose
        file; returns the job (``job_id``, ``state``, ``queue_position``). ``complete``: fuse
        the result into the scene (completion layers); ``coverage``: instead of one path,
        generate and fuse a coverage set (``"walk"``, ``"walk-small"``, ``"orbit"``).
        ``long_clip``: ``"sampled"`` (the reference: a long path sampled down to the model's
        frames) or ``"windowed"`` (every pose, in overlapping windows of ``window_overlap``
        shared frames, 0: the library's default)."""
        req = jobs_pb2.SubmitGenerationRequest(
            scene_id=scene_id,
            complete=complete,
            coverage=coverage,
            long_clip=_choice(_LONG_CLIP, long_clip, "long-clip mode"),
            window_overlap=window_overlap,
            width=width,
            height=height,
            prompt=prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
        )
        if not coverage:
            req.trajectory.CopyFrom(pose_path_message(trajectory, coordinate_system))
        return self.stub.SubmitGeneration(req, **self._kw())

    def get_job(self, job_id: str) -> jobs_pb2.Job:
        return self.stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), **self._kw())

    def list_jobs(self, scene_id: str = "") -> list[jobs_pb2.Job]:
        return list(
            self.stub.ListJobs(jobs_pb2.ListJobsRequest(scene_id=scene_id), **self._kw()).jobs
        )

    def cancel_job(self, job_id: str) -> jobs_pb2.Job:
        return self.stub.CancelJob(jobs_pb2.CancelJobRequest(job_id=job_id), **self._kw())

    def watch_job(self, job_id: str, timeout: float | None = None) -> Iterator[jobs_pb2.Job]:
        """The job now, then after every change until it finishes."""
        events = self.stub.WatchJob(
            jobs_pb2.WatchJobRequest(job_id=job_id), metadata=self.metadata, timeout=timeout
        )
        for event in events:
            yield event.job

    def wait_job(
        self, job_id: str, *, progress: bool | None = None, timeout: float | None = None
    ) -> jobs_pb2.Job:
        """Block until the job finishes (with a progress bar); returns its final state."""
        show = self.progress if progress is None else progress
        job = None
        with tqdm(desc=f"job {job_id[:8]}", disable=not show) as bar:
            for job in self.watch_job(job_id, timeout=timeout):
                bar.total = job.progress_total or None
                bar.n = job.progress_done
                bar.set_postfix_str(f"{job_state_name(job.state)}: {job.message}"[:60])
                bar.refresh()
        assert job is not None
        return job

    def download_job_result(self, job_id: str, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Save ``generated.mp4`` and ``generated.poses.json`` into ``out_dir``."""
        chunks = self.stub.GetJobResult(
            jobs_pb2.GetJobResultRequest(job_id=job_id), **self._kw(3600)
        )
        return _save_chunks(chunks, Path(out_dir))

    # -- recording -----------------------------------------------------------------------

    def record_walkthrough(
        self,
        scene_id: str,
        path: str | Trajectory | os.PathLike,
        out_dir: str | os.PathLike,
        *,
        coordinate_system: str = "opencv",
        width: int = 0,
        height: int = 0,
        fov_y_deg: float = 0.0,
        mask_style: str = "face",
        crf: int = 0,
        frame_indices: np.ndarray | None = None,
        raw: bool | None = None,
        timeout: float | None = None,
    ) -> dict[str, Path]:
        """Render a pose path into ``walkthrough.mp4`` plus ``walkthrough.poses.json`` (the
        poses, pose-path format, in ``coordinate_system``) under ``out_dir``: what View
        shows, completed where the scene has completions (``raw``: the source raster only;
        None: what the pose file recorded, ``"completed": false`` from a headset that drew no
        completion layers meaning raw, else completed)."""
        if raw is None:
            raw = recorded_raw(path)
        req = jobs_pb2.RecordWalkthroughRequest(
            scene_id=scene_id,
            path=pose_path_message(path, coordinate_system, frame_indices),
            width=width,
            height=height,
            fov_y_deg=fov_y_deg,
            mask_style=_choice(_MASK_STYLES, mask_style, "mask style"),
            crf=crf,
            raw=raw,
        )
        chunks = self.stub.RecordWalkthrough(req, **self._kw(timeout or 3600))
        return _save_chunks(chunks, Path(out_dir))


def recorded_raw(path) -> bool:
    """True when a pose file says its walk was seen without completion layers (the Unity
    recorder's ``"completed": false``, or ``# completed=false`` in CSV)."""
    if not isinstance(path, (str, os.PathLike)):
        return False
    p = Path(path)
    if p.suffix.lower() not in (".json", ".csv") or not p.is_file():
        return False
    text = p.read_text(errors="replace")
    if p.suffix.lower() == ".csv":
        return any(
            line.replace(" ", "").lower() == "#completed=false" for line in text.splitlines()
        )
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("completed") is False


def pose_path_message(
    path: str | Trajectory | os.PathLike,
    coordinate_system: str = "opencv",
    frame_indices: np.ndarray | None = None,
) -> jobs_pb2.PosePath:
    """A preset name, a Trajectory or a pose file (.json/.csv, read here) as a PosePath."""
    if isinstance(path, str) and not path.lower().endswith((".json", ".csv")):
        return jobs_pb2.PosePath(preset=path)
    traj = path if isinstance(path, Trajectory) else load_pose_path(path)
    msg = jobs_pb2.PosePath(
        coordinate_system=wire.system_to_wire(coordinate_system),
        fps=traj.fps or 0.0,
        name=traj.name,
    )
    if frame_indices is not None and len(frame_indices) != len(traj):
        raise InputError(f"frame_indices has {len(frame_indices)} entries for {len(traj)} poses")
    for i, c2w in enumerate(traj.poses):
        p = pose_message(c2w, coordinate_system)
        sample = jobs_pb2.PoseSample(position=p.position, rotation=p.rotation)
        if frame_indices is not None:
            sample.frame_index = int(frame_indices[i])
        msg.poses.append(sample)
    return msg


def _save_chunks(chunks, out: Path | dict) -> dict:
    """Write FileChunk streams to files: into a folder by their names, or (a dict
    ``{None: path}``) all into one path. Files appear only when complete."""
    written: dict = {}
    handles: dict[str, tuple[Path, Path, Any]] = {}
    try:
        for c in chunks:
            if c.name not in handles:
                if isinstance(out, dict):
                    final = out[None]
                else:
                    safe = Path(c.name).name  # never a path from the server
                    if not safe or safe in (".", ".."):
                        raise InputError(f"the server sent a bad file name {c.name!r}")
                    final = out / safe
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = final.with_name(f".{final.name}.part")
                handles[c.name] = (final, tmp, open(tmp, "wb"))  # noqa: SIM115
            final, tmp, f = handles[c.name]
            f.write(c.data)
            if c.last:
                f.close()
                os.replace(tmp, final)
                written[None if isinstance(out, dict) else final.name] = final
    finally:
        for _final, tmp, f in handles.values():
            if not f.closed:
                f.close()
                tmp.unlink(missing_ok=True)
    return written


__all__ = [
    "BridgeClient",
    "GridMesh",
    "ViewFrame",
    "ViewSession",
    "job_state_name",
    "layers_from_frame",
    "mesh_from_frame",
    "pose_message",
    "pose_path_message",
]
