from ex4d.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DepthKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPTH_KIND_UNSPECIFIED: _ClassVar[DepthKind]
    DEPTH_KIND_DEPTH: _ClassVar[DepthKind]
    DEPTH_KIND_DISPARITY: _ClassVar[DepthKind]
    DEPTH_KIND_RELATIVE: _ClassVar[DepthKind]
DEPTH_KIND_UNSPECIFIED: DepthKind
DEPTH_KIND_DEPTH: DepthKind
DEPTH_KIND_DISPARITY: DepthKind
DEPTH_KIND_RELATIVE: DepthKind

class UploadOptions(_message.Message):
    __slots__ = ("name", "num_frames", "max_size", "focal_px", "fov_x_deg", "depth_scale", "depth_kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    FOCAL_PX_FIELD_NUMBER: _ClassVar[int]
    FOV_X_DEG_FIELD_NUMBER: _ClassVar[int]
    DEPTH_SCALE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    num_frames: int
    max_size: int
    focal_px: float
    fov_x_deg: float
    depth_scale: float
    depth_kind: DepthKind
    def __init__(self, name: _Optional[str] = ..., num_frames: _Optional[int] = ..., max_size: _Optional[int] = ..., focal_px: _Optional[float] = ..., fov_x_deg: _Optional[float] = ..., depth_scale: _Optional[float] = ..., depth_kind: _Optional[_Union[DepthKind, str]] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("filename", "video_size", "depth_size", "has_depth", "intrinsics", "options", "is_bundle")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    VIDEO_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_SIZE_FIELD_NUMBER: _ClassVar[int]
    HAS_DEPTH_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IS_BUNDLE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    video_size: int
    depth_size: int
    has_depth: bool
    intrinsics: _common_pb2.Intrinsics
    options: UploadOptions
    is_bundle: bool
    def __init__(self, filename: _Optional[str] = ..., video_size: _Optional[int] = ..., depth_size: _Optional[int] = ..., has_depth: _Optional[bool] = ..., intrinsics: _Optional[_Union[_common_pb2.Intrinsics, _Mapping]] = ..., options: _Optional[_Union[UploadOptions, _Mapping]] = ..., is_bundle: _Optional[bool] = ...) -> None: ...

class UploadSceneRequest(_message.Message):
    __slots__ = ("header", "video_chunk", "depth_chunk", "bundle_chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    VIDEO_CHUNK_FIELD_NUMBER: _ClassVar[int]
    DEPTH_CHUNK_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    video_chunk: bytes
    depth_chunk: bytes
    bundle_chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., video_chunk: _Optional[bytes] = ..., depth_chunk: _Optional[bytes] = ..., bundle_chunk: _Optional[bytes] = ...) -> None: ...

class SceneInfo(_message.Message):
    __slots__ = ("scene_id", "name", "num_frames", "width", "height", "fps", "intrinsics", "min_depth", "depth_source", "created_unix_s", "created", "size_bytes", "completions")
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    INTRINSICS_FIELD_NUMBER: _ClassVar[int]
    MIN_DEPTH_FIELD_NUMBER: _ClassVar[int]
    DEPTH_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    name: str
    num_frames: int
    width: int
    height: int
    fps: float
    intrinsics: _common_pb2.Intrinsics
    min_depth: float
    depth_source: str
    created_unix_s: float
    created: bool
    size_bytes: int
    completions: _containers.RepeatedCompositeFieldContainer[CompletionSummary]
    def __init__(self, scene_id: _Optional[str] = ..., name: _Optional[str] = ..., num_frames: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[float] = ..., intrinsics: _Optional[_Union[_common_pb2.Intrinsics, _Mapping]] = ..., min_depth: _Optional[float] = ..., depth_source: _Optional[str] = ..., created_unix_s: _Optional[float] = ..., created: _Optional[bool] = ..., size_bytes: _Optional[int] = ..., completions: _Optional[_Iterable[_Union[CompletionSummary, _Mapping]]] = ...) -> None: ...

class CompletionSummary(_message.Message):
    __slots__ = ("generation", "path_name", "generator", "num_layers", "first_frame", "last_frame", "num_frames", "num_pixels", "created_unix_s")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    PATH_NAME_FIELD_NUMBER: _ClassVar[int]
    GENERATOR_FIELD_NUMBER: _ClassVar[int]
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    NUM_PIXELS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    generation: str
    path_name: str
    generator: str
    num_layers: int
    first_frame: int
    last_frame: int
    num_frames: int
    num_pixels: int
    created_unix_s: float
    def __init__(self, generation: _Optional[str] = ..., path_name: _Optional[str] = ..., generator: _Optional[str] = ..., num_layers: _Optional[int] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., num_frames: _Optional[int] = ..., num_pixels: _Optional[int] = ..., created_unix_s: _Optional[float] = ...) -> None: ...

class ListScenesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListScenesResponse(_message.Message):
    __slots__ = ("scenes",)
    SCENES_FIELD_NUMBER: _ClassVar[int]
    scenes: _containers.RepeatedCompositeFieldContainer[SceneInfo]
    def __init__(self, scenes: _Optional[_Iterable[_Union[SceneInfo, _Mapping]]] = ...) -> None: ...

class GetSceneRequest(_message.Message):
    __slots__ = ("scene_id",)
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    def __init__(self, scene_id: _Optional[str] = ...) -> None: ...

class DeleteSceneRequest(_message.Message):
    __slots__ = ("scene_id",)
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    def __init__(self, scene_id: _Optional[str] = ...) -> None: ...

class DeleteSceneResponse(_message.Message):
    __slots__ = ("scene_id",)
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    def __init__(self, scene_id: _Optional[str] = ...) -> None: ...

class ExportSceneRequest(_message.Message):
    __slots__ = ("scene_id",)
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    def __init__(self, scene_id: _Optional[str] = ...) -> None: ...
