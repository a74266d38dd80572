"""Memory tiers: where each weight lives and in what precision.

The Wan2.1-I2V-14B transformer has 16.4B parameters (30.5 GiB in bf16); the CLIP image encoder
(fp16, as the original Wan runs it) and the VAE (fp32) add 1.7 GiB; the UMT5 text encoder
(11 GB) is only needed for prompts missing from the prompt cache and runs on the CPU by default.
Tiers (pick with ``memory=``; ``"auto"`` chooses from the GPU's size):

=========  =============================================================================
``80gb``   everything resident on the GPU in bf16; fastest (~35 GiB at 49x512x512).
``48gb``   the same with VAE tiling, so decoding 49 frames stays small.
``24gb``   transformer weights stored as fp8 (e4m3) and cast to bf16 layer by layer
           (``enable_layerwise_casting``, 15.5 GiB), model CPU offload of the image encoder,
           transformer and VAE, VAE tiling: ~19 GiB. LoRA, norms, embeddings and the
           condition encoder stay bf16.
``12gb``   transformer blocks streamed from pinned CPU memory one group at a time
           (``enable_group_offload``, block level, CUDA streams), bf16 weights unchanged,
           VAE tiling: a few GiB of GPU memory, ~31 GiB of pinned host memory.
``cpu``    float32 on the CPU (tiny preset, tests).
=========  =============================================================================

Every field can be overridden on its own (``offload``, ``fp8``, ``vae_tiling``, ...).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

import torch

from ..errors import InputError

log = logging.getLogger(__name__)

Offload = Literal["none", "model", "group"]
OFFLOAD_MODES = ("none", "model", "group")
_GIB = 1 << 30


@dataclass(frozen=True)
class MemoryPlan:
    name: str
    dtype: torch.dtype  # transformer and condition encoder compute dtype
    offload: Offload = "none"
    fp8: bool = False  # fp8 weight storage for the transformer's linear layers
    vae_tiling: bool = False
    text_encoder_device: Literal["cpu", "gpu"] = "cpu"
    text_encoder_dtype: torch.dtype = torch.bfloat16
    vae_dtype: torch.dtype = torch.float32
    image_encoder_dtype: torch.dtype = torch.float16  # the original Wan runs CLIP in fp16
    group_blocks: int = 1  # transformer blocks per offload group


TIERS: dict[str, MemoryPlan] = {
    "80gb": MemoryPlan("80gb", torch.bfloat16),
    "48gb": MemoryPlan("48gb", torch.bfloat16, vae_tiling=True),
    "24gb": MemoryPlan("24gb", torch.bfloat16, offload="model", fp8=True, vae_tiling=True),
    "12gb": MemoryPlan("12gb", torch.bfloat16, offload="group", vae_tiling=True),
    "cpu": MemoryPlan(
        "cpu",
        torch.float32,
        text_encoder_dtype=torch.float32,
        image_encoder_dtype=torch.float32,
    ),
}
DTYPES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "fp32": torch.float32,
    "float32": torch.float32,
}


def parse_dtype(value: str | torch.dtype) -> torch.dtype:
    if isinstance(value, torch.dtype):
        return value
    try:
        return DTYPES[value.lower()]
    except KeyError:
        raise InputError(f"dtype {value!r} is not one of bf16, fp16, fp32") from None


def select_tier(device: torch.device, total_memory: int | None = None) -> str:
    """The tier for a device: by GPU memory (``total_memory`` bytes, queried when None)."""
    if device.type != "cuda":
        return "cpu"
    if total_memory is None:
        total_memory = torch.cuda.get_device_properties(device).total_memory
    if total_memory >= 70 * _GIB:
        return "80gb"
    if total_memory >= 40 * _GIB:
        return "48gb"
    if total_memory >= 20 * _GIB:
        return "24gb"
    return "12gb"


def resolve_plan(memory: str, device: torch.device, **overrides) -> MemoryPlan:
    """The tier named ``memory`` (or ``"auto"``) with any non-None ``overrides`` applied."""
    name = select_tier(device) if memory == "auto" else memory
    if name not in TIERS:
        raise InputError(f"memory tier {memory!r} is not one of auto, {', '.join(TIERS)}")
    plan = TIERS[name]
    changes = {k: v for k, v in overrides.items() if v is not None}
    for key in ("dtype", "text_encoder_dtype", "vae_dtype", "image_encoder_dtype"):
        if key in changes:
            changes[key] = parse_dtype(changes[key])
    if changes.get("offload", plan.offload) not in OFFLOAD_MODES:
        raise InputError(f"offload {changes['offload']!r} is not one of {', '.join(OFFLOAD_MODES)}")
    if changes.get("text_encoder_device", "cpu") not in ("cpu", "gpu"):
        raise InputError(
            f"text_encoder_device {changes['text_encoder_device']!r} is not 'cpu' or 'gpu'"
        )
    plan = replace(plan, **changes)
    if device.type != "cuda":
        if plan.offload != "none":
            raise InputError(
                f"offload={plan.offload!r} moves weights between the CPU and a GPU; it needs "
                "device='cuda' (use offload='none' on the CPU)"
            )
        if plan.dtype != torch.float32:
            log.warning("computing in %s on the CPU is slow; float32 is faster there", plan.dtype)
    return plan


def apply_plan(wan, condition_encoder, plan: MemoryPlan, device: torch.device) -> list[str]:
    """Place and cast the components of a ``WanImageToVideoPipeline`` (text encoder excluded:
    see :class:`~.prompts.PromptEncoder`). Adapters must already be loaded. Returns what was
    done, for logs and benchmarks."""
    transformer = wan.transformer
    done = []
    # LoRA weights in the compute dtype: peft otherwise keeps them in fp32 and casts every
    # activation to fp32 for each of the 10 LoRA layers of every block.
    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if ".lora_A." in name or ".lora_B." in name:
                param.data = param.data.to(plan.dtype)
    condition_encoder.to(device=device, dtype=plan.dtype)
    if plan.fp8:
        transformer.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=plan.dtype
        )
        done.append("fp8 weight storage (layerwise casting) on the transformer")
    if plan.offload == "none":
        wan.to(device)
        done.append(f"all components resident on {device}")
    elif plan.offload == "model":
        wan.enable_model_cpu_offload(device=device)
        done.append("model CPU offload (image encoder, transformer, VAE)")
    else:
        transformer.enable_group_offload(
            onload_device=device,
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=plan.group_blocks,
            use_stream=device.type == "cuda",
        )
        wan.vae.to(device)
        wan.image_encoder.to(device)
        done.append(f"group offload of the transformer ({plan.group_blocks} block(s) per group)")
    if plan.vae_tiling:
        wan.vae.enable_tiling()
        done.append("VAE tiling")
    return done
