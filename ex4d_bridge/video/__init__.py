"""Reading and writing videos, image sequences and lossless mask videos."""

from .clip import VideoClip, VideoInfo, check_frames
from .masks import read_mask_video, write_mask_video
from .reader import VIDEO_EXTENSIONS, probe_video, read_video
from .resize import resolve_size
from .writer import write_image_sequence, write_video

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoClip",
    "VideoInfo",
    "check_frames",
    "probe_video",
    "read_mask_video",
    "read_video",
    "resolve_size",
    "write_image_sequence",
    "write_mask_video",
    "write_video",
]
