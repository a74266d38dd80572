"""The web gateway: the page's static files and a gRPC-Web endpoint that forwards each call to
a Bridge gRPC server, bytes for bytes (the server parses, validates, authenticates and answers
as it does for every client).

Only unary and server-streaming methods pass: a browser's fetch cannot stream a request body
(UploadScene and View stream requests; use a gRPC client for them). The gateway keeps the
server's rules: loopback unless a token is set, the token checked on every call (here, in
constant time, and again by the server it forwards to), request and reply size limits.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
from aiohttp import web

from ..errors import Ex4dError, InputError
from ..server.config import MIB, is_loopback
from ..wire import bridge_pb2
from . import grpcweb
from .descriptor import contract_json

STATIC_DIR = Path(__file__).parent / "static"
SERVICE = bridge_pb2.DESCRIPTOR.services_by_name["Bridge"]
UNAUTHENTICATED_MESSAGE = (
    "missing or wrong token: open the URL `ex4d-bridge view` printed (it carries the token after "
    "#token=) or send 'authorization: Bearer <token>'"
)
_STATIC_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".txt": "text/plain",
    ".json": "application/json",
}


@dataclass
class WebConfig:
    """Where the gateway listens and which Bridge server it forwards to."""

    target: str  # host:port of the Bridge gRPC server
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    # HTTPS for the page (headsets need a secure context for WebXR unless on localhost).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The Bridge server speaks TLS; optional PEM roots to trust (default: the system's).
    server_tls: bool = False
    server_ca: Path | None = None
    # The server's limits: requests it accepts, replies it may send.
    max_request_bytes: int = 8 * MIB
    max_reply_bytes: int = 16 * MIB
    # Seconds a call may take before the gateway cancels it (None: no limit).
    call_timeout_s: float | None = None

    def validate(self) -> None:
        if not (0 <= int(self.port) <= 65535):
            raise Ex4dError(f"--web-port {self.port} must be 0..65535 (0 picks a free port)")
        if not is_loopback(self.host) and not self.token:
            raise Ex4dError(
                f"refusing to serve the page on {self.host}, which other machines can reach, "
                "without a token: pass --token T (preferably with --tls-cert/--tls-key), or "
                "listen on 127.0.0.1"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise Ex4dError("--tls-cert and --tls-key go together: give both or neither")
        for flag, path in (
            ("--tls-cert", self.tls_cert),
            ("--tls-key", self.tls_key),
            ("--server-ca", self.server_ca),
        ):
            if path is not None and not Path(path).is_file():
                raise Ex4dError(f"{flag} {path} does not exist")


def _method_kinds() -> dict[str, bool]:
    """Method name -> whether it streams replies; client-streaming methods are left out."""
    return {m.name: m.server_streaming for m in SERVICE.methods if not m.client_streaming}


def _host_allowed(host_header: str | None) -> bool:
    """With a loopback gateway, only loopback Host headers: a page of another site whose name a
    DNS server rebinds to 127.0.0.1 sends its own name, and gets nothing."""
    if not host_header:
        return False
    h = host_header.strip()
    if h.startswith("["):
        name = h[1 : h.find("]")] if "]" in h else h
    else:
        name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    return is_loopback(name)


class WebGateway:
    """The aiohttp application; ``start`` binds and returns the port."""

    def __init__(self, config: WebConfig) -> None:
        config.validate()
        self.config = config
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._channel: grpc.aio.Channel | None = None
        self._methods = _method_kinds()
        self._expected = f"Bearer {config.token}".encode() if config.token else None
        self._contract = json.dumps(contract_json()).encode()

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls_cert else "http"
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}/"

    def _make_channel(self) -> grpc.aio.Channel:
        c = self.config
        options = [
            ("grpc.max_receive_message_length", int(c.max_reply_bytes)),
            ("grpc.max_send_message_length", int(c.max_request_bytes)),
        ]
        if c.server_tls:
            roots = Path(c.server_ca).read_bytes() if c.server_ca else None
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
            return grpc.aio.secure_channel(c.target, creds, options=options)
        return grpc.aio.insecure_channel(c.target, options=options)

    def _app(self) -> web.Application:
        app = web.Application(
            client_max_size=int(self.config.max_request_bytes) + 5,
            middlewares=[self._guard],
        )
        app.router.add_post("/ex4d.v1.Bridge/{method}", self._call)
        app.router.add_get("/contract.json", self._contract_json)
        app.router.add_get("/", self._static)
        app.router.add_get("/{name:[A-Za-z0-9_./-]+}", self._static)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if is_loopback(self.config.host) and not _host_allowed(request.headers.get("Host")):
            return web.Response(
                status=421,
                text="this gateway serves loopback names only (open the URL it printed)",
            )
        response = await handler(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    async def _contract_json(self, request: web.Request) -> web.Response:
        return web.Response(body=self._contract, content_type="application/json")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "index.html")
        path = (STATIC_DIR / name).resolve()
        if STATIC_DIR.resolve() not in path.parents or not path.is_file():
            raise web.HTTPNotFound(text=f"no file {name}")
        ctype = _STATIC_TYPES.get(path.suffix, "application/octet-stream")
        return web.Response(body=path.read_bytes(), content_type=ctype)

    def _authorised(self, request: web.Request) -> bool:
        if self._expected is None:
            return True
        got = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(got, self._expected)

    async def _call(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in grpcweb.CONTENT_TYPES:
            return web.Response(
                status=415, text=f"content type {ctype!r}: send application/grpc-web+proto"
            )
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "application/grpc-web+proto", "grpc-accept-encoding": ""},
        )
        await response.prepare(request)
        code, message = await self._forward(request, name, response)
        await response.write(grpcweb.trailer_frame(code, message))
        await response.write_eof()
        return response

    async def _forward(
        self, request: web.Request, name: str, response: web.StreamResponse
    ) -> tuple[int, str]:
        """Forward one call; returns the status for the trailers."""
        if name not in self._methods:
            streaming = any(m.name == name for m in SERVICE.methods)
            why = (
                f"ex4d.v1.Bridge/{name} streams requests, which browsers cannot send over "
                "gRPC-Web: use a gRPC client (ex4d_bridge.client, Unity, Node)"
                if streaming
                else f"unknown method ex4d.v1.Bridge/{name}"
            )
            return grpc.StatusCode.UNIMPLEMENTED.value[0], why
        if not self._authorised(request):
            return grpc.StatusCode.UNAUTHENTICATED.value[0], UNAUTHENTICATED_MESSAGE
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], (
                f"request over the limit of {self.config.max_request_bytes} bytes"
            )
        try:
            payload = grpcweb.single_message(body)
        except InputError as exc:
            return grpc.StatusCode.INVALID_ARGUMENT.value[0], str(exc)
        metadata = []
        auth = request.headers.get("Authorization")
        if auth:
            metadata.append(("authorization", auth))
        assert self._channel is not None
        path = f"/{SERVICE.full_name}/{name}"
        timeout = self.config.call_timeout_s
        if self._methods[name]:
            call = self._channel.unary_stream(path)(payload, metadata=metadata, timeout=timeout)
        else:
            call = self._channel.unary_unary(path)(payload, metadata=metadata, timeout=timeout)
        try:
            if self._methods[name]:
                async for message in call:
                    await response.write(grpcweb.frame(message))
            else:
                await response.write(grpcweb.frame(await call))
        except grpc.aio.AioRpcError as exc:
            return exc.code().value[0], exc.details() or ""
        except (ConnectionResetError, asyncio.CancelledError):
            call.cancel()  # the page went away: stop the server's work at its next frame
            raise
        return grpc.StatusCode.OK.value[0], ""

    async def start(self) -> int:
        c = self.config
        self._channel = self._make_channel()
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        ssl_ctx = None
        if c.tls_cert is not None and c.tls_key is not None:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(str(c.tls_cert), str(c.tls_key))
        site = web.TCPSite(self._runner, c.host, c.port, ssl_context=ssl_ctx, reuse_port=False)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise Ex4dError(f"cannot serve the page on {c.host}:{c.port}: {exc.strerror}") from None
        server = site._server  # aiohttp exposes the bound port only through the socket
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


class GatewayThread:
    """A gateway on a background thread with its own event loop (tests, ``view``)."""

    def __init__(self, config: WebConfig) -> None:
        self.gateway = WebGateway(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ex4d-web", daemon=True)

    @property
    def url(self) -> str:
        return self.gateway.url

    def start(self) -> GatewayThread:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.gateway.start(), self._loop).result(30)
        except BaseException:
            self._shutdown()
            raise
        return self

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(10)
        finally:
            self._shutdown()

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
