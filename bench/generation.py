"""Generation benchmark. Prints JSON; ``--out FILE`` also writes it.

    python -m bench.generation [--device auto|cpu|cuda] [--repeat 3] [--no-compile] [--out FILE]

CPU (always): the ``tiny`` preset at its default size (17 frames, 128x128, CFG): seconds per
denoising step of our pipeline against diffusers' stock ``WanImageToVideoPipeline`` on the same
weights (the baseline, measured in the same run), and one default 25-step call end to end.

GPU (``--device cuda``): the full Wan2.1-I2V-14B architecture built from its config with
random bf16 weights (nothing is loaded) plus the EX-4D adapter (rank-16 LoRA, condition
encoder), at 49x512x512 (13 latent frames, 13,312 tokens): seconds per transformer forward
with and without the adapter (baseline), per CFG step, with each usable attention backend,
with the LoRA fused and with regional compile; peak GPU memory with the VAE and CLIP image
encoder resident and the text encoder off the GPU (the 80gb tier); the VAE's encode (x3) +
decode time; the projected 25-step clip; then the 24gb tier (fp8 weight storage) forward
time and peak.

``--dry-run-gpu-path`` runs the GPU part's code with the tiny architecture on the CPU, so the
code is checked where no GPU is lent.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from bench.common import emit, environment, timed
from ex4d_bridge.generation.adapter import conditioned_forward

GIB = 1 << 30
GOALS = {"gpu_forward_s": 0.7, "gpu_clip_25_steps_s": 35.0, "gpu_peak_gb": 40.0}


# ---------------------------------------------------------------------- CPU: tiny preset


def bench_cpu(repeat: int) -> dict:
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline
    from PIL import Image

    from ex4d_bridge.generation import DEFAULT_NEGATIVE_PROMPT, DEFAULT_PROMPT, EX4DPipeline
    from ex4d_bridge.generation.pipeline import reference_sigmas
    from ex4d_bridge.generation.tiny import build_tiny_components

    pipe = EX4DPipeline.tiny(seed=0)
    preset = pipe.preset
    t, h, w = preset.num_frames, preset.height, preset.width
    rng = np.random.default_rng(0)
    colors = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    masks = np.ones((t, h, w), bool)
    masks[1:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = False
    colors[~masks] = 0

    stock = WanImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=preset.shift),
        **build_tiny_components(seed=0),
    )
    stock.set_progress_bar_config(disable=True)
    set_timesteps = stock.scheduler.set_timesteps
    stock.scheduler.set_timesteps = lambda n, device=None: set_timesteps(
        n, device=device, sigmas=reference_sigmas(n)
    )
    image = Image.fromarray(colors[0])

    steps = 12

    def ours() -> list[float]:
        stamps: list[float] = []
        pipe(
            colors,
            masks,
            num_inference_steps=steps,
            output_type="latent",
            progress=lambda done, total, msg: stamps.append(time.perf_counter()),
        )
        return stamps[:-1]  # the last report is "done", not a step

    def baseline() -> list[float]:
        stamps: list[float] = []

        def on_step(pipeline, i, t, kwargs):
            stamps.append(time.perf_counter())
            return {}

        stock(
            image=image,
            prompt=DEFAULT_PROMPT,
            negative_prompt=DEFAULT_NEGATIVE_PROMPT,
            height=h,
            width=w,
            num_frames=t,
            num_inference_steps=steps,
            guidance_scale=preset.guidance_scale,
            generator=torch.Generator().manual_seed(0),
            output_type="latent",
            callback_on_step_end=on_step,
        )
        return stamps

    # Per step: intervals between step callbacks, the two pipelines interleaved so that load
    # from elsewhere on a shared CPU hits both alike; the median and the best are reported.
    runs = {"ours": ours, "baseline_diffusers_stock_i2v": baseline}
    intervals: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():
        fn()  # warm-up
    for _ in range(repeat):
        for name, fn in runs.items():
            intervals[name] += np.diff(fn()).tolist()
    per_step = {name: round(statistics.median(v), 5) for name, v in intervals.items()}
    best_step = {name: round(min(v), 5) for name, v in intervals.items()}
    end_to_end = timed(lambda: pipe(colors, masks), 1)
    return {
        "preset": "tiny",
        "shape": f"{t}x{h}x{w}",
        "cfg": True,
        "seconds_per_step": per_step,
        "seconds_per_step_best": best_step,
        "adapter_overhead": round(best_step["ours"] / best_step["baseline_diffusers_stock_i2v"], 3),
        "seconds_25_steps_end_to_end": end_to_end,
    }


# ---------------------------------------------------------------------- GPU: 14B from config


def _random_init_(model: torch.nn.Module, seed: int = 0) -> None:
    """Weights drawn like a trained model's scale (1/sqrt(fan_in)); norms 1, biases 0."""
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = math.prod(p.shape[1:])
                p.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=g)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def build_on_device(cls, config: dict, device: torch.device, dtype: torch.dtype):
    """A diffusers/transformers model from its config, allocated directly on ``device`` in
    ``dtype`` (fp32 modules kept), without materialising it on the CPU."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = cls(**config) if isinstance(config, dict) else cls(config)
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, p in model.named_parameters():
        p.data = p.data.to(torch.float32 if keep.intersection(name.split(".")) else dtype)
    buffers = {n: b.detach().clone() for n, b in model.named_buffers()}  # rope tables are real
    model.to_empty(device=device)
    with torch.no_grad():
        for n, b in buffers.items():
            model.get_buffer(n).copy_(b.to(device))
    _random_init_(model)
    return model.eval()


ATTENTION_BACKENDS = {  # label -> diffusers backend name (local kernels only)
    "native": "native",
    "native_cudnn": "_native_cudnn",
    "native_flash": "_native_flash",
    "flash": "flash",
    "sage": "sage",
}


@dataclass(frozen=True)
class Spec:
    """The architecture measured: transformer, VAE and CLIP configs, condition width, shape."""

    transformer: dict
    vae: dict
    clip: dict
    condition_hidden: int
    frames: int
    height: int
    width: int


def full_spec() -> Spec:
    from ex4d_bridge.generation.presets import WAN21_I2V_14B

    clip = dict(
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=16,
        image_size=224,
        patch_size=14,
    )  # CLIP ViT-H/14, the Wan2.1 I2V image encoder
    return Spec(dict(WAN21_I2V_14B), {}, clip, 1024, 49, 512, 512)


def dry_run_spec() -> Spec:
    """The tiny architecture: exercises the GPU code path on a CPU in seconds."""
    from ex4d_bridge.generation.presets import TINY_TRANSFORMER

    vae = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    clip = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )
    return Spec(dict(TINY_TRANSFORMER), vae, clip, 32, 5, 32, 32)


class Device:
    """Synchronisation and memory statistics (no-ops on the CPU)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gb(self) -> float:
        return round(torch.cuda.max_memory_allocated(self.device) / GIB, 2) if self.cuda else 0.0

    def allocated_gb(self) -> float:
        return round(torch.cuda.memory_allocated(self.device) / GIB, 2) if self.cuda else 0.0

    def empty_cache(self) -> None:
        if self.cuda:
            torch.cuda.empty_cache()


def _latent_shape(spec: Spec) -> tuple[int, int, int]:
    return (spec.frames - 1) // 4 + 1, spec.height // 8, spec.width // 8


def _inputs(spec: Spec, dev: Device, dtype: torch.dtype):
    lat_t, lat_h, lat_w = _latent_shape(spec)
    image_tokens = (spec.clip["image_size"] // spec.clip["patch_size"]) ** 2 + 1
    kw = dict(device=dev.device, dtype=dtype, generator=torch.Generator(dev.device).manual_seed(0))
    x = torch.randn(1, 36, lat_t, lat_h, lat_w, **kw)
    text = torch.randn(1, 512, spec.transformer["text_dim"], **kw)
    image = torch.randn(1, image_tokens, spec.transformer["image_dim"], **kw)
    lat = torch.randn(1, 16, lat_t, lat_h, lat_w, **kw)
    return x, torch.tensor([999.0], device=dev.device), text, image, lat


def _ex4d_transformer(spec: Spec, dev: Device, dtype: torch.dtype):
    from diffusers import WanTransformer3DModel

    from ex4d_bridge.generation.adapter import ConditionInjector, add_ex4d_lora

    transformer = build_on_device(WanTransformer3DModel, spec.transformer, dev.device, dtype)
    add_ex4d_lora(transformer, rank=16, alpha=16.0)
    with torch.no_grad():
        for n, p in transformer.named_parameters():
            if ".lora_" in n:  # non-zero B, so the LoRA does real work; compute dtype
                p.data = (torch.randn_like(p, dtype=torch.float32) * 0.01).to(dtype)
    return transformer, ConditionInjector(transformer)


def _condition_tokens(spec: Spec, dev: Device, dtype: torch.dtype, lat: torch.Tensor):
    from ex4d_bridge.generation.condition import ConditionEncoder

    inner = spec.transformer["num_attention_heads"] * spec.transformer["attention_head_dim"]
    encoder = ConditionEncoder(16, spec.condition_hidden, inner).to(dev.device, dtype)
    _random_init_(encoder)
    with torch.no_grad():
        return encoder(lat, lat)


def _bench_full_tier(spec: Spec, dev: Device, repeat: int, compile_blocks: bool) -> dict:
    """The 80gb tier: everything resident (bf16 transformer, fp16 CLIP, fp32 VAE), text
    encoder off the GPU."""
    from diffusers import AutoencoderKLWan
    from transformers import CLIPVisionConfig, CLIPVisionModel

    dtype = torch.bfloat16
    out: dict = {}
    dev.reset_peak()
    vae = build_on_device(AutoencoderKLWan, spec.vae, dev.device, torch.float32)
    clip_dtype = torch.float16 if dev.cuda else torch.float32  # the tier's CLIP precision
    clip = build_on_device(CLIPVisionModel, CLIPVisionConfig(**spec.clip), dev.device, clip_dtype)
    transformer, injector = _ex4d_transformer(spec, dev, dtype)
    x, t, text, image, lat = _inputs(spec, dev, dtype)
    tokens = _condition_tokens(spec, dev, dtype, lat)
    out["transformer_params_billion"] = round(
        sum(p.numel() for p in transformer.parameters()) / 1e9, 3
    )
    out["resident_weights_gb"] = dev.allocated_gb()

    def forward() -> None:
        with torch.no_grad():
            transformer(x, t, text, image, return_dict=False)

    def with_adapter() -> None:
        with torch.no_grad():
            conditioned_forward(transformer, injector, tokens, x, t, text, image)

    forward_s: dict = {}
    transformer.disable_adapters()
    forward_s["baseline_plain_wan"] = timed(forward, repeat, dev.sync)
    transformer.enable_adapters()
    dev.reset_peak()
    forward_s["ex4d_native"] = timed(with_adapter, repeat, dev.sync)
    out["peak_gb_forward"] = dev.peak_gb()
    for label, backend in ATTENTION_BACKENDS.items():
        if label == "native" or not dev.cuda:
            continue
        try:
            transformer.set_attention_backend(backend)
            forward_s[f"ex4d_{label}"] = timed(with_adapter, repeat, dev.sync)
        except Exception as exc:  # a backend this machine lacks: record why
            forward_s[f"ex4d_{label}"] = f"unavailable: {type(exc).__name__}: {exc}"[:200]
    measured = {
        k[len("ex4d_") :]: v
        for k, v in forward_s.items()
        if k.startswith("ex4d_") and not isinstance(v, str)
    }
    best_backend = min(measured, key=measured.get)
    transformer.set_attention_backend(ATTENTION_BACKENDS[best_backend])
    out["attention_backend_used"] = best_backend
    # fuse_lora=True: the LoRA merged into the base weights, no per-layer LoRA work.
    transformer.fuse_lora(lora_scale=1.0, adapter_names=["ex4d"])
    forward_s["ex4d_fused_lora"] = timed(with_adapter, repeat, dev.sync)
    measured["fused_lora"] = forward_s["ex4d_fused_lora"]
    if compile_blocks:
        t0 = time.perf_counter()
        transformer.compile_repeated_blocks(fullgraph=True)
        with_adapter()
        dev.sync()
        out["compile_seconds"] = round(time.perf_counter() - t0, 1)
        forward_s["ex4d_fused_lora_compiled"] = timed(with_adapter, repeat, dev.sync)
        measured["fused_lora_compiled"] = forward_s["ex4d_fused_lora_compiled"]
    out["forward_s"] = forward_s
    best = min(measured.values())
    out["best_forward_s"] = best
    out["adapter_overhead"] = round(forward_s["ex4d_native"] / forward_s["baseline_plain_wan"], 3)
    out["step_s"] = {"without_cfg": best, "with_cfg": round(2 * best, 4)}

    g = torch.Generator(dev.device).manual_seed(1)
    video = torch.randn(1, 3, spec.frames, spec.height, spec.width, device=dev.device, generator=g)
    size = spec.clip["image_size"]
    pixels = torch.randn(1, 3, size, size, device=dev.device, generator=g).to(clip_dtype)

    def vae_work() -> None:
        with torch.no_grad():
            for _ in range(3):  # image conditioning, render, mask
                z = vae.encode(video).latent_dist.mode()
            vae.decode(z)

    dev.reset_peak()
    out["vae_3_encodes_1_decode_s"] = timed(vae_work, 1, dev.sync)
    out["peak_gb_vae"] = dev.peak_gb()
    with torch.no_grad():
        out["clip_encode_s"] = timed(lambda: clip(pixel_values=pixels), repeat, dev.sync)
    return out


def _bench_fp8_tier(spec: Spec, dev: Device, repeat: int) -> dict:
    """The 24gb tier's transformer: fp8 weight storage (layerwise casting) to bf16."""
    dtype = torch.bfloat16
    transformer, injector = _ex4d_transformer(spec, dev, dtype)
    transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    dev.empty_cache()
    out = {"resident_weights_gb": dev.allocated_gb()}
    x, t, text, image, lat = _inputs(spec, dev, dtype)
    tokens = _condition_tokens(spec, dev, dtype, lat)
    dev.reset_peak()

    def forward() -> None:
        with torch.no_grad():
            conditioned_forward(transformer, injector, tokens, x, t, text, image)

    out["forward_s"] = timed(forward, repeat, dev.sync)
    out["peak_gb_forward"] = dev.peak_gb()
    return out


def bench_gpu(spec: Spec, device: torch.device, repeat: int, compile_blocks: bool) -> dict:
    import gc

    dev = Device(device)
    lat_t, lat_h, lat_w = _latent_shape(spec)
    out: dict = {
        "card": torch.cuda.get_device_name(device) if dev.cuda else "cpu (dry run)",
        "card_memory_gb": round(torch.cuda.get_device_properties(device).total_memory / GIB, 1)
        if dev.cuda
        else None,
        "shape": f"{spec.frames}x{spec.height}x{spec.width}",
        "tokens": lat_t * (lat_h // 2) * (lat_w // 2),
        "dtype": "bfloat16",
        "weights": "random, built from the config (nothing loaded)",
        "goals": GOALS,
    }
    tier = _bench_full_tier(spec, dev, repeat, compile_blocks)
    out["tier_80gb"] = tier
    out["projected_clip_25_steps_s"] = round(
        25 * tier["step_s"]["with_cfg"] + tier["vae_3_encodes_1_decode_s"] + tier["clip_encode_s"],
        2,
    )
    out["meets_goals"] = {
        "forward": tier["best_forward_s"] <= GOALS["gpu_forward_s"],
        "clip": out["projected_clip_25_steps_s"] <= GOALS["gpu_clip_25_steps_s"],
        "peak": max(tier["peak_gb_forward"], tier["peak_gb_vae"]) <= GOALS["gpu_peak_gb"],
    }
    gc.collect()
    dev.empty_cache()
    try:
        out["tier_24gb_fp8"] = _bench_fp8_tier(spec, dev, repeat)
    except Exception as exc:  # keep the 80gb numbers even if fp8 fails on this card
        out["tier_24gb_fp8"] = f"failed: {type(exc).__name__}: {exc}"[:300]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="skip the regional-compile run")
    ap.add_argument("--skip-cpu", action="store_true", help="GPU part only")
    ap.add_argument(
        "--dry-run-gpu-path",
        action="store_true",
        help="run the GPU part's code with the tiny architecture on the CPU (checks the code)",
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    want_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    result: dict = environment("generation", "diffusers", "peft")
    if not args.skip_cpu:
        result["cpu_tiny"] = bench_cpu(args.repeat)
    if want_cuda:
        result["gpu_14b"] = bench_gpu(
            full_spec(), torch.device("cuda"), args.repeat, not args.no_compile
        )
    elif args.dry_run_gpu_path:
        result["gpu_path_dry_run_tiny_cpu"] = bench_gpu(
            dry_run_spec(), torch.device("cpu"), 1, not args.no_compile
        )
    else:
        result["gpu_14b"] = "not measured: no CUDA device in this run"
    emit(result, args.out)


if __name__ == "__main__":
    main()
