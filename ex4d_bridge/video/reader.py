"""Reading video files (PyAV) and image folders into :class:`VideoClip`.

Frames are decoded as a stream and only the frames that are kept are converted, rotated and
resized, into an array allocated once at its final size, so sampling 49 frames from a long
4K clip holds 49 small frames, not the clip. With ``max_bytes`` the size of that array is
checked before it is allocated (and again while decoding, for headers that understate the
count), so a tiny file cannot expand to gigabytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation
from tqdm.auto import tqdm

from ..errors import Ex4dError, InputError
from .clip import VideoClip, VideoInfo
from .image_folder import IMAGE_EXTENSIONS, load_image, probe_image_folder
from .output import SIZE_TAG
from .resize import resize_image, resolve_size
from .sampling import check_num_frames, sampled_fps, uniform_indices

_log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi")
DEFAULT_FPS = 30.0
# swscale's default yuv420p -> rgb path upsamples chroma crudely (mean error ~3 levels on smooth
# colour); full horizontal chroma interpolation with accurate rounding brings it under 1.
_TO_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


class FrameBudgetError(Ex4dError):
    """The decoded frames would exceed the caller's ``max_bytes`` (a server answers
    RESOURCE_EXHAUSTED)."""


def _check_budget(count: int, width: int, height: int, max_bytes: int | None, src: Path) -> None:
    need = count * width * height * 3
    if max_bytes is not None and need > max_bytes:
        raise FrameBudgetError(
            f"{src.name}: {count} frames of {width}x{height} would decode to {need} bytes, over "
            f"the limit of {max_bytes}; ask for fewer frames or a smaller max_size"
        )


def _copies(indices: np.ndarray) -> dict[int, int]:
    """How many times each source frame is kept (only the kept ones: a header may claim
    billions of frames)."""
    kept, counts = np.unique(indices, return_counts=True)
    return dict(zip(kept.tolist(), counts.tolist(), strict=True))


@dataclass(frozen=True)
class _ContainerLayout:
    """How decoded pictures map to displayed frames."""

    info: VideoInfo
    crop: tuple[int, int] | None  # (width, height) to keep from the top-left, undoing padding
    quarter_turns: int  # counter-clockwise quarter turns from the display matrix


def _existing_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"video {p} does not exist")
    return p


def _check_extension(path: Path) -> None:
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        hint = (
            " (a single image: put it in a folder and pass the folder)"
            if (path.suffix.lower() in IMAGE_EXTENSIONS)
            else ""
        )
        raise InputError(
            f"cannot read {path}: extension {path.suffix or '(none)'} is not a supported video "
            f"({', '.join(VIDEO_EXTENSIONS)}) and it is not an image folder{hint}"
        )


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise InputError(
            f"cannot read video {path}: {exc.strerror or exc}; the file is damaged or not a video"
        ) from exc


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise InputError(f"{path} has no video stream (audio-only or not a video file)")
    return container.streams.video[0]


def _stream_fps(stream: av.VideoStream, default_fps: float) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return float(default_fps)


def _size_tag(container: av.container.InputContainer) -> tuple[int, int] | None:
    value = container.metadata.get(SIZE_TAG)
    if not value:
        return None
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        return None
    return width, height


def _decoded(path: Path) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream; decoder errors become InputError."""
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        frames = container.decode(stream)
        count = 0
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                raise InputError(
                    f"decoding {path} failed after {count} frames: {exc.strerror or exc}; "
                    "the file is damaged"
                ) from exc
            count += 1
            yield frame
    finally:
        container.close()


def _count_packets(path: Path) -> int:
    """Frame count from the demuxer alone, for containers (webm, some avi) that do not store it."""
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot read video {path}: {exc.strerror or exc}") from exc
    finally:
        container.close()


def _probe_container(path: Path, default_fps: float) -> _ContainerLayout:
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        fps = _stream_fps(stream, default_fps)
        stored_count = int(stream.frames or 0)
        crop = _size_tag(container)
    finally:
        container.close()
    # One decoded frame gives the true picture size and rotation, and proves the file decodes.
    frames = _decoded(path)
    try:
        first = next(frames, None)
    finally:
        frames.close()
    if first is None:
        raise InputError(f"{path} has a video stream but no frame could be decoded")
    width, height = first.width, first.height
    if crop is not None and (crop[0] <= width and crop[1] <= height):
        width, height = crop
    else:
        crop = None
    rotation = getattr(first, "rotation", 0) or 0
    quarter_turns = int(round(rotation / 90.0)) % 4 if rotation % 90 == 0 else 0
    if quarter_turns % 2:
        width, height = height, width
    count = stored_count if stored_count > 0 else _count_packets(path)
    if count < 1:
        raise InputError(f"{path} holds no video frames")
    info = VideoInfo(num_frames=count, fps=fps, width=width, height=height, duration=count / fps)
    return _ContainerLayout(info=info, crop=crop, quarter_turns=quarter_turns)


def probe_video(path: str | os.PathLike, *, default_fps: float = DEFAULT_FPS) -> VideoInfo:
    """Frame count, frame rate and displayed size of a video file or image folder.

    The count comes from the container header when it stores one, else from counting packets
    (no decoding). Image folders have no frame rate of their own: ``default_fps`` is used.
    """
    p = _existing_path(path)
    if p.is_dir():
        return probe_image_folder(p, default_fps)[0]
    _check_extension(p)
    return _probe_container(p, default_fps).info


def _to_array(
    frame: av.VideoFrame,
    layout: _ContainerLayout,
    pixel_format: str,
    out_size: tuple[int, int] | None,
) -> np.ndarray:
    image = frame.to_ndarray(format=pixel_format, interpolation=_TO_RGB)
    if layout.crop is not None:
        image = image[: layout.crop[1], : layout.crop[0]]
    if layout.quarter_turns:
        image = np.rot90(image, layout.quarter_turns)
    if out_size is not None:
        image = resize_image(np.ascontiguousarray(image), *out_size)
    return image


def _decode_container(
    path: Path,
    layout: _ContainerLayout,
    pixel_format: str,
    copies: dict[int, int] | None,
    out_size: tuple[int, int] | None,
    progress: bool = False,
    max_bytes: int | None = None,
) -> tuple[np.ndarray, int]:
    """Decode every frame, keeping ``copies[i]`` copies of frame i (all frames once if None).

    Returns the kept frames and how many frames the stream really held, which can differ from
    the header's count; the caller then samples again with the true count. FrameBudgetError
    when the kept frames (as rgb24) would exceed ``max_bytes``.
    """
    width, height = out_size if out_size is not None else (layout.info.width, layout.info.height)
    channels = (3,) if pixel_format == "rgb24" else ()
    expected = layout.info.num_frames if copies is None else sum(copies.values())
    _check_budget(expected, width, height, max_bytes, path)
    out = np.empty((expected, height, width, *channels), dtype=np.uint8)
    extra: list[np.ndarray] = []
    position = 0
    decoded = 0
    bar = tqdm(
        total=layout.info.num_frames, desc=f"read {path.name}", unit="frame", disable=not progress
    )
    with bar:
        for index, frame in enumerate(_decoded(path)):
            decoded = index + 1
            bar.update()
            repeat = 1 if copies is None else copies.get(index, 0)
            if repeat == 0:
                continue
            if position + repeat > expected:
                _check_budget(position + repeat, width, height, max_bytes, path)
            image = _to_array(frame, layout, pixel_format, out_size)
            if position + repeat <= expected:
                out[position : position + repeat] = image
            else:
                extra.append(image)
            position += repeat
    if decoded == 0:
        raise InputError(f"no frame of {path} could be decoded")
    if copies is None:
        kept = out[: min(decoded, expected)]
        if extra:
            kept = np.concatenate([kept, np.stack(extra)])
        return kept, decoded
    return out, decoded


def decode_frames(path: str | os.PathLike, *, pixel_format: str = "rgb24") -> np.ndarray:
    """All frames of a video file at stored size: ``[T, H, W, 3]`` rgb24 or ``[T, H, W]`` gray."""
    p = _existing_path(path)
    if p.is_dir():
        raise InputError(f"{p} is a folder; a video file was expected")
    _check_extension(p)
    layout = _probe_container(p, DEFAULT_FPS)
    frames, _ = _decode_container(p, layout, pixel_format, None, None)
    return frames


def _read_container(
    path: Path,
    num_frames: int | None,
    size_args: dict[str, object],
    default_fps: float,
    progress: bool = False,
    max_bytes: int | None = None,
) -> VideoClip:
    layout = _probe_container(path, default_fps)
    info = layout.info
    out_size = resolve_size(info.width, info.height, **size_args)
    if num_frames is None:
        frames, _ = _decode_container(path, layout, "rgb24", None, out_size, progress, max_bytes)
        return VideoClip(frames=frames, fps=info.fps, source=str(path))
    _check_budget(num_frames, *out_size, max_bytes, path)
    total = info.num_frames
    copies = _copies(uniform_indices(total, num_frames))
    frames, decoded = _decode_container(
        path, layout, "rgb24", copies, out_size, progress, max_bytes
    )
    if decoded != total:
        # The header's count was wrong (truncated file, edit lists): sample again, correctly.
        _log.warning("%s: header says %d frames but %d decoded", path, total, decoded)
        total = decoded
        copies = _copies(uniform_indices(total, num_frames))
        frames, _ = _decode_container(path, layout, "rgb24", copies, out_size, progress, max_bytes)
    fps = sampled_fps(info.fps, total, num_frames)
    return VideoClip(frames=frames, fps=fps, source=str(path))


def _read_folder(
    folder: Path,
    num_frames: int | None,
    size_args: dict[str, object],
    default_fps: float,
    progress: bool = False,
    max_bytes: int | None = None,
) -> VideoClip:
    info, files = probe_image_folder(folder, default_fps)
    width, height = resolve_size(info.width, info.height, **size_args)
    total = info.num_frames
    _check_budget(total if num_frames is None else num_frames, width, height, max_bytes, folder)
    indices = np.arange(total) if num_frames is None else uniform_indices(total, num_frames)
    out = np.empty((len(indices), height, width, 3), dtype=np.uint8)
    cached_index, cached = -1, None
    bar = tqdm(
        total=len(np.unique(indices)),
        desc=f"read {folder.name}",
        unit="image",
        disable=not progress,
    )
    with bar:
        for position, index in enumerate(indices):
            if index != cached_index:  # indices are sorted, so repeats are adjacent
                image = load_image(files[index])
                if image.shape[:2] != (info.height, info.width):
                    raise InputError(
                        f"image {files[index]} decodes to {image.shape[1]}x{image.shape[0]}, "
                        f"not the folder's {info.width}x{info.height}"
                    )
                cached_index, cached = index, resize_image(image, width, height)
                bar.update()
            out[position] = cached
    fps = info.fps if num_frames is None else sampled_fps(info.fps, total, num_frames)
    return VideoClip(frames=out, fps=fps, source=str(folder))


def read_video(
    path: str | os.PathLike,
    *,
    num_frames: int | None = None,
    max_size: int | None = None,
    multiple_of: int | None = None,
    size: tuple[int, int] | None = None,
    default_fps: float = DEFAULT_FPS,
    progress: bool = False,
    max_bytes: int | None = None,
) -> VideoClip:
    """Read a video file (.mp4 .m4v .mov .webm .mkv .avi) or a folder of png/jpg frames.

    * ``num_frames``: keep that many frames spread uniformly from the first to the last frame;
      fps is scaled so the clip lasts as long as the source (more frames than the source
      repeats frames).
    * ``max_size``: cap the longest side, keeping the aspect ratio (never enlarges).
    * ``multiple_of``: round width and height to the nearest multiple (at least one multiple).
    * ``size=(W, H)``: exact output size (not combinable with the two above).

    Rotation metadata (phone videos) is applied, so frames come out as a player shows them.
    Image folders are read in natural name order at ``default_fps``; all images must share
    one size. Every failure is an :class:`InputError` saying what is wrong. ``progress`` shows
    a bar of the frames decoded (or images read). ``max_bytes``: the most the decoded frames
    may take (checked before decoding; :class:`FrameBudgetError` beyond it).
    """
    if num_frames is not None:
        num_frames = check_num_frames(num_frames)
    if not (isinstance(default_fps, (int, float)) and np.isfinite(default_fps) and default_fps > 0):
        raise InputError(f"default_fps={default_fps!r} must be a positive number")
    # Validate the size arguments before touching the file, so a typo fails fast.
    resolve_size(16, 16, max_size=max_size, multiple_of=multiple_of, size=size)
    size_args: dict[str, object] = {"max_size": max_size, "multiple_of": multiple_of, "size": size}
    p = _existing_path(path)
    if p.is_dir():
        return _read_folder(p, num_frames, size_args, float(default_fps), progress, max_bytes)
    _check_extension(p)
    return _read_container(p, num_frames, size_args, float(default_fps), progress, max_bytes)
