"""The memory an upload may make the server spend, checked from what the upload declares
(array headers, video headers, requested frame counts) before anything is decoded.

A scene of T frames of W x H pixels holds T*H*W*3 bytes of RGB and T*H*W*4 of float32 depth;
``max_scene_bytes`` bounds their sum, so the decoded frames get 3/7 of it and provided depth
(at its own size, converted to float32) 4/7.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .errors import LimitError

BYTES_PER_PIXEL = 3 + 4  # RGB uint8 + float32 depth


@dataclass(frozen=True)
class SceneBudget:
    max_scene_bytes: int
    max_frames: int

    @property
    def frame_bytes(self) -> int:
        """Bytes the decoded RGB frames of an upload may take."""
        return self.max_scene_bytes * 3 // BYTES_PER_PIXEL

    @property
    def depth_bytes(self) -> int:
        """Bytes provided depth may take, as float32."""
        return self.max_scene_bytes * 4 // BYTES_PER_PIXEL

    def check_num_frames(self, num_frames: int) -> None:
        if num_frames > self.max_frames:
            raise LimitError(
                f"options.num_frames {num_frames} is over the server's limit of "
                f"{self.max_frames} frames per scene"
            )

    def check_depth_file(self, path: Path) -> None:
        """Every array a provided .npy/.npz declares, against the depth budget (a non-array
        member of an .npz by its declared size), without loading any."""
        for name, shape, itemsize in declared_arrays(path):
            elements = int(np.prod(shape, dtype=object))
            need = elements * max(itemsize, 4)
            if need > self.depth_bytes:
                raise LimitError(
                    f"the depth file's array {name!r} of shape {tuple(shape)} would take "
                    f"{need} bytes as float32, over the server's depth budget of "
                    f"{self.depth_bytes} bytes (from its scene limit of {self.max_scene_bytes} "
                    "bytes); send depth at the video's size or fewer frames"
                )


def _npy_header(f, what: str) -> tuple[tuple[int, ...], int]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"the depth file's {what} is not a readable .npy array: {exc}") from None
    if dtype.hasobject:
        raise InputError(f"the depth file's {what} holds Python objects; send numbers")
    return tuple(int(s) for s in shape), int(dtype.itemsize)


def declared_arrays(path: Path) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, itemsize) of each array in a .npy or .npz file, from headers only; a
    member of an .npz that is not an array counts as bytes of its declared size."""
    with open(path, "rb") as f:
        if f.read(6) == b"\x93NUMPY":
            f.seek(0)
            return [("array", *_npy_header(f, "array"))]
    out = []
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                with z.open(info) as member:
                    if member.read(6) == b"\x93NUMPY":
                        with z.open(info) as again:
                            out.append((info.filename, *_npy_header(again, info.filename)))
                    else:
                        out.append((info.filename, (info.file_size,), 1))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError) as exc:
        raise InputError(f"the depth file is not a readable .npz archive: {exc}") from None
    return out


__all__ = ["BYTES_PER_PIXEL", "SceneBudget", "declared_arrays"]
