"""The wire: the generated code of the contract (``proto/ex4d/v1``) and every encoding on it,
encoder and decoder side by side, shared by the server and the clients.

Plain data in, plain data out (numpy arrays, :class:`~ex4d_bridge.camera.Intrinsics`, protobuf
messages, bytes): nothing here builds or renders geometry beyond the client's rebuild of the
shared grid, and nothing imports torch. Every malformed value raises
:class:`~ex4d_bridge.errors.InputError`, which the server answers with INVALID_ARGUMENT.

=================  =====================================================================
module             what
=================  =====================================================================
``_proto``         the generated messages and stubs (``common_pb2``, ``view_pb2``, ...)
``images``         colour images: JPEG, PNG, raw RGB
``depth``          depth maps: 16-bit inverse depth (gradient predictor), float16, float32
``bits``           packed bit sets (masks, occluded faces)
``poses``          coordinate systems and poses
``lenses``         intrinsics and the lens of a view
``grid``           the DW-Mesh grid topology and unprojection, in numpy
``mesh_frame``     MeshFrame: a frame's DW-Mesh in compact form, and its rebuild
``layers``         CompletionLayerFrame: a completion layer in compact form, and its rebuild
``provenance``     ProvenanceMap: where each pixel of a completed view came from
``mesh_msgpack``   a mesh's full buffers as msgpack (ExportMesh)
``bundle``         the scene bundle (ExportScene, bundle uploads)
``chunks``         files and bytes as FileChunk streams
``parsing``        tolerant request parsing on the server
=================  =====================================================================
"""

from ._proto import (
    bridge_pb2,
    bridge_pb2_grpc,
    common_pb2,
    geometry_pb2,
    jobs_pb2,
    scenes_pb2,
    view_pb2,
)
from .bits import pack_bits, unpack_bits
from .bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    BundleLimitError,
    decode_bundle,
    encode_bundle,
    pack_array,
    unpack_array,
)
from .chunks import CHUNK_BYTES, byte_chunks, iter_file_chunks
from .compression import ZLIB_LEVEL
from .depth import (
    FAR_CODE,
    UINT16_STEPS,
    decode_depth,
    encode_depth,
    gradient_residual,
    gradient_restore,
    uint16_error_bound,
)
from .grid import grid_faces, num_faces, num_grid_faces, num_vertices, unproject
from .images import DEFAULT_JPEG_QUALITY, decode_image, encode_image
from .layers import (
    DecodedLayer,
    decode_layer_frame,
    encode_layer_frame,
    padded_crop_intrinsics,
)
from .lenses import (
    MAX_RESOLUTION,
    check_resolution,
    intrinsics_from_fov_angles,
    intrinsics_from_msg,
    intrinsics_to_msg,
    view_intrinsics,
)
from .mesh_frame import DEFAULT_MESH_JPEG_QUALITY, GridMesh, decode_mesh_frame, encode_mesh_frame
from .mesh_msgpack import decode_mesh_msgpack, encode_mesh_msgpack
from .parsing import MalformedMessage, checked, tolerant_parser
from .poses import (
    SYSTEM_FROM_WIRE,
    SYSTEM_TO_WIRE,
    pose_from_msg,
    pose_to_msg,
    system_from_wire,
    system_to_wire,
)
from .provenance import PROVENANCE_VALUES, decode_provenance, encode_provenance

__all__ = [
    "BUNDLE_FORMAT",
    "PROVENANCE_VALUES",
    "decode_provenance",
    "encode_provenance",
    "DecodedLayer",
    "decode_layer_frame",
    "encode_layer_frame",
    "padded_crop_intrinsics",
    "BUNDLE_VERSION",
    "CHUNK_BYTES",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_MESH_JPEG_QUALITY",
    "FAR_CODE",
    "MAX_RESOLUTION",
    "SYSTEM_FROM_WIRE",
    "SYSTEM_TO_WIRE",
    "UINT16_STEPS",
    "ZLIB_LEVEL",
    "BundleLimitError",
    "GridMesh",
    "MalformedMessage",
    "bridge_pb2",
    "bridge_pb2_grpc",
    "byte_chunks",
    "check_resolution",
    "checked",
    "common_pb2",
    "decode_bundle",
    "decode_depth",
    "decode_image",
    "decode_mesh_frame",
    "decode_mesh_msgpack",
    "encode_bundle",
    "encode_depth",
    "encode_image",
    "encode_mesh_frame",
    "encode_mesh_msgpack",
    "geometry_pb2",
    "gradient_residual",
    "gradient_restore",
    "grid_faces",
    "intrinsics_from_fov_angles",
    "intrinsics_from_msg",
    "intrinsics_to_msg",
    "iter_file_chunks",
    "jobs_pb2",
    "num_faces",
    "num_grid_faces",
    "num_vertices",
    "pack_array",
    "pack_bits",
    "pose_from_msg",
    "pose_to_msg",
    "scenes_pb2",
    "system_from_wire",
    "system_to_wire",
    "tolerant_parser",
    "uint16_error_bound",
    "unpack_array",
    "unpack_bits",
    "unproject",
    "view_intrinsics",
    "view_pb2",
]
