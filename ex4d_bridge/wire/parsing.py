"""Tolerant request parsing: bytes that are not a valid message become a value the server
answers with INVALID_ARGUMENT instead of a bare INTERNAL; parsed requests have their numbers
checked (``numbers``)."""

from __future__ import annotations

from google.protobuf.message import Message

from ..errors import InputError
from .numbers import check_numbers


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
    """``message``, or InputError if it arrived malformed or holds a non-finite or absurd
    number (``numbers.check_numbers``, which also rescales extreme quaternions in place)."""
    if isinstance(message, MalformedMessage):
        message.raise_error()
    if isinstance(message, Message):
        check_numbers(message)
    return message
