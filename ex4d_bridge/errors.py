"""Exceptions the library raises for bad input; the CLI prints them as one line."""


class Ex4dError(Exception):
    """Base class: a problem with the user's input or setup, stated so it can be fixed."""


class InputError(Ex4dError, ValueError):
    """An argument, file or array is malformed (wrong shape, unreadable, out of range)."""
