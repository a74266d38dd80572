"""How an EX-4D pipeline is loaded and placed: one frozen object for every constructor.

``EX4DPipeline.from_pretrained``, ``EX4DPipeline.tiny`` and ``load_completer`` take a
:class:`PipelineOptions` (and, for convenience, keyword overrides of its fields); the CLI builds
one from its flags (:func:`ex4d_bridge.generation.command.pipeline_options`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from .memory import MemoryPlan, resolve_plan


@dataclass(frozen=True)
class PipelineOptions:
    """Load and placement options (docs/generation.md, "Memory tiers and speed options").

    ``memory``: a tier of :mod:`.memory` (``auto``, ``80gb``, ``48gb``, ``24gb``, ``12gb``,
    ``cpu``); ``dtype``, ``offload``, ``fp8``, ``vae_tiling`` and ``text_encoder_device``
    override single fields of it (None keeps the tier's). ``prompt_cache``: a directory,
    ``"default"`` (``~/.cache/ex4d-bridge/prompt-embeds``) or None. ``extra_loras``: (path,
    weight) pairs of diffusers- or original-format Wan LoRAs. ``compile``: True or
    ``torch.compile`` keyword arguments for the transformer blocks. ``fuse_lora`` merges the
    LoRAs into the base weights (faster; the adapter can then not be reloaded in place).
    ``strict=False`` loads an adapter that does not fit completely, with a warning listing what
    did not. ``lora_rank``/``lora_alpha`` default to the adapter's (an original-layout
    ``ex4d.ckpt``: its rank, alpha = rank) or the preset's rank with alpha = rank (scale 1).
    """

    device: str | torch.device = "auto"
    memory: str = "auto"
    dtype: str | torch.dtype | None = None
    offload: str | None = None
    fp8: bool | None = None
    vae_tiling: bool | None = None
    text_encoder_device: str | None = None
    prompt_cache: str | PathLike | None = "default"
    extra_loras: tuple[tuple[str | PathLike, float], ...] = ()
    attention_backend: str | None = None
    compile: bool | Mapping[str, Any] = False
    fuse_lora: bool = False
    strict: bool = True
    lora_rank: int | None = None
    lora_alpha: float | None = None
    # Fields of the memory plan this object overrides (the rest belong to the pipeline).
    _PLAN_FIELDS = ("dtype", "offload", "fp8", "vae_tiling", "text_encoder_device")

    def __post_init__(self) -> None:
        loras = tuple((p, float(w)) for p, w in self.extra_loras)
        object.__setattr__(self, "extra_loras", loras)
        if self.lora_rank is not None and int(self.lora_rank) < 1:
            raise InputError(f"lora_rank must be >= 1, got {self.lora_rank}")
        if self.lora_alpha is not None and not float(self.lora_alpha) > 0:
            raise InputError(f"lora_alpha must be > 0, got {self.lora_alpha}")

    def with_overrides(self, **overrides: Any) -> PipelineOptions:
        """A copy with the given fields replaced; an unknown name is an error that lists the
        known ones."""
        unknown = sorted(set(overrides) - set(OPTION_NAMES))
        if unknown:
            raise InputError(
                f"unknown pipeline option(s) {', '.join(unknown)}; known: {', '.join(OPTION_NAMES)}"
            )
        return dataclasses.replace(self, **overrides) if overrides else self

    def plan(self, device: torch.device) -> MemoryPlan:
        """The memory tier for ``device`` with this object's overrides applied."""
        return resolve_plan(
            self.memory, device, **{name: getattr(self, name) for name in self._PLAN_FIELDS}
        )

    def prompt_cache_dir(self) -> Path | None:
        if self.prompt_cache is None:
            return None
        if self.prompt_cache == "default":
            from .prompts import default_cache_dir

            return default_cache_dir()
        return Path(self.prompt_cache)


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(PipelineOptions))
# What `EX4DPipeline.tiny` starts from: the CPU, and no prompt cache (random weights).
TINY_DEFAULTS = PipelineOptions(device="cpu", prompt_cache=None)


def options_from(
    options: PipelineOptions | None, overrides: Mapping[str, Any], default: PipelineOptions
) -> PipelineOptions:
    """``options`` (or ``default``) with keyword ``overrides`` applied."""
    return (options or default).with_overrides(**overrides)
