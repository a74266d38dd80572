"""``ex4d-bridge complete`` and ``ex4d-bridge completions``: completion layers from the CLI.

``complete SCENE_DIR`` generates along a coverage set of camera paths and fuses the generated
views into the scene's completion layers (:func:`~.complete.complete_scene`); it takes the same
model flags as ``generate`` and ``serve``. ``completions SCENE_DIR`` lists what is stored,
removes a generation, or exports the completion meshes of a frame. ``ex4d-bridge render
--completed`` renders any path through them. Heavy packages are imported by the handlers only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ...errors import InputError

DEPTH_FILL_CHOICES = ("propagate", "aligned")


def register(subparsers) -> None:
    from ...camera.coverage import COVERAGE_SETS
    from ...generation.command import (
        add_model_arguments,
        add_sampling_arguments,
        add_window_arguments,
    )
    from ...geometry.options import BACKENDS

    p = subparsers.add_parser(
        "complete",
        help="complete a scene: generate views along a set of camera paths and fuse them into "
        "completion layers, so any pose renders without holes",
        description="Generate novel views along a coverage set of camera paths (EX-4D, or the "
        "classical fallback without weights), lift the generated pixels into 3D completion "
        "layers and store them with the scene. Resumable: a path already stored is skipped.",
    )
    p.add_argument("scene", help="scene directory written by `reconstruct`")
    p.add_argument(
        "--coverage",
        nargs="+",
        default=["walk"],
        metavar="SET|PATHFILE",
        help=f"paths to generate along: a set ({', '.join(COVERAGE_SETS)}), pose files "
        "(.json/.csv) or trajectory specs (orbit:45, ...); default walk (14 paths)",
    )
    p.add_argument(
        "--generator",
        default="auto",
        choices=["auto", "ex4d", "classical"],
        help="auto: EX-4D when weights are given (--base/--adapter or $EX4D_WAN_BASE/"
        "$EX4D_ADAPTER), else the classical fallback",
    )
    p.add_argument(
        "--depth-fill",
        default="propagate",
        choices=DEPTH_FILL_CHOICES,
        help="depth of the generated pixels: propagate (from the hole's far side; no model) "
        "or aligned (a depth model on the generated frame, fitted to the known depth)",
    )
    p.add_argument(
        "--depth-model",
        metavar="DIR",
        default=None,
        help="local transformers depth checkpoint for --depth-fill aligned",
    )
    p.add_argument(
        "--margin", type=int, default=None, help="pixels lifted beyond each hole (default 2)"
    )
    p.add_argument(
        "--stride",
        type=int,
        default=1,
        help="generate and lift every k-th frame of each path only; the frames between borrow "
        "from the nearest completed ones (the render window): a coarser, k times cheaper "
        "completion (default 1: every frame)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="generate every path again, replacing stored completions (default: skip them)",
    )
    p.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="rasterizer for the renders (auto: nvdiffrast on CUDA when installed, the compiled "
        "CPU renderer on the CPU)",
    )
    p.add_argument("--geometry-device", default=None, help="torch device for rendering, e.g. cuda")
    add_model_arguments(p)
    add_sampling_arguments(p, "sampling (EX-4D; as for `generate`)")
    add_window_arguments(p, "long paths (as for `generate`)")
    p.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    p.set_defaults(handler=run_complete)

    c = subparsers.add_parser(
        "completions",
        help="list, remove or export a scene's completion layers",
        description="List the completion layers stored with a scene (default), remove the "
        "layers of a generation, or export the completion meshes of one frame.",
    )
    c.add_argument("scene", help="scene directory")
    act = c.add_mutually_exclusive_group()
    act.add_argument(
        "--remove",
        action="append",
        default=None,
        metavar="GEN",
        help="remove the completions of generation GEN (repeatable)",
    )
    act.add_argument(
        "--export",
        metavar="FILE",
        default=None,
        help="export frame --frame's completion meshes (.glb, or .ply)",
    )
    c.add_argument("--frame", type=int, default=0, help="frame to export (default 0)")
    c.add_argument(
        "--generation",
        action="append",
        default=None,
        metavar="GEN",
        help="export only these generations (repeatable; default all)",
    )
    c.add_argument(
        "--with-source",
        action="store_true",
        help="export the frame's source DW-Mesh (visible faces) too",
    )
    c.add_argument("--json", action="store_true", help="list as JSON")
    c.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    c.set_defaults(handler=run_completions)


def _say(args, msg: str) -> None:
    """Results are printed even with --quiet (which turns progress bars off)."""
    print(msg, flush=True)


def choose_completer(args: argparse.Namespace, say=print):
    """The completer ``--generator`` and the model flags ask for."""
    from ...generation.command import model_choice
    from ...generation.completer import ADAPTER_ENV, BASE_ENV
    from ...generation.interface import FallbackCompleter

    choice = model_choice(args)
    if args.generator == "classical":
        say("generator: the classical completion fallback (no diffusion)")
        return FallbackCompleter()
    if not choice.wants_model:
        if args.generator == "ex4d":
            raise InputError(
                f"--generator ex4d needs the EX-4D weights: --base and --adapter (or "
                f"{BASE_ENV}/{ADAPTER_ENV}), or --preset tiny for the random-weight test model"
            )
        say(
            f"no --base/--adapter given (nor {BASE_ENV}/{ADAPTER_ENV}): using the classical "
            "completion fallback (no diffusion)"
        )
        return FallbackCompleter()
    choice.check()
    if choice.base is None:
        say("tiny preset with random weights: tests the plumbing, the output is noise")
    completer = choice.load()
    info = completer.describe()
    say(
        f"EX-4D pipeline: preset {info['preset']} on {info['device']}, memory tier "
        f"{info['memory_tier']} ({info['dtype']})"
    )
    return completer


def run_complete(args: argparse.Namespace) -> int:
    from ...camera.coverage import coverage_paths
    from ...generation.command import sampling_params, window_options
    from ...geometry import RenderOptions
    from ..model import Scene
    from .complete import complete_scene, generation_id, generator_name
    from .lift import LiftOptions
    from .store import list_completions

    quiet = getattr(args, "quiet", False)
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    directory = Path(args.scene)
    scene = Scene.load(directory)
    if args.depth_fill == "aligned" and not args.depth_model:
        raise InputError("--depth-fill aligned needs --depth-model DIR (a local depth checkpoint)")
    if args.depth_model and args.depth_fill != "aligned":
        raise InputError("--depth-model is used only with --depth-fill aligned")
    if args.stride < 1:
        raise InputError(f"--stride must be >= 1, got {args.stride}")
    if args.margin is not None and args.margin < 0:
        raise InputError(f"--margin must be >= 0, got {args.margin}")
    paths = coverage_paths(
        args.coverage,
        min_depth=scene.min_depth(),
        num_frames=scene.num_frames,
        intrinsics=scene.intrinsics,
    )
    sampling = sampling_params(args)
    windows = window_options(args)
    render = RenderOptions(
        backend=args.backend, mask_style="reference", device=args.geometry_device
    )
    lift = {"depth_fill": args.depth_fill}
    if args.margin is not None:
        lift["margin"] = args.margin
    if args.depth_model:
        lift["depth_model"] = _depth_model(args.depth_model, args.model_device)
    lift_options = LiftOptions(**lift)

    completer = choose_completer(args, say)
    gen = generator_name(completer)
    stored = {i.generation for i in list_completions(directory)}
    todo = [p for p in paths if args.force or generation_id(p, gen) not in stored]
    say(
        f"completing {directory} along {len(paths)} paths with {gen} "
        f"({len(paths) - len(todo)} already stored{', regenerating' if args.force else ''}), "
        f"depth fill {args.depth_fill}"
    )
    report = complete_scene(
        scene,
        paths,
        completer,
        scene_dir=directory,
        lift_options=lift_options,
        sampling=sampling,
        render_options=render,
        generator=gen,
        progress=not quiet,
        resume=not args.force,
        stride=args.stride,
        windows=windows,
        work_dir=args.work_dir,
    )
    for p in report.paths:
        if p.status == "skipped":
            say(f"{p.generation:>32}: already stored, skipped")
        else:
            share = 100.0 * p.pixels / p.masked_pixels if p.masked_pixels else 0.0
            say(
                f"{p.generation:>32}: {p.layers} layers, {p.pixels} pixels lifted "
                f"({share:.0f}% of the masked ones) in {p.seconds:.1f} s"
            )
    others = report.other_generators
    if others:
        names = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        say(
            f"note: {len(others)} stored generations of other generators ({names}) still "
            f"render with these; remove them with `ex4d-bridge completions {directory} "
            f"--remove GEN` to see only {gen}'s"
        )
    say(
        f"completions stored in {directory}; render them with `ex4d-bridge render {directory} "
        "--completed --trajectory ...`"
    )
    return 0


def _depth_model(ref: str, device: str):
    from ..inputs import DepthSpec

    # A local checkpoint folder or a hub id, resolved as `reconstruct --depth-model` does.
    return DepthSpec(model=ref, device=device).estimator()


def run_completions(args: argparse.Namespace) -> int:
    import json

    from ..model import Scene
    from .store import list_completions, remove_completions

    directory = Path(args.scene)
    Scene.load(directory)  # a clear error when it is not a scene
    infos = list_completions(directory)
    known = {i.generation for i in infos}
    if args.remove:
        missing = [g for g in args.remove if g not in known]
        if missing:
            raise InputError(
                f"no generation {missing[0]!r} in {directory}; stored: "
                f"{', '.join(sorted(known)) or 'none'}"
            )
        for g in args.remove:
            remove_completions(directory, g)
            _say(args, f"removed {g}")
        return 0
    if args.export:
        return _export(args, directory, known)
    if args.json:
        print(json.dumps([_info_dict(i) for i in infos], indent=1))
        return 0
    if not infos:
        _say(args, f"no completions in {directory}; make them with `ex4d-bridge complete`")
        return 0
    _say(args, f"{'generation':<34}{'frames':>8}{'layers':>8}{'pixels':>11}  made")
    for i in infos:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(i.created_unix_s))
        _say(
            args,
            f"{i.generation:<34}{len(i.frames):>8}{i.num_layers:>8}{i.num_pixels:>11}  {made}",
        )
    _say(args, f"{len(infos)} generations, {sum(i.num_pixels for i in infos)} pixels")
    return 0


def _info_dict(info) -> dict:
    return {
        "generation": info.generation,
        "frames": [int(f) for f in info.frames],
        "num_layers": int(info.num_layers),
        "num_pixels": int(info.num_pixels),
        "meta": info.meta,
        "created_unix_s": info.created_unix_s,
    }


def _export(args, directory: Path, known: set[str]) -> int:
    from ..model import Scene
    from .complete import export_completions

    if not known:
        raise InputError(f"{directory} has no completions; run `ex4d-bridge complete` first")
    if args.generation:
        missing = [g for g in args.generation if g not in known]
        if missing:
            raise InputError(f"no generation {missing[0]!r} in {directory}")
    scene = Scene.load(directory)
    path = export_completions(
        scene,
        directory,
        args.export,
        frame=args.frame,
        generations=args.generation,
        with_source=args.with_source,
    )
    _say(args, f"wrote {path}")
    return 0
