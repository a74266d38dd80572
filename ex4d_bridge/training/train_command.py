"""``ex4d-bridge train DATA --base PATH --out DIR``: train the EX-4D adapter.

Multi-GPU: ``accelerate launch -m ex4d_bridge train ...`` (one process per GPU). Heavy
packages are imported by the handler only.
"""

from __future__ import annotations

import argparse
import os


def register_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the EX-4D adapter (LoRA + condition encoder) on a make-dataset directory",
        description="Train only the EX-4D adapter of a frozen Wan2.1 I2V model with the "
        "flow-matching objective. Writes checkpoints under OUT/checkpoints, the loss log "
        "OUT/losses.jsonl and the final adapter OUT/adapter.safetensors (what `generate "
        "--adapter` reads). Multi-GPU: accelerate launch -m ex4d_bridge train ...",
    )
    p.add_argument("data", help="dataset directory written by `ex4d-bridge make-dataset`")
    p.add_argument("--out", required=True, help="run directory (checkpoints, log, adapter)")
    w = p.add_argument_group("model (local paths only; nothing is downloaded)")
    w.add_argument(
        "--base",
        metavar="PATH",
        default=os.environ.get("EX4D_WAN_BASE"),
        help="diffusers-format Wan2.1-I2V-14B-480P directory (default: $EX4D_WAN_BASE)",
    )
    w.add_argument(
        "--adapter",
        metavar="PATH",
        help="start from these adapter weights (ex4d.ckpt or .safetensors) instead of the "
        "zero-effect initialisation",
    )
    w.add_argument("--lora-rank", type=int, default=None, help="LoRA rank (default 16)")
    w.add_argument(
        "--lora-alpha",
        type=float,
        default=None,
        help="LoRA alpha (default: the rank, i.e. LoRA scale 1 as the reference)",
    )
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, default=1000, help="optimizer steps in total (1000)")
    o.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (1e-4)")
    o.add_argument("--warmup-steps", type=int, default=100, help="linear LR warmup (100)")
    o.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"])
    o.add_argument("--weight-decay", type=float, default=0.01)
    o.add_argument("--max-grad-norm", type=float, default=1.0, help="0 disables clipping")
    o.add_argument(
        "--grad-accum", type=int, default=1, help="micro-batches (of 1 clip) per optimizer step"
    )
    o.add_argument(
        "--timestep-sampling",
        default="shift",
        choices=["shift", "uniform"],
        help="shift: u ~ U(0,1) shifted like the sampler (default); uniform: sigma ~ U(0,1)",
    )
    o.add_argument("--shift", type=float, default=5.0, help="sigma shift (5, as sampling)")
    o.add_argument(
        "--erosion",
        default="reference",
        help="mask erosion of the inputs: reference (2..8 px per frame, as generation), none, "
        "or a kernel size",
    )
    o.add_argument("--prompt", default=None, help="training prompt (default: the reference one)")
    o.add_argument("--seed", type=int, default=0)
    r = p.add_argument_group("runtime")
    r.add_argument("--device", default="auto", help="auto, cpu or cuda (accelerate picks the GPU)")
    r.add_argument("--dtype", default=None, choices=["bf16", "fp32"], help="base weights' dtype")
    r.add_argument(
        "--mixed-precision",
        default=None,
        choices=["bf16", "no"],
        help="bf16 autocast (default on CUDA; adapter weights stay float32)",
    )
    r.add_argument(
        "--gradient-checkpointing",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="recompute transformer blocks in the backward pass (default on)",
    )
    r.add_argument(
        "--cache-encodings",
        action="store_true",
        help="keep each sample's target latents and image conditioning in RAM (~8 MB per "
        "49x512x512 sample): 2 of the 4 VAE encodes of a step are then done once per sample",
    )
    r.add_argument("--checkpoint-every", type=int, default=500, metavar="N")
    r.add_argument("--keep-checkpoints", type=int, default=2, metavar="N")
    r.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CHECKPOINT",
        help="continue the run in --out from its latest checkpoint (or the one given)",
    )
    r.add_argument(
        "--prompt-cache",
        default="default",
        metavar="DIR",
        help="prompt-embedding cache (default ~/.cache/ex4d-bridge/prompt-embeds; 'none' off)",
    )
    r.add_argument("--attention-backend", default=None, help="diffusers attention backend")
    p.add_argument(
        "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from ..generation.command import _parse_erosion
    from ..generation.prompts import DEFAULT_PROMPT
    from .trainer import TrainConfig, Trainer

    config = TrainConfig(
        data=args.data,
        out=args.out,
        base=args.base,
        adapter=args.adapter,
        steps=args.steps,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        grad_accum=args.grad_accum,
        lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha,
        timestep_sampling=args.timestep_sampling,
        shift=args.shift,
        erosion=_parse_erosion(args.erosion),
        prompt=DEFAULT_PROMPT if args.prompt is None else args.prompt,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
        mixed_precision=args.mixed_precision,
        gradient_checkpointing=args.gradient_checkpointing,
        cache_encodings=args.cache_encodings,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        resume=args.resume,
        prompt_cache=None if args.prompt_cache == "none" else args.prompt_cache,
        attention_backend=args.attention_backend,
        progress=not getattr(args, "quiet", False),
    )
    trainer = Trainer(config)
    start = trainer.step
    result = trainer.run()
    if trainer.accelerator.is_main_process:
        if result.losses:
            print(
                f"trained steps {start + 1}..{result.step}: loss {result.losses[0]:.4f} -> "
                f"{result.losses[-1]:.4f} (log: {trainer.out / 'losses.jsonl'})"
            )
        else:
            print(f"already at step {result.step} of {config.steps}: nothing to train")
        print(f"adapter: {result.adapter}")
    return 0
