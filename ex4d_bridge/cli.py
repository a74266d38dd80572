"""The ``ex4d-bridge`` command.

Every command reports bad input as one line (``error: ...``) and exit status 2, never a
traceback; set ``EX4D_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import warnings
from pathlib import Path

from . import __version__
from .errors import Ex4dError


def _add_render_options(p: argparse.ArgumentParser) -> None:
    from .geometry.options import BACKENDS

    p.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="rasterizer: cpu (compiled, numba), torch, nvdiffrast (CUDA); auto: nvdiffrast "
        "on CUDA when installed, else cpu when numba is installed, else torch",
    )
    p.add_argument("--device", default=None, help="torch device for geometry, e.g. cuda")
    p.add_argument(
        "--mask-style",
        default="reference",
        choices=["reference", "face"],
        help="reference: masks shaped like the EX-4D reference (generation input); "
        "face: exact visibility",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ex4d-bridge",
        description="Turn a monocular video into an explorable 4D scene (EX-4D).",
    )
    parser.add_argument("--version", action="version", version=f"ex4d-bridge {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="synthetic scene -> DW-Mesh -> +-90 degree orbits -> "
        "completed novel views, in under two minutes on a CPU",
    )
    demo.add_argument("--out", default="ex4d_demo", help="output directory (default: ex4d_demo)")
    demo.add_argument("--size", type=int, default=512, help="frame width and height (default 512)")
    demo.add_argument("--frames", type=int, default=49, help="number of frames (default 49)")
    demo.add_argument(
        "--angles",
        default="90,-90",
        help="orbit angles in degrees, comma separated (default 90,-90)",
    )
    demo.add_argument(
        "--coverage",
        default="walk-small",
        help="coverage set `complete` runs on the demo scene with the classical generator "
        "(walk-small: 4 paths, default; walk, orbit, or none to skip)",
    )
    demo.add_argument(
        "--stride",
        type=int,
        default=None,
        help="complete every k-th frame of the coverage paths (default 4; 1 = every frame)",
    )
    _add_render_options(demo)

    rec = sub.add_parser("reconstruct", help="video -> per-frame depth -> scene directory")
    rec.add_argument("video", help="video file (mp4, mov, webm, mkv, avi) or image folder")
    src = rec.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--depth-model",
        metavar="DIR|ID",
        help="transformers depth-estimation model: a local checkpoint directory or a hub id "
        "such as depth-anything/Depth-Anything-V2-Small-hf[@REVISION], fetched into the hub "
        "cache unless HF_HUB_OFFLINE=1",
    )
    src.add_argument(
        "--depth",
        metavar="FILE",
        help="depth you provide: .npy, .npz or a folder of 16-bit PNGs, one map per frame",
    )
    rec.add_argument(
        "--depth-scale",
        type=float,
        default=1.0,
        help="multiplier for provided depth (e.g. 0.001 for millimetre PNGs)",
    )
    rec.add_argument("--out", required=True, help="scene directory to write")
    rec.add_argument("--frames", type=int, default=None, help="sample this many frames")
    rec.add_argument("--max-size", type=int, default=512, help="cap the longest side (512)")
    cam = rec.add_mutually_exclusive_group()
    cam.add_argument(
        "--focal",
        type=float,
        default=None,
        help="focal length in pixels at the output size (default: 500, reference)",
    )
    cam.add_argument("--fov", type=float, default=None, help="horizontal field of view, degrees")
    rec.add_argument("--device", default="auto", help="device for the depth model")
    rec.add_argument("--batch-size", type=int, default=4)

    ren = sub.add_parser(
        "render",
        help="render a scene along a camera path: colour video, mask video and camera files",
    )
    ren.add_argument("scene", help="scene directory written by `reconstruct`")
    ren.add_argument(
        "--trajectory",
        default="orbit:90",
        help="orbit:ANGLE, surround, yaw:ANGLE, dolly:DIST, spiral:RADIUS or a pose "
        "file (.json/.csv); default orbit:90",
    )
    ren.add_argument("--out", default=None, help="output directory (default: the scene directory)")
    ren.add_argument(
        "--export-mesh",
        default=None,
        metavar="FILE",
        help="also export frame 0's DW-Mesh (.glb or .ply)",
    )
    ren.add_argument(
        "--completed",
        action="store_true",
        help="render through the scene's completion layers (`ex4d-bridge complete`): writes "
        "color_<tag>.mp4 and holes_<tag>.mp4 (white = nothing there); pose i shows source "
        "frame i, or the frame of its time stamp",
    )
    ren.add_argument(
        "--window",
        type=int,
        default=None,
        help="with --completed: frames on either side whose completions fill what is still "
        "empty (default 8)",
    )
    _add_render_options(ren)
    # Commands of other stages live with their stage (a module with ``register(subparsers)``
    # that adds its parser and sets ``handler``); they import their heavy packages lazily.
    for name in PLUGIN_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name and name.startswith(exc.name)):  # the stage is absent
                raise
            continue
        module.register(sub)
    for p in (demo, rec, ren):  # also accepted after the command name
        p.add_argument(
            "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
        )
    return parser


def _say(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def _render_options(args: argparse.Namespace):
    from .geometry import RenderOptions

    return RenderOptions(backend=args.backend, mask_style=args.mask_style, device=args.device)


MESH_SUFFIXES = (".glb", ".ply")  # what geometry.export_mesh writes


def _check_out_dir(path: str | os.PathLike, flag: str) -> None:
    """Refuse an output directory that is an existing file, before any long work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise Ex4dError(f"{flag} {path} exists and is not a directory; name a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise Ex4dError(f"{flag} {path}: {parent} exists and is not a directory")
            break


def _check_mesh_path(path: str | None) -> None:
    if path is None:
        return
    if Path(path).suffix.lower() not in MESH_SUFFIXES:
        raise Ex4dError(
            f"--export-mesh {path}: cannot export a mesh as "
            f"{Path(path).suffix or 'no suffix'!r}; use {' or '.join(MESH_SUFFIXES)}"
        )
    if Path(path).is_dir():
        raise Ex4dError(f"--export-mesh {path} is a directory; name a .glb or .ply file")


def _warn_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _say_frame_fit(num_frames: int) -> None:
    """What the default generation preset will do with a render of this many frames, said before
    the long work; nothing when the (optional) generation package cannot be imported."""
    try:
        from .generation.frames import describe_frame_fit
        from .generation.presets import PRESETS
    except ImportError:
        return
    preset = PRESETS["wan2.1-i2v-14b-480p"]
    _say(describe_frame_fit(num_frames, preset.num_frames, preset.name))


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from .scene import DepthSpec, reconstruct

    _check_out_dir(args.out, "--out")
    depth = DepthSpec(
        model=args.depth_model,
        provided=args.depth,
        scale=args.depth_scale,
        device=args.device,
        batch_size=args.batch_size,
    )
    with warnings.catch_warnings():  # e.g. resized provided depth: one line each, as it happens
        warnings.simplefilter("default")
        warnings.showwarning = _warn_line
        scene = reconstruct(
            args.video,
            depth,
            focal_px=args.focal,
            fov_x_deg=args.fov,
            num_frames=args.frames,
            max_size=args.max_size,
            progress=not args.quiet,
        )
    out = scene.save(args.out)
    _say(
        f"scene: {scene.num_frames} frames of {scene.width}x{scene.height} at {scene.fps:g} fps, "
        f"nearest depth {scene.min_depth():.3f}"
    )
    _say(f"wrote {out / 'scene.json'} and {out / 'scene.npz'}")
    _say_frame_fit(scene.num_frames)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from .camera import parse_trajectory
    from .geometry import export_mesh
    from .scene import Scene, render_trajectory, save_trajectory_render

    # Every argument is checked before the first write or the long render.
    if args.out is not None:  # without --out the scene directory, checked by Scene.load
        _check_out_dir(args.out, "--out")
    _check_mesh_path(args.export_mesh)
    scene = Scene.load(args.scene)
    traj = parse_trajectory(
        args.trajectory, min_depth=scene.min_depth(), num_frames=scene.num_frames
    )
    _say_frame_fit(len(traj))
    if args.completed:
        return _render_completed(args, scene, traj)
    if args.window is not None:
        raise Ex4dError("--window applies only with --completed")
    result = render_trajectory(scene, traj, _render_options(args), progress=not args.quiet)
    out = Path(args.out or args.scene)
    paths = save_trajectory_render(result, out, scene.fps)
    if args.export_mesh:
        paths["mesh"] = export_mesh(scene.mesh(0), args.export_mesh)
    for kind, path in paths.items():
        _say(f"{kind:>12}: {path}")
    return 0


def _render_completed(args: argparse.Namespace, scene, traj) -> int:
    from .geometry import RenderOptions, export_mesh
    from .scene.completion.complete import render_completed_files

    paths = render_completed_files(
        scene,
        args.scene,
        traj,
        args.out or args.scene,
        render=RenderOptions(backend=args.backend, mask_style="face", device=args.device),
        window=args.window,
        progress=not args.quiet,
    )
    if args.export_mesh:
        paths["mesh"] = export_mesh(scene.mesh(0), args.export_mesh)
    for kind, path in paths.items():
        _say(f"{kind:>12}: {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    angles = []
    for part in args.angles.split(","):
        try:
            angles.append(float(part))
        except ValueError:
            raise Ex4dError(f"--angles must be numbers like 90,-90, got {part!r}") from None
    run_demo(
        Path(args.out),
        size=args.size,
        num_frames=args.frames,
        angles=angles,
        coverage=None if args.coverage.strip().lower() == "none" else args.coverage,
        **({} if args.stride is None else {"stride": args.stride}),
        options=_render_options(args),
        progress=not args.quiet,
    )
    return 0


COMMANDS = {"demo": cmd_demo, "reconstruct": cmd_reconstruct, "render": cmd_render}
PLUGIN_COMMANDS = (
    "ex4d_bridge.generation.command",
    "ex4d_bridge.scene.completion.command",
    "ex4d_bridge.server.command",
    "ex4d_bridge.training.command",
    "ex4d_bridge.web.command",
)


def _library_missing() -> str | None:
    """The base install is the torch-free client; the commands need the library's extras."""
    import importlib.util

    missing = [m for m in ("torch", "cv2", "av") if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"the ex4d-bridge commands need the library, and {', '.join(missing)} "
        "is not installed: pip install 'ex4d-bridge[all]' (the base install is the Python "
        "client only: from ex4d_bridge.client import BridgeClient)"
    )


def _os_error_message(exc: OSError, args: argparse.Namespace) -> str:
    """An OS error as one line that names the path (some, e.g. EPERM from a rename, carry
    none: then the output folder the command was writing is named)."""
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
        return f"{reason}: {exc.filename}{target}"
    out = getattr(args, "out", None)
    where = f" while writing under {out}" if out else ""
    return f"{reason}{where} (check that the folder exists, is writable and has free space)"


def main(argv: list[str] | None = None) -> int:
    problem = _library_missing()  # before the parser: the stages' parsers import the library
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args = _parser().parse_args(argv)
    from .runtime import apply_thread_policy, tune_allocator

    tune_allocator()
    start = time.perf_counter()
    try:
        # Commands that mostly render run one torch thread; the others keep torch's default (a
        # server's render threads set their own). Why, and EX4D_THREADS: ex4d_bridge.runtime.
        apply_thread_policy("render" if args.command in ("demo", "render") else "compute")
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        code = handler(args)
    except Ex4dError as exc:
        if os.environ.get("EX4D_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied, ...
        print(f"error: {_os_error_message(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    _say(f"done in {time.perf_counter() - start:.1f} s", args.quiet)
    return code


if __name__ == "__main__":
    sys.exit(main())
