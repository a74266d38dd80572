from ex4d.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MaskStyle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASK_STYLE_UNSPECIFIED: _ClassVar[MaskStyle]
    MASK_STYLE_FACE: _ClassVar[MaskStyle]
    MASK_STYLE_REFERENCE: _ClassVar[MaskStyle]

class Provenance(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVENANCE_HOLE: _ClassVar[Provenance]
    PROVENANCE_SOURCE: _ClassVar[Provenance]
    PROVENANCE_COMPLETION: _ClassVar[Provenance]
    PROVENANCE_NEARBY: _ClassVar[Provenance]
MASK_STYLE_UNSPECIFIED: MaskStyle
MASK_STYLE_FACE: MaskStyle
MASK_STYLE_REFERENCE: MaskStyle
PROVENANCE_HOLE: Provenance
PROVENANCE_SOURCE: Provenance
PROVENANCE_COMPLETION: Provenance
PROVENANCE_NEARBY: Provenance

class ViewOptions(_message.Message):
    __slots__ = ("color_encoding", "jpeg_quality", "include_depth", "depth_encoding", "mask_style", "skip_generated", "raw", "include_provenance")
    COLOR_ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    DEPTH_ENCODING_FIELD_NUMBER: _ClassVar[int]
    MASK_STYLE_FIELD_NUMBER: _ClassVar[int]
    SKIP_GENERATED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    color_encoding: _common_pb2.ImageEncoding
    jpeg_quality: int
    include_depth: bool
    depth_encoding: _common_pb2.DepthEncoding
    mask_style: MaskStyle
    skip_generated: bool
    raw: bool
    include_provenance: bool
    def __init__(self, color_encoding: _Optional[_Union[_common_pb2.ImageEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., include_depth: _Optional[bool] = ..., depth_encoding: _Optional[_Union[_common_pb2.DepthEncoding, str]] = ..., mask_style: _Optional[_Union[MaskStyle, str]] = ..., skip_generated: _Optional[bool] = ..., raw: _Optional[bool] = ..., include_provenance: _Optional[bool] = ...) -> None: ...

class ViewRequest(_message.Message):
    __slots__ = ("scene_id", "sequence", "pose", "frame_index", "time_s", "width", "height", "intrinsics", "fov_angles", "fov_y_deg", "options", "client_time_s")
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    FOV_ANGLES_FIELD_NUMBER: _ClassVar[int]
    FOV_Y_DEG_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TIME_S_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    sequence: int
    pose: _common_pb2.Pose
    frame_index: int
    time_s: float
    width: int
    height: int
    intrinsics: _common_pb2.Intrinsics
    fov_angles: _common_pb2.FovAngles
    fov_y_deg: float
    options: ViewOptions
    client_time_s: float
    def __init__(self, scene_id: _Optional[str] = ..., sequence: _Optional[int] = ..., pose: _Optional[_Union[_common_pb2.Pose, _Mapping]] = ..., frame_index: _Optional[int] = ..., time_s: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., intrinsics: _Optional[_Union[_common_pb2.Intrinsics, _Mapping]] = ..., fov_angles: _Optional[_Union[_common_pb2.FovAngles, _Mapping]] = ..., fov_y_deg: _Optional[float] = ..., options: _Optional[_Union[ViewOptions, _Mapping]] = ..., client_time_s: _Optional[float] = ...) -> None: ...

class ViewReply(_message.Message):
    __slots__ = ("sequence", "pose", "client_time_s", "frame_index", "dropped", "dropped_total", "color", "mask", "depth", "generated", "generated_job_id", "intrinsics", "timings", "provenance", "completion_layers")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TIME_S_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    GENERATED_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_LAYERS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    pose: _common_pb2.Pose
    client_time_s: float
    frame_index: int
    dropped: int
    dropped_total: int
    color: _common_pb2.Image
    mask: _common_pb2.PackedBits
    depth: _common_pb2.DepthMap
    generated: _common_pb2.Image
    generated_job_id: str
    intrinsics: _common_pb2.Intrinsics
    timings: _common_pb2.ServerTimings
    provenance: ProvenanceMap
    completion_layers: int
    def __init__(self, sequence: _Optional[int] = ..., pose: _Optional[_Union[_common_pb2.Pose, _Mapping]] = ..., client_time_s: _Optional[float] = ..., frame_index: _Optional[int] = ..., dropped: _Optional[int] = ..., dropped_total: _Optional[int] = ..., color: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.PackedBits, _Mapping]] = ..., depth: _Optional[_Union[_common_pb2.DepthMap, _Mapping]] = ..., generated: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., generated_job_id: _Optional[str] = ..., intrinsics: _Optional[_Union[_common_pb2.Intrinsics, _Mapping]] = ..., timings: _Optional[_Union[_common_pb2.ServerTimings, _Mapping]] = ..., provenance: _Optional[_Union[ProvenanceMap, _Mapping]] = ..., completion_layers: _Optional[int] = ...) -> None: ...

class ProvenanceMap(_message.Message):
    __slots__ = ("width", "height", "data", "compression")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    data: bytes
    compression: _common_pb2.Compression
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., data: _Optional[bytes] = ..., compression: _Optional[_Union[_common_pb2.Compression, str]] = ...) -> None: ...
