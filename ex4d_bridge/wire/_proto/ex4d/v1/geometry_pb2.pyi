from ex4d.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Topology(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOPOLOGY_UNSPECIFIED: _ClassVar[Topology]
    TOPOLOGY_GRID_FAN_V1: _ClassVar[Topology]

class MeshFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESH_FORMAT_UNSPECIFIED: _ClassVar[MeshFormat]
    MESH_FORMAT_MSGPACK: _ClassVar[MeshFormat]
    MESH_FORMAT_GLB: _ClassVar[MeshFormat]
    MESH_FORMAT_PLY: _ClassVar[MeshFormat]
TOPOLOGY_UNSPECIFIED: Topology
TOPOLOGY_GRID_FAN_V1: Topology
MESH_FORMAT_UNSPECIFIED: MeshFormat
MESH_FORMAT_MSGPACK: MeshFormat
MESH_FORMAT_GLB: MeshFormat
MESH_FORMAT_PLY: MeshFormat

class StreamGeometryRequest(_message.Message):
    __slots__ = ("scene_id", "first_frame", "last_frame", "depth_encoding", "color_encoding", "jpeg_quality", "skip_occluded", "include_completions", "max_layers")
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    DEPTH_ENCODING_FIELD_NUMBER: _ClassVar[int]
    COLOR_ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    SKIP_OCCLUDED_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_LAYERS_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    first_frame: int
    last_frame: int
    depth_encoding: _common_pb2.DepthEncoding
    color_encoding: _common_pb2.ImageEncoding
    jpeg_quality: int
    skip_occluded: bool
    include_completions: bool
    max_layers: int
    def __init__(self, scene_id: _Optional[str] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., depth_encoding: _Optional[_Union[_common_pb2.DepthEncoding, str]] = ..., color_encoding: _Optional[_Union[_common_pb2.ImageEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., skip_occluded: _Optional[bool] = ..., include_completions: _Optional[bool] = ..., max_layers: _Optional[int] = ...) -> None: ...

class MeshClosure(_message.Message):
    __slots__ = ("far_depth", "border_pixels", "cap_center")
    FAR_DEPTH_FIELD_NUMBER: _ClassVar[int]
    BORDER_PIXELS_FIELD_NUMBER: _ClassVar[int]
    CAP_CENTER_FIELD_NUMBER: _ClassVar[int]
    far_depth: float
    border_pixels: int
    cap_center: _common_pb2.Vec3
    def __init__(self, far_depth: _Optional[float] = ..., border_pixels: _Optional[int] = ..., cap_center: _Optional[_Union[_common_pb2.Vec3, _Mapping]] = ...) -> None: ...

class MeshFrame(_message.Message):
    __slots__ = ("scene_id", "frame_index", "num_frames", "time_s", "intrinsics", "closure", "topology", "num_vertices", "num_faces", "depth", "color", "occluded", "timings", "layers")
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    CLOSURE_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_FIELD_NUMBER: _ClassVar[int]
    NUM_VERTICES_FIELD_NUMBER: _ClassVar[int]
    NUM_FACES_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    OCCLUDED_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    frame_index: int
    num_frames: int
    time_s: float
    intrinsics: _common_pb2.Intrinsics
    closure: MeshClosure
    topology: Topology
    num_vertices: int
    num_faces: int
    depth: _common_pb2.DepthMap
    color: _common_pb2.Image
    occluded: _common_pb2.PackedBits
    timings: _common_pb2.ServerTimings
    layers: _containers.RepeatedCompositeFieldContainer[CompletionLayerFrame]
    def __init__(self, scene_id: _Optional[str] = ..., frame_index: _Optional[int] = ..., num_frames: _Optional[int] = ..., time_s: _Optional[float] = ..., intrinsics: _Optional[_Union[_common_pb2.Intrinsics, _Mapping]] = ..., closure: _Optional[_Union[MeshClosure, _Mapping]] = ..., topology: _Optional[_Union[Topology, str]] = ..., num_vertices: _Optional[int] = ..., num_faces: _Optional[int] = ..., depth: _Optional[_Union[_common_pb2.DepthMap, _Mapping]] = ..., color: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., occluded: _Optional[_Union[_common_pb2.PackedBits, _Mapping]] = ..., timings: _Optional[_Union[_common_pb2.ServerTimings, _Mapping]] = ..., layers: _Optional[_Iterable[_Union[CompletionLayerFrame, _Mapping]]] = ...) -> None: ...

class PixelRegion(_message.Message):
    __slots__ = ("x0", "y0", "x1", "y1")
    X0_FIELD_NUMBER: _ClassVar[int]
    Y0_FIELD_NUMBER: _ClassVar[int]
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    x0: int
    y0: int
    x1: int
    y1: int
    def __init__(self, x0: _Optional[int] = ..., y0: _Optional[int] = ..., x1: _Optional[int] = ..., y1: _Optional[int] = ...) -> None: ...

class CompletionLayerFrame(_message.Message):
    __slots__ = ("layer_index", "generation", "pose", "intrinsics", "region", "mesh")
    LAYER_INDEX_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    MESH_FIELD_NUMBER: _ClassVar[int]
    layer_index: int
    generation: str
    pose: _common_pb2.Pose
    intrinsics: _common_pb2.Intrinsics
    region: PixelRegion
    mesh: MeshFrame
    def __init__(self, layer_index: _Optional[int] = ..., generation: _Optional[str] = ..., pose: _Optional[_Union[_common_pb2.Pose, _Mapping]] = ..., intrinsics: _Optional[_Union[_common_pb2.Intrinsics, _Mapping]] = ..., region: _Optional[_Union[PixelRegion, _Mapping]] = ..., mesh: _Optional[_Union[MeshFrame, _Mapping]] = ...) -> None: ...

class ExportMeshRequest(_message.Message):
    __slots__ = ("scene_id", "frame_index", "format", "chunk_bytes")
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    frame_index: int
    format: MeshFormat
    chunk_bytes: int
    def __init__(self, scene_id: _Optional[str] = ..., frame_index: _Optional[int] = ..., format: _Optional[_Union[MeshFormat, str]] = ..., chunk_bytes: _Optional[int] = ...) -> None: ...
