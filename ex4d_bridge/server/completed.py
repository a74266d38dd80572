"""Each scene's completion layers, loaded once and kept in memory, for View and StreamGeometry.

View renders at the headset's rate, so nothing per reply may touch the disk or SQLite: the first
request of a scene loads its record, its frames and its completions into a
``scene.completion.CompletedScene`` (whose own caches keep the fused per-frame meshes), and
later replies use that. Entries are evicted least recently used first when their estimated
memory passes the budget; a scene larger than the whole budget is still served, alone. Whoever
changes a scene's completions (a finished job, an upload, a deletion) calls ``invalidate``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..geometry import RenderOptions
from ..scene import Scene
from ..scene.completion import CompletedScene, Completions, CompositeOptions, load_completions
from .store import SceneRecord, SceneStore

# The fused meshes and render tensors a CompletedScene builds from its layers come to about
# this many times the layers' own bytes (vertices, faces and colours per pixel, a window's
# worth of frames); the estimate only orders eviction, it is not an allocation.
_FUSED_FACTOR = 3
DEFAULT_BUDGET_BYTES = 2 << 30


@dataclass(frozen=True, eq=False)
class CompletedEntry:
    """One scene's record, frames and completions, ready to render completed."""

    record: SceneRecord
    scene: Scene
    completions: Completions
    completed: CompletedScene
    nbytes: int

    @property
    def has_completions(self) -> bool:
        return len(self.completions) > 0


def _layer_bytes(completions: Completions) -> int:
    return sum(la.depth.nbytes + la.color.nbytes for la in completions.layers)


class CompletedScenes:
    """``get(scene_id)`` -> :class:`CompletedEntry`, cached within ``budget_bytes``."""

    def __init__(
        self,
        store: SceneStore,
        render: RenderOptions,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        window: int = CompositeOptions.window,
    ) -> None:
        self.store, self.budget_bytes = store, int(budget_bytes)
        self.options = CompositeOptions(window=int(window), render=render)
        self._entries: OrderedDict[str, CompletedEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        # Bumped by invalidate(): a load that started before an invalidation is not cached.
        self._generation: dict[str, int] = {}
        self.loads = 0  # how many entries were built (tests and the bench read it)

    def get(self, scene_id: str) -> CompletedEntry:
        with self._lock:
            entry = self._entries.get(scene_id)
            if entry is not None:
                self._entries.move_to_end(scene_id)
                return entry
            key_lock = self._loading.setdefault(scene_id, threading.Lock())
        with key_lock:  # one load per scene at a time; the others wait for it
            with self._lock:
                entry = self._entries.get(scene_id)
                if entry is not None:
                    self._entries.move_to_end(scene_id)
                    return entry
                started = self._generation.get(scene_id, 0)
            entry = self._load(scene_id)
            with self._lock:
                self._loading.pop(scene_id, None)
                if self._generation.get(scene_id, 0) == started:
                    self._entries[scene_id] = entry
                    self._evict(keep=scene_id)
            return entry

    def _load(self, scene_id: str) -> CompletedEntry:
        record = self.store.get(scene_id)
        scene = self.store.load(scene_id)
        completions = load_completions(self.store.scene_dir(scene_id))
        device = self.options.render.device
        completed = CompletedScene(
            scene,
            completions,
            self.options,
            meshes=lambda t: self.store.mesh(scene_id, t, device),
        )
        nbytes = scene.frames.nbytes + scene.depth.nbytes
        nbytes += _FUSED_FACTOR * _layer_bytes(completions)
        self.loads += 1
        return CompletedEntry(record, scene, completions, completed, nbytes)

    def _evict(self, keep: str) -> None:
        total = sum(e.nbytes for e in self._entries.values())
        for sid in list(self._entries):
            if total <= self.budget_bytes:
                break
            if sid != keep:
                total -= self._entries.pop(sid).nbytes

    def invalidate(self, scene_id: str) -> None:
        """Forget the scene: its next request loads it again (its completions changed)."""
        with self._lock:
            self._entries.pop(scene_id, None)
            self._generation[scene_id] = self._generation.get(scene_id, 0) + 1

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


__all__ = ["DEFAULT_BUDGET_BYTES", "CompletedEntry", "CompletedScenes"]
