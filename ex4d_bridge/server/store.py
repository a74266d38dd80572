"""The scene store: content-addressed scene directories under the data dir.

Layout::

    DATA_DIR/scenes/<scene_id>/scene.json, scene.npz   the library's Scene.save format
    DATA_DIR/scenes/<scene_id>/manifest.msgpack        what ListScenes reports (msgpack)
    DATA_DIR/scenes/<scene_id>/completions/            its completion layers, per generation
                                                       (``scene.completion.store``'s format)
    DATA_DIR/tmp/                                      staging; emptied at start

A scene's id is the first 32 hex digits of the SHA-256 of its content (frames, depth,
intrinsics, frame rate, mesh options), so the same content is stored once. A scene is written
completely under ``tmp/`` and then renamed into ``scenes/``: a crash never leaves a half scene
visible, and leftovers in ``tmp/`` are removed at the next start. Deletion renames the
directory into ``tmp/`` before removing it, for the same reason.

Ids are checked against their exact form before any path is built, and every path is checked to
resolve inside the data dir, so no id can reach outside it. The data dir is owner-only (0700,
and what the store writes is 0600/0700), so other local users can read no scene or job.

Loaded scenes and built DW-Meshes are kept in small LRU caches (meshes are built by
``Scene.mesh``; nothing here knows how).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from ..cache import LRUCache
from ..camera import Intrinsics
from ..errors import InputError
from ..geometry import DWMesh, DWMeshOptions
from ..scene import Scene
from ..scene.completion.store import (
    CompletionInfo,
    Completions,
    check_meta,
    load_completions,
    pack_layers,
    save_completions,
    unpack_layers,
)
from ..wire import BundleLimitError, encode_bundle
from ..wire.bundle import BundleCompletions, read_bundle
from ..wire.numbers import MAX_FPS, MAX_PIXELS, MIN_FOCAL_PX, check_number
from .errors import LimitError, NotFoundError

MANIFEST = "manifest.msgpack"
DIR_MODE, FILE_MODE = 0o700, 0o600
MANIFEST_FORMAT = 1
SCENE_ID_RE = re.compile(r"[0-9a-f]{32}")
JOB_ID_RE = re.compile(r"[0-9a-f]{32}")


def check_scene_id(scene_id: str) -> str:
    if not isinstance(scene_id, str) or not SCENE_ID_RE.fullmatch(scene_id):
        raise InputError(
            f"scene id {str(scene_id)[:80]!r} is malformed: a scene id is 32 lowercase hex "
            "digits, as UploadScene and ListScenes return it"
        )
    return scene_id


def make_private(root: Path) -> None:
    """Drop group and other permissions from ``root`` and everything under it that this user
    owns (the data dir of an older version, or files another module created with the default
    umask); symlinks are left alone."""
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
            if path.is_symlink() or st.st_uid != os.getuid() or not st.st_mode & 0o077:
                continue
            os.chmod(path, st.st_mode & ~0o077 & 0o7777)
        except FileNotFoundError:
            continue  # removed meanwhile


def _number(m: dict[str, Any], key: str, what: str) -> float:
    v = m.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(f"scene bundle {what}{key} must be a number, got {v!r:.80}")
    return float(v)


def check_bundle_manifest(m: dict[str, Any], frames_shape: tuple[int, ...]) -> None:
    """The fields of an untrusted bundle manifest that become the scene: types, ranges and
    sizes, so that a stored scene never fails later calls."""
    for key in ("name", "source"):
        if not isinstance(m.get(key, ""), str):
            raise InputError(f"scene bundle manifest {key} must be a string")
    fps = _number(m, "fps", "")
    check_number(fps, "scene bundle fps", (MAX_FPS, 0.0))
    if fps <= 0:
        raise InputError(f"scene bundle fps {fps} must be positive")
    k = m.get("intrinsics")
    if not isinstance(k, dict):
        raise InputError("scene bundle manifest has no intrinsics map")
    for key, smallest in (("fx", MIN_FOCAL_PX), ("fy", MIN_FOCAL_PX), ("cx", 0.0), ("cy", 0.0)):
        v = _number(k, key, "intrinsics.")
        check_number(v, f"scene bundle intrinsics.{key}", (MAX_PIXELS, smallest))
    size, (h, w) = (k.get("width"), k.get("height")), frames_shape[1:3]
    if size != (w, h) or any(isinstance(v, bool) for v in size):
        raise InputError(
            f"scene bundle intrinsics are for {size[0]!r:.20}x{size[1]!r:.20} but the frames are "
            f"{w}x{h}"
        )
    if k["fx"] <= 0 or k["fy"] <= 0:
        raise InputError("scene bundle intrinsics.fx and fy must be positive")
    options = m.get("mesh_options")
    if options is not None:
        if not isinstance(options, dict):
            raise InputError("scene bundle mesh options are invalid: they must be a map")
        for key, v in options.items():
            if v is None and key == "max_extent_ratio":
                continue
            v = _number(options, key, "mesh option ")
            check_number(v, f"scene bundle mesh option {key}", (1e9, 0.0))


def scene_content_id(scene: Scene) -> str:
    """The content address of a scene."""
    h = hashlib.sha256(b"ex4d-scene-v1\0")
    meta = {
        "shape": list(scene.frames.shape),
        "intrinsics": scene.intrinsics.to_dict(),
        "fps": float(scene.fps),
        "mesh_options": scene.mesh_options.to_dict(),
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    h.update(np.ascontiguousarray(scene.frames, np.uint8).data)
    h.update(np.ascontiguousarray(scene.depth, np.float32).data)
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class SceneRecord:
    scene_id: str
    name: str
    num_frames: int
    width: int
    height: int
    fps: float
    intrinsics: Intrinsics
    min_depth: float
    depth_source: str
    created_unix_s: float
    size_bytes: int

    def to_manifest(self, scene: Scene) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "scene_id": self.scene_id,
            "name": self.name,
            "num_frames": self.num_frames,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "intrinsics": self.intrinsics.to_dict(),
            "min_depth": self.min_depth,
            "depth_source": self.depth_source,
            "created_unix_s": self.created_unix_s,
            "size_bytes": self.size_bytes,
            "source": scene.source,
            "mesh_options": scene.mesh_options.to_dict(),
        }

    @classmethod
    def from_manifest(cls, m: dict[str, Any]) -> SceneRecord:
        return cls(
            scene_id=str(m["scene_id"]),
            name=str(m.get("name", "")),
            num_frames=int(m["num_frames"]),
            width=int(m["width"]),
            height=int(m["height"]),
            fps=float(m["fps"]),
            intrinsics=Intrinsics.from_dict(m["intrinsics"]),
            min_depth=float(m["min_depth"]),
            depth_source=str(m.get("depth_source", "")),
            created_unix_s=float(m.get("created_unix_s", 0.0)),
            size_bytes=int(m.get("size_bytes", 0)),
        )


class SceneStore:
    def __init__(
        self,
        data_dir: str | os.PathLike,
        *,
        scene_cache: int = 4,
        mesh_cache: int = 32,
        max_scene_bytes: int = 4 << 30,
    ) -> None:
        self.root = Path(data_dir).resolve()
        self.scenes_dir = self.root / "scenes"
        self.tmp_dir = self.root / "tmp"
        self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.scenes_dir.mkdir(mode=DIR_MODE, exist_ok=True)
        self.tmp_dir.mkdir(mode=DIR_MODE, exist_ok=True)
        make_private(self.root)
        self.max_scene_bytes = int(max_scene_bytes)
        # Staging leftovers of a crash are never scenes: remove them.
        for leftover in self.tmp_dir.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        self._scenes = LRUCache(scene_cache)
        self._meshes = LRUCache(mesh_cache)
        self._write_lock = threading.Lock()
        self._records: dict[str, SceneRecord] = {}

    # -- paths ---------------------------------------------------------------------------

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise InputError("path escapes the data directory")
        return resolved

    def scene_dir(self, scene_id: str) -> Path:
        return self._inside(self.scenes_dir / check_scene_id(scene_id))

    def staging_dir(self, prefix: str) -> Path:
        """A fresh directory under ``tmp/`` (removed at the next start if left behind)."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp_dir))

    # -- records -------------------------------------------------------------------------

    def get(self, scene_id: str) -> SceneRecord:
        d = self.scene_dir(scene_id)
        # Manifests never change (the id is the content), so a cached record stays true until
        # the scene is deleted; the directory check keeps a deletion by hand visible.
        cached = self._records.get(scene_id)
        if cached is not None and d.is_dir():
            return cached
        try:
            m = msgpack.unpackb((d / MANIFEST).read_bytes(), raw=False)
            record = SceneRecord.from_manifest(m)
            self._records[scene_id] = record
            return record
        except FileNotFoundError:
            raise NotFoundError(
                f"no scene {scene_id}; ListScenes shows the stored scenes"
            ) from None
        except (ValueError, KeyError, TypeError, msgpack.UnpackException) as exc:
            raise NotFoundError(f"scene {scene_id} has an unreadable manifest: {exc}") from None

    def list(self) -> list[SceneRecord]:
        out = []
        for d in sorted(self.scenes_dir.iterdir()):
            if not SCENE_ID_RE.fullmatch(d.name):
                continue
            try:
                out.append(self.get(d.name))
            except NotFoundError:
                continue  # unreadable entries are not scenes; they stay for inspection
        return sorted(out, key=lambda r: (r.created_unix_s, r.scene_id))

    def put(
        self, scene: Scene, *, name: str = "", depth_source: str = ""
    ) -> tuple[SceneRecord, bool]:
        """Store ``scene``; returns (record, created). An identical scene is not stored twice."""
        scene_id = scene_content_id(scene)
        target = self.scene_dir(scene_id)
        if (target / MANIFEST).is_file():
            return self.get(scene_id), False
        staging = self.staging_dir("scene-")
        try:
            scene.save(staging)
            size = sum(p.stat().st_size for p in staging.iterdir())
            record = SceneRecord(
                scene_id=scene_id,
                name=str(name)[:256],
                num_frames=scene.num_frames,
                width=scene.width,
                height=scene.height,
                fps=float(scene.fps),
                intrinsics=scene.intrinsics,
                min_depth=float(scene.min_depth()),
                depth_source=depth_source,
                created_unix_s=time.time(),
                size_bytes=size,
            )
            (staging / MANIFEST).write_bytes(msgpack.packb(record.to_manifest(scene)))
            make_private(staging)
            with self._write_lock:
                if (target / MANIFEST).is_file():
                    return self.get(scene_id), False
                if target.exists():  # an unreadable remnant under the id: replace it
                    self._remove(target)
                os.rename(staging, target)
            return record, True
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def delete(self, scene_id: str) -> None:
        target = self.scene_dir(scene_id)
        with self._write_lock:
            if not target.is_dir():
                raise NotFoundError(f"no scene {scene_id}; ListScenes shows the stored scenes")
            self._remove(target)
            self._records.pop(scene_id, None)
        self._scenes.discard(lambda k: k == scene_id)
        self._meshes.discard(lambda k: k[0] == scene_id)

    def _remove(self, path: Path) -> None:
        doomed = self.tmp_dir / f"deleted-{uuid.uuid4().hex}"
        os.rename(path, doomed)  # disappears at once; removal may take a while
        shutil.rmtree(doomed, ignore_errors=True)

    # -- data ----------------------------------------------------------------------------

    def load(self, scene_id: str) -> Scene:
        """The stored Scene (cached)."""
        self.get(scene_id)  # NOT_FOUND before touching files

        def build() -> Scene:
            return Scene.load(self.scene_dir(scene_id))

        return self._scenes.get_or_build(scene_id, build)

    def mesh(self, scene_id: str, frame_index: int, device: str | None = None) -> DWMesh:
        """The DW-Mesh of one frame, as ``Scene.mesh`` builds it (cached)."""
        scene = self.load(scene_id)
        if not 0 <= frame_index < scene.num_frames:
            raise InputError(
                f"frame {frame_index} is out of range: scene {scene_id} has {scene.num_frames} "
                f"frames (0..{scene.num_frames - 1})"
            )
        key = (scene_id, int(frame_index), device)
        return self._meshes.get_or_build(key, lambda: scene.mesh(int(frame_index), device))

    # -- bundles -------------------------------------------------------------------------

    def bundle_bytes(self, scene_id: str) -> bytes:
        """The scene as a msgpack bundle (manifest, frames, depth and its completion layers),
        for export."""
        record = self.get(scene_id)
        scene = self.load(scene_id)
        completions = load_completions(self.scene_dir(scene_id))
        packed = [
            BundleCompletions(
                g, pack_layers(completions.of_generation(g)), info.meta, info.created_unix_s
            )
            for g in completions.generations
            for info in [completions.info(g)]
        ]
        return encode_bundle(record.to_manifest(scene), scene.frames, scene.depth, packed)

    def scene_from_bundle(
        self, data: bytes, max_scene_bytes: int | None = None
    ) -> tuple[Scene, str, Completions]:
        """Parse a bundle (untrusted bytes) into (Scene, name, completions); a bundle without
        completions gives ``Completions.empty()``. Its arrays together (frames, depth and
        completions, as declared, checked before any is inflated) may hold at most
        ``max_scene_bytes`` (default: the store's)."""
        budget = int(max_scene_bytes or self.max_scene_bytes)
        try:
            b = read_bundle(data, budget, max_total_bytes=budget)
        except BundleLimitError as exc:
            raise LimitError(str(exc)) from None
        m = b.manifest
        check_bundle_manifest(m, b.frames.shape)
        try:
            intr = Intrinsics.from_dict(m["intrinsics"])
            fps = float(m["fps"])
            mesh_options = DWMeshOptions.from_dict(m.get("mesh_options"))
        except InputError as exc:
            raise InputError(f"scene bundle mesh options are invalid: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"scene bundle manifest is malformed: {exc}") from None
        scene = Scene(
            b.frames,
            np.asarray(b.depth, np.float32),
            intr,
            fps,
            str(m.get("source", "")),
            mesh_options,
        )
        completions = Completions.empty()
        for c in b.completions:
            what = f"scene bundle completions of {c.generation[:80]!r}"
            layers = unpack_layers(c.arrays, c.generation, what)
            late = [la.frame_index for la in layers if la.frame_index >= scene.num_frames]
            if late:
                raise InputError(
                    f"{what} complete frame {max(late)}, but the scene has {scene.num_frames} "
                    "frames"
                )
            meta = check_meta(c.meta)
            info = CompletionInfo.of(c.generation, layers, meta, c.created_unix_s)
            completions = completions.merge(Completions(layers, {c.generation: info}))
        return scene, str(m.get("name", "")), completions

    def put_completions(self, scene_id: str, completions: Completions) -> None:
        """Store each generation of ``completions`` with the stored scene (replacing stored
        generations of the same ids; each one atomically)."""
        target = self.scene_dir(scene_id)
        self.get(scene_id)  # NOT_FOUND before touching files
        with self._write_lock:
            for g in completions.generations:
                info = completions.info(g)
                save_completions(
                    target,
                    g,
                    completions.of_generation(g),
                    info.meta,
                    created_unix_s=info.created_unix_s or None,
                )
            make_private(target)
