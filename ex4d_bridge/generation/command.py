"""``ex4d-bridge generate``: render colour + mask videos -> completed novel-view videos.

Reads ``color_<tag>.mp4`` and ``mask_<tag>.mp4`` written by ``ex4d-bridge render`` and writes
``generated_<tag>.mp4`` next to them (or under ``--out``), one frame per render frame at the
render's size. Every render goes through :func:`~ex4d_bridge.generation.generate_views`, the
call the server's generation jobs make, with the same defaults.

The model flags (weights, memory tier and speed options) are defined once here and shared with
``ex4d-bridge serve`` (:func:`add_model_arguments`, :func:`model_choice`). Heavy packages are
imported by the handlers only.
"""

from __future__ import annotations

import argparse
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError

MEMORY_CHOICES = ("auto", "80gb", "48gb", "24gb", "12gb", "cpu")
PRESET_CHOICES = ("auto", "tiny", "wan2.1-i2v-14b-480p")


def add_model_arguments(
    p: argparse.ArgumentParser, *, device_flag: str = "--device", device_default: str = "auto"
) -> None:
    """The weights and memory/speed flags of ``generate`` and ``serve`` (``serve`` names the
    device flag ``--generation-device``: its ``--device`` is the geometry's)."""
    w = p.add_argument_group(
        "weights (local paths, or Hugging Face Hub ids fetched into the hub cache unless "
        "HF_HUB_OFFLINE=1)"
    )
    w.add_argument(
        "--base",
        metavar="PATH|ID",
        help="diffusers-format Wan2.1-I2V-14B-480P directory, or its hub id "
        "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers[@REVISION] (default: $EX4D_WAN_BASE)",
    )
    w.add_argument(
        "--adapter",
        metavar="PATH|ID::FILE",
        help="EX-4D weights: ex4d.ckpt or an adapter .safetensors, or a file of a hub repo, "
        "yihouxiang/EX-4D::ex4d.ckpt (default: $EX4D_ADAPTER)",
    )
    w.add_argument(
        "--preset",
        default=None,
        choices=PRESET_CHOICES,
        help="model preset (default: detected from --base); tiny without --base uses random "
        "weights (plumbing test, output is noise)",
    )
    w.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="PATH[:WEIGHT]",
        help="extra Wan LoRA, e.g. a 4-step distilled one (use with --steps 4 --guidance 1)",
    )
    m = p.add_argument_group("memory and speed")
    m.add_argument(
        device_flag,
        dest="model_device",
        default=device_default,
        help="where the model runs: auto, cpu or cuda[:N]",
    )
    m.add_argument(
        "--memory",
        default="auto",
        choices=MEMORY_CHOICES,
        help="memory tier: 80gb (all resident), 48gb (+ VAE tiling), 24gb (fp8 weights + "
        "model offload + VAE tiling), 12gb (block streaming + VAE tiling); default: from the "
        "GPU's size",
    )
    m.add_argument("--offload", default=None, choices=["none", "model", "group"])
    m.add_argument("--dtype", default=None, choices=["bf16", "fp16", "fp32"])
    m.add_argument(
        "--fp8", default=None, action=argparse.BooleanOptionalAction, help="fp8 weight storage"
    )
    m.add_argument("--vae-tiling", default=None, action=argparse.BooleanOptionalAction)
    m.add_argument("--text-encoder-device", default=None, choices=["cpu", "gpu"])
    m.add_argument(
        "--prompt-cache",
        default="default",
        metavar="DIR",
        help="prompt-embedding cache (default ~/.cache/ex4d-bridge/prompt-embeds; 'none' off)",
    )
    m.add_argument(
        "--attention-backend",
        default=None,
        help="diffusers attention backend, e.g. native, _native_cudnn, flash, sage",
    )
    m.add_argument("--compile", action="store_true", help="torch.compile the transformer blocks")
    m.add_argument(
        "--fuse-lora",
        action="store_true",
        help="merge the LoRAs into the base weights (a little faster per step)",
    )


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="complete rendered novel views with EX-4D video diffusion (or the classical "
        "fallback when no weights are given)",
        description="Complete the unseen regions of rendered novel views. Without --base and "
        "--adapter the classical (non-diffusion) completion is used.",
    )
    p.add_argument("dir", help="directory with color_<tag>.mp4 and mask_<tag>.mp4 from `render`")
    p.add_argument(
        "--trajectory-tag",
        action="append",
        default=None,
        metavar="TAG",
        help="which render to complete: its tag (90 for color_90.mp4) or the trajectory that "
        "rendered it (orbit:90 -> 90, surround -> 180) (repeatable; default: all)",
    )
    p.add_argument("--out", default=None, help="output directory (default: DIR)")
    add_model_arguments(p)
    add_sampling_arguments(p)
    add_window_arguments(p)
    p.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    p.set_defaults(handler=run)


def _parse_size(text: str | None) -> tuple[int, int] | None | str:
    if text is None:
        return None
    if text == "native":
        return "native"
    m = re.fullmatch(r"(\d+)(?:x(\d+))?", text.strip().lower())
    if not m:
        raise InputError(f"--size {text!r} must be WxH (e.g. 512x512), N or native")
    width = int(m.group(1))
    height = int(m.group(2) or width)
    return width, height


def _parse_lora(text: str) -> tuple[str, float]:
    path, sep, weight = text.rpartition(":")
    if sep and path:
        try:
            return path, float(weight)
        except ValueError:
            pass  # a ':' that belongs to the path
    return text, 1.0


def _parse_erosion(text: str) -> str | int | None:
    if text in ("reference", "none"):
        return None if text == "none" else text
    try:
        return int(text)
    except ValueError:
        raise InputError(f"--erosion {text!r} must be reference, none or an integer") from None


def _render_tags(directory: Path) -> list[str]:
    return sorted(p.name[len("color_") : -len(".mp4")] for p in directory.glob("color_*.mp4"))


def find_renders(directory: Path, tags: list[str] | None) -> list[tuple[str, Path, Path]]:
    """(tag, colour video, mask video) for the requested renders, or every pair found. A
    request is a file tag (``90``, ``180``) or the trajectory that rendered it (``orbit:90``,
    ``surround``: mapped to its tag by :func:`~ex4d_bridge.scene.trajectory_tag`); a missing
    one is refused with the tags that exist in ``directory``."""
    from ..scene.trajectory_render import trajectory_tag

    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory (give the output folder of `render`)")
    existing = _render_tags(directory)
    if tags is None:
        tags = existing
        if not tags:
            raise InputError(
                f"no color_<tag>.mp4 in {directory}: run `ex4d-bridge render` into it first"
            )
    found = []
    for asked in tags:
        tag = asked if asked in existing else trajectory_tag(asked)
        color = directory / f"color_{tag}.mp4"
        masks = [directory / f"mask_{tag}{ext}" for ext in (".mp4", ".mkv")]
        mask = next((m for m in masks if m.is_file()), None)
        if not color.is_file() or mask is None:
            named = repr(asked) if tag == asked else f"{asked!r} (tag {tag!r})"
            there = ", ".join(existing) if existing else "none (run `ex4d-bridge render` first)"
            raise InputError(
                f"trajectory {named}: need {color.name} and mask_{tag}.mp4 in {directory}; "
                f"tags there: {there}"
            )
        found.append((tag, color, mask))
    return found


@dataclass(frozen=True)
class ModelChoice:
    """Which completer the model flags (and ``EX4D_WAN_BASE``/``EX4D_ADAPTER``) ask for."""

    base: str | None
    adapter: str | None
    preset: str | None
    options: Any  # PipelineOptions (imported lazily: it needs torch)

    @property
    def wants_model(self) -> bool:
        """False: nothing configured, so the classical fallback."""
        return self.base is not None or self.adapter is not None or self.preset == "tiny"

    def check(self) -> None:
        """Fail now, not when the first job runs, on a half or missing configuration."""
        from .completer import check_weights

        check_weights(self.base, self.adapter, self.preset)

    def load(self):
        """The configured completer (the pipeline loads now: minutes for the 14B model)."""
        from .completer import load_completer

        return load_completer(self.base, self.adapter, preset=self.preset, options=self.options)


def pipeline_options(args: argparse.Namespace, *, tiny: bool = False):
    """The :class:`~ex4d_bridge.generation.PipelineOptions` of the model flags."""
    from .options import PipelineOptions

    cache = None if args.prompt_cache == "none" else args.prompt_cache
    if tiny and cache == "default":
        cache = None  # random weights: nothing worth caching in the user's cache
    return PipelineOptions(
        device=args.model_device,
        memory=args.memory,
        dtype=args.dtype,
        offload=args.offload,
        fp8=args.fp8,
        vae_tiling=args.vae_tiling,
        text_encoder_device=args.text_encoder_device,
        prompt_cache=cache,
        extra_loras=tuple(_parse_lora(x) for x in args.lora),
        attention_backend=args.attention_backend,
        compile=args.compile,
        fuse_lora=args.fuse_lora,
    )


def model_choice(args: argparse.Namespace) -> ModelChoice:
    from .completer import configured_weights

    base, adapter = configured_weights(args.base, args.adapter)
    tiny = base is None and args.preset == "tiny"
    return ModelChoice(
        None if base is None else str(base),
        None if adapter is None else str(adapter),
        args.preset,
        pipeline_options(args, tiny=tiny),
    )


def add_sampling_arguments(parser, title: str = "sampling") -> None:
    """The sampling flags (read back by ``sampling_params``), shared by `generate` and
    `complete`."""
    s = parser.add_argument_group(title)
    s.add_argument("--steps", type=int, default=None, help="denoising steps (default 25)")
    s.add_argument("--guidance", type=float, default=None, help="CFG scale (default 5.0)")
    s.add_argument("--shift", type=float, default=None, help="flow-matching shift (default 5)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--prompt", default=None, help="default: the EX-4D reference prompt")
    s.add_argument("--negative-prompt", default=None)
    s.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frames the model generates (4k+1; default the preset's, 49); a render of another "
        "length is resampled to it like the reference and the result mapped back",
    )
    s.add_argument(
        "--size",
        default=None,
        help="generation size WxH (or N for NxN, or 'native'); renders are stretched to it "
        "like the reference and the result back (default: the preset's, 512x512)",
    )
    s.add_argument(
        "--erosion",
        default="reference",
        help="mask erosion: reference (random 2..8 px per frame), none, or a kernel size",
    )


def add_window_arguments(parser, title: str = "long clips") -> None:
    """The long-clip flags (read back by ``window_options``), shared by `generate` and
    `complete`."""
    from .window_plan import DEFAULT_OVERLAP, LONG_CLIP_MODES

    g = parser.add_argument_group(title)
    g.add_argument(
        "--long-clip",
        default=None,
        choices=LONG_CLIP_MODES,
        help="a render longer than the model's frame count: sampled (the reference: sample it "
        "down to the model's frames and map the result back) or windowed (generate every "
        "frame in overlapping windows joined by a cross-fade); default sampled, windowed "
        "when --window or --overlap is given",
    )
    g.add_argument(
        "--window",
        type=int,
        default=None,
        metavar="N",
        help="frames per window (4k+1; default the model's frame count, 49; implies windowed)",
    )
    g.add_argument(
        "--overlap",
        type=int,
        default=None,
        metavar="K",
        help=f"frames two neighbouring windows share (default {DEFAULT_OVERLAP}; implies windowed)",
    )
    g.add_argument(
        "--work-dir",
        default=None,
        metavar="DIR",
        help="where finished windows are kept (one folder per render or path), "
        "so a re-run after a crash or Ctrl-C skips them; a render's folder is removed once its "
        "output is written (default: the output folder)",
    )


def window_options(args: argparse.Namespace):
    """The :class:`~ex4d_bridge.generation.WindowOptions` of the long-clip flags."""
    from .window_plan import WindowOptions

    mode = args.long_clip
    if mode is None:
        windowed = args.window is not None or args.overlap is not None
        mode = "windowed" if windowed else "sampled"
    elif mode == "sampled" and (args.window is not None or args.overlap is not None):
        raise InputError("--window and --overlap need --long-clip windowed (or no --long-clip)")
    if args.work_dir is not None and mode != "windowed":
        raise InputError("--work-dir keeps the windows of --long-clip windowed; add it")
    options = WindowOptions(mode=mode, size=args.window, overlap=args.overlap)
    options.check()
    return options


def sampling_params(args: argparse.Namespace):
    from .interface import SamplingParams

    params = SamplingParams(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        shift=args.shift,
        mask_erosion=_parse_erosion(args.erosion),
        num_frames=args.frames,
        size=_parse_size(args.size),
    )
    params.check()
    return params


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..video import read_mask_video, read_video, write_video
    from .completer import ADAPTER_ENV, BASE_ENV
    from .interface import FallbackCompleter, GenerationRequest, generate_views

    quiet = getattr(args, "quiet", False)
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    directory = Path(args.dir)
    renders = find_renders(directory, args.trajectory_tag)
    sampling = sampling_params(args)
    windows = window_options(args)
    out_dir = Path(args.out) if args.out else directory
    out_dir.mkdir(parents=True, exist_ok=True)

    choice = model_choice(args)
    if not choice.wants_model:
        say(
            f"no --base/--adapter given (nor {BASE_ENV}/{ADAPTER_ENV}): using the classical "
            "completion fallback (no diffusion)"
        )
        completer = FallbackCompleter()
    else:
        choice.check()
        if choice.base is None:
            say("tiny preset with random weights: tests the plumbing, the output is noise")
        completer = choice.load()
        info = completer.describe()
        say(
            f"EX-4D pipeline: preset {info['preset']} on {info['device']}, memory tier "
            f"{info['memory_tier']} ({info['dtype']}); " + "; ".join(info["applied"])
        )

    for tag, color_path, mask_path in renders:
        clip = read_video(color_path)
        masks = read_mask_video(mask_path)
        colors = clip.frames
        if masks.shape[0] != colors.shape[0] or masks.shape[1:] != colors.shape[1:3]:
            raise InputError(
                f"{color_path.name} is {colors.shape[0]} frames of {colors.shape[2]}x"
                f"{colors.shape[1]} but {mask_path.name} is {masks.shape[0]} frames of "
                f"{masks.shape[2]}x{masks.shape[1]}: re-render the trajectory"
            )
        work_dir = None
        if windows.windowed:
            # One folder per render: the windows of another render are never mixed in.
            root = Path(args.work_dir) if args.work_dir else out_dir
            work_dir = root / f"generated_{tag}.windows"
        request = GenerationRequest(
            colors=colors, masks=masks, sampling=sampling, windows=windows, work_dir=work_dir
        )
        with tqdm(total=1, desc=f"generating {tag}", unit="step", disable=quiet) as bar:

            def progress(done: int, total: int, message: str, bar=bar) -> None:
                bar.total = total
                bar.n = done
                bar.set_postfix_str(message, refresh=True)

            frames = generate_views(completer, request, progress=progress)
        path = write_video(out_dir / f"generated_{tag}.mp4", frames, clip.fps)
        count, height, width = frames.shape[:3]
        if work_dir is not None:
            del frames  # a memory map of the work directory's output
            shutil.rmtree(work_dir, ignore_errors=True)  # its windows are in the video now
        say(f"{tag:>8}: {path} ({count} frames of {width}x{height})")
    return 0
