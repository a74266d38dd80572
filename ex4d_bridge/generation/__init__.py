"""Novel-view completion: the EX-4D video-diffusion pipeline and a fast classical fallback."""

from .fallback import complete_frame, complete_frames
from .interface import (
    FallbackCompleter,
    GenerationCancelled,
    GenerationRequest,
    NovelViewCompleter,
    ProgressCallback,
)

__all__ = [
    "FallbackCompleter",
    "GenerationCancelled",
    "GenerationRequest",
    "NovelViewCompleter",
    "ProgressCallback",
    "complete_frame",
    "complete_frames",
]
