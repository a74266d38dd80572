"""Shared pieces of the writers: exact frame rates and all-or-nothing file output."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError

# Container tag holding the true "WxH" of a video padded to even size for 4:2:0 chroma.
SIZE_TAG = "ex4d_bridge_size"


def fps_fraction(fps: float | Fraction) -> Fraction:
    """An exact rational frame rate.

    Floats are snapped to the simplest fraction with denominator <= 1001, so NTSC rates given as
    ``30000 / 1001`` and rates of resampled clips such as ``30 * 16 / 49`` come back exactly.
    """
    if isinstance(fps, Fraction):
        rate = fps
    else:
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)):
            raise InputError(f"fps={fps!r} must be a number")
        if not math.isfinite(float(fps)):
            raise InputError(f"fps={fps} must be finite")
        rate = Fraction(float(fps)).limit_denominator(1001)
    if rate <= 0:
        raise InputError(f"fps={fps} must be positive")
    return rate


@contextmanager
def atomic_output(path: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the body succeeds.

    A crash or a bad frame half-way through never leaves a truncated file where a good one was.
    The temporary name keeps the extension because the muxer is chosen from it.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in suffixes:
        raise InputError(
            f"cannot write {what} to {target}: extension {target.suffix or '(none)'} is not one "
            f"of {', '.join(suffixes)}"
        )
    if target.is_dir():
        raise InputError(f"cannot write {what} to {target}: it is a directory")
    if not target.parent.is_dir():
        raise InputError(f"cannot write {what} to {target}: folder {target.parent} does not exist")
    tmp = target.with_name(f".{target.stem}.partial-{os.getpid()}{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def encode_all(container, stream, frames: Iterable) -> None:
    """Encode every frame into ``container`` and flush the encoder."""
    for frame in frames:
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
