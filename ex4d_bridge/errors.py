"""Exceptions the library raises for bad input; the CLI prints them as one line."""


class Ex4dError(Exception):
    """Base class: a problem with the user's input or setup, stated so it can be fixed."""


class InputError(Ex4dError, ValueError):
    """An argument, file or array is malformed (wrong shape, unreadable, out of range)."""


class Cancelled(Exception):  # noqa: N818 - reads as what happened, like asyncio's CancelledError
    """Raised when a cancel hook fired during long work (rendering, generation); nothing was
    produced. Not an ``Ex4dError``: the input was fine."""
