"""Training data without multi-view video (simulated masks) and adapter training."""

from .render_masks import random_novel_trajectory, render_mask_clip, source_visibility
from .tracking_masks import random_blobs, track_masks

__all__ = [
    "random_blobs",
    "random_novel_trajectory",
    "render_mask_clip",
    "source_visibility",
    "track_masks",
]
