"""The EX-4D condition: render colour and mask videos -> tokens added to the video tokens.

The published adapter was trained on inputs prepared in one particular way, and reproduces only
with exactly that preparation (docs/method.md, "Generation"):

* the mask is eroded per frame with a k x k square, k drawn from 2..8 anew for every frame
  (the reference draws k unseeded; here it is drawn from the request's seed);
* the render is fed as ``(colour * mask) * 2 - 1`` in [-1, 1];
* the mask is mapped to ``mask * 2 - 1`` and mapped *again* (``m * 2 - 1``) before the VAE,
  so the VAE sees {-3, 1}: a quirk of the reference that the weights depend on;
* both videos are encoded by the Wan VAE (mode of the posterior, normalised by the VAE's latent
  mean and std), concatenated to 32 channels and passed through :class:`ConditionEncoder`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from ..errors import InputError

REFERENCE_KERNELS = (2, 8)  # inclusive range of the reference's erosion kernel sizes


def check_condition_inputs(colors: np.ndarray, masks: np.ndarray) -> None:
    """Shapes and dtypes of a render colour video and its mask video."""
    if not isinstance(colors, np.ndarray) or colors.dtype != np.uint8 or colors.ndim != 4:
        raise InputError(
            "colors must be a uint8 numpy array [T, H, W, 3], got "
            f"{type(colors).__name__} {getattr(colors, 'dtype', '')} "
            f"{getattr(colors, 'shape', '')}"
        )
    if colors.shape[-1] != 3:
        raise InputError(f"colors must be RGB [T, H, W, 3], got shape {colors.shape}")
    if not isinstance(masks, np.ndarray) or masks.dtype != np.bool_ or masks.ndim != 3:
        raise InputError(
            "masks must be a bool numpy array [T, H, W] (True = rendered pixel), got "
            f"{type(masks).__name__} {getattr(masks, 'dtype', '')} {getattr(masks, 'shape', '')}"
        )
    if min(colors.shape) == 0:
        raise InputError(f"the colour video is empty: shape {colors.shape}")
    if masks.shape[0] != colors.shape[0]:
        raise InputError(
            f"the colour video has {colors.shape[0]} frames but the mask video has "
            f"{masks.shape[0]}; they must come from the same render"
        )
    if masks.shape[1:] != colors.shape[1:3]:
        raise InputError(
            f"the colour frames are {colors.shape[2]}x{colors.shape[1]} but the masks are "
            f"{masks.shape[2]}x{masks.shape[1]}; they must come from the same render"
        )


def reference_kernel_sizes(num_frames: int, seed: int) -> np.ndarray:
    """The reference's per-frame erosion kernel sizes (2..8), drawn from ``seed``."""
    lo, hi = REFERENCE_KERNELS
    return np.random.default_rng(seed).integers(lo, hi + 1, size=num_frames)


def erode_masks(
    masks: np.ndarray, kernel: str | int | None = "reference", seed: int = 0
) -> np.ndarray:
    """Erode bool masks [T, H, W] the way the model was trained.

    ``kernel``: ``"reference"`` (k x k, k drawn from 2..8 for every frame), an int (the same k
    for every frame) or ``None``/0 (no erosion). Pixels outside the image count as set, so a
    full mask (the source frame) stays full. A k x k erosion takes the minimum over the window
    of rows/cols ``i - k//2 .. i + (k-1) - k//2`` (OpenCV's centred anchor).
    """
    if kernel is None or kernel == 0:
        return masks.copy()
    if isinstance(kernel, str):
        if kernel != "reference":
            raise InputError(f"mask erosion {kernel!r} must be 'reference', an int or None")
        sizes = reference_kernel_sizes(masks.shape[0], seed)
    else:
        k = int(kernel)
        if k < 0:
            raise InputError(f"mask erosion kernel must be >= 0, got {kernel}")
        sizes = np.full(masks.shape[0], k)
    out = np.empty_like(masks)
    plane = masks.astype(np.uint8)
    for t, k in enumerate(sizes):  # per frame: each frame has its own kernel
        if k <= 1:
            out[t] = masks[t]
            continue
        # OpenCV's default erosion border is +inf: the outside never erodes the image.
        out[t] = cv2.erode(plane[t], np.ones((k, k), np.uint8)).astype(bool)
    return out


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of uint8 frames [T, H, W, C] (the reference's cv2.resize default)."""
    if frames.shape[1:3] == (height, width):
        return frames
    size = (width, height)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in frames]).reshape(
        frames.shape[0], height, width, *frames.shape[3:]
    )


def resize_inputs(
    colors: np.ndarray, masks: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stretch a render to the generation size as the reference does (bilinear for both; the
    mask is resized as 0/255 and thresholded at half)."""
    if colors.shape[1:3] == (height, width):
        return colors, masks
    grey = masks.astype(np.uint8) * np.uint8(255)
    return resize_frames(colors, height, width), resize_frames(grey, height, width) >= 128


def render_video_tensor(colors: np.ndarray, masks: np.ndarray) -> torch.Tensor:
    """``(colour * mask) * 2 - 1`` as [1, 3, T, H, W] float32."""
    c = torch.from_numpy(colors).float().div_(255.0)
    m = torch.from_numpy(masks).float().unsqueeze(-1)
    return ((c * m) * 2 - 1).permute(3, 0, 1, 2).unsqueeze(0).contiguous()


def mask_video_tensor(masks: np.ndarray) -> torch.Tensor:
    """``mask * 2 - 1`` in {-1, 1} as [1, 3, T, H, W] float32 (three equal channels: the
    reference reads its mask video as an RGB video)."""
    m = torch.from_numpy(masks).float() * 2 - 1
    return m.unsqueeze(0).unsqueeze(0).expand(1, 3, *m.shape).contiguous()


def vae_mask_input(mask_video: torch.Tensor) -> torch.Tensor:
    """The reference's second ``m * 2 - 1`` inside its condition encoder: {-1, 1} -> {-3, 1}.

    Wrong in spirit (the VAE expects [-1, 1]) but the trained weights expect it.
    """
    return mask_video * 2 - 1


class ConditionEncoder(nn.Module):
    """EX-4D's condition encoder: VAE latents of render and mask (2 x 16 channels) -> tokens.

    Three 1x1x1 convolutions (32 -> hidden -> hidden -> hidden, SiLU between) and a (1, 2, 2)
    patch convolution to the transformer width, zero-initialised so the adapter starts as a
    no-op. Parameter names match the released checkpoint (``latent_encoder.{0,2,4}``,
    ``latent_patch_embedding``).
    """

    def __init__(self, latent_channels: int = 16, hidden: int = 1024, out_dim: int = 5120):
        super().__init__()
        self.latent_channels = latent_channels
        self.hidden = hidden
        self.out_dim = out_dim
        self.latent_encoder = nn.Sequential(
            nn.Conv3d(2 * latent_channels, hidden, kernel_size=1),
            nn.SiLU(),
            nn.Conv3d(hidden, hidden, kernel_size=1),
            nn.SiLU(),
            nn.Conv3d(hidden, hidden, kernel_size=1),
        )
        self.latent_patch_embedding = nn.Conv3d(
            hidden, out_dim, kernel_size=(1, 2, 2), stride=(1, 2, 2)
        )
        nn.init.zeros_(self.latent_patch_embedding.weight)
        nn.init.zeros_(self.latent_patch_embedding.bias)

    def forward(self, render_latents: torch.Tensor, mask_latents: torch.Tensor) -> torch.Tensor:
        """[B, 16, T', h, w] each -> [B, out_dim, T', h/2, w/2]."""
        x = torch.cat([render_latents, mask_latents], dim=1)
        return self.latent_patch_embedding(self.latent_encoder(x))
