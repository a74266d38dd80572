"""``ex4d-bridge view SCENE_DIR_OR_SERVER``: the web viewer (docs/web.md).

A scene directory starts a Bridge server on loopback holding that scene (a throw-away data
folder unless ``--data-dir``); a ``host:port`` connects to a running server. Either way the
page and its gRPC-Web gateway are served on loopback and the URL is printed.
"""

from __future__ import annotations

import argparse
import re
import secrets
import signal
import tempfile
import threading
import webbrowser
from pathlib import Path

from ..errors import Ex4dError

TOKEN_ENV = "EX4D_BRIDGE_TOKEN"  # as ``serve``'s; this module stays light to import

_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "view",
        help="look at a scene in the browser (WebGL2, WebXR on a headset)",
        description="Serve the web viewer for a scene directory (a Bridge server is started on "
        "loopback with it) or for a running server (HOST:PORT), and print its URL.",
    )
    p.add_argument("source", help="scene directory (reconstruct/demo output) or HOST:PORT")
    p.add_argument("--scene", default="", help="with HOST:PORT: the scene id (default: newest)")
    p.add_argument("--host", default="127.0.0.1", help="address of the page (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port of the page (default 8080; 0: any)")
    p.add_argument(
        "--token",
        default=None,
        help=f"bearer token of the server (or ${TOKEN_ENV}, or --token-file); with a scene "
        "directory a random one is made, and the printed URL carries it",
    )
    p.add_argument("--token-file", default=None, help="read the token from this file")
    p.add_argument("--tls-cert", default=None, help="PEM certificate: serve the page over HTTPS")
    p.add_argument("--tls-key", default=None, help="PEM private key (with --tls-cert)")
    p.add_argument("--server-tls", action="store_true", help="the server at HOST:PORT uses TLS")
    p.add_argument("--server-ca", default=None, help="PEM roots for --server-tls (default: system)")
    p.add_argument("--data-dir", default=None, help="scene directory: keep the server data here")
    p.add_argument("--max-message-mib", type=float, default=8.0, help="largest request (8 MiB)")
    p.add_argument("--max-reply-mib", type=float, default=16.0, help="largest reply (16 MiB)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(handler=run)


def _is_scene_dir(path: Path) -> bool:
    return path.is_dir() and (path / "scene.json").is_file()


def page_url(base: str, scene_id: str, token: str | None, query: str = "") -> str:
    """The page's URL; scene and token travel in the fragment, which browsers never send.
    ``query``: page options, e.g. ``color=png&depth=float32`` for exact frames."""
    base = f"{base}?{query}" if query else base
    parts = [f"scene={scene_id}"] if scene_id else []
    if token:
        parts.append(f"token={token}")
    return base + ("#" + "&".join(parts) if parts else "")


class LocalScene:
    """A Bridge server on loopback holding one scene directory (and its completions)."""

    def __init__(self, scene_dir: Path, data_dir: Path | None, token: str) -> None:
        from ..server.app import ServerThread
        from ..server.config import ServerConfig

        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="ex4d-view-")
        data = Path(data_dir) if data_dir else Path(self._tmp.name)
        self.server = ServerThread(ServerConfig(port=0, data_dir=data, token=token))
        self.scene_dir = scene_dir
        self.scene_id = ""

    def start(self) -> LocalScene:
        from ..scene import Scene
        from ..scene.completion import load_completions

        scene = Scene.load(self.scene_dir)
        completions = load_completions(self.scene_dir)
        self.server.start()
        try:
            store = self.server.service.store
            record, _ = store.put(scene, name=self.scene_dir.name, depth_source="scene directory")
            if completions.generations:
                store.put_completions(record.scene_id, completions)
        except BaseException:
            self.stop()
            raise
        self.scene_id = record.scene_id
        return self

    @property
    def target(self) -> str:
        return self.server.target

    def stop(self) -> None:
        self.server.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def run(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("aiohttp") is None:
        raise Ex4dError("ex4d-bridge view needs aiohttp: pip install 'ex4d-bridge[web]'")
    from ..server.command import token_from_args
    from ..server.config import MIB
    from .gateway import GatewayThread, WebConfig

    source = Path(args.source)
    token = token_from_args(args)
    local = None
    if _is_scene_dir(source):
        # A token even on loopback: other users of this machine cannot read the scene.
        token = token or secrets.token_urlsafe(24)
        print(f"loading {source} ...", flush=True)
        local = LocalScene(source, Path(args.data_dir) if args.data_dir else None, token).start()
        target, scene_id = local.target, local.scene_id
    elif _ADDRESS.match(args.source):
        target, scene_id = args.source, args.scene
    elif source.is_dir():
        raise Ex4dError(f"{source} holds no scene.json: give a scene directory or HOST:PORT")
    else:
        raise Ex4dError(f"{args.source} is neither a scene directory nor a HOST:PORT address")
    config = WebConfig(
        target=target,
        host=args.host,
        port=args.port,
        token=token,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        server_tls=args.server_tls,
        server_ca=Path(args.server_ca) if args.server_ca else None,
        max_request_bytes=int(args.max_message_mib * MIB),
        max_reply_bytes=int(args.max_reply_mib * MIB),
    )
    stop = threading.Event()
    try:
        with GatewayThread(config) as gateway:
            url = page_url(gateway.url, scene_id, token)
            print(f"ex4d-bridge viewer: {url}", flush=True)
            print("(the token after #token= is the key to the scene; Ctrl-C stops)", flush=True)
            if args.open:
                webbrowser.open(url)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
    finally:
        if local is not None:
            local.stop()
    return 0
