"""``MeshFrame``: one frame's DW-Mesh in compact form (depth map, colour image, occluded-face
bits, intrinsics, far closure), encoder and decoder side by side.

Every frame shares the grid topology (:mod:`.grid`), so the server sends only per-pixel data and
a client rebuilds vertices and faces; with FLOAT32 depth the rebuilt mesh is bit-exact what
``ex4d_bridge.geometry.build_dw_mesh`` built on the server.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Intrinsics
from ..errors import InputError
from ._proto import common_pb2, geometry_pb2
from .bits import pack_bits, unpack_bits
from .depth import decode_depth, encode_depth
from .grid import check_grid_size, grid_faces, num_faces, num_grid_faces, unproject
from .images import decode_image, encode_image
from .lenses import check_resolution, intrinsics_from_msg, intrinsics_to_msg

DEFAULT_MESH_JPEG_QUALITY = 90


@dataclass(frozen=True, eq=False)
class GridMesh:
    """A DW-Mesh as numpy arrays, on the shared grid topology (see :mod:`.grid`).

    ``vertices`` are in the OpenCV camera frame of the frame the mesh was built from."""

    vertices: np.ndarray  # (N, 3) float32, N = H*W + 1 (the last is the cap centre)
    faces: np.ndarray  # (F, 3) int32, read-only, shared by every mesh of this size
    occluded: np.ndarray  # (F,) bool
    colors: np.ndarray  # (N, 3) uint8 RGB (the cap centre is black)
    intrinsics: Intrinsics
    far_depth: float
    depth: np.ndarray  # (H, W) float32 depth the vertices come from (border at far_depth)
    frame_index: int = 0
    time_s: float = 0.0

    @property
    def height(self) -> int:
        return self.intrinsics.height

    @property
    def width(self) -> int:
        return self.intrinsics.width

    @property
    def num_grid_faces(self) -> int:
        return num_grid_faces(self.height, self.width)

    @property
    def vertex_visible(self) -> np.ndarray:
        """(N,) bool: False for every vertex of an occluded face (the reference's mask rule)."""
        visible = np.ones(len(self.vertices), bool)
        visible[self.faces[self.occluded].reshape(-1)] = False
        return visible

    def to_trimesh(self):
        """A ``trimesh.Trimesh`` (not processed, so topology is kept) with vertex colours and a
        ``face_attributes['occluded']`` array. Needs trimesh (``pip install trimesh``)."""
        import trimesh

        rgba = np.concatenate([self.colors, np.full((len(self.colors), 1), 255, np.uint8)], 1)
        return trimesh.Trimesh(
            vertices=self.vertices,
            faces=self.faces,
            vertex_colors=rgba,
            face_attributes={"occluded": self.occluded},
            process=False,
            validate=False,
        )

    def to_dw_mesh(self):
        """The library's ``DWMesh`` (for ``ex4d_bridge.geometry.render``); needs the server
        install (torch)."""
        from ..geometry import DWMesh, grid_topology

        faces = grid_topology(self.height, self.width).faces.numpy()
        faces.flags.writeable = False
        return DWMesh(
            self.vertices,
            faces,
            self.occluded,
            self.colors,
            self.intrinsics,
            self.far_depth,
            self.depth,
        )


def encode_mesh_frame(
    depth: np.ndarray,
    colors: np.ndarray,
    occluded: np.ndarray | None,
    intrinsics: Intrinsics,
    far_depth: float,
    cap_center: np.ndarray,
    *,
    depth_encoding: int = common_pb2.DEPTH_ENCODING_UINT16_INVERSE,
    color_encoding: int = common_pb2.IMAGE_ENCODING_JPEG,
    jpeg_quality: int = 0,
    scene_id: str = "",
    frame_index: int = 0,
    num_frames: int = 0,
    time_s: float = 0.0,
) -> geometry_pb2.MeshFrame:
    """A DW-Mesh's arrays -> MeshFrame.

    ``depth`` (H, W): the depth the vertices come from (border pixels at ``far_depth``);
    ``colors``: (H, W, 3) pixel colours or (H*W + 1, 3) vertex colours (the cap's is implied);
    ``occluded``: (F,) face bits, or None to leave them out (the client then sees none
    occluded); ``cap_center``: the far cap's vertex. ``jpeg_quality`` 0 means
    :data:`DEFAULT_MESH_JPEG_QUALITY`."""
    d = np.asarray(depth)
    if d.ndim != 2:
        raise InputError(f"depth must be (H, W), got {d.shape}")
    h, w = d.shape
    check_grid_size(h, w)
    if (intrinsics.width, intrinsics.height) != (w, h):
        raise InputError(
            f"intrinsics are for {intrinsics.width}x{intrinsics.height} but depth is {w}x{h}"
        )
    c = np.asarray(colors)
    if c.shape == (h * w + 1, 3):
        c = c[: h * w]
    if c.size != h * w * 3:
        raise InputError(f"colors must be ({h}, {w}, 3) or ({h * w + 1}, 3), got {c.shape}")
    cap = np.asarray(cap_center, dtype=np.float64).reshape(-1)
    if cap.size != 3:
        raise InputError(f"cap_center must be 3 numbers, got {cap.size}")
    frame = geometry_pb2.MeshFrame(
        scene_id=scene_id,
        frame_index=frame_index,
        num_frames=num_frames,
        time_s=time_s,
        intrinsics=intrinsics_to_msg(intrinsics),
        closure=geometry_pb2.MeshClosure(
            far_depth=float(far_depth),
            border_pixels=1,
            cap_center=common_pb2.Vec3(x=cap[0], y=cap[1], z=cap[2]),
        ),
        topology=geometry_pb2.TOPOLOGY_GRID_FAN_V1,
        num_vertices=h * w + 1,
        num_faces=num_faces(h, w),
        depth=encode_depth(d, depth_encoding, float(far_depth)),
        color=encode_image(
            c.reshape(h, w, 3), color_encoding, jpeg_quality or DEFAULT_MESH_JPEG_QUALITY
        ),
    )
    if occluded is not None:
        occ = np.asarray(occluded, dtype=bool).reshape(-1)
        if occ.size != frame.num_faces:
            raise InputError(f"occluded has {occ.size} bits for {frame.num_faces} faces")
        frame.occluded.CopyFrom(pack_bits(occ))
    return frame


def decode_mesh_frame(frame: geometry_pb2.MeshFrame) -> GridMesh:
    """Rebuild the DW-Mesh a MeshFrame describes, exactly as ``build_dw_mesh`` built it, up to
    the depth and colour encodings' error (none for FLOAT32 depth and raw or PNG colour)."""
    if frame.topology != geometry_pb2.TOPOLOGY_GRID_FAN_V1:
        raise InputError(f"unknown mesh topology {frame.topology}; update the client")
    k = intrinsics_from_msg(frame.intrinsics)
    check_resolution(k.width, k.height, "mesh frame size")
    check_grid_size(k.height, k.width)
    depth = decode_depth(frame.depth)
    if depth.shape != (k.height, k.width):
        raise InputError("the depth map and the intrinsics disagree on the frame size")
    faces = grid_faces(k.height, k.width)
    if frame.num_faces != len(faces):
        raise InputError("the frame's face count does not match its topology")
    c = frame.closure.cap_center
    points = unproject(depth, k).reshape(-1, 3)
    vertices = np.concatenate([points, np.array([[c.x, c.y, c.z]], np.float32)])
    color = decode_image(frame.color)
    if color.shape[:2] != depth.shape:
        raise InputError("the colour image and the depth map disagree on the frame size")
    colors = np.concatenate([color.reshape(-1, 3), np.zeros((1, 3), np.uint8)])
    if frame.HasField("occluded") and frame.occluded.count:
        occluded = unpack_bits(frame.occluded)
    else:
        occluded = np.zeros(len(faces), bool)
    if len(occluded) != len(faces):
        raise InputError("the occluded bits do not match the topology's face count")
    return GridMesh(
        vertices,
        faces,
        occluded,
        colors,
        k,
        float(frame.closure.far_depth),
        depth,
        frame_index=int(frame.frame_index),
        time_s=float(frame.time_s),
    )
