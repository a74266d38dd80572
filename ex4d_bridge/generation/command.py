"""``ex4d-bridge generate``: render colour + mask videos -> completed novel-view videos.

Reads ``color_<tag>.mp4`` and ``mask_<tag>.mp4`` written by ``ex4d-bridge render`` and writes
``generated_<tag>.mp4`` next to them (or under ``--out``). Heavy packages are imported by the
handler only.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from ..errors import InputError

MEMORY_CHOICES = ("auto", "80gb", "48gb", "24gb", "12gb", "cpu")


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
        help="which render to complete, e.g. 90 for color_90.mp4 (repeatable; default: all)",
    )
    p.add_argument("--out", default=None, help="output directory (default: DIR)")
    w = p.add_argument_group("weights (local paths only; nothing is downloaded)")
    w.add_argument(
        "--base",
        metavar="PATH",
        help="diffusers-format Wan2.1-I2V-14B-480P directory "
        "(Wan-AI/Wan2.1-I2V-14B-480P-Diffusers)",
    )
    w.add_argument(
        "--adapter", metavar="PATH", help="EX-4D weights: ex4d.ckpt or an adapter .safetensors"
    )
    w.add_argument(
        "--preset",
        default=None,
        choices=["auto", "tiny", "wan2.1-i2v-14b-480p"],
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
    s = p.add_argument_group("sampling")
    s.add_argument("--steps", type=int, default=None, help="denoising steps (default 25)")
    s.add_argument("--guidance", type=float, default=None, help="CFG scale (default 5.0)")
    s.add_argument("--shift", type=float, default=None, help="flow-matching shift (default 5)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--prompt", default=None, help="default: the EX-4D reference prompt")
    s.add_argument("--negative-prompt", default=None)
    s.add_argument(
        "--size",
        default=None,
        help="generation size WxH (or N for NxN, or 'native'); renders are stretched to it "
        "like the reference (default: the preset's, 512x512)",
    )
    s.add_argument(
        "--erosion",
        default="reference",
        help="mask erosion: reference (random 2..8 px per frame), none, or a kernel size",
    )
    m = p.add_argument_group("memory and speed")
    m.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    m.add_argument(
        "--memory",
        default="auto",
        choices=MEMORY_CHOICES,
        help="memory tier: 80gb (all resident), 48gb (+ VAE tiling), 24gb (fp8 weights + "
        "model offload), "
        "12gb (block streaming); default: from the GPU's size",
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


def find_renders(directory: Path, tags: list[str] | None) -> list[tuple[str, Path, Path]]:
    """(tag, colour video, mask video) for the requested tags, or every pair found."""
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory (give the output folder of `render`)")
    if tags is None:
        tags = sorted(p.name[len("color_") : -len(".mp4")] for p in directory.glob("color_*.mp4"))
        if not tags:
            raise InputError(
                f"no color_<tag>.mp4 in {directory}: run `ex4d-bridge render` into it first"
            )
    found = []
    for tag in tags:
        color = directory / f"color_{tag}.mp4"
        masks = [directory / f"mask_{tag}{ext}" for ext in (".mp4", ".mkv")]
        mask = next((m for m in masks if m.is_file()), None)
        if not color.is_file() or mask is None:
            raise InputError(
                f"trajectory {tag!r}: need {color.name} and mask_{tag}.mp4 in {directory}"
            )
        found.append((tag, color, mask))
    return found


def _model_options(args: argparse.Namespace) -> dict:
    cache = None if args.prompt_cache == "none" else args.prompt_cache
    return {
        "device": args.device,
        "memory": args.memory,
        "dtype": args.dtype,
        "offload": args.offload,
        "fp8": args.fp8,
        "vae_tiling": args.vae_tiling,
        "text_encoder_device": args.text_encoder_device,
        "prompt_cache": cache,
        "extra_loras": [_parse_lora(x) for x in args.lora],
        "attention_backend": args.attention_backend,
        "compile": args.compile,
        "fuse_lora": args.fuse_lora,
    }


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..video import read_mask_video, read_video, write_video
    from .completer import ADAPTER_ENV, BASE_ENV, load_completer
    from .condition import resize_inputs
    from .interface import FallbackCompleter, GenerationRequest

    quiet = getattr(args, "quiet", False)
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    directory = Path(args.dir)
    renders = find_renders(directory, args.trajectory_tag)
    size = _parse_size(args.size)
    erosion = _parse_erosion(args.erosion)
    out_dir = Path(args.out) if args.out else directory
    out_dir.mkdir(parents=True, exist_ok=True)

    base = args.base or os.environ.get(BASE_ENV) or None
    adapter = args.adapter or os.environ.get(ADAPTER_ENV) or None
    if base is None and adapter is None and args.preset != "tiny":
        say(
            f"no --base/--adapter given (nor {BASE_ENV}/{ADAPTER_ENV}): using the classical "
            "completion fallback (no diffusion)"
        )
        completer = FallbackCompleter()
    else:
        options = _model_options(args)
        if base is None and args.preset == "tiny":
            from .pipeline import EX4DPipeline

            say("tiny preset with random weights: tests the plumbing, the output is noise")
            options.pop("prompt_cache")
            completer = EX4DPipeline.tiny(adapter=adapter, **options)
        else:
            completer = load_completer(base, adapter, preset=args.preset, **options)
        info = completer.describe()
        say(
            f"EX-4D pipeline: preset {info['preset']} on {info['device']}, memory tier "
            f"{info['memory_tier']} ({info['dtype']}); " + "; ".join(info["applied"])
        )

    if size is None and not completer.is_fallback:
        size = (completer.preset.width, completer.preset.height)
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
        if isinstance(size, tuple):
            colors, masks = resize_inputs(colors, masks, size[1], size[0])
        request = GenerationRequest(
            colors=colors,
            masks=masks,
            prompt=args.prompt,
            negative_prompt=args.negative_prompt,
            seed=args.seed,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
        )
        with tqdm(total=1, desc=f"generating {tag}", unit="step", disable=quiet) as bar:

            def progress(done: int, total: int, message: str, bar=bar) -> None:
                bar.total = total
                bar.n = done
                bar.set_postfix_str(message, refresh=True)

            if completer.is_fallback:
                frames = completer.generate(request, progress=progress)
            else:
                frames = completer(
                    request.colors,
                    request.masks,
                    prompt=args.prompt,
                    negative_prompt=args.negative_prompt,
                    num_inference_steps=args.steps,
                    guidance_scale=args.guidance,
                    shift=args.shift,
                    seed=args.seed,
                    mask_erosion=erosion,
                    progress=progress,
                )
        path = write_video(out_dir / f"generated_{tag}.mp4", frames, clip.fps)
        say(f"{tag:>8}: {path} ({frames.shape[0]} frames of {frames.shape[2]}x{frames.shape[1]})")
    return 0
