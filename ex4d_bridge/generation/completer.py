"""Choosing the completer: the EX-4D pipeline when weights are configured, else the fallback."""

from __future__ import annotations

import logging
import os
from os import PathLike
from pathlib import Path
from typing import Any

from ..errors import InputError
from .interface import FallbackCompleter, NovelViewCompleter
from .options import PipelineOptions

log = logging.getLogger(__name__)

BASE_ENV = "EX4D_WAN_BASE"  # diffusers-format Wan2.1-I2V-14B-480P directory or hub id
ADAPTER_ENV = "EX4D_ADAPTER"  # ex4d.ckpt or an adapter .safetensors, or org/name::file
BASE_ID = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
ADAPTER_ID = "yihouxiang/EX-4D::ex4d.ckpt"


def configured_weights(
    base: str | PathLike | None = None, adapter: str | PathLike | None = None
) -> tuple[str | PathLike | None, str | PathLike | None]:
    """``base`` and ``adapter``, each defaulting to its environment variable
    (``EX4D_WAN_BASE``, ``EX4D_ADAPTER``), as local paths: a hub reference (``org/name[@rev]``
    for the base, e.g. ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers``; ``org/name::file`` for the
    adapter, e.g. ``yihouxiang/EX-4D::ex4d.ckpt``) is resolved through the hub cache and
    downloaded unless ``HF_HUB_OFFLINE`` is set (:func:`ex4d_bridge.models.resolve_model`)."""
    from ..models import resolve_model

    base = base or os.environ.get(BASE_ENV) or None
    adapter = adapter or os.environ.get(ADAPTER_ENV) or None
    if base is not None:
        base = resolve_model(base, kind="base")
    if adapter is not None:
        adapter = resolve_model(adapter, kind="adapter")
    return base, adapter


def check_weights(
    base: str | PathLike | None, adapter: str | PathLike | None, preset: str | None = None
) -> None:
    """Fail early, naming what to give, unless ``base`` and ``adapter`` are both set, both
    unset (the fallback), or ``preset="tiny"`` runs without a base. Checks that the files exist
    too (without loading anything)."""
    if base is None and (adapter is None or preset == "tiny"):
        if adapter is not None and not Path(adapter).is_file():
            raise InputError(f"adapter weights {adapter} do not exist")
        return
    if base is None or adapter is None:
        missing = "base model (--base)" if base is None else "adapter (--adapter, ex4d.ckpt)"
        raise InputError(
            f"EX-4D generation needs both the Wan2.1-I2V-14B-480P base directory and the EX-4D "
            f"adapter; the {missing} is not set"
        )
    from .loading import check_base_dir

    check_base_dir(base)
    if not Path(adapter).is_file():
        raise InputError(f"adapter weights {adapter} do not exist (give the path of ex4d.ckpt)")


def load_completer(
    base: str | PathLike | None = None,
    adapter: str | PathLike | None = None,
    *,
    preset: str | None = None,
    options: PipelineOptions | None = None,
    **overrides: Any,
) -> NovelViewCompleter:
    """The EX-4D pipeline for ``base`` + ``adapter`` (or the ``EX4D_WAN_BASE`` /
    ``EX4D_ADAPTER`` environment variables); ``preset="tiny"`` without a base gives the
    random-weight tiny pipeline (with ``adapter`` loaded if given); with nothing configured,
    the classical fallback (which says so once, when it first runs). ``options`` and keyword
    ``overrides`` of its fields go to ``EX4DPipeline.from_pretrained``/``tiny``.
    """
    base, adapter = configured_weights(base, adapter)
    check_weights(base, adapter, preset)
    if base is None and preset != "tiny":
        log.info("no EX-4D weights configured: using the classical completion fallback")
        return FallbackCompleter()
    from .pipeline import EX4DPipeline

    if base is None:
        return EX4DPipeline.tiny(adapter=adapter, options=options, **overrides)

    return EX4DPipeline.from_pretrained(
        base, adapter, options, preset=preset or "auto", **overrides
    )
