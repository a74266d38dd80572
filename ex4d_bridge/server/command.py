"""``ex4d-bridge serve``: the CLI plugin of the server stage (imports grpc only when run)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path

from ..errors import Ex4dError
from ..generation.command import add_model_arguments, model_choice
from ..geometry.options import BACKENDS

TOKEN_ENV = "EX4D_BRIDGE_TOKEN"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the gRPC bridge (scenes, geometry, View, generation jobs, recording)",
        description="Run the ex4d-bridge gRPC server (docs/server.md). Listens on loopback "
        "unless --host says otherwise; any other address needs --token.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=50051, help="port (default 50051; 0: any free)")
    p.add_argument("--data-dir", default="ex4d_data", help="scenes and jobs (default ./ex4d_data)")
    p.add_argument(
        "--token",
        default=None,
        help=f"require 'authorization: Bearer TOKEN' on every call (or set ${TOKEN_ENV}, or "
        "--token-file)",
    )
    p.add_argument("--token-file", default=None, help="read the token from this file")
    p.add_argument("--tls-cert", default=None, help="PEM certificate chain (with --tls-key)")
    p.add_argument("--tls-key", default=None, help="PEM private key")
    p.add_argument(
        "--open-health", action="store_true", help="answer gRPC health checks without a token"
    )
    p.add_argument("--no-reflection", action="store_true", help="disable server reflection")
    p.add_argument(
        "--depth-model",
        default=None,
        metavar="DIR",
        help="local transformers depth checkpoint for uploads that bring no depth",
    )
    # The EX-4D weights and memory flags of `generate` (and its environment variables); the
    # model loads on the generation worker when the first job runs.
    add_model_arguments(p, device_flag="--generation-device")
    p.add_argument(
        "--completer",
        default=None,
        metavar="MODULE:FACTORY",
        help="instead of --base/--adapter: a callable returning a NovelViewCompleter; "
        "default: the classical fallback when no weights are configured",
    )
    p.add_argument(
        "--completer-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument for the completer factory (repeatable; JSON values allowed)",
    )
    p.add_argument(
        "--no-fallback",
        action="store_true",
        help="refuse generation (FAILED_PRECONDITION) when no completer is configured",
    )
    p.add_argument(
        "--ray",
        default=None,
        metavar="auto|HOST:PORT",
        help="run generation jobs on a Ray cluster (pip install 'ex4d-bridge[ray]'): 'auto' "
        "joins the cluster this machine belongs to, HOST:PORT the head `ray start --head` "
        "printed; see docs/server.md, Deployment on a Ray cluster",
    )
    p.add_argument(
        "--ray-workers",
        type=int,
        default=0,
        help="generation actors, one job each at a time (0: one per --ray-gpus-per-worker "
        "GPUs of the cluster, or one CPU actor)",
    )
    p.add_argument(
        "--ray-gpus-per-worker",
        type=float,
        default=0.0,
        help="GPUs each actor holds (0: CPU-only actors, for the classical fallback or the "
        "tiny preset)",
    )
    p.add_argument(
        "--ray-cpus-per-worker", type=float, default=1.0, help="CPUs each actor holds (1)"
    )
    p.add_argument("--device", default="cpu", help="torch device for geometry (cpu, cuda, auto)")
    p.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="rasterizer for View and walkthroughs (auto: nvdiffrast on CUDA, else the compiled "
        "cpu one when numba is installed, else torch)",
    )
    p.add_argument("--render-workers", type=int, default=0, help="View render threads (0: auto)")
    p.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch CPU threads per render thread (0: the thread policy, one each; "
        "EX4D_THREADS also sets it)",
    )
    p.add_argument("--max-message-mib", type=float, default=8.0, help="largest request (8 MiB)")
    p.add_argument("--max-upload-mib", type=float, default=2048.0, help="largest upload")
    p.add_argument(
        "--max-scene-mib",
        type=float,
        default=1024.0,
        help="largest scene an upload may decode to: frames x height x width x 7 bytes "
        "(default 1024)",
    )
    p.add_argument(
        "--max-memory-gib",
        type=float,
        default=0.0,
        help="memory the requests running at once may use, by their estimates; larger "
        "requests are refused, concurrent ones wait (0: 60%% of the machine's memory)",
    )
    p.add_argument(
        "--completion-window",
        type=int,
        default=8,
        help="completed views fill holes from the completion layers of up to this many frames "
        "before and after the shown one (default 8; 2 renders about twice as fast on a CPU)",
    )
    p.add_argument(
        "--max-calls",
        type=int,
        default=256,
        help="calls in progress at once, counted after authentication (health never counts)",
    )
    p.add_argument(
        "--stream-idle-s",
        type=float,
        default=60.0,
        help="close View streams and uploads that send nothing for this long (default 60)",
    )
    p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="less output")
    p.set_defaults(handler=run)


def token_from_args(args: argparse.Namespace) -> str | None:
    """The bearer token of ``--token-file``, ``--token`` or $EX4D_BRIDGE_TOKEN, in that order
    (``serve`` and ``view`` take it alike)."""
    if args.token_file:
        try:
            return Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise Ex4dError(f"cannot read --token-file {args.token_file}: {exc}") from None
    return args.token or os.environ.get(TOKEN_ENV) or None


def completer_factory(spec: str, pairs: list[str]):
    """``module:callable`` plus KEY=VALUE strings -> a zero-argument factory (imports now,
    calls later on the generation worker)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise Ex4dError(f"--completer {spec!r} must look like package.module:factory")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise Ex4dError(f"--completer {spec}: {exc}") from None
    kwargs = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.isidentifier():
            raise Ex4dError(f"--completer-arg {pair!r} must look like key=value")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    return lambda: fn(**kwargs)


def completer_spec(args: argparse.Namespace):
    """What generation jobs run: ``--completer``, else the EX-4D weights of ``--base``/
    ``--adapter``/``--preset tiny`` (or ``EX4D_WAN_BASE``/``EX4D_ADAPTER``), checked now and
    loaded by the worker when the first job runs; None: the classical fallback."""
    choice = model_choice(args)
    if args.completer:
        if args.base or args.adapter or args.preset == "tiny":
            raise Ex4dError(
                "--completer and --base/--adapter/--preset tiny both choose the completer: "
                "give one of them"
            )
        return completer_factory(args.completer, args.completer_arg)
    if not choice.wants_model:
        return None
    choice.check()
    return choice.load


def build_config(args: argparse.Namespace):
    from .config import MIB, ServerConfig

    return ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir),
        token=token_from_args(args),
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        open_health=args.open_health,
        reflection=not args.no_reflection,
        max_receive_bytes=int(args.max_message_mib * MIB),
        max_upload_bytes=int(args.max_upload_mib * MIB),
        max_scene_bytes=int(args.max_scene_mib * MIB),
        max_memory_bytes=int(args.max_memory_gib * (1 << 30)),
        completion_window=args.completion_window,
        max_concurrent_rpcs=args.max_calls,
        stream_idle_s=args.stream_idle_s,
        render_workers=args.render_workers,
        torch_threads=args.torch_threads,
        render_backend=args.backend,
        device=args.device,
        depth_model=_depth_model_dir(args.depth_model),
        completer=completer_spec(args),
        allow_fallback=not args.no_fallback,
        ray=_ray_settings(args),
    )


def _ray_settings(args: argparse.Namespace):
    if not args.ray:
        return None
    from .ray_settings import RaySettings

    try:
        import ray  # noqa: F401 - only to fail now, not on the first job
    except ImportError:
        raise Ex4dError("--ray needs Ray on this machine: pip install 'ex4d-bridge[ray]'") from None
    return RaySettings(
        address=args.ray,
        workers=args.ray_workers,
        gpus_per_worker=args.ray_gpus_per_worker,
        cpus_per_worker=args.ray_cpus_per_worker,
    )


def run(args: argparse.Namespace) -> int:
    import logging

    from .app import serve

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = build_config(args)
    config.validate()

    def ready(server) -> None:
        c = server.config
        auth = "bearer token" if c.token else "none (loopback only)"
        tls = "on" if c.tls_cert else "off"
        print(
            f"ex4d-bridge serving on {c.host}:{server.port} (data {Path(c.data_dir).resolve()}, "
            f"auth {auth}, tls {tls}); Ctrl-C stops",
            flush=True,
        )

    serve(config, ready)
    return 0


def _depth_model_dir(ref: str | None) -> Path | None:
    """A local checkpoint folder, or a hub id resolved once at start-up (from the cache, or
    downloaded when the machine is online), so uploads never wait on the hub."""
    if not ref:
        return None
    from ..models import resolve_model

    return resolve_model(ref, kind="depth")
