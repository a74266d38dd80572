"""Novel-view completion: the EX-4D video-diffusion pipeline and a fast classical fallback."""

from .fallback import complete_frame, complete_frames

__all__ = ["complete_frame", "complete_frames"]
