from ex4d.v1 import common_pb2 as _common_pb2
from ex4d.v1 import view_pb2 as _view_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
    JOB_STATE_INTERRUPTED: _ClassVar[JobState]

class LongClipMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LONG_CLIP_MODE_UNSPECIFIED: _ClassVar[LongClipMode]
    LONG_CLIP_MODE_SAMPLED: _ClassVar[LongClipMode]
    LONG_CLIP_MODE_WINDOWED: _ClassVar[LongClipMode]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_STATE_INTERRUPTED: JobState
LONG_CLIP_MODE_UNSPECIFIED: LongClipMode
LONG_CLIP_MODE_SAMPLED: LongClipMode
LONG_CLIP_MODE_WINDOWED: LongClipMode

class PoseSample(_message.Message):
    __slots__ = ("position", "rotation", "frame_index", "time_s")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ROTATION_FIELD_NUMBER: _ClassVar[int]
    FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    position: _common_pb2.Vec3
    rotation: _common_pb2.Quaternion
    frame_index: int
    time_s: float
    def __init__(self, position: _Optional[_Union[_common_pb2.Vec3, _Mapping]] = ..., rotation: _Optional[_Union[_common_pb2.Quaternion, _Mapping]] = ..., frame_index: _Optional[int] = ..., time_s: _Optional[float] = ...) -> None: ...

class PosePath(_message.Message):
    __slots__ = ("preset", "coordinate_system", "poses", "fps", "name")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    COORDINATE_SYSTEM_FIELD_NUMBER: _ClassVar[int]
    POSES_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    preset: str
    coordinate_system: _common_pb2.CoordinateSystem
    poses: _containers.RepeatedCompositeFieldContainer[PoseSample]
    fps: float
    name: str
    def __init__(self, preset: _Optional[str] = ..., coordinate_system: _Optional[_Union[_common_pb2.CoordinateSystem, str]] = ..., poses: _Optional[_Iterable[_Union[PoseSample, _Mapping]]] = ..., fps: _Optional[float] = ..., name: _Optional[str] = ...) -> None: ...

class SubmitGenerationRequest(_message.Message):
    __slots__ = ("scene_id", "trajectory", "width", "height", "prompt", "negative_prompt", "seed", "num_inference_steps", "guidance_scale", "complete", "coverage", "long_clip", "window_overlap")
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORY_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    LONG_CLIP_FIELD_NUMBER: _ClassVar[int]
    WINDOW_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    trajectory: PosePath
    width: int
    height: int
    prompt: str
    negative_prompt: str
    seed: int
    num_inference_steps: int
    guidance_scale: float
    complete: bool
    coverage: str
    long_clip: LongClipMode
    window_overlap: int
    def __init__(self, scene_id: _Optional[str] = ..., trajectory: _Optional[_Union[PosePath, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., seed: _Optional[int] = ..., num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., complete: _Optional[bool] = ..., coverage: _Optional[str] = ..., long_clip: _Optional[_Union[LongClipMode, str]] = ..., window_overlap: _Optional[int] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "scene_id", "state", "progress_done", "progress_total", "message", "error", "created_unix_s", "started_unix_s", "finished_unix_s", "completer", "num_frames", "queue_position", "stage", "stage_index", "num_stages", "generations")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_DONE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    FINISHED_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    COMPLETER_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    NUM_STAGES_FIELD_NUMBER: _ClassVar[int]
    GENERATIONS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    scene_id: str
    state: JobState
    progress_done: int
    progress_total: int
    message: str
    error: str
    created_unix_s: float
    started_unix_s: float
    finished_unix_s: float
    completer: str
    num_frames: int
    queue_position: int
    stage: str
    stage_index: int
    num_stages: int
    generations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., scene_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., progress_done: _Optional[int] = ..., progress_total: _Optional[int] = ..., message: _Optional[str] = ..., error: _Optional[str] = ..., created_unix_s: _Optional[float] = ..., started_unix_s: _Optional[float] = ..., finished_unix_s: _Optional[float] = ..., completer: _Optional[str] = ..., num_frames: _Optional[int] = ..., queue_position: _Optional[int] = ..., stage: _Optional[str] = ..., stage_index: _Optional[int] = ..., num_stages: _Optional[int] = ..., generations: _Optional[_Iterable[str]] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job", "time_unix_s")
    JOB_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_S_FIELD_NUMBER: _ClassVar[int]
    job: Job
    time_unix_s: float
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., time_unix_s: _Optional[float] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("scene_id",)
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    def __init__(self, scene_id: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class GetJobResultRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class RecordWalkthroughRequest(_message.Message):
    __slots__ = ("scene_id", "path", "width", "height", "fov_y_deg", "mask_style", "crf", "raw")
    SCENE_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FOV_Y_DEG_FIELD_NUMBER: _ClassVar[int]
    MASK_STYLE_FIELD_NUMBER: _ClassVar[int]
    CRF_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    scene_id: str
    path: PosePath
    width: int
    height: int
    fov_y_deg: float
    mask_style: _view_pb2.MaskStyle
    crf: int
    raw: bool
    def __init__(self, scene_id: _Optional[str] = ..., path: _Optional[_Union[PosePath, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fov_y_deg: _Optional[float] = ..., mask_style: _Optional[_Union[_view_pb2.MaskStyle, str]] = ..., crf: _Optional[int] = ..., raw: _Optional[bool] = ...) -> None: ...
