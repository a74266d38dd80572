"""How RPCs meet the library: library errors become status codes, blocking work runs on a
thread pool with a cancel event that fires when the call ends (client gone, deadline)."""

from __future__ import annotations

import asyncio
import errno
import functools
import inspect
import logging
import re
import shutil
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from .. import wire
from ..errors import Ex4dError
from .errors import IdleError, LimitError, NotFoundError, PreconditionError

log = logging.getLogger(__name__)

_STATUS = (
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (LimitError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (IdleError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Ex4dError, grpc.StatusCode.INVALID_ARGUMENT),  # InputError and other bad input
)


DISK_FULL_MESSAGE = (
    "disk full: the server has no space left to store this (its data directory's disk is "
    "full); retry once space has been freed on the server"
)
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# An absolute POSIX path of two or more parts, not glued to a word or a URL ("1/near", "a/b",
# "https://host/a/b" stay).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/])/(?:[\w.+@~-]+/)+([\w.+@~-]*)")


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from or during, is a full disk or
    quota (ENOSPC/EDQUOT, or SQLite's "database or disk is full")."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            return True
        if isinstance(e, sqlite3.OperationalError) and "disk is full" in str(e).lower():
            return True
        e = e.__cause__ or e.__context__
    return False


def without_paths(message: str) -> str:
    """``message`` with every absolute path cut to its last part: clients learn which file
    was wrong, never where the server keeps it."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "<path>", message)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if is_disk_full(exc):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, DISK_FULL_MESSAGE
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code, without_paths(str(exc))[:2000]
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"


def rpc_errors(fn: Callable) -> Callable:
    """Answer library errors with their status code; log and hide unexpected ones."""

    async def abort(context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code, message = status_for(exc)
        if code == grpc.StatusCode.INTERNAL:
            log.error("%s failed", fn.__name__, exc_info=exc)
        elif message == DISK_FULL_MESSAGE:
            log.error("%s: disk full (%s)", fn.__name__, exc)
        await context.abort(code, message)

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(self, request, context):
            try:
                wire.checked(request)
                async for item in fn(self, request, context):
                    yield item
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to a status code
                await abort(context, exc)

        return stream

    @functools.wraps(fn)
    async def unary_checked(self, request, context):
        try:
            return await fn(self, wire.checked(request), context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a status code
            await abort(context, exc)

    return unary_checked


async def run_in_pool(pool: ThreadPoolExecutor, fn: Callable, *args: Any) -> Any:
    """Run ``fn`` on ``pool``; if the call is cancelled (client gone, deadline), the event
    passed as ``cancel=`` is set so the thread stops at its next check."""
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    call = (
        functools.partial(fn, *args, cancel=cancel)
        if _takes_cancel(fn)
        else functools.partial(fn, *args)
    )
    try:
        return await loop.run_in_executor(pool, call)
    finally:
        cancel.set()


@functools.cache
def _takes_cancel(fn: Callable) -> bool:
    return "cancel" in inspect.signature(fn).parameters


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "DISK_FULL_MESSAGE",
    "is_disk_full",
    "remove_tree",
    "rpc_errors",
    "run_in_pool",
    "status_for",
    "without_paths",
]
