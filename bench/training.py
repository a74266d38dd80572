"""Training benchmark. Prints JSON; ``--out FILE`` also writes it.

    python -m bench.training [--device auto|cpu|cuda] [--repeat 3] [--dataset-count 2]
                             [--try-without-checkpointing] [--dry-run-gpu-path] [--out FILE]

CPU (always):

* dataset making (synthetic scene, render + tracking masks, three videos written): samples per
  second at the tiny preset's 17x128x128 and at the training shape 49x512x512, with the time
  split into render masks, tracking masks and writing; baseline measured in the same run:
  writing the three videos alone (the floor of any dataset maker).
* the tiny model's training step (5x32x32 and 17x128x128 clips): seconds per optimizer step,
  the time of data + encoders (video decoding, 4 VAE encodes, CLIP) and of forward + backward
  on fixed inputs, with and without gradient checkpointing and with ``cache_encodings``;
  baseline: one no-grad forward of the same model on the same inputs.

GPU (``--device cuda``): the full Wan2.1-I2V-14B architecture with random bf16 weights (nothing
loaded; VAE fp32, CLIP fp16, prompt embedding pre-cached, as in the 80gb tier) trained by the
real :class:`~ex4d_bridge.training.trainer.Trainer` on a synthetic 49x512x512 sample with
gradient checkpointing and bf16 autocast: seconds per step (and its split, and with
``cache_encodings``), peak GPU memory (goal: fits in 80 GB at batch 1), baseline no-grad
forward. ``--try-without-checkpointing`` also tries a step without checkpointing (expected not
to fit; the error is recorded).

``--dry-run-gpu-path`` runs the GPU part's code with the tiny architecture on the CPU.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import emit, environment
from bench.generation import GIB, Device, Spec, build_on_device, dry_run_spec, full_spec

GOALS = {"gpu_peak_gb": 80.0}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


# ---------------------------------------------------------------------- CPU: dataset making


def bench_dataset(shapes: list[tuple[int, int]], count: int) -> dict:
    from ex4d_bridge.training.dataset import make_dataset, make_masks, synthetic_clips
    from ex4d_bridge.video import write_mask_video, write_video

    out = {}
    for frames, size in shapes:
        clips = list(synthetic_clips(count, num_frames=frames, size=size))
        render, tracking, write = [], [], []
        for clip in clips:  # the parts, one clip at a time
            rng = np.random.default_rng(0)
            t0 = time.perf_counter()
            masks, _ = make_masks(clip, rng, "render")
            render.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            make_masks(clip, rng, "tracking")
            tracking.append(time.perf_counter() - t0)
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                write_video(Path(d) / "t.mp4", clip.frames, clip.fps, crf=10)
                write_mask_video(Path(d) / "m.mp4", masks, clip.fps)
                write_video(Path(d) / "i.mp4", clip.frames * masks[..., None], clip.fps, crf=10)
                write.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            make_dataset(iter(clips), d, total=count, progress=False)
            total = time.perf_counter() - t0
        out[f"{frames}x{size}x{size}"] = {
            "samples": count,
            "samples_per_s": round(count / total, 4),
            "seconds_per_sample": round(total / count, 3),
            "split_s": {
                "render_masks": _median(render),
                "tracking_masks": _median(tracking),
                "write_videos": _median(write),
            },
            "baseline_write_videos_only_samples_per_s": round(1 / statistics.median(write), 3),
        }
    return out


# ---------------------------------------------------------------------- training steps


def time_trainer(trainer, device: Device, repeat: int) -> dict:
    """Step time, its split and peak memory of a built trainer; a no-grad forward baseline."""
    trainer.train_step()  # warm-up (allocations, kernels)
    device.sync()
    device.reset_peak()
    steps = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        trainer.train_step()
        device.sync()
        steps.append(time.perf_counter() - t0)
    peak = device.peak_gb()
    encode, forward_backward, forward = [], [], []
    for k in range(repeat):
        t0 = time.perf_counter()
        inputs = trainer.micro_inputs(k)
        device.sync()
        encode.append(time.perf_counter() - t0)
    for _ in range(repeat):
        t0 = time.perf_counter()
        trainer.accelerator.backward(trainer.loss(inputs))
        device.sync()
        forward_backward.append(time.perf_counter() - t0)
        trainer.optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        for _ in range(repeat):
            t0 = time.perf_counter()
            trainer.loss(inputs)
            device.sync()
            forward.append(time.perf_counter() - t0)
    fb, fwd = _median(forward_backward), _median(forward)
    return {
        "seconds_per_step": _median(steps),
        "split_s": {"data_and_encoders": _median(encode), "forward_backward": fb},
        "baseline_no_grad_forward_s": fwd,
        "forward_backward_over_forward": round(fb / max(fwd, 1e-9), 2),
        "peak_gb": peak,
    }


def _train_config(data: Path, out: Path, device: str, **kw):
    from ex4d_bridge.training.trainer import TrainConfig

    return TrainConfig(
        str(data),
        str(out),
        steps=10**6,
        lr=1e-4,
        warmup_steps=0,
        device=device,
        prompt_cache=None,
        progress=False,
        **kw,
    )


def bench_tiny_training(repeat: int) -> dict:
    from ex4d_bridge.generation import save_tiny_base
    from ex4d_bridge.training.dataset import make_dataset, synthetic_clips
    from ex4d_bridge.training.trainer import Trainer

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = save_tiny_base(root / "base")
        for frames, size in ((5, 32), (17, 128)):
            shape = f"{frames}x{size}x{size}"
            data = root / f"data-{shape}"
            make_dataset(synthetic_clips(2, num_frames=frames, size=size), data, progress=False)
            results = {}
            variants = {
                "gradient_checkpointing": (True, False),
                "no_checkpointing": (False, False),
                "gradient_checkpointing_cached_encodings": (True, True),
            }
            for name, (ckpt, cache) in variants.items():
                cfg = _train_config(
                    data,
                    root / f"run-{shape}-{name}",
                    "cpu",
                    gradient_checkpointing=ckpt,
                    cache_encodings=cache,
                )
                cfg.base = str(base)
                results[name] = time_trainer(Trainer(cfg), Device(torch.device("cpu")), repeat)
            out[shape] = results
    return out


# ---------------------------------------------------------------------- GPU: 14B, random


def random_pipeline(spec: Spec, device: torch.device, cache_dir: Path):
    """An EX4DPipeline of the given architecture with random weights (80gb tier placement:
    transformer bf16, VAE fp32, CLIP fp16 on CUDA) and the prompt embedding pre-cached, so
    the text encoder is never built."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from ex4d_bridge.generation import DEFAULT_PROMPT, EX4DPipeline, PipelineOptions
    from ex4d_bridge.generation.loading import image_processor_class
    from ex4d_bridge.generation.memory import resolve_plan
    from ex4d_bridge.generation.presets import custom_preset, match_preset
    from ex4d_bridge.generation.prompts import PromptCache, PromptEncoder
    from ex4d_bridge.generation.tiny import build_tokenizer

    cuda = device.type == "cuda"
    clip_dtype = torch.float16 if cuda else torch.float32
    plan = resolve_plan(
        "80gb" if cuda else "cpu", device, dtype="bf16", image_encoder_dtype=clip_dtype
    )
    size = spec.clip["image_size"]
    components = {
        "transformer": build_on_device(
            WanTransformer3DModel, spec.transformer, device, torch.bfloat16
        ),
        "vae": build_on_device(AutoencoderKLWan, spec.vae, device, torch.float32),
        "image_encoder": build_on_device(
            CLIPVisionModel, CLIPVisionConfig(**spec.clip), device, clip_dtype
        ),
        "image_processor": image_processor_class()(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        ),
        "tokenizer": build_tokenizer(),
    }
    cache = PromptCache(cache_dir, "random-weights")
    g = torch.Generator().manual_seed(0)
    cache.put(DEFAULT_PROMPT, torch.randn(1, 512, spec.transformer["text_dim"], generator=g))

    def no_text_encoder():
        raise RuntimeError("the benchmark's prompt embedding is pre-cached")

    prompts = PromptEncoder(components["tokenizer"], load_text_encoder=no_text_encoder, cache=cache)
    config = components["transformer"].config
    preset = match_preset(config) or custom_preset(config)
    # The generation stage's own assembly: LoRA injection, condition encoder, placement.
    return EX4DPipeline._assemble(
        components,
        prompts,
        preset=preset,
        device=device,
        plan=plan,
        adapter=None,
        options=PipelineOptions(device=device),
    )


def bench_gpu(spec: Spec, device: torch.device, repeat: int, without_checkpointing: bool) -> dict:
    from ex4d_bridge.training.dataset import make_dataset, synthetic_clips
    from ex4d_bridge.training.trainer import Trainer

    dev = Device(device)
    out: dict = {
        "card": torch.cuda.get_device_name(device) if dev.cuda else "cpu (dry run)",
        "card_memory_gb": round(torch.cuda.get_device_properties(device).total_memory / GIB, 1)
        if dev.cuda
        else None,
        "shape": f"{spec.frames}x{spec.height}x{spec.width}",
        "batch": 1,
        "dtype": "bf16 base weights, bf16 autocast, float32 adapter + AdamW state",
        "weights": "random, built from the config (nothing loaded)",
        "goals": GOALS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        data = root / "data"
        clips = synthetic_clips(1, num_frames=spec.frames, size=spec.height)
        make_dataset(clips, data, mask_kind="tracking", progress=False)
        out["dataset_seconds"] = round(time.perf_counter() - t0, 2)
        dev.reset_peak()
        pipe = random_pipeline(spec, device, root / "prompts")
        out["transformer_params"] = sum(p.numel() for p in pipe.transformer.parameters())
        out["adapter_params"] = sum(p.numel() for p in pipe.adapter_parameters().values())
        out["resident_weights_gb"] = dev.allocated_gb()
        cfg = _train_config(
            data, root / "run", device.type, mixed_precision="bf16", gradient_checkpointing=True
        )
        trainer = Trainer(cfg, pipeline=pipe)
        out["with_gradient_checkpointing"] = timed = time_trainer(trainer, dev, repeat)
        out["projected_1000_steps_hours"] = round(1000 * timed["seconds_per_step"] / 3600, 2)
        out["meets_goals"] = {"peak": timed["peak_gb"] <= GOALS["gpu_peak_gb"]}
        trainer.config.cache_encodings = True  # the one sample's source encodings, kept
        out["with_gradient_checkpointing_cached_encodings"] = time_trainer(trainer, dev, repeat)
        trainer.config.cache_encodings = False
        if without_checkpointing:
            pipe.transformer.disable_gradient_checkpointing()
            try:
                out["without_gradient_checkpointing"] = time_trainer(trainer, dev, 1)
            except torch.OutOfMemoryError as exc:
                out["without_gradient_checkpointing"] = f"out of memory: {exc}"[:300]
            finally:
                trainer.optimizer.zero_grad(set_to_none=True)
                gc.collect()
                dev.empty_cache()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dataset-count", type=int, default=2, help="samples per dataset shape")
    ap.add_argument("--skip-cpu", action="store_true", help="GPU part only")
    ap.add_argument("--skip-full-size-dataset", action="store_true", help="no 49x512x512 set")
    ap.add_argument("--try-without-checkpointing", action="store_true")
    ap.add_argument(
        "--dry-run-gpu-path",
        action="store_true",
        help="run the GPU part's code with the tiny architecture on the CPU (checks the code)",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    want_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    result: dict = environment("training", "diffusers", "peft", "accelerate")
    if not args.skip_cpu:
        shapes = [(17, 128)] + ([] if args.skip_full_size_dataset else [(49, 512)])
        result["cpu_dataset_making"] = bench_dataset(shapes, args.dataset_count)
        result["cpu_tiny_training"] = bench_tiny_training(args.repeat)
    if want_cuda:
        result["gpu_14b"] = bench_gpu(
            full_spec(), torch.device("cuda"), args.repeat, args.try_without_checkpointing
        )
    elif args.dry_run_gpu_path:
        result["gpu_path_dry_run_tiny_cpu"] = bench_gpu(
            dry_run_spec(), torch.device("cpu"), 1, args.try_without_checkpointing
        )
    else:
        result["gpu_14b"] = "not measured: no CUDA device in this run"
    emit(result, args.out)


if __name__ == "__main__":
    main()
