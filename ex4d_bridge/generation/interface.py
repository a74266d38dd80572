"""What every novel-view completer offers, so callers (the CLI, the server) need not know which
one they hold: the EX-4D diffusion pipeline, or the classical fallback when no weights are set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .fallback import complete_frames

log = logging.getLogger(__name__)

# progress(done_steps, total_steps, message)
ProgressCallback = Callable[[int, int, str], None]


class GenerationCancelled(Exception):
    """Raised by ``generate`` when its ``cancel`` event was set; nothing was produced."""


@dataclass
class GenerationRequest:
    colors: np.ndarray  # (T, H, W, 3) uint8 render colours, black where the mask is False
    masks: np.ndarray  # (T, H, W) bool, True where the render is valid (copied, not generated)
    source_frame: np.ndarray | None = None  # (H, W, 3) uint8, image conditioning; default colors[0]
    prompt: str | None = None  # None: the completer's default (the EX-4D reference prompt)
    negative_prompt: str | None = None
    seed: int = 0
    num_inference_steps: int | None = None  # None: the completer's default
    guidance_scale: float | None = None


@runtime_checkable
class NovelViewCompleter(Protocol):
    name: str
    is_fallback: bool

    def generate(
        self,
        request: GenerationRequest,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        """Return the completed (T, H, W, 3) uint8 video."""
        ...


class FallbackCompleter:
    """The classical completion (push-pull fill): no weights, a few seconds on a CPU."""

    name = "classical-fallback"
    is_fallback = True
    _warned = False

    def generate(
        self,
        request: GenerationRequest,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        if not FallbackCompleter._warned:
            log.warning(
                "no EX-4D weights configured: filling unseen pixels with the classical "
                "completion fallback (no video diffusion)"
            )
            FallbackCompleter._warned = True
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("generation was cancelled before it started")
        out = complete_frames(request.colors, request.masks, progress=False)
        if progress is not None:
            progress(1, 1, "completed with the classical fallback")
        return out
