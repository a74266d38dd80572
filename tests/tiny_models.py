"""Tiny random-weight models saved offline, shared by the tests (no hub, no download)."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def save_tiny_depth_anything(path) -> Path:
    """A random-weight Depth Anything (DINOv2 backbone, 2 layers, width 32) saved offline."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
    )

    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=56,
        out_features=["stage1", "stage2"],
        reshape_hidden_states=False,
        initializer_range=0.2,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=32,
        reassemble_factors=[2, 1],
        neck_hidden_sizes=[8, 16],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="relative",
        initializer_range=0.15,
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        # Random heads output ReLU(~0); a positive bias gives varied, positive disparity.
        model.head.conv3.bias.fill_(3.0)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor = {
        "image_processor_type": "DPTImageProcessor",
        "do_resize": True,
        "size": {"height": 56, "width": 56},
        "keep_aspect_ratio": True,
        "ensure_multiple_of": 14,
        "resample": 3,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
        "do_pad": False,
    }
    (path / "preprocessor_config.json").write_text(json.dumps(processor))
    return path
