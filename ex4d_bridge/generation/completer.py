"""Choosing the completer: the EX-4D pipeline when weights are configured, else the fallback."""

from __future__ import annotations

import logging
import os
from os import PathLike
from typing import Any

from ..errors import InputError
from .interface import FallbackCompleter, NovelViewCompleter

log = logging.getLogger(__name__)

BASE_ENV = "EX4D_WAN_BASE"  # local diffusers-format Wan2.1-I2V-14B-480P directory
ADAPTER_ENV = "EX4D_ADAPTER"  # ex4d.ckpt or an adapter .safetensors


def load_completer(
    base: str | PathLike | None = None,
    adapter: str | PathLike | None = None,
    *,
    preset: str | None = None,
    **options: Any,
) -> NovelViewCompleter:
    """The EX-4D pipeline for ``base`` + ``adapter`` (or the ``EX4D_WAN_BASE`` /
    ``EX4D_ADAPTER`` environment variables); ``preset="tiny"`` without weights gives the
    random-weight tiny pipeline; with nothing configured, the classical fallback (which says
    so once, when it first runs). ``options`` go to ``EX4DPipeline.from_pretrained``/``tiny``.
    """
    base = base or os.environ.get(BASE_ENV) or None
    adapter = adapter or os.environ.get(ADAPTER_ENV) or None
    if base is None and adapter is None:
        if preset == "tiny":
            from .pipeline import EX4DPipeline

            return EX4DPipeline.tiny(**options)
        log.info("no EX-4D weights configured: using the classical completion fallback")
        return FallbackCompleter()
    if base is None or adapter is None:
        missing = "base model (--base)" if base is None else "adapter (--adapter, ex4d.ckpt)"
        raise InputError(
            f"EX-4D generation needs both the Wan2.1-I2V-14B-480P base directory and the EX-4D "
            f"adapter; the {missing} is not set"
        )
    from .pipeline import EX4DPipeline

    return EX4DPipeline.from_pretrained(base, adapter, preset=preset or "auto", **options)
