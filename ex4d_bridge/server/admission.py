"""Admission: which calls may hold the server's call slots, and for how long.

gRPC's own ``maximum_concurrent_rpcs`` counts a call from its first HTTP/2 frame, before
authentication and before its request message has arrived, and answers every call beyond it,
health checks included, RESOURCE_EXHAUSTED: a few hundred streams that never finish a message
lock everyone out. So the server does not use it. Instead every method is registered as a
request stream (the wire is the same for unary requests) and wrapped here:

* the first request message must arrive within ``first_message_s`` (DEADLINE_EXCEEDED
  otherwise); until it has, the call holds no slot;
* then the call takes one of ``max_concurrent_rpcs`` slots, or is answered
  RESOURCE_EXHAUSTED at once; health checks take none;
* in client streams (View, UploadScene) each further message must come within
  ``stream_idle_s``, or the call ends with DEADLINE_EXCEEDED and frees its slot.

Unauthenticated calls never get this far: ``auth`` answers them before any message is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable

import grpc
from google.protobuf import message_factory

from ..wire import tolerant_parser
from .errors import IdleError

NO_MESSAGE = "the call carried no request message"


class CallSlots:
    """Admitted calls in progress (touched only on the event loop, so no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.active = 0

    def try_take(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def give_back(self) -> None:
        self.active -= 1


async def _read(iterator):
    # A plain coroutine for wait_for's task (gRPC's receiver is a Cython async generator,
    # whose asend objects lack what asyncio's task introspection expects).
    return await anext(iterator)


async def _next(iterator, timeout_s: float):
    """The next message, or None at the end of the stream; IdleError after ``timeout_s``."""
    try:
        return await asyncio.wait_for(_read(iterator), timeout_s)
    except StopAsyncIteration:
        return None
    except TimeoutError:
        raise IdleError(f"no request message arrived for {timeout_s:g} s") from None


async def _stream(first, iterator, idle_s: float, what: str) -> AsyncIterator:
    """``first`` then the rest of a client stream, each message within ``idle_s``."""
    if first is None:
        return
    yield first
    while True:
        try:
            msg = await _next(iterator, idle_s)
        except IdleError:
            raise IdleError(
                f"{what} sent no message for {idle_s:g} s: idle streams are closed; open a "
                "new one when there is something to send"
            ) from None
        if msg is None:
            return
        yield msg


class Admission:
    """Wraps servicer methods with the rules above."""

    def __init__(self, slots: CallSlots | None, first_message_s: float, idle_s: float) -> None:
        self.slots, self.first_message_s, self.idle_s = slots, first_message_s, idle_s

    async def _first(self, request_iterator, context: grpc.aio.ServicerContext):
        iterator = aiter(request_iterator)
        try:
            return iterator, await _next(iterator, self.first_message_s)
        except IdleError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no complete request message arrived within {self.first_message_s:g} s of the "
                "call's start; the call is closed",
            )

    @contextlib.asynccontextmanager
    async def _slot(self, context: grpc.aio.ServicerContext, counted: bool):
        if not counted or self.slots is None:
            yield
            return
        if not self.slots.try_take():
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is busy: {self.slots.limit} calls are in progress, its limit; "
                "retry shortly",
            )
        try:
            yield
        finally:
            self.slots.give_back()

    def handler(
        self,
        fn: Callable,
        method_name: str,
        client_streaming: bool,
        server_streaming: bool,
        deserializer: Callable,
        serializer: Callable,
        *,
        counted: bool = True,
    ) -> grpc.RpcMethodHandler:
        """The request-stream handler that admits calls of ``fn`` (a servicer method of the
        given shape)."""

        async def argument(request_iterator, context):
            iterator, first = await self._first(request_iterator, context)
            if client_streaming:
                return _stream(first, iterator, self.idle_s, method_name)
            if first is None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, NO_MESSAGE)
            return first

        if server_streaming:

            async def streaming(request_iterator, context):
                # A coroutine writing replies, so that servicer methods of either style work:
                # async generators (the Bridge's) and coroutines that write (health's Watch).
                arg = await argument(request_iterator, context)
                async with self._slot(context, counted):
                    replies = fn(arg, context)
                    if not inspect.isasyncgen(replies):
                        await replies
                        return
                    try:
                        async for reply in replies:
                            await context.write(reply)
                    finally:
                        await replies.aclose()  # its cleanup now, not when collected

            return grpc.stream_stream_rpc_method_handler(
                streaming, request_deserializer=deserializer, response_serializer=serializer
            )

        async def unary(request_iterator, context):
            arg = await argument(request_iterator, context)
            async with self._slot(context, counted):
                return await fn(arg, context)

        return grpc.stream_unary_rpc_method_handler(
            unary, request_deserializer=deserializer, response_serializer=serializer
        )

    def service(
        self, service_descriptor, servicer, *, counted: bool = True
    ) -> grpc.GenericRpcHandler:
        """Every method of ``service_descriptor`` on ``servicer``, admitted, with a
        deserializer that never throws (bytes that do not parse reach the method as
        ``MalformedMessage``, answered INVALID_ARGUMENT, not INTERNAL with a traceback)."""
        handlers = {}
        for m in service_descriptor.methods:
            request_cls = message_factory.GetMessageClass(m.input_type)
            response_cls = message_factory.GetMessageClass(m.output_type)
            handlers[m.name] = self.handler(
                getattr(servicer, m.name),
                m.name,
                m.client_streaming,
                m.server_streaming,
                tolerant_parser(request_cls),
                response_cls.SerializeToString,
                counted=counted,
            )
        return grpc.method_handlers_generic_handler(service_descriptor.full_name, handlers)


__all__ = ["Admission", "CallSlots"]
