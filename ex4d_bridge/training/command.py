"""``ex4d-bridge make-dataset`` (and, with the training module, ``train``)."""

from __future__ import annotations

import argparse

from ..errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "make-dataset",
        help="training samples (masked input, mask, target, cameras) from monocular videos",
    )
    p.add_argument("videos", nargs="*", help="video files or image folders")
    p.add_argument("--out", required=True, help="dataset directory (resumes if it exists)")
    p.add_argument(
        "--depth-model",
        metavar="DIR|ID",
        help="transformers depth checkpoint (needed for videos): a local directory or a hub id "
        "such as depth-anything/Depth-Anything-V2-Small-hf[@REVISION], fetched into the hub "
        "cache unless HF_HUB_OFFLINE=1",
    )
    p.add_argument(
        "--depth",
        nargs="+",
        metavar="FILE",
        help="depth you provide instead of a model: one .npy/.npz or 16-bit PNG folder per video, "
        "in the videos' order, each covering its whole video",
    )
    p.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also make N samples from the demo's synthetic scene",
    )
    p.add_argument("--frames", type=int, default=49, help="clip length, 4k+1 (default 49)")
    p.add_argument("--size", type=int, default=512, help="square frame size (default 512)")
    p.add_argument("--samples-per-video", type=int, default=1)
    p.add_argument("--mask-kind", default="both", choices=["render", "tracking", "both"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="device for the depth model")
    p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS)
    p.set_defaults(handler=run_make_dataset)
    try:
        from .train_command import register_train
    except ModuleNotFoundError:
        return
    register_train(sub)


def run_make_dataset(args: argparse.Namespace) -> int:
    from itertools import chain

    import numpy as np

    from .dataset import make_dataset, synthetic_clips, video_clips

    if args.frames < 1 or (args.frames - 1) % 4:
        raise InputError(f"--frames {args.frames} must be 4k+1 (e.g. 49) for the Wan VAE")
    if args.size < 16 or args.size % 16:
        raise InputError(f"--size {args.size} must be a positive multiple of 16")
    if not args.videos and not args.synthetic:
        raise InputError("give videos, or --synthetic N for samples from the synthetic scene")
    clips = []
    total = args.synthetic * args.samples_per_video
    if args.videos:
        if bool(args.depth_model) == bool(args.depth):
            raise InputError(
                "videos need depth: give --depth-model DIR|ID (a local checkpoint directory or "
                "a hub id, e.g. depth-anything/Depth-Anything-V2-Small-hf) or --depth FILE... "
                "(one per video), not both"
            )
        from ..scene import DepthSpec

        if args.depth:
            estimator = [DepthSpec(provided=d) for d in args.depth]
        else:  # one model for every video: built once, not per clip
            estimator = DepthSpec(model=args.depth_model, device=args.device).estimator()
        rng = np.random.default_rng(args.seed)
        clips.append(
            video_clips(
                args.videos,
                estimator,
                num_frames=args.frames,
                size=args.size,
                rng=rng,
                progress=not args.quiet,
            )
        )
        total += len(args.videos) * args.samples_per_video
    if args.synthetic:
        clips.append(synthetic_clips(args.synthetic, num_frames=args.frames, size=args.size))
    counts = make_dataset(
        chain(*clips),
        args.out,
        total=total,
        samples_per_clip=args.samples_per_video,
        mask_kind=args.mask_kind,
        seed=args.seed,
        progress=not args.quiet,
    )
    print(
        f"dataset {args.out}: {counts['written']} written, {counts['skipped']} already "
        f"there, {counts['total']} in index.jsonl"
    )
    return 0
