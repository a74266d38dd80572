"""Completion layers stored with the scene: one folder per generation, written atomically.

Layout::

    SCENE_DIR/scene.json, scene.npz                 the scene (``Scene.save``)
    SCENE_DIR/completions/<folder>/completion.json  generation id, meta, summary, format
    SCENE_DIR/completions/<folder>/layers.npz       the layers, packed (below)

``<folder>`` is the generation id made safe for any file system (letters, digits and ``._+-``
kept, anything else ``_``, at most 48 characters) followed by ``-`` and 12 hex digits of the
id's SHA-256, so two ids never share a folder and no id can name a path outside
``completions/``. The id itself is kept in ``completion.json``.

A generation's layers are packed into six arrays (``wire.COMPLETION_ARRAYS``; the scene bundle
carries the same six): per layer ``frame_index`` (L,), ``pose`` (L, 4, 4), ``intrinsics``
(L, 6: fx, fy, cx, cy, width, height) and ``region`` (L, 4); and every layer's crop, row-major,
one after the other: ``depth`` (P,) and ``color`` (P, 3), P = the sum of the crop areas.

Writes are atomic: a generation is written into a staging folder (``.staging-*``) and renamed
into place; a replaced generation is first renamed aside (``.old.<folder>``) and removed after
the new one is in place, so a failure at any point leaves either the old or the new generation
complete (a crash between the two renames is repaired at the next access) and never a half
folder under a real name. Writers in one process are serialised; two processes writing the same
scene at once are not supported.

Everything read is untrusted: array sizes are checked before they are inflated, every value is
validated, and anything malformed raises ``InputError`` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...camera.intrinsics import Intrinsics
from ...errors import InputError
from ...wire.bundle import COMPLETION_ARRAYS
from .layers import CompletionLayer

COMPLETIONS_DIR = "completions"
INFO_FILE = "completion.json"
LAYERS_FILE = "layers.npz"
COMPLETION_FORMAT = 1
MAX_GENERATION_ID = 256
MAX_LAYERS = 1 << 16  # per generation
MAX_PIXELS = 1 << 28  # per generation: ~1.9 GB of depth and colour
_STAGING = ".staging-"
_OLD = ".old."
_STALE_STAGING_S = 3600.0
_NPY_HEADER_SLACK = 1 << 12

_write_lock = threading.Lock()


# -- in memory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionInfo:
    """What ``list_completions`` reports about one stored generation."""

    generation: str
    frames: list[int]  # the source frames it completes, sorted
    num_layers: int
    num_pixels: int  # generated pixels with depth, over all layers
    meta: dict[str, Any] = field(default_factory=dict)
    created_unix_s: float = 0.0

    @classmethod
    def of(
        cls,
        generation: str,
        layers: list[CompletionLayer],
        meta: dict | None = None,
        created_unix_s: float = 0.0,
    ) -> CompletionInfo:
        """The summary of ``layers``."""
        return cls(
            generation,
            sorted({la.frame_index for la in layers}),
            len(layers),
            int(sum(la.num_pixels for la in layers)),
            dict(meta or {}),
            float(created_unix_s),
        )


class Completions:
    """Completion layers in memory, by generation and by source frame. Treat as immutable:
    ``merge`` returns a new object."""

    def __init__(
        self,
        layers: Iterable[CompletionLayer] = (),
        info: Mapping[str, CompletionInfo] | None = None,
    ) -> None:
        self._layers = tuple(layers)
        for layer in self._layers:
            if not isinstance(layer, CompletionLayer):
                raise InputError(f"completions hold CompletionLayers, got {type(layer).__name__}")
        self._info = dict(info or {})
        by_frame: dict[int, list[CompletionLayer]] = {}
        for layer in self._layers:
            by_frame.setdefault(layer.frame_index, []).append(layer)
        self._by_frame = {t: tuple(v) for t, v in by_frame.items()}

    @classmethod
    def empty(cls) -> Completions:
        return cls()

    @property
    def layers(self) -> list[CompletionLayer]:
        return list(self._layers)

    @property
    def generations(self) -> list[str]:
        """The generation ids, sorted (including stored generations that hold no layer)."""
        return sorted({layer.generation for layer in self._layers} | set(self._info))

    def info(self, generation: str) -> CompletionInfo:
        """The stored summary of ``generation`` (computed for generations built in memory)."""
        if generation in self._info:
            return self._info[generation]
        layers = [la for la in self._layers if la.generation == generation]
        if not layers and generation not in self.generations:
            raise InputError(f"no generation {generation!r}; known: {self.generations}")
        return CompletionInfo.of(generation, layers, {}, 0.0)

    def frames(self) -> list[int]:
        """The source frames that have at least one layer, sorted."""
        return sorted(self._by_frame)

    def for_frame(self, t: int) -> list[CompletionLayer]:
        """The layers that complete source frame ``t`` (in generation order of loading)."""
        return list(self._by_frame.get(int(t), ()))

    def of_generation(self, generation: str) -> list[CompletionLayer]:
        return [la for la in self._layers if la.generation == generation]

    def merge(self, other: Completions) -> Completions:
        """Both sets of layers; where both hold a generation of the same id, ``other``'s
        replaces this one's (as saving a generation again replaces it)."""
        replaced = set(other.generations)
        layers = [la for la in self._layers if la.generation not in replaced]
        info = {g: i for g, i in self._info.items() if g not in replaced}
        info.update(other._info)
        return Completions(layers + other.layers, info)

    def __len__(self) -> int:
        return len(self._layers)

    def __repr__(self) -> str:
        return (
            f"Completions({len(self._layers)} layers, {len(self.generations)} generations, "
            f"{len(self._by_frame)} frames)"
        )


# -- packing (shared by the folder format and the scene bundle) --------------------------------


def pack_layers(layers: list[CompletionLayer]) -> dict[str, np.ndarray]:
    """Layers -> the six packed arrays (see the module docstring)."""
    n = len(layers)
    ks = [la.intrinsics for la in layers]
    return {
        "frame_index": np.array([la.frame_index for la in layers], "<i4").reshape(n),
        "pose": np.array([la.pose for la in layers], "<f8").reshape(n, 4, 4),
        "intrinsics": np.array(
            [(k.fx, k.fy, k.cx, k.cy, k.width, k.height) for k in ks], "<f8"
        ).reshape(n, 6),
        "region": np.array([la.region for la in layers], "<i4").reshape(n, 4),
        "depth": np.concatenate([la.depth.reshape(-1) for la in layers] or [np.zeros(0)]).astype(
            "<f4"
        ),
        "color": np.concatenate(
            [la.color.reshape(-1, 3) for la in layers] or [np.zeros((0, 3))]
        ).astype("|u1"),
    }


def _check_small_arrays(a: Mapping[str, np.ndarray], what: str) -> int:
    """Check the per-layer arrays; returns P, the number of crop pixels the regions hold."""
    for name in ("frame_index", "pose", "intrinsics", "region"):
        dtype, ndim = COMPLETION_ARRAYS[name]
        x = a.get(name)
        if not isinstance(x, np.ndarray) or x.dtype != np.dtype(dtype) or x.ndim != ndim:
            raise InputError(f"{what}: {name} is missing or not a {dtype} array of {ndim} dims")
    n = len(a["frame_index"])
    if n > MAX_LAYERS:
        raise InputError(f"{what}: {n} layers, over the limit of {MAX_LAYERS}")
    shapes = {"pose": (n, 4, 4), "intrinsics": (n, 6), "region": (n, 4)}
    for name, shape in shapes.items():
        if a[name].shape != shape:
            raise InputError(f"{what}: {name} has shape {a[name].shape}, expected {shape}")
    r = a["region"].astype(np.int64)
    area = (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])
    if n and (area <= 0).any():
        raise InputError(f"{what}: a region is empty or inverted")
    pixels = int(area.sum())
    if pixels > MAX_PIXELS:
        raise InputError(f"{what}: {pixels} crop pixels, over the limit of {MAX_PIXELS}")
    return pixels


def unpack_layers(
    arrays: Mapping[str, np.ndarray], generation: str, what: str = "completions"
) -> list[CompletionLayer]:
    """The six packed arrays (untrusted) -> validated layers of ``generation``."""
    check_generation_id(generation)
    pixels = _check_small_arrays(arrays, what)
    for name, shape in (("depth", (pixels,)), ("color", (pixels, 3))):
        dtype = COMPLETION_ARRAYS[name][0]
        x = arrays.get(name)
        if not isinstance(x, np.ndarray) or x.dtype != np.dtype(dtype) or x.shape != shape:
            raise InputError(
                f"{what}: {name} must be a {dtype} array of shape {shape} (the regions' pixels)"
            )
    depth, color = arrays["depth"], arrays["color"]
    _check_depth(depth, what)
    poses = arrays["pose"]
    if not np.isfinite(poses).all():
        raise InputError(f"{what}: a layer pose is not finite")
    for pose in poses:
        _check_rigid(pose, what)
    layers = []
    offset = 0
    for i in range(len(arrays["frame_index"])):
        fx, fy, cx, cy, w, h = (float(v) for v in arrays["intrinsics"][i])
        if not (w.is_integer() and h.is_integer() and 0 < w <= 1 << 16 and 0 < h <= 1 << 16):
            raise InputError(f"{what}: layer {i} has an image size {w}x{h}")
        k = Intrinsics(fx, fy, cx, cy, int(w), int(h))
        x0, y0, x1, y1 = (int(v) for v in arrays["region"][i])
        n = (x1 - x0) * (y1 - y0)
        d = depth[offset : offset + n].reshape(y1 - y0, x1 - x0).copy()
        c = color[offset : offset + n].reshape(y1 - y0, x1 - x0, 3).copy()
        offset += n
        try:
            layer = CompletionLayer(
                int(arrays["frame_index"][i]),
                generation,
                poses[i].copy(),
                k,
                (x0, y0, x1, y1),
                d,
                c,
            )
            layers.append(layer)
        except InputError as exc:
            raise InputError(f"{what}: layer {i}: {exc}") from None
    return layers


def _check_depth(depth: np.ndarray, what: str) -> None:
    if np.isnan(depth).any() or (depth <= 0).any() or np.isneginf(depth).any():
        raise InputError(
            f"{what}: depth must be > 0, or inf where a crop pixel is not part of the layer "
            "(never 0, negative or NaN)"
        )


def _check_rigid(pose: np.ndarray, what: str) -> None:
    rot = pose[:3, :3]
    if (
        not np.allclose(pose[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6)
        or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4)
        or np.linalg.det(rot) < 0
    ):
        raise InputError(f"{what}: a layer pose is not a rigid camera-to-world matrix")


# -- folders -----------------------------------------------------------------------------------


def check_generation_id(generation: Any) -> str:
    if not isinstance(generation, str) or not generation.strip():
        raise InputError(f"a generation id must be a non-empty string, got {generation!r}")
    if len(generation) > MAX_GENERATION_ID or any(ord(ch) < 32 for ch in generation):
        raise InputError(
            f"generation id {generation[:80]!r} must be at most {MAX_GENERATION_ID} characters "
            "without control characters"
        )
    return generation


def check_meta(meta: Any) -> dict[str, Any]:
    """A generation's meta: a JSON-serialisable mapping (returned as a copy)."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InputError(f"completion meta must be a mapping, got {type(meta).__name__}")
    try:
        return json.loads(json.dumps(dict(meta), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputError(f"completion meta must be JSON-serialisable: {exc}") from None


def generation_folder(generation: str) -> str:
    """The folder name of a generation id: readable, safe on any file system, unique."""
    check_generation_id(generation)
    readable = re.sub(r"[^A-Za-z0-9._+-]+", "_", generation).strip("._-")[:48] or "generation"
    digest = hashlib.sha256(generation.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable}-{digest}"


def _completions_dir(scene_dir: str | os.PathLike) -> Path:
    return Path(scene_dir) / COMPLETIONS_DIR


def _recover(root: Path) -> None:
    """Put back a generation renamed aside by a replace that did not finish; drop the old copy
    of one that did."""
    if not root.is_dir():
        return
    for old in root.glob(_OLD + "*"):
        target = root / old.name[len(_OLD) :]
        try:
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(old, target)
        except OSError:
            pass  # read-only scene: the next writer repairs it


def _generation_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        d
        for d in root.iterdir()
        if not d.name.startswith(".") and not d.is_symlink() and d.is_dir()
    )


def _read_info(folder: Path) -> dict[str, Any]:
    path = folder / INFO_FILE
    try:
        if path.stat().st_size > 1 << 24:
            raise InputError(f"{path} is too large to be a completion summary")
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{folder} holds no {INFO_FILE}: not a stored generation") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is unreadable: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != COMPLETION_FORMAT:
        raise InputError(f"{path} is not a completion summary of format {COMPLETION_FORMAT}")
    try:
        generation = check_generation_id(info["generation"])
        frames = [int(t) for t in info["frames"]]
        num_layers, num_pixels = int(info["num_layers"]), int(info["num_pixels"])
        created = float(info["created_unix_s"])
        meta = info.get("meta", {})
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path} is malformed: {exc!r}") from None
    if generation_folder(generation) != folder.name:
        raise InputError(f"{path} names generation {generation!r}, which is not its folder's")
    if not isinstance(meta, dict) or not math.isfinite(created):
        raise InputError(f"{path} is malformed: meta must be a mapping, created a number")
    info.update(frames=frames, num_layers=num_layers, num_pixels=num_pixels, meta=meta)
    return info


def _read_layers(folder: Path, generation: str) -> list[CompletionLayer]:
    path = folder / LAYERS_FILE
    what = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            names = {f"{n}.npy" for n in COMPLETION_ARRAYS}
            if set(z.zip.namelist()) != names:
                raise InputError(f"{what} must hold exactly {sorted(COMPLETION_ARRAYS)}")
            small = {}
            for name in ("frame_index", "pose", "intrinsics", "region"):
                _check_member_size(z.zip, name, 16 * 8 * MAX_LAYERS, what)
                small[name] = z[name]
            pixels = _check_small_arrays(small, what)
            arrays = dict(small)
            for name, per_pixel in (("depth", 4), ("color", 3)):
                _check_member_size(z.zip, name, per_pixel * pixels, what)
                arrays[name] = z[name]
    except FileNotFoundError:
        raise InputError(f"{folder} holds no {LAYERS_FILE}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{what} is unreadable: {exc}") from None
    return unpack_layers(arrays, generation, what)


def _check_member_size(zf: zipfile.ZipFile, name: str, data_bytes: int, what: str) -> None:
    """Refuse an array whose declared size is beyond what the layers need, before reading it
    (zipfile never reads past the declared size)."""
    if zf.getinfo(f"{name}.npy").file_size > data_bytes + _NPY_HEADER_SLACK:
        raise InputError(f"{what}: {name} is larger than its layers need")


# -- the API -----------------------------------------------------------------------------------


def _scene_frames(scene_dir: Path) -> int:
    meta_path = scene_dir / "scene.json"
    try:
        return int(json.loads(meta_path.read_text())["num_frames"])
    except FileNotFoundError:
        raise InputError(
            f"{scene_dir} is not a scene directory (no scene.json); completions are stored "
            "with a scene"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{meta_path} is unreadable: {exc}") from None


def save_completions(
    scene_dir: str | os.PathLike,
    generation: str,
    layers: list[CompletionLayer],
    meta: dict | None = None,
    *,
    created_unix_s: float | None = None,
) -> Path:
    """Store ``layers`` as generation ``generation`` of the scene in ``scene_dir``, replacing
    a stored generation of that id atomically; returns its folder. Every layer must belong to
    ``generation`` and complete a frame of the scene; ``meta`` is any JSON-serialisable
    mapping (the path, the generator, the depth fill, ...)."""
    scene_dir = Path(scene_dir)
    check_generation_id(generation)
    num_frames = _scene_frames(scene_dir)
    layers = list(layers)
    for layer in layers:
        if not isinstance(layer, CompletionLayer):
            raise InputError(f"layers must be CompletionLayers, got {type(layer).__name__}")
        if layer.generation != generation:
            raise InputError(
                f"a layer of generation {layer.generation!r} cannot be saved as {generation!r}"
            )
        if layer.frame_index >= num_frames:
            raise InputError(
                f"a layer completes frame {layer.frame_index}, but the scene has {num_frames} "
                f"frames (0..{num_frames - 1})"
            )
    if len(layers) > MAX_LAYERS:
        raise InputError(f"{len(layers)} layers, over the limit of {MAX_LAYERS} per generation")
    meta = check_meta(meta)
    summary = CompletionInfo.of(generation, layers, meta, created_unix_s or time.time())
    info = {
        "format": COMPLETION_FORMAT,
        "generation": generation,
        "frames": summary.frames,
        "num_layers": summary.num_layers,
        "num_pixels": summary.num_pixels,
        "created_unix_s": summary.created_unix_s,
        "meta": meta,
    }
    info_text = json.dumps(info, indent=2, allow_nan=False)
    arrays = pack_layers(layers)
    _check_depth(arrays["depth"], "completion layers")

    root = _completions_dir(scene_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / generation_folder(generation)
    old = root / f"{_OLD}{target.name}"
    with _write_lock:
        _recover(root)
        _remove_stale_staging(root)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=_STAGING))
        try:
            _write_generation(staging, info_text, arrays)
            if target.exists():
                os.rename(target, old)
            try:
                os.rename(staging, target)
            except BaseException:
                if old.exists() and not target.exists():
                    os.rename(old, target)
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target


def _write_generation(folder: Path, info_text: str, arrays: dict[str, np.ndarray]) -> None:
    with open(folder / LAYERS_FILE, "wb") as f:
        np.savez_compressed(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    (folder / INFO_FILE).write_text(info_text)


def _remove_stale_staging(root: Path) -> None:
    now = time.time()
    for d in root.glob(_STAGING + "*"):
        try:
            if now - d.stat().st_mtime > _STALE_STAGING_S:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def list_completions(scene_dir: str | os.PathLike) -> list[CompletionInfo]:
    """The stored generations of the scene in ``scene_dir``, sorted by id (empty when it has
    none). A malformed stored generation raises ``InputError`` naming its folder."""
    root = _completions_dir(scene_dir)
    _recover(root)
    out = []
    for folder in _generation_dirs(root):
        i = _read_info(folder)
        out.append(
            CompletionInfo(
                i["generation"],
                sorted(set(i["frames"])),
                i["num_layers"],
                i["num_pixels"],
                i["meta"],
                float(i["created_unix_s"]),
            )
        )
    return sorted(out, key=lambda c: c.generation)


def _known_generations(root: Path) -> list[str]:
    known = []
    for folder in _generation_dirs(root):
        try:
            known.append(_read_info(folder)["generation"])
        except InputError:
            known.append(f"<unreadable {folder.name}>")
    return sorted(known)


def remove_completions(scene_dir: str | os.PathLike, generation: str) -> None:
    """Remove a stored generation (atomically: renamed aside, then deleted)."""
    root = _completions_dir(scene_dir)
    target = root / generation_folder(generation)
    with _write_lock:
        _recover(root)
        if not target.is_dir() or target.is_symlink():
            raise InputError(
                f"the scene has no completions of generation {generation!r}; stored: "
                f"{_known_generations(root) or 'none'}"
            )
        doomed = Path(tempfile.mkdtemp(dir=root, prefix=_STAGING))
        os.rename(target, doomed / "removed")
        shutil.rmtree(doomed, ignore_errors=True)


def load_completions(
    scene_dir: str | os.PathLike, generations: list[str] | None = None
) -> Completions:
    """The stored completions of the scene in ``scene_dir`` (all generations, or the named
    ones; an unknown name raises ``InputError`` listing the stored ones). A scene without
    completions gives ``Completions.empty()``."""
    root = _completions_dir(scene_dir)
    _recover(root)
    if generations is None:
        folders = _generation_dirs(root)
    else:
        if isinstance(generations, str):
            generations = [generations]
        folders = []
        for g in dict.fromkeys(generations):
            folder = root / generation_folder(g)
            if not folder.is_dir() or folder.is_symlink():
                raise InputError(
                    f"the scene has no completions of generation {g!r}; stored: "
                    f"{_known_generations(root) or 'none'}"
                )
            folders.append(folder)
    layers: list[CompletionLayer] = []
    info: dict[str, CompletionInfo] = {}
    for folder in folders:
        i = _read_info(folder)
        g = i["generation"]
        got = _read_layers(folder, g)
        summary = CompletionInfo.of(g, got, i["meta"], i["created_unix_s"])
        if (summary.num_layers, summary.frames) != (i["num_layers"], sorted(set(i["frames"]))):
            raise InputError(f"{folder / INFO_FILE} does not describe the layers stored with it")
        layers += got
        info[g] = summary
    return Completions(layers, info)


__all__ = [
    "COMPLETIONS_DIR",
    "CompletionInfo",
    "Completions",
    "check_generation_id",
    "check_meta",
    "generation_folder",
    "list_completions",
    "load_completions",
    "pack_layers",
    "remove_completions",
    "save_completions",
    "unpack_layers",
]
