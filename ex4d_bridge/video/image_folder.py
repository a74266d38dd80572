"""Folders of still images (png/jpg) read as a video."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputError
from .clip import VideoInfo

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _natural_key(path: Path) -> list[object]:
    # frame_2.png before frame_10.png, as a person numbering frames means it.
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """The png/jpg files directly in ``folder``, in natural (numeric-aware) name order."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]
    if not files:
        raise InputError(
            f"image folder {folder} holds no {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files"
        )
    return sorted(files, key=_natural_key)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:  # reads the header only
            return image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read image {path}: {exc}") from exc


def probe_image_folder(folder: Path, fps: float) -> tuple[VideoInfo, list[Path]]:
    """Header facts for a folder; every image must have the first image's size."""
    files = list_images(folder)
    width, height = _image_size(files[0])
    for path in files[1:]:
        size = _image_size(path)
        if size != (width, height):
            raise InputError(
                f"images in {folder} differ in size: {files[0].name} is {width}x{height} but "
                f"{path.name} is {size[0]}x{size[1]}; resize them to one size first"
            )
    info = VideoInfo(
        num_frames=len(files), fps=float(fps), width=width, height=height, duration=len(files) / fps
    )
    return info, files


def load_image(path: Path) -> np.ndarray:
    """One image as ``uint8 [H, W, 3]`` RGB.

    Grey and 16-bit images are converted to 8-bit RGB and alpha is dropped. EXIF orientation is
    ignored, like the rest of a frame sequence (frames dumped from videos carry none).
    """
    data = np.fromfile(str(path), dtype=np.uint8)  # cv2.imread cannot open non-ASCII paths
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise InputError(f"cannot decode image {path}: the file is damaged or not a png/jpg")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
