"""Novel-view completion: the EX-4D video-diffusion pipeline and a fast classical fallback.

The diffusion side (diffusers, peft, transformers) is imported only when one of its names is
first used, so ``import ex4d_bridge.generation`` stays light for the fallback and the CLI.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from .fallback import complete_frame, complete_frames
from .interface import (
    FallbackCompleter,
    GenerationCancelled,
    GenerationRequest,
    NovelViewCompleter,
    ProgressCallback,
    SamplingParams,
    generate_views,
)
from .prompts import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT
from .window_plan import LONG_CLIP_MODES, WindowOptions, window_bounds

_LAZY = {
    "EX4DPipeline": "pipeline",
    "reference_sigmas": "pipeline",
    "load_completer": "completer",
    "PipelineOptions": "options",
    "ConditionEncoder": "condition",
    "erode_masks": "condition",
    "resize_inputs": "condition",
    "AdapterWeights": "checkpoint",
    "LoadReport": "checkpoint",
    "read_adapter": "checkpoint",
    "MemoryPlan": "memory",
    "TIERS": "memory",
    "select_tier": "memory",
    "PRESETS": "presets",
    "Preset": "presets",
    "get_preset": "presets",
    "save_tiny_base": "tiny",
}

if TYPE_CHECKING:
    from .checkpoint import AdapterWeights, LoadReport, read_adapter
    from .completer import load_completer
    from .condition import ConditionEncoder, erode_masks, resize_inputs
    from .memory import TIERS, MemoryPlan, select_tier
    from .options import PipelineOptions
    from .pipeline import EX4DPipeline, reference_sigmas
    from .presets import PRESETS, Preset, get_preset
    from .tiny import save_tiny_base


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_NEGATIVE_PROMPT",
    "DEFAULT_PROMPT",
    "PRESETS",
    "TIERS",
    "AdapterWeights",
    "ConditionEncoder",
    "EX4DPipeline",
    "FallbackCompleter",
    "GenerationCancelled",
    "GenerationRequest",
    "LoadReport",
    "MemoryPlan",
    "NovelViewCompleter",
    "PipelineOptions",
    "Preset",
    "LONG_CLIP_MODES",
    "ProgressCallback",
    "SamplingParams",
    "WindowOptions",
    "complete_frame",
    "complete_frames",
    "erode_masks",
    "generate_views",
    "get_preset",
    "load_completer",
    "read_adapter",
    "reference_sigmas",
    "resize_inputs",
    "save_tiny_base",
    "select_tier",
    "window_bounds",
]
