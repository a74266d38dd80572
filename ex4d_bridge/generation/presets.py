"""Named model sizes and their sampling defaults.

* ``wan2.1-i2v-14b-480p``: the EX-4D backbone, loaded from a local diffusers-format
  Wan2.1-I2V-14B-480P directory; 49 frames at 512x512, 25 steps, guidance 5.0, shift 5.
* ``tiny``: the same classes with a few thousand random weights, so the whole pipeline runs on
  a CPU in seconds (tests, demos of the plumbing). Its output is noise-like by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import InputError


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    transformer: Mapping[str, Any]  # WanTransformer3DModel config
    condition_hidden: int  # width of the condition encoder's 1x1x1 convolutions
    lora_rank: int  # alpha defaults to the rank: scale 1, as the reference runs its LoRA
    num_frames: int
    height: int
    width: int
    num_inference_steps: int = 25
    guidance_scale: float = 5.0
    shift: float = 5.0  # flow-matching sigma shift
    fps: float = 15.0  # the reference writes its outputs at 15 fps


WAN21_I2V_14B = MappingProxyType(
    {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 40,
        "attention_head_dim": 128,
        "in_channels": 36,
        "out_channels": 16,
        "text_dim": 4096,
        "freq_dim": 256,
        "ffn_dim": 13824,
        "num_layers": 40,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "eps": 1e-6,
        "image_dim": 1280,
        "added_kv_proj_dim": 5120,
        "rope_max_seq_len": 1024,
    }
)

TINY_TRANSFORMER = MappingProxyType(
    {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 2,
        "attention_head_dim": 12,
        "in_channels": 36,
        "out_channels": 16,
        "text_dim": 32,
        "freq_dim": 32,
        "ffn_dim": 48,
        "num_layers": 2,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "eps": 1e-6,
        "image_dim": 32,
        "added_kv_proj_dim": 24,
        "rope_max_seq_len": 64,
    }
)

PRESETS: dict[str, Preset] = {
    "wan2.1-i2v-14b-480p": Preset(
        name="wan2.1-i2v-14b-480p",
        description="Wan2.1-I2V-14B-480P with the EX-4D adapter (local diffusers directory)",
        transformer=WAN21_I2V_14B,
        condition_hidden=1024,
        lora_rank=16,
        num_frames=49,
        height=512,
        width=512,
    ),
    "tiny": Preset(
        name="tiny",
        description="random weights, same classes, 2 blocks: runs on a CPU in seconds",
        transformer=TINY_TRANSFORMER,
        condition_hidden=32,
        lora_rank=16,
        num_frames=17,
        height=128,
        width=128,
    ),
}
# Config keys that identify an architecture (rope length and eps do not change the weights).
_IDENTITY_KEYS = (
    "num_attention_heads",
    "attention_head_dim",
    "in_channels",
    "out_channels",
    "text_dim",
    "ffn_dim",
    "num_layers",
    "image_dim",
)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}"
        ) from None


def match_preset(transformer_config: Mapping[str, Any]) -> Preset | None:
    """The preset whose architecture a loaded transformer has, if any."""
    for preset in PRESETS.values():
        if all(transformer_config.get(k) == preset.transformer[k] for k in _IDENTITY_KEYS):
            return preset
    return None


def custom_preset(transformer_config: Mapping[str, Any]) -> Preset:
    """Another Wan2.1 I2V size (for example 720P weights): 14B sampling defaults, widths from
    the model."""
    base = PRESETS["wan2.1-i2v-14b-480p"]
    return Preset(
        name="custom",
        description="a Wan2.1 image-to-video model that matches no preset",
        transformer=MappingProxyType(dict(transformer_config)),
        condition_hidden=base.condition_hidden,
        lora_rank=base.lora_rank,
        num_frames=base.num_frames,
        height=base.height,
        width=base.width,
    )
