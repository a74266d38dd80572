"""Tolerant request parsing: bytes that are not a valid message become a value the server
answers with INVALID_ARGUMENT instead of a bare INTERNAL."""

from __future__ import annotations

from ..errors import InputError


class MalformedMessage:
    """What the server's tolerant deserializer hands over for bytes that are not a valid
    message."""

    def __init__(self, type_name: str, error: str) -> None:
        self.type_name, self.error = type_name, error

    def raise_error(self) -> None:
        raise InputError(f"the request is not a valid {self.type_name} message: {self.error}")


def tolerant_parser(message_class):
    """A gRPC request deserializer for ``message_class`` that never raises."""
    from google.protobuf.message import DecodeError

    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except DecodeError as exc:
            return MalformedMessage(message_class.DESCRIPTOR.full_name, str(exc))

    return parse


def checked(message):
    """``message``, or InputError if it arrived malformed."""
    if isinstance(message, MalformedMessage):
        message.raise_error()
    return message
