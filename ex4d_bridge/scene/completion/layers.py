"""Completion layers: generated pixels lifted back into 3D, stored per source frame.

A generated frame at pose P along a path completes source frame t only along that path. A
``CompletionLayer`` keeps, for source frame t, the generated pixels that the render mask asked
for (plus a margin so seams close) with a depth, in the generated camera's own pixel grid,
cropped to the box they occupy. Its mesh follows the DW-Mesh rules (one vertex per pixel, two
triangles per quad, thin faces occluded), but it is open: faces touching a pixel outside the
layer are dropped, so a layer never stretches across its own depth edges or its boundary.

World coordinates are the scene's (the OpenCV camera frame of source frame 0), as for every
source DW-Mesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ...camera.intrinsics import Intrinsics
from ...errors import InputError
from ...geometry import DWMeshOptions, build_dw_mesh


class Provenance(IntEnum):
    """Where a completed render's pixel came from."""

    HOLE = 0  # nothing at all
    SOURCE = 1  # the source DW-Mesh's visible surface
    COMPLETION = 2  # a completion layer of the rendered frame
    NEARBY = 3  # a completion layer of another frame inside the window


@dataclass(frozen=True, eq=False)
class CompletionLayer:
    """Generated pixels of one frame of one generation, with depth, in the generated camera.

    ``depth`` and ``color`` cover the crop box ``region = (x0, y0, x1, y1)`` (pixels x0..x1-1,
    y0..y1-1) of the generated image, whose full camera is ``intrinsics``; depth is z along the
    generated camera's axis, ``inf`` on crop pixels that are not part of the layer. ``pose`` is
    the generated camera, camera-to-world, OpenCV axes."""

    frame_index: int  # the source frame this layer completes
    generation: str  # id of the generation (path) that produced it
    pose: np.ndarray  # (4, 4) float64
    intrinsics: Intrinsics  # of the whole generated image
    region: tuple[int, int, int, int]  # x0, y0, x1, y1
    depth: np.ndarray  # (y1 - y0, x1 - x0) float32
    color: np.ndarray  # (y1 - y0, x1 - x0, 3) uint8

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = (int(v) for v in self.region)
        k = self.intrinsics
        if not (0 <= x0 < x1 <= k.width and 0 <= y0 < y1 <= k.height):
            raise InputError(
                f"completion region {self.region} is not inside the {k.width}x{k.height} image"
            )
        if self.depth.shape != (y1 - y0, x1 - x0) or self.depth.dtype != np.float32:
            raise InputError(
                f"completion depth must be float32 {(y1 - y0, x1 - x0)}, got "
                f"{self.depth.dtype} {self.depth.shape}"
            )
        if self.color.shape != (y1 - y0, x1 - x0, 3) or self.color.dtype != np.uint8:
            raise InputError(
                f"completion colour must be uint8 {(y1 - y0, x1 - x0, 3)}, got "
                f"{self.color.dtype} {self.color.shape}"
            )
        pose = np.asarray(self.pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise InputError("completion pose must be a finite 4x4 matrix")
        if self.frame_index < 0:
            raise InputError(f"frame_index must be >= 0, got {self.frame_index}")
        object.__setattr__(self, "pose", pose)
        object.__setattr__(self, "region", (x0, y0, x1, y1))

    @property
    def valid(self) -> np.ndarray:
        """(h, w) bool: the crop pixels that belong to the layer."""
        return np.isfinite(self.depth) & (self.depth > 0)

    @property
    def num_pixels(self) -> int:
        return int(self.valid.sum())

    def crop_intrinsics(self) -> Intrinsics:
        """The camera of the crop box (same lens, principal point shifted)."""
        x0, y0, x1, y1 = self.region
        k = self.intrinsics
        return Intrinsics(k.fx, k.fy, k.cx - x0, k.cy - y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, eq=False)
class LayerMesh:
    """The visible faces of one or more completion layers, in world coordinates, compacted."""

    vertices: np.ndarray  # (N, 3) float32
    faces: np.ndarray  # (F, 3) int32
    colors: np.ndarray  # (N, 3) uint8
    face_layer: np.ndarray  # (F,) int32: index of the layer each face comes from

    @property
    def num_faces(self) -> int:
        return int(len(self.faces))

    @staticmethod
    def empty() -> LayerMesh:
        return LayerMesh(
            np.zeros((0, 3), np.float32),
            np.zeros((0, 3), np.int32),
            np.zeros((0, 3), np.uint8),
            np.zeros(0, np.int32),
        )

    @staticmethod
    def concatenate(meshes: list[LayerMesh]) -> LayerMesh:
        meshes = [m for m in meshes if m.num_faces]
        if not meshes:
            return LayerMesh.empty()
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        layer_offsets = np.cumsum([0] + [int(m.face_layer.max()) + 1 for m in meshes[:-1]])
        return LayerMesh(
            np.concatenate([m.vertices for m in meshes]),
            np.concatenate([m.faces + o for m, o in zip(meshes, offsets, strict=True)]).astype(
                np.int32
            ),
            np.concatenate([m.colors for m in meshes]),
            np.concatenate(
                [m.face_layer + lo for m, lo in zip(meshes, layer_offsets, strict=True)]
            ).astype(np.int32),
        )


def layer_grid(layer: CompletionLayer, options: DWMeshOptions | None = None):
    """The DW-Mesh of the layer's crop padded by one pixel of "no surface" on every side, in
    the generated camera's frame (a ``DWMesh``): the padding puts the DW-Mesh border closure
    and cap outside the layer, so every face that touches a pixel not in the layer is
    occluded along with the layer's own depth edges. Its non-occluded faces are the layer
    (``layer_mesh``); the wire sends this grid as is (``CompletionLayerFrame.mesh``)."""
    d = np.pad(layer.depth, 1, constant_values=np.inf)
    c = np.pad(layer.color, ((1, 1), (1, 1), (0, 0)))
    kc = layer.crop_intrinsics()
    k = Intrinsics(kc.fx, kc.fy, kc.cx + 1, kc.cy + 1, kc.width + 2, kc.height + 2)
    return build_dw_mesh(d, c, k, options).numpy()


def layer_mesh(
    layer: CompletionLayer, options: DWMeshOptions | None = None, layer_index: int = 0
) -> LayerMesh:
    """The layer's mesh by the DW-Mesh rules, its visible faces only, in world coordinates:
    the non-occluded faces of ``layer_grid``, compacted, moved by the layer's pose."""
    mesh = layer_grid(layer, options)
    keep = ~np.asarray(mesh.occluded, bool)
    faces = np.asarray(mesh.faces)[keep]
    if not len(faces):
        return LayerMesh.empty()
    used, inverse = np.unique(faces, return_inverse=True)
    cam = np.asarray(mesh.vertices, np.float64)[used]
    world = cam @ layer.pose[:3, :3].T + layer.pose[:3, 3]
    return LayerMesh(
        world.astype(np.float32),
        inverse.reshape(-1, 3).astype(np.int32),
        np.asarray(mesh.colors)[used],
        np.full(len(faces), layer_index, np.int32),
    )


__all__ = ["CompletionLayer", "LayerMesh", "Provenance", "layer_grid", "layer_mesh"]
