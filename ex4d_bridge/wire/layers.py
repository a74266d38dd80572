"""``CompletionLayerFrame``: one completion layer of a frame in compact form, encoder and
decoder side by side.

A layer travels as a :class:`~ex4d_bridge.wire.mesh_frame.GridMesh`-shaped ``MeshFrame`` of its
crop padded by one pixel of "no surface" (so the grid's closure and every face leaving the layer
are occluded), plus the generated camera's pose, lens and the crop box. The client keeps the
non-occluded faces, compacts them and moves them to the world by the pose: with FLOAT32 depth
that is ``ex4d_bridge.scene.completion.layer_mesh`` of the same layer, up to the float32 rounding
of a pose that travelled as a quaternion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Intrinsics
from ..errors import InputError
from ._proto import common_pb2, geometry_pb2
from .lenses import intrinsics_from_msg, intrinsics_to_msg
from .mesh_frame import GridMesh, decode_mesh_frame, encode_mesh_frame
from .poses import pose_from_msg, pose_to_msg


@dataclass(frozen=True, eq=False)
class DecodedLayer:
    """A completion layer rebuilt from the wire: its visible faces in world coordinates."""

    layer_index: int
    generation: str
    frame_index: int
    pose: np.ndarray  # (4, 4) float64 camera-to-world, OpenCV axes
    intrinsics: Intrinsics  # of the whole generated image
    region: tuple[int, int, int, int]  # x0, y0, x1, y1
    grid: GridMesh  # the padded crop, in the generated camera's frame
    vertices: np.ndarray  # (N, 3) float32 world, the vertices of visible faces only
    faces: np.ndarray  # (F, 3) int32 into ``vertices``
    colors: np.ndarray  # (N, 3) uint8

    @property
    def num_faces(self) -> int:
        return int(len(self.faces))


def padded_crop_intrinsics(k: Intrinsics, region: tuple[int, int, int, int]) -> Intrinsics:
    """The camera of the crop ``region`` of an image with camera ``k``, padded by one pixel."""
    x0, y0, x1, y1 = region
    return Intrinsics(k.fx, k.fy, k.cx - x0 + 1, k.cy - y0 + 1, x1 - x0 + 2, y1 - y0 + 2)


def encode_layer_frame(
    grid,
    *,
    layer_index: int,
    generation: str,
    frame_index: int,
    pose: np.ndarray,
    intrinsics: Intrinsics,
    region: tuple[int, int, int, int],
    depth_encoding: int = common_pb2.DEPTH_ENCODING_UINT16_INVERSE,
    color_encoding: int = common_pb2.IMAGE_ENCODING_JPEG,
    jpeg_quality: int = 0,
) -> geometry_pb2.CompletionLayerFrame:
    """A layer's padded-crop DW-Mesh (``grid``: anything with numpy ``depth``, ``colors``,
    ``occluded``, ``intrinsics``, ``far_depth`` and ``vertices``, as
    ``scene.completion.layer_grid`` returns) -> CompletionLayerFrame."""
    x0, y0, x1, y1 = (int(v) for v in region)
    if not (0 <= x0 < x1 <= intrinsics.width and 0 <= y0 < y1 <= intrinsics.height):
        raise InputError(
            f"layer region {region} is not inside the {intrinsics.width}x{intrinsics.height} image"
        )
    gk = grid.intrinsics
    if (gk.width, gk.height) != (x1 - x0 + 2, y1 - y0 + 2):
        raise InputError(
            f"the layer grid is {gk.width}x{gk.height}, the padded region "
            f"{x1 - x0 + 2}x{y1 - y0 + 2}"
        )
    mesh = encode_mesh_frame(
        np.asarray(grid.depth),
        np.asarray(grid.colors),
        np.asarray(grid.occluded),
        gk,
        float(grid.far_depth),
        np.asarray(grid.vertices)[-1],
        depth_encoding=depth_encoding,
        color_encoding=color_encoding,
        jpeg_quality=jpeg_quality,
        frame_index=int(frame_index),
    )
    return geometry_pb2.CompletionLayerFrame(
        layer_index=int(layer_index),
        generation=generation,
        pose=pose_to_msg(np.asarray(pose, np.float64)),
        intrinsics=intrinsics_to_msg(intrinsics),
        region=geometry_pb2.PixelRegion(x0=x0, y0=y0, x1=x1, y1=y1),
        mesh=mesh,
    )


def _check_lens(k: Intrinsics, grid_k: Intrinsics, region: tuple[int, int, int, int]) -> None:
    want = padded_crop_intrinsics(k, region)
    got = (grid_k.fx, grid_k.fy, grid_k.cx, grid_k.cy, grid_k.width, grid_k.height)
    exp = (want.fx, want.fy, want.cx, want.cy, want.width, want.height)
    if not np.allclose(got, exp, rtol=1e-9, atol=1e-9):
        raise InputError(
            f"the layer grid's camera {got} is not the padded crop {region} of the layer's "
            f"camera {exp}"
        )


def decode_layer_frame(msg: geometry_pb2.CompletionLayerFrame) -> DecodedLayer:
    """Rebuild a layer's visible faces in world coordinates (see the module docstring)."""
    if not msg.HasField("mesh") or not msg.HasField("region") or not msg.HasField("pose"):
        raise InputError("a CompletionLayerFrame needs mesh, region and pose")
    k = intrinsics_from_msg(msg.intrinsics)
    r = msg.region
    region = (int(r.x0), int(r.y0), int(r.x1), int(r.y1))
    if not (0 <= r.x0 < r.x1 <= k.width and 0 <= r.y0 < r.y1 <= k.height):
        raise InputError(f"layer region {region} is not inside the {k.width}x{k.height} image")
    if not msg.mesh.HasField("occluded") or not msg.mesh.occluded.count:
        raise InputError("a layer's mesh must carry its occluded bits (they define the layer)")
    grid = decode_mesh_frame(msg.mesh)
    _check_lens(k, grid.intrinsics, region)
    pose = pose_from_msg(msg.pose)
    keep = ~grid.occluded
    faces = grid.faces[keep]
    if len(faces):
        used, inverse = np.unique(faces, return_inverse=True)
        cam = np.asarray(grid.vertices, np.float64)[used]
        world = (cam @ pose[:3, :3].T + pose[:3, 3]).astype(np.float32)
        faces, colors = inverse.reshape(-1, 3).astype(np.int32), grid.colors[used]
    else:
        world = np.zeros((0, 3), np.float32)
        faces, colors = np.zeros((0, 3), np.int32), np.zeros((0, 3), np.uint8)
    return DecodedLayer(
        int(msg.layer_index),
        msg.generation,
        int(msg.mesh.frame_index),
        pose,
        k,
        region,
        grid,
        world,
        faces,
        colors,
    )


__all__ = ["DecodedLayer", "decode_layer_frame", "encode_layer_frame", "padded_crop_intrinsics"]
