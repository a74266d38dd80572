from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CoordinateSystem(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COORDINATE_SYSTEM_UNSPECIFIED: _ClassVar[CoordinateSystem]
    COORDINATE_SYSTEM_OPENCV: _ClassVar[CoordinateSystem]
    COORDINATE_SYSTEM_OPENGL: _ClassVar[CoordinateSystem]
    COORDINATE_SYSTEM_UNITY: _ClassVar[CoordinateSystem]
    COORDINATE_SYSTEM_UNREAL: _ClassVar[CoordinateSystem]

class ImageEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_ENCODING_UNSPECIFIED: _ClassVar[ImageEncoding]
    IMAGE_ENCODING_JPEG: _ClassVar[ImageEncoding]
    IMAGE_ENCODING_RAW_RGB: _ClassVar[ImageEncoding]
    IMAGE_ENCODING_PNG: _ClassVar[ImageEncoding]

class Compression(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPRESSION_NONE: _ClassVar[Compression]
    COMPRESSION_ZLIB: _ClassVar[Compression]

class DepthEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPTH_ENCODING_UNSPECIFIED: _ClassVar[DepthEncoding]
    DEPTH_ENCODING_UINT16_INVERSE: _ClassVar[DepthEncoding]
    DEPTH_ENCODING_FLOAT16: _ClassVar[DepthEncoding]
    DEPTH_ENCODING_FLOAT32: _ClassVar[DepthEncoding]

class DepthPredictor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPTH_PREDICTOR_NONE: _ClassVar[DepthPredictor]
    DEPTH_PREDICTOR_GRADIENT: _ClassVar[DepthPredictor]
COORDINATE_SYSTEM_UNSPECIFIED: CoordinateSystem
COORDINATE_SYSTEM_OPENCV: CoordinateSystem
COORDINATE_SYSTEM_OPENGL: CoordinateSystem
COORDINATE_SYSTEM_UNITY: CoordinateSystem
COORDINATE_SYSTEM_UNREAL: CoordinateSystem
IMAGE_ENCODING_UNSPECIFIED: ImageEncoding
IMAGE_ENCODING_JPEG: ImageEncoding
IMAGE_ENCODING_RAW_RGB: ImageEncoding
IMAGE_ENCODING_PNG: ImageEncoding
COMPRESSION_NONE: Compression
COMPRESSION_ZLIB: Compression
DEPTH_ENCODING_UNSPECIFIED: DepthEncoding
DEPTH_ENCODING_UINT16_INVERSE: DepthEncoding
DEPTH_ENCODING_FLOAT16: DepthEncoding
DEPTH_ENCODING_FLOAT32: DepthEncoding
DEPTH_PREDICTOR_NONE: DepthPredictor
DEPTH_PREDICTOR_GRADIENT: DepthPredictor

class Vec3(_message.Message):
    __slots__ = ("x", "y", "z")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    z: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., z: _Optional[float] = ...) -> None: ...

class Quaternion(_message.Message):
    __slots__ = ("x", "y", "z", "w")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    W_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    z: float
    w: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., z: _Optional[float] = ..., w: _Optional[float] = ...) -> None: ...

class Pose(_message.Message):
    __slots__ = ("position", "rotation", "coordinate_system")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    COORDINATE_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    position: Vec3
    rotation: Quaternion
    coordinate_system: CoordinateSystem
    def __init__(self, position: _Optional[_Union[Vec3, _Mapping]] = ..., rotation: _Optional[_Union[Quaternion, _Mapping]] = ..., coordinate_system: _Optional[_Union[CoordinateSystem, str]] = ...) -> None: ...

class Intrinsics(_message.Message):
    __slots__ = ("fx", "fy", "cx", "cy", "width", "height")
    FX_FIELD_NUMBER: _ClassVar[int]
    FY_FIELD_NUMBER: _ClassVar[int]
    CX_FIELD_NUMBER: _ClassVar[int]
    CY_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    def __init__(self, fx: _Optional[float] = ..., fy: _Optional[float] = ..., cx: _Optional[float] = ..., cy: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class FovAngles(_message.Message):
    __slots__ = ("angle_left", "angle_right", "angle_up", "angle_down")
    ANGLE_LEFT_FIELD_NUMBER: _ClassVar[int]
    ANGLE_RIGHT_FIELD_NUMBER: _ClassVar[int]
    ANGLE_UP_FIELD_NUMBER: _ClassVar[int]
    ANGLE_DOWN_FIELD_NUMBER: _ClassVar[int]
    angle_left: float
    angle_right: float
    angle_up: float
    angle_down: float
    def __init__(self, angle_left: _Optional[float] = ..., angle_right: _Optional[float] = ..., angle_up: _Optional[float] = ..., angle_down: _Optional[float] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("encoding", "width", "height", "data", "compression")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    encoding: ImageEncoding
    width: int
    height: int
    data: bytes
    compression: Compression
    def __init__(self, encoding: _Optional[_Union[ImageEncoding, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., data: _Optional[bytes] = ..., compression: _Optional[_Union[Compression, str]] = ...) -> None: ...

class PackedBits(_message.Message):
    __slots__ = ("count", "data", "compression")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    count: int
    data: bytes
    compression: Compression
    def __init__(self, count: _Optional[int] = ..., data: _Optional[bytes] = ..., compression: _Optional[_Union[Compression, str]] = ...) -> None: ...

class DepthMap(_message.Message):
    __slots__ = ("encoding", "width", "height", "near", "far", "far_code_depth", "predictor", "compression", "data")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NEAR_FIELD_NUMBER: _ClassVar[int]
    FAR_FIELD_NUMBER: _ClassVar[int]
    FAR_CODE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    PREDICTOR_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    encoding: DepthEncoding
    width: int
    height: int
    near: float
    far: float
    far_code_depth: float
    predictor: DepthPredictor
    compression: Compression
    data: bytes
    def __init__(self, encoding: _Optional[_Union[DepthEncoding, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., near: _Optional[float] = ..., far: _Optional[float] = ..., far_code_depth: _Optional[float] = ..., predictor: _Optional[_Union[DepthPredictor, str]] = ..., compression: _Optional[_Union[Compression, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ServerTimings(_message.Message):
    __slots__ = ("wait_ms", "render_ms", "encode_ms", "total_ms", "server_time_s")
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    RENDER_MS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_S_FIELD_NUMBER: _ClassVar[int]
    wait_ms: float
    render_ms: float
    encode_ms: float
    total_ms: float
    server_time_s: float
    def __init__(self, wait_ms: _Optional[float] = ..., render_ms: _Optional[float] = ..., encode_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., server_time_s: _Optional[float] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("name", "content_type", "offset", "total_size", "data", "last")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    name: str
    content_type: str
    offset: int
    total_size: int
    data: bytes
    last: bool
    def __init__(self, name: _Optional[str] = ..., content_type: _Optional[str] = ..., offset: _Optional[int] = ..., total_size: _Optional[int] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...
