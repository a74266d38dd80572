"""gRPC-Web framing (the protocol of github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md, binary
mode): length-prefixed messages, then one trailer frame carrying grpc-status and grpc-message."""

from __future__ import annotations

import struct
from urllib.parse import quote

from ..errors import InputError

CONTENT_TYPES = ("application/grpc-web", "application/grpc-web+proto")
DATA_FLAG = 0x00
TRAILER_FLAG = 0x80
_HEADER = struct.Struct(">BI")


def frame(payload: bytes, flag: int = DATA_FLAG) -> bytes:
    return _HEADER.pack(flag, len(payload)) + payload


def trailer_frame(code: int, message: str = "") -> bytes:
    """The last frame of a response: ``grpc-status`` and the percent-encoded ``grpc-message``
    (the encoding gRPC uses in HTTP/2 trailers)."""
    text = f"grpc-status:{int(code)}\r\n"
    if message:
        text += f"grpc-message:{quote(message, safe=' !#$&()*+,./:;=?@[]^_`{|}~-')}\r\n"
    return frame(text.encode("ascii"), TRAILER_FLAG)


def single_message(body: bytes) -> bytes:
    """The one request message of a unary or server-streaming call; InputError when the body is
    not exactly one data frame (a browser cannot stream requests, so there is never more)."""
    if len(body) < _HEADER.size:
        raise InputError("a gRPC-Web request body needs a 5-byte frame header")
    flag, length = _HEADER.unpack_from(body)
    if flag != DATA_FLAG:
        raise InputError(f"gRPC-Web request frame flag {flag:#x}: only uncompressed data frames")
    if len(body) != _HEADER.size + length:
        raise InputError(
            f"gRPC-Web request body holds {len(body) - _HEADER.size} bytes after its header, "
            f"which announces {length}: send exactly one message"
        )
    return body[_HEADER.size :]


def parse_frames(data: bytes) -> tuple[list[bytes], dict[str, str]]:
    """A whole response body -> (messages, trailers); the Python side of the page's parser, for
    tests and scripts."""
    messages: list[bytes] = []
    trailers: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            raise InputError("truncated gRPC-Web frame header")
        flag, length = _HEADER.unpack_from(data, pos)
        pos += _HEADER.size
        payload = data[pos : pos + length]
        if len(payload) != length:
            raise InputError("truncated gRPC-Web frame")
        pos += length
        if flag & TRAILER_FLAG:
            for line in payload.decode("ascii").split("\r\n"):
                key, sep, value = line.partition(":")
                if sep:
                    trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers
