"""One way to generate: the request, its sampling parameters, and the call every caller makes.

The CLI's ``generate``, the server's generation jobs and Python code all build a
:class:`GenerationRequest` (render colours + masks + :class:`SamplingParams`) and call
:func:`generate_views` with any :class:`NovelViewCompleter`: the EX-4D diffusion pipeline, or
the classical fallback when no weights are set. The defaults are the reference's and live in
one place: image conditioning on the *masked render's* frame 0, the preset's frame count and
size (a render of another length or size is resampled and stretched to it and the result
mapped back), its steps, guidance and shift, the reference prompts and mask erosion.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from os import PathLike
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..errors import Ex4dError, InputError
from .condition import check_condition_inputs
from .fallback import complete_frames
from .prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT
from .window_plan import WindowOptions

if TYPE_CHECKING:
    from .presets import Preset

log = logging.getLogger(__name__)

# progress(done_steps, total_steps, message)
ProgressCallback = Callable[[int, int, str], None]

SPATIAL_MULTIPLE = 16  # VAE stride 8 x patch size 2
TEMPORAL_STRIDE = 4  # the VAE maps 4k+1 frames to k+1 latent frames


class GenerationCancelled(Exception):
    """Raised by ``generate`` when its ``cancel`` event was set; nothing was produced."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``None`` takes the completer's default (the preset's, as the reference).

    ``num_frames``: frames the model generates (4k+1; default the preset's 49); a render of
    another length is resampled to it like the reference does. ``size``: (width, height) the
    model generates at (multiples of 16; default the preset's 512x512) or ``"native"`` for the
    render's own size. ``mask_erosion``: ``"reference"`` (k x k, k drawn from 2..8 per frame
    from ``seed``), an int kernel, or None. Equal parameters give equal outputs.
    """

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int = 0
    num_inference_steps: int | None = None
    guidance_scale: float | None = None  # 1.0 or less skips the unconditional pass
    shift: float | None = None  # flow-matching sigma shift
    mask_erosion: str | int | None = "reference"
    num_frames: int | None = None
    size: tuple[int, int] | str | None = None

    def check(self) -> None:
        """Raise :class:`InputError` naming the first field that no completer could use."""
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise InputError(f"seed must be an integer, got {self.seed!r}")
        if not 0 <= int(self.seed) < 2**63:
            raise InputError(f"seed must be a non-negative integer below 2**63, got {self.seed}")
        if self.num_inference_steps is not None and int(self.num_inference_steps) < 1:
            raise InputError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")
        for name in ("guidance_scale", "shift"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(float(value)) and float(value) >= 0):
                raise InputError(f"{name} {value} must be a finite number >= 0")
        if self.shift is not None and not float(self.shift) > 0:
            raise InputError(f"shift must be > 0, got {self.shift}")
        erosion = self.mask_erosion
        if isinstance(erosion, str) and erosion != "reference":
            raise InputError(f"mask_erosion {erosion!r} must be 'reference', an int or None")
        if isinstance(erosion, (int, np.integer)) and int(erosion) < 0:
            raise InputError(f"mask_erosion kernel must be >= 0, got {erosion}")
        n = self.num_frames
        if n is not None and (int(n) < 1 or (int(n) - 1) % TEMPORAL_STRIDE):
            raise InputError(f"num_frames {n}: the Wan VAE takes 4k+1 frames (e.g. 17, 49, 81)")
        size = self.size
        if size is not None and size != "native":
            if (
                not isinstance(size, (tuple, list))
                or len(size) != 2
                or any(int(v) < SPATIAL_MULTIPLE or int(v) % SPATIAL_MULTIPLE for v in size)
            ):
                raise InputError(
                    f"size {size!r} must be (width, height), each a positive multiple of "
                    f"{SPATIAL_MULTIPLE} (VAE stride 8 x patch 2), or 'native'"
                )

    def resolved(self, preset: Preset) -> SamplingParams:
        """Every default filled in from ``preset`` and the reference prompts (checked)."""
        self.check()
        size = self.size if self.size is not None else (preset.width, preset.height)
        return replace(
            self,
            prompt=DEFAULT_PROMPT if self.prompt is None else self.prompt,
            negative_prompt=(
                DEFAULT_NEGATIVE_PROMPT if self.negative_prompt is None else self.negative_prompt
            ),
            seed=int(self.seed),
            num_inference_steps=int(
                preset.num_inference_steps
                if self.num_inference_steps is None
                else self.num_inference_steps
            ),
            guidance_scale=float(
                preset.guidance_scale if self.guidance_scale is None else self.guidance_scale
            ),
            shift=float(preset.shift if self.shift is None else self.shift),
            num_frames=int(preset.num_frames if self.num_frames is None else self.num_frames),
            size=size if size == "native" else (int(size[0]), int(size[1])),
        )


@dataclass(frozen=True, eq=False)
class GenerationRequest:
    """A render to complete and how to sample it.

    ``first_frame`` is the image conditioning (uint8 [H, W, 3] like the render frames); None
    (the default) conditions on the masked render's frame 0, as the reference does. That is the
    source view only when the path starts at the source pose.

    ``windows``: how a render longer than the model's frame count is generated
    (:class:`~.window_plan.WindowOptions`; default ``sampled``, the reference's). ``work_dir``:
    where the ``windowed`` mode keeps finished windows and assembles the output, so a re-run
    after a crash or cancel skips them and the output is a memory map instead of an array in
    memory (the ``sampled`` mode does not use it).
    """

    colors: np.ndarray  # (T, H, W, 3) uint8 render colours, black where the mask is False
    masks: np.ndarray  # (T, H, W) bool, True where the render is valid (copied, not generated)
    sampling: SamplingParams = SamplingParams()
    first_frame: np.ndarray | None = None
    windows: WindowOptions = WindowOptions()
    work_dir: str | PathLike | None = None

    def check(self) -> None:
        check_condition_inputs(self.colors, self.masks)
        self.sampling.check()
        if not isinstance(self.windows, WindowOptions):
            raise InputError(f"windows must be a WindowOptions, got {type(self.windows).__name__}")
        self.windows.check()
        if self.work_dir is not None and not isinstance(self.work_dir, (str, PathLike)):
            raise InputError(f"work_dir must be a path or None, got {type(self.work_dir).__name__}")
        frame = self.first_frame
        expected = self.colors.shape[1:]
        if frame is not None and (
            not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected
        ):
            h, w = expected[:2]
            raise InputError(
                f"first_frame must be a uint8 array [{h}, {w}, 3] like the render frames, got "
                f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}"
            )


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
        """Return the completed (T, H, W, 3) uint8 video: one frame per render frame."""
        ...


def generate_views(
    completer: NovelViewCompleter,
    request: GenerationRequest,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Complete a render: the call the CLI, the server and Python code share.

    Checks the request before any model work, runs ``completer.generate`` and checks its
    answer: a uint8 video with the render's frame count and size (a completer that generates
    another count or size maps its output back). With ``request.windows.mode == "windowed"``
    the completer is called once per window (:func:`~.windowed.generate_windowed`); progress
    messages then start with ``window k/n``. Raises :class:`GenerationCancelled` when
    ``cancel`` is set.
    """
    request.check()
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation was cancelled before it started")
    if request.windows.windowed:
        from .windowed import generate_windowed

        out = generate_windowed(completer, request, progress=progress, cancel=cancel)
    else:
        out = np.asarray(completer.generate(request, progress=progress, cancel=cancel))
    if out.shape != request.colors.shape or out.dtype != np.uint8:
        raise Ex4dError(
            f"the completer {completer.name!r} returned {out.shape} {out.dtype}, expected "
            f"{request.colors.shape} uint8 (one frame per render frame)"
        )
    return out


class FallbackCompleter:
    """The classical completion (push-pull fill): no weights, a few seconds on a CPU.

    It completes every render frame at the render's size: it has no frame budget, so unlike
    the diffusion model it never resamples. Prompts, seed and the other sampling parameters do
    not apply to it.
    """

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
