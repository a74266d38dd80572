"""Files and byte strings as ``FileChunk`` streams, each message under the size limit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ._proto import common_pb2 as pb

CHUNK_BYTES = 1 << 20


def iter_file_chunks(
    path: str | os.PathLike, name: str, content_type: str, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pb.FileChunk]:
    """A file as FileChunk messages of at most ``chunk_bytes`` (an empty file: one chunk)."""
    path = Path(path)
    total = path.stat().st_size
    offset = 0
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk_bytes)
            last = offset + len(data) >= total
            yield pb.FileChunk(
                name=name,
                content_type=content_type,
                offset=offset,
                total_size=total,
                data=data,
                last=last,
            )
            offset += len(data)
            if last:
                return


def byte_chunks(
    data: bytes, name: str, content_type: str, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pb.FileChunk]:
    """Bytes as FileChunk messages of at most ``chunk_bytes`` (empty bytes: one chunk)."""
    total = len(data)
    view = memoryview(data)
    offset = 0
    while True:
        piece = bytes(view[offset : offset + chunk_bytes])
        last = offset + len(piece) >= total
        yield pb.FileChunk(
            name=name,
            content_type=content_type,
            offset=offset,
            total_size=total,
            data=piece,
            last=last,
        )
        offset += len(piece)
        if last:
            return
