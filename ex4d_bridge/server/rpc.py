"""How RPCs meet the library: library errors become status codes, blocking work runs on a
thread pool with a cancel event that fires when the call ends (client gone, deadline)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from .. import wire
from ..errors import Ex4dError
from .errors import LimitError, NotFoundError, PreconditionError

log = logging.getLogger(__name__)

_STATUS = (
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (LimitError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Ex4dError, grpc.StatusCode.INVALID_ARGUMENT),  # InputError and other bad input
)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code, str(exc)[:2000]
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"


def rpc_errors(fn: Callable) -> Callable:
    """Answer library errors with their status code; log and hide unexpected ones."""

    async def abort(context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code, message = status_for(exc)
        if code == grpc.StatusCode.INTERNAL:
            log.error("%s failed", fn.__name__, exc_info=exc)
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


__all__ = ["remove_tree", "rpc_errors", "run_in_pool", "status_for"]
