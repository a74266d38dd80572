"""The grpc.aio server: the Bridge service, gRPC health checking and reflection, token auth,
TLS and message-size limits.

``serve(config)`` runs until SIGINT/SIGTERM; ``ServerThread`` runs a server on a background
thread (tests, benchmarks, notebooks).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from ..errors import Ex4dError
from ..geometry import raster_numba
from ..wire import bridge_pb2, tolerant_parser
from .auth import TokenAuthInterceptor
from .config import ServerConfig
from .service import BridgeService

log = logging.getLogger(__name__)

SERVICE_NAME = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"].full_name  # "ex4d.v1.Bridge"


def bridge_handler(servicer: BridgeService) -> grpc.GenericRpcHandler:
    """The Bridge methods with a deserializer that never throws: bytes that do not parse
    reach the method as ``MalformedMessage`` and are answered INVALID_ARGUMENT (the generated
    registration would answer INTERNAL or UNKNOWN and log a traceback per bad message)."""
    service = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"]
    makers = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    handlers = {}
    for m in service.methods:
        request_cls = message_factory.GetMessageClass(m.input_type)
        response_cls = message_factory.GetMessageClass(m.output_type)
        handlers[m.name] = makers[(m.client_streaming, m.server_streaming)](
            getattr(servicer, m.name),
            request_deserializer=tolerant_parser(request_cls),
            response_serializer=response_cls.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


class BridgeServer:
    def __init__(self, config: ServerConfig) -> None:
        config.validate()
        self.config = config
        self.server: grpc.aio.Server | None = None
        self.service: BridgeService | None = None
        self.health = HealthServicer()
        self.port = 0

    async def start(self) -> int:
        """Bind and start; returns the port (useful with port 0)."""
        c = self.config
        # The compiled CPU renderer's kernels, compiled or loaded from their disk cache before
        # the first request, so that no View reply waits for them.
        await asyncio.get_running_loop().run_in_executor(None, raster_numba.warm_up)
        interceptors = []
        if c.token:
            interceptors.append(TokenAuthInterceptor(c.token, open_health=c.open_health))
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", int(c.max_receive_bytes)),
                ("grpc.max_send_message_length", int(c.max_send_bytes)),
                # Linux's SO_REUSEPORT would let a second server share the port silently.
                ("grpc.so_reuseport", 0),
            ],
            maximum_concurrent_rpcs=c.max_concurrent_rpcs,
        )
        self.service = BridgeService(c)
        self.server.add_generic_rpc_handlers((bridge_handler(self.service),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if c.reflection:
            names = (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            )
            reflection.enable_server_reflection(names, self.server)
        try:
            if c.tls_cert is not None and c.tls_key is not None:
                creds = grpc.ssl_server_credentials(
                    [(Path(c.tls_key).read_bytes(), Path(c.tls_cert).read_bytes())]
                )
                self.port = self.server.add_secure_port(c.address, creds)
            else:
                self.port = self.server.add_insecure_port(c.address)
        except RuntimeError as exc:
            self.service.close()
            raise Ex4dError(f"cannot listen on {c.address}: {exc}") from None
        if not self.port:
            self.service.close()
            raise Ex4dError(f"cannot listen on {c.address} (in use, or not an address here)")
        await self.server.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.server is not None:
            await self.server.stop(self.config.grace_s if grace is None else grace)
        if self.service is not None:
            self.service.close()

    async def wait(self) -> None:
        assert self.server is not None
        await self.server.wait_for_termination()


def serve(config: ServerConfig, ready: Callable[[BridgeServer], None] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop gracefully. Render threads set their own torch
    thread count (``runtime.init_render_worker``); the generation worker keeps torch's default."""

    async def main() -> None:
        server = BridgeServer(config)
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready(server)
        await stop.wait()
        await server.stop()

    asyncio.run(main())


class ServerThread:
    """A server on a background thread with its own event loop::

    with ServerThread(ServerConfig(port=0, data_dir=tmp)) as srv:
        client = BridgeClient(srv.target)
    """

    def __init__(self, config: ServerConfig) -> None:
        self.server = BridgeServer(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ex4d-server", daemon=True
        )

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def target(self) -> str:
        host = self.server.config.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def service(self) -> BridgeService:
        assert self.server.service is not None
        return self.server.service

    def start(self) -> ServerThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(60)
        return self

    def call(self, coro, timeout: float = 30):
        """Run a coroutine on the server's loop (e.g. ``srv.server.health.set(...)``)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self, grace: float = 0.5) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.server.stop(grace))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
