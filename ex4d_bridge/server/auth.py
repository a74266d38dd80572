"""Bearer-token authentication for every call.

With a token configured, each call must carry the metadata ``authorization: Bearer <token>``;
anything else is answered UNAUTHENTICATED at once, from its headers: no request message is
waited for, read or parsed, and the call holds no call slot. The health
service is checked too, unless the server was started with ``open_health`` (for probes that
cannot send metadata). Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"
UNAUTHENTICATED_MESSAGE = (
    "missing or wrong token: send the metadata 'authorization: Bearer <token>' with the token "
    "the server was started with"
)


async def _deny(request_or_iterator, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)


def _denying_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    # Always a request stream, whatever the method: gRPC reads a unary request before calling
    # its handler, so a caller declaring a message it never sends would hold the call open.
    # No deserializer: garbage from an unauthenticated caller is never parsed.
    if handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_deny)
    return grpc.stream_unary_rpc_method_handler(_deny)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str, *, open_health: bool = False) -> None:
        self._expected = f"Bearer {token}".encode()
        self._open_health = open_health

    def allowed(self, metadata) -> bool:
        for key, value in metadata or ():
            if key.lower() == "authorization":
                got = value.encode() if isinstance(value, str) else bytes(value)
                return hmac.compare_digest(got, self._expected)
        return False

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if self._open_health and handler_call_details.method.startswith(HEALTH_PREFIX):
            return handler
        if self.allowed(handler_call_details.invocation_metadata):
            return handler
        return _denying_handler(handler)
