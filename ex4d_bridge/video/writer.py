"""Writing colour video (H.264 mp4) and image sequences."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc, Interpolation

from ..errors import InputError
from .clip import check_frames
from .output import SIZE_TAG, atomic_output, encode_all, fps_fraction

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")
_MP4_FAMILY = (".mp4", ".m4v", ".mov")
IMAGE_FORMATS = ("png", "jpg")
# Accurate rounding and full-resolution chroma input when subsampling to 4:2:0.
_TO_YUV = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float | Fraction,
    *,
    crf: int = 18,
    preset: str = "medium",
) -> Path:
    """Encode ``uint8 [T, H, W, 3]`` RGB frames as H.264 (libx264, yuv420p, BT.709 tagged).

    ``crf`` is x264's constant-quality setting (0 best .. 51 worst; 18 is visually lossless for
    most content). The frame rate is stored as an exact fraction (see :func:`fps_fraction`).
    4:2:0 chroma needs even sizes, so an odd width or height is padded by repeating the last
    column/row; the true size is stored in the container tag ``ex4d_bridge_size`` and
    :func:`read_video` crops the padding away again (other players show the extra edge pixel).
    The file appears only when complete. Returns the path written.
    """
    frames = check_frames(frames)
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
        raise InputError(f"crf={crf!r} must be an integer in 0..51 (lower is better quality)")
    rate = fps_fraction(fps)
    _, height, width, _ = frames.shape
    pad_h, pad_w = height % 2, width % 2
    out = Path(path)
    with atomic_output(out, VIDEO_SUFFIXES, "an H.264 video") as tmp:
        options = {}
        if out.suffix.lower() in _MP4_FAMILY:
            options["movflags"] = "+faststart+use_metadata_tags"
        container = av.open(str(tmp), mode="w", options=options)
        try:
            if pad_h or pad_w:
                container.metadata[SIZE_TAG] = f"{width}x{height}"
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = width + pad_w, height + pad_h
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(int(crf)), "preset": preset}
            # Tag what we convert with, so players and our reader undo the same matrix.
            cc = stream.codec_context
            cc.colorspace = Colorspace.ITU709
            cc.color_range = ColorRange.MPEG
            cc.color_primaries = ColorPrimaries.BT709
            cc.color_trc = ColorTrc.BT709

            def yuv_frames():
                for image in frames:
                    if pad_h or pad_w:
                        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                    yield frame.reformat(
                        format="yuv420p",
                        dst_colorspace=Colorspace.ITU709,
                        dst_color_range=ColorRange.MPEG,
                        interpolation=_TO_YUV,
                    )

            encode_all(container, stream, yuv_frames())
        finally:
            container.close()
    return out


def write_image_sequence(
    directory: str | os.PathLike,
    frames: np.ndarray,
    *,
    ext: str = "png",
    prefix: str = "frame_",
    jpeg_quality: int = 95,
    overwrite: bool = False,
) -> list[Path]:
    """Write frames as ``{prefix}{index:05d}.{ext}`` (png lossless, or jpg) and return the paths.

    The names sort in frame order, so :func:`read_video` on the folder gives the frames back.
    An existing sequence with the same prefix is an error unless ``overwrite=True``, which first
    removes it, so no stale frames from a longer earlier run are left behind to be read later.
    """
    frames = check_frames(frames)
    ext = ext.lower().lstrip(".")
    if ext == "jpeg":
        ext = "jpg"
    if ext not in IMAGE_FORMATS:
        raise InputError(f"image format {ext!r} is not supported; use one of {IMAGE_FORMATS}")
    if not prefix or any(sep in prefix for sep in ("/", "\\")):
        raise InputError(f"prefix={prefix!r} must be a plain, non-empty file-name prefix")
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write images into {folder}: it is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)

    pattern = re.compile(rf"^{re.escape(prefix)}\d+\.(png|jpe?g)$", re.IGNORECASE)
    existing = [p for p in folder.iterdir() if pattern.match(p.name)]
    if existing:
        if not overwrite:
            raise InputError(
                f"{folder} already holds {len(existing)} '{prefix}*' images; choose an empty "
                "folder or pass overwrite=True"
            )
        for old in existing:
            old.unlink()

    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext == "jpg" else []
    digits = max(5, len(str(len(frames) - 1)))
    paths = []
    for index, image in enumerate(frames):
        target = folder / f"{prefix}{index:0{digits}d}.{ext}"
        ok, data = cv2.imencode(f".{ext}", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise InputError(f"OpenCV could not encode frame {index} as {ext}")
        # tofile instead of cv2.imwrite: cv2 cannot open non-ASCII paths on Windows.
        data.tofile(str(target))
        paths.append(target)
    return paths
