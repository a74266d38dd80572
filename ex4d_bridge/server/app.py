"""The grpc.aio server: the Bridge service, gRPC health checking and reflection, token auth,
TLS, message-size limits, call admission (``admission``) and HTTP/2 connection limits.

Health is answered on the event loop, outside the call slots, from a status that health probes
(``BridgeServer.add_health_probe``) keep current, so a busy or attacked server still reports
truthfully.

``serve(config)`` runs until SIGINT/SIGTERM; ``ServerThread`` runs a server on a background
thread (tests, benchmarks, notebooks).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from ..errors import Ex4dError, InputError
from ..geometry import raster_numba
from ..wire import bridge_pb2, checked
from .admission import Admission, CallSlots
from .auth import TokenAuthInterceptor
from .config import ServerConfig
from .rpc import is_disk_full
from .service import BridgeService
from .store import make_private

log = logging.getLogger(__name__)

SERVICE_NAME = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"].full_name  # "ex4d.v1.Bridge"


HEALTH_DESCRIPTOR = health_pb2.DESCRIPTOR.services_by_name["Health"]
# A probe returns None while its part of the server works, else why it does not.
HealthProbe = Callable[[], str | None]


def grpc_options(c: ServerConfig) -> list[tuple[str, int]]:
    """Message sizes, per-connection stream limits and keepalive (see docs/server.md)."""
    ms = lambda seconds: int(seconds * 1000)  # noqa: E731
    return [
        ("grpc.max_receive_message_length", int(c.max_receive_bytes)),
        ("grpc.max_send_message_length", int(c.max_send_bytes)),
        # Linux's SO_REUSEPORT would let a second server share the port silently.
        ("grpc.so_reuseport", 0),
        ("grpc.max_concurrent_streams", int(c.max_streams_per_connection)),
        ("grpc.max_connection_idle_ms", ms(c.connection_idle_s)),
        ("grpc.server_handshake_timeout_ms", ms(c.first_message_s)),
        ("grpc.keepalive_time_ms", ms(c.keepalive_s)),
        ("grpc.keepalive_timeout_ms", ms(min(20.0, c.keepalive_s))),
        ("grpc.keepalive_permit_without_calls", 1),
        # Clients may ping every 10 s at most; faster pingers are disconnected.
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 2),
    ]


class _CheckedHealth:
    """The health servicer behind the tolerant parser: unparsable requests are
    INVALID_ARGUMENT."""

    def __init__(self, servicer: HealthServicer) -> None:
        self._servicer = servicer

    async def Check(self, request, context):  # noqa: N802 - gRPC method name
        return await self._servicer.Check(await _checked(request, context), context)

    async def Watch(self, request, context):  # noqa: N802 - gRPC method name
        await self._servicer.Watch(await _checked(request, context), context)

    async def List(self, request, context):  # noqa: N802 - gRPC method name
        return await self._servicer.List(await _checked(request, context), context)


async def _checked(request, context):
    try:
        return checked(request)
    except InputError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))


class BridgeServer:
    def __init__(self, config: ServerConfig) -> None:
        config.validate()
        self.config = config
        self.server: grpc.aio.Server | None = None
        self.service: BridgeService | None = None
        self.health = HealthServicer()
        self.port = 0
        self.slots = CallSlots(config.max_concurrent_rpcs)
        self._probes: dict[str, HealthProbe] = {}
        self._unhealthy: str | None = None
        self._health_task: asyncio.Task | None = None

    def add_health_probe(self, name: str, probe: HealthProbe) -> None:
        """Report NOT_SERVING while ``probe()`` returns a reason (checked every second on the
        event loop, so it must be quick and must not block)."""
        self._probes[name] = probe

    def unhealthy_reason(self) -> str | None:
        """Why the server reports NOT_SERVING now (None: it is SERVING)."""
        for name, probe in self._probes.items():
            try:
                reason = probe()
            except Exception as exc:  # noqa: BLE001 - a failing probe is an unhealthy part
                reason = f"probe failed ({type(exc).__name__}: {exc})"
            if reason:
                return f"{name}: {reason}"
        return None

    async def _set_health(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING
        if not serving:
            status = health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def _watch_health(self, period_s: float = 1.0) -> None:
        while True:
            reason = self.unhealthy_reason()
            if reason != self._unhealthy:
                if reason:
                    log.error("health: NOT_SERVING: %s", reason)
                else:
                    log.warning("health: SERVING again")
                self._unhealthy = reason
                await self._set_health(reason is None)
            await asyncio.sleep(period_s)

    async def start(self) -> int:
        """Bind and start; returns the port (useful with port 0)."""
        c = self.config
        # The compiled CPU renderer's kernels, compiled or loaded from their disk cache before
        # the first request, so that no View reply waits for them.
        await asyncio.get_running_loop().run_in_executor(None, raster_numba.warm_up)
        interceptors = []
        if c.token:
            interceptors.append(TokenAuthInterceptor(c.token, open_health=c.open_health))
        # No maximum_concurrent_rpcs: gRPC's limit counts calls before authentication and
        # refuses health checks too; the admission's slots count admitted Bridge calls only.
        self.server = grpc.aio.server(interceptors=interceptors, options=grpc_options(c))
        self.service = _open_service(c)
        self.add_health_probe("generation", self.service.worker.health_problem)
        admission = Admission(self.slots, c.first_message_s, c.stream_idle_s)
        bridge = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"]
        self.server.add_generic_rpc_handlers(
            (
                admission.service(bridge, self.service),
                admission.service(HEALTH_DESCRIPTOR, _CheckedHealth(self.health), counted=False),
            )
        )
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
        self._unhealthy = self.unhealthy_reason()
        await self._set_health(self._unhealthy is None)
        self._health_task = asyncio.create_task(self._watch_health())
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
        await self._set_health(False)
        if self.server is not None:
            await self.server.stop(self.config.grace_s if grace is None else grace)
        if self.service is not None:
            self.service.close()

    async def wait(self) -> None:
        assert self.server is not None
        await self.server.wait_for_termination()


def _open_service(c: ServerConfig) -> BridgeService:
    """The service on its data dir; a full disk is one clear error, not a traceback."""
    try:
        service = BridgeService(c)
        # What the service's parts created with the process's umask (jobs.sqlite, ...).
        make_private(service.store.root)
        return service
    except (OSError, sqlite3.Error) as exc:
        where = Path(c.data_dir).resolve()
        if is_disk_full(exc):
            raise Ex4dError(
                f"cannot start: the disk holding the data directory {where} is full; free some "
                "space there or choose another --data-dir"
            ) from None
        if isinstance(exc, sqlite3.Error):
            raise Ex4dError(f"cannot start: the job database in {where} failed: {exc}") from None
        raise


def serve(config: ServerConfig, ready: Callable[[BridgeServer], None] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop gracefully. Render threads set their own torch
    thread count (``runtime.init_render_worker``); the generation worker keeps torch's default.
    The process creates files owner-only (umask 077): scenes, jobs.sqlite, job results."""
    os.umask(0o077)

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
