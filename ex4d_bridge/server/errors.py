"""What the server's layers raise besides :class:`~ex4d_bridge.errors.InputError`; the service
maps each to its gRPC status code (no grpc import here, so the store and jobs stay plain)."""

from __future__ import annotations

from ..errors import Ex4dError


class NotFoundError(Ex4dError):
    """An unknown scene or job (NOT_FOUND)."""


class PreconditionError(Ex4dError):
    """The server lacks what the call needs, e.g. a depth model (FAILED_PRECONDITION)."""


class LimitError(Ex4dError):
    """Over a configured size limit (RESOURCE_EXHAUSTED)."""


class IdleError(Ex4dError):
    """A call or client stream sent no message for too long (DEADLINE_EXCEEDED)."""
