"""The EX-4D pipeline: diffusers' Wan2.1 image-to-video components + the EX-4D adapter.

Composition, not a fork: a stock ``WanImageToVideoPipeline`` holds the transformer, VAE, CLIP
image encoder, tokenizer and a flow-matching Euler scheduler (shift 5). This class adds

* the EX-4D LoRA (peft adapter ``ex4d``) inside the stock transformer,
* the condition encoder, whose tokens a forward hook adds to the patch embedding's output,
* the prompt encoder (UMT5 kept outside the Wan pipeline, so it can stay on the CPU, be
  loaded lazily and have its outputs cached),

and runs the same denoising loop as diffusers' I2V pipeline with the reference's sigma
schedule (``linspace(1, 0, steps + 1)[:-1]``, shifted). With the adapter at its initial values
the output equals the stock pipeline's exactly.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..runtime import resolve_device
from .adapter import ADAPTER_NAME, ConditionInjector, add_ex4d_lora, lora_config
from .checkpoint import (
    AdapterWeights,
    LoadReport,
    adapter_targets,
    load_into,
    read_adapter,
    read_state_dict,
    save_adapter,
)
from .condition import (
    ConditionEncoder,
    check_condition_inputs,
    erode_masks,
    mask_video_tensor,
    render_video_tensor,
    resize_frames,
    resize_inputs,
    vae_mask_input,
)
from .interface import GenerationCancelled, GenerationRequest, ProgressCallback
from .memory import MemoryPlan, apply_plan, resolve_plan
from .presets import Preset, custom_preset, get_preset, match_preset
from .prompts import (
    DEFAULT_NEGATIVE_PROMPT,
    DEFAULT_PROMPT,
    PromptCache,
    PromptEncoder,
    default_cache_dir,
    encoder_identity,
)

log = logging.getLogger(__name__)

SPATIAL_MULTIPLE = 16  # VAE stride 8 x patch size 2
TEMPORAL_STRIDE = 4  # the VAE maps 4k+1 frames to k+1 latent frames


def reference_sigmas(num_steps: int) -> np.ndarray:
    """The reference's unshifted sigmas: ``num_steps`` points of linspace(1, 0, steps + 1)."""
    return np.linspace(1.0, 0.0, num_steps + 1)[:-1]


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


class EX4DPipeline:
    """Render colour + mask videos and the source frame -> completed novel-view video.

    Build with :meth:`from_pretrained` (local Wan2.1-I2V-14B-480P + ``ex4d.ckpt``) or
    :meth:`tiny` (random weights). Implements the ``NovelViewCompleter`` protocol.
    """

    name = "ex4d"
    is_fallback = False

    def __init__(
        self,
        wan,
        condition_encoder: ConditionEncoder,
        prompt_encoder: PromptEncoder,
        *,
        preset: Preset,
        device: torch.device,
        plan: MemoryPlan,
        applied: Sequence[str] = (),
        load_report: LoadReport | None = None,
        fused: bool = False,
    ):
        self.wan = wan
        self.condition_encoder = condition_encoder.eval()
        self.prompts = prompt_encoder
        self.preset = preset
        self.device = device
        self.plan = plan
        self.applied = list(applied)
        self.load_report = load_report
        self.fused = fused
        self.injector = ConditionInjector(wan.transformer)
        # (width, height) that `generate` stretches renders to; None keeps their size.
        self.generation_size: tuple[int, int] | None = (preset.width, preset.height)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ construction

    @classmethod
    def _assemble(
        cls,
        components: dict,
        prompt_encoder: PromptEncoder,
        *,
        preset: Preset,
        device: torch.device,
        plan: MemoryPlan,
        adapter: AdapterWeights | None,
        lora_rank: int | None,
        lora_alpha: float | None,
        strict: bool,
        extra_loras: Sequence[tuple[str | PathLike, float]],
        attention_backend: str | None,
        compile: bool | dict,
        fuse_lora: bool = False,
    ) -> EX4DPipeline:
        from .loading import quiet_torchvision_notice

        quiet_torchvision_notice()
        from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline

        wan = WanImageToVideoPipeline(
            tokenizer=components["tokenizer"],
            text_encoder=None,
            vae=components["vae"],
            scheduler=FlowMatchEulerDiscreteScheduler(shift=preset.shift),
            image_processor=components["image_processor"],
            image_encoder=components["image_encoder"],
            transformer=components["transformer"],
        )
        wan.set_progress_bar_config(disable=True)
        transformer = wan.transformer
        rank = lora_rank or (adapter.rank if adapter else None) or preset.lora_rank
        alpha = lora_alpha or (adapter.alpha if adapter else None) or preset.lora_alpha
        hidden = (adapter.condition_hidden if adapter else None) or preset.condition_hidden
        inner = transformer.config.num_attention_heads * transformer.config.attention_head_dim
        condition_encoder = ConditionEncoder(wan.vae.config.z_dim, hidden, inner)
        add_ex4d_lora(transformer, rank, alpha)
        report = None
        if adapter is not None:
            report = load_into(
                adapter_targets(transformer, condition_encoder, ADAPTER_NAME),
                adapter,
                strict=strict,
            )
            log.info(report.summary())
            if not report.ok:
                log.warning("adapter loaded non-strictly: %s", report.summary())
        if extra_loras:
            cls._load_extra_loras(wan, extra_loras)
        fused = []
        if fuse_lora:
            # Merge every active LoRA into the base weights: no per-layer LoRA work at run time.
            names = list(transformer.active_adapters())
            transformer.fuse_lora(lora_scale=1.0, adapter_names=names)
            fused.append(f"LoRA fused into the base weights ({', '.join(names)})")
        applied = fused + apply_plan(wan, condition_encoder, plan, device)
        if attention_backend:
            _set_attention_backend(transformer, attention_backend)
            applied.append(f"attention backend {attention_backend}")
        if compile:
            # Group offload hooks move weights inside each block: no full graph there.
            default = {"fullgraph": plan.offload != "group"}
            options = compile if isinstance(compile, dict) else default
            transformer.compile_repeated_blocks(**options)
            applied.append(f"regional compile of the transformer blocks {options}")
        return cls(
            wan,
            condition_encoder,
            prompt_encoder,
            preset=preset,
            device=device,
            plan=plan,
            applied=applied,
            load_report=report,
            fused=bool(fuse_lora),
        )

    @staticmethod
    def _load_extra_loras(wan, extra_loras: Sequence[tuple[str | PathLike, float]]) -> None:
        names, weights = [ADAPTER_NAME], [1.0]
        for i, (path, weight) in enumerate(extra_loras):
            state, _ = read_state_dict(path)
            name = f"extra{i}"
            try:
                with warnings.catch_warnings():  # peft warns that a second adapter is added
                    warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                    wan.load_lora_weights(state, adapter_name=name)
            except (ValueError, KeyError, RuntimeError) as exc:
                raise InputError(f"could not load the LoRA {path}: {exc}") from exc
            names.append(name)
            weights.append(float(weight))
        wan.transformer.set_adapters(names, weights)

    @classmethod
    def from_pretrained(
        cls,
        base: str | PathLike,
        adapter: str | PathLike | None = None,
        *,
        preset: str = "auto",
        device: str | torch.device = "auto",
        memory: str = "auto",
        dtype: str | torch.dtype | None = None,
        offload: str | None = None,
        fp8: bool | None = None,
        vae_tiling: bool | None = None,
        text_encoder_device: str | None = None,
        prompt_cache: str | PathLike | None = "default",
        extra_loras: Sequence[tuple[str | PathLike, float]] = (),
        attention_backend: str | None = None,
        compile: bool | dict = False,
        fuse_lora: bool = False,
        strict: bool = True,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
    ) -> EX4DPipeline:
        """Load a local diffusers-format Wan2.1 I2V directory and the EX-4D adapter.

        ``adapter``: ``ex4d.ckpt`` (original key layout) or a ``.safetensors`` written by
        :meth:`save_adapter`; None leaves the adapter at its (no-op) initial values.
        ``memory``: a tier of :mod:`.memory` (``auto``, ``80gb``, ``24gb``, ``12gb``, ``cpu``);
        ``dtype``, ``offload``, ``fp8``, ``vae_tiling`` and ``text_encoder_device`` override
        single fields of it. ``prompt_cache``: a directory, ``"default"``
        (``~/.cache/ex4d-bridge/prompt-embeds``) or None. ``extra_loras``: (path, weight) pairs
        of diffusers- or original-format Wan LoRAs. ``strict=False`` loads an adapter that does
        not fit completely, with a warning listing what did not. ``fuse_lora`` merges the
        LoRAs into the base weights (faster; the adapter can then not be reloaded in place).
        ``compile``: True or ``torch.compile`` keyword arguments for the transformer blocks.
        """
        from . import loading

        dev = resolve_device(device)
        plan = resolve_plan(
            memory,
            dev,
            dtype=dtype,
            offload=offload,
            fp8=fp8,
            vae_tiling=vae_tiling,
            text_encoder_device=text_encoder_device,
        )
        base_dir = loading.check_base_dir(base)
        weights = read_adapter(adapter) if adapter is not None else None
        transformer = loading.load_transformer(base_dir, plan.dtype)
        if preset == "auto":
            chosen = match_preset(transformer.config) or custom_preset(transformer.config)
        else:
            chosen = get_preset(preset)
        components = {
            "transformer": transformer,
            "vae": loading.load_vae(base_dir, plan.vae_dtype),
            "image_encoder": loading.load_image_encoder(base_dir, plan.image_encoder_dtype),
            "image_processor": loading.load_image_processor(base_dir),
            "tokenizer": loading.load_tokenizer(base_dir),
        }
        te_dtype = plan.text_encoder_dtype
        cache = None
        if prompt_cache is not None:
            directory = default_cache_dir() if prompt_cache == "default" else Path(prompt_cache)
            identity = encoder_identity(
                [base_dir / "text_encoder", base_dir / "tokenizer"], te_dtype
            )
            cache = PromptCache(directory, identity)
        prompt_encoder = PromptEncoder(
            components["tokenizer"],
            load_text_encoder=lambda: loading.load_text_encoder(base_dir, te_dtype),
            device=dev if plan.text_encoder_device == "gpu" else "cpu",
            cache=cache,
            offload_after_use=plan.offload != "none",
        )
        return cls._assemble(
            components,
            prompt_encoder,
            preset=chosen,
            device=dev,
            plan=plan,
            adapter=weights,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            strict=strict,
            extra_loras=extra_loras,
            attention_backend=attention_backend,
            compile=compile,
            fuse_lora=fuse_lora,
        )

    @classmethod
    def tiny(
        cls,
        *,
        seed: int = 0,
        adapter: str | PathLike | None = None,
        device: str | torch.device = "cpu",
        memory: str = "auto",
        prompt_cache: str | PathLike | None = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        strict: bool = True,
        extra_loras: Sequence[tuple[str | PathLike, float]] = (),
        attention_backend: str | None = None,
        compile: bool | dict = False,
        fuse_lora: bool = False,
        **plan_overrides: Any,
    ) -> EX4DPipeline:
        """The ``tiny`` preset: random weights from ``seed``, no files needed."""
        from .tiny import build_tiny_components

        dev = resolve_device(device)
        plan = resolve_plan(memory, dev, **plan_overrides)
        components = build_tiny_components(seed)
        text_encoder = _cast(components.pop("text_encoder"), plan.text_encoder_dtype)
        _cast(components["transformer"], plan.dtype)
        _cast(components["vae"], plan.vae_dtype)
        _cast(components["image_encoder"], plan.image_encoder_dtype)
        cache = None
        if prompt_cache is not None:
            cache = PromptCache(prompt_cache, f"tiny-seed{seed}-{plan.text_encoder_dtype}")
        prompt_encoder = PromptEncoder(
            components["tokenizer"],
            text_encoder,
            device=dev if plan.text_encoder_device == "gpu" else "cpu",
            cache=cache,
            offload_after_use=plan.offload != "none",
        )
        return cls._assemble(
            components,
            prompt_encoder,
            preset=get_preset("tiny"),
            device=dev,
            plan=plan,
            adapter=read_adapter(adapter) if adapter is not None else None,
            lora_rank=lora_rank,
            lora_alpha=lora_alpha,
            strict=strict,
            extra_loras=extra_loras,
            attention_backend=attention_backend,
            compile=compile,
            fuse_lora=fuse_lora,
        )

    # ------------------------------------------------------------------ adapter I/O

    @property
    def transformer(self):
        return self.wan.transformer

    @property
    def vae(self):
        return self.wan.vae

    def adapter_parameters(self) -> dict:
        """Canonical name -> parameter for every tensor of the EX-4D adapter."""
        return adapter_targets(self.transformer, self.condition_encoder, ADAPTER_NAME)

    @property
    def lora_rank(self) -> int:
        return int(lora_config(self.transformer).r)

    @property
    def lora_alpha(self) -> float:
        return float(lora_config(self.transformer).lora_alpha)

    def save_adapter(self, path: str | PathLike) -> Path:
        """Write the EX-4D adapter (LoRA + condition encoder) as safetensors with metadata."""
        return save_adapter(
            path,
            self.adapter_parameters(),
            rank=self.lora_rank,
            alpha=self.lora_alpha,
            extra_metadata={
                "condition_hidden": str(self.condition_encoder.hidden),
                "model_dim": str(self.condition_encoder.out_dim),
                "num_layers": str(self.transformer.config.num_layers),
                "preset": self.preset.name,
            },
        )

    def load_adapter(self, path: str | PathLike, strict: bool = True) -> LoadReport:
        """Load adapter weights into this pipeline (same LoRA rank and alpha required)."""
        if self.fused:
            raise InputError(
                "the LoRA of this pipeline is fused into the base weights; build a new "
                "pipeline with the other adapter instead"
            )
        weights = read_adapter(path)
        if weights.rank not in (None, self.lora_rank) or (
            weights.format == "ex4d-bridge" and weights.alpha != self.lora_alpha
        ):
            raise InputError(
                f"{path} has LoRA rank {weights.rank}, alpha {weights.alpha}; this pipeline was "
                f"built with rank {self.lora_rank}, alpha {self.lora_alpha}: pass the adapter to "
                "from_pretrained instead"
            )
        with self._lock:
            self.load_report = load_into(self.adapter_parameters(), weights, strict=strict)
        return self.load_report

    # ------------------------------------------------------------------ generation

    def _check(self, colors, masks, source_frame) -> np.ndarray:
        check_condition_inputs(colors, masks)
        t, h, w = masks.shape
        if (t - 1) % TEMPORAL_STRIDE != 0:
            lower = (t - 1) // TEMPORAL_STRIDE * TEMPORAL_STRIDE + 1
            raise InputError(
                f"{t} frames: the Wan VAE takes 4k+1 frames (e.g. 49); use the first {lower} "
                f"or render {lower + TEMPORAL_STRIDE}"
            )
        if h % SPATIAL_MULTIPLE or w % SPATIAL_MULTIPLE:
            raise InputError(
                f"frame size {w}x{h} is not a multiple of {SPATIAL_MULTIPLE} (VAE stride 8 x "
                f"patch 2); resize to e.g. {self.preset.width}x{self.preset.height}"
            )
        grid = max(h, w) // SPATIAL_MULTIPLE
        if grid > self.transformer.config.rope_max_seq_len:
            raise InputError(f"frame size {w}x{h} is larger than this model supports")
        if source_frame is None:
            return colors[0]
        if (
            not isinstance(source_frame, np.ndarray)
            or source_frame.dtype != np.uint8
            or source_frame.shape != (h, w, 3)
        ):
            raise InputError(
                f"source_frame must be a uint8 array [{h}, {w}, 3] like the render frames, got "
                f"{getattr(source_frame, 'dtype', type(source_frame).__name__)} "
                f"{getattr(source_frame, 'shape', '')}"
            )
        return source_frame

    def _encode_latents(self, video: torch.Tensor) -> torch.Tensor:
        """Normalised posterior mode of the VAE (what the reference's VAE.encode returns)."""
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = self.vae
        x = video.to(device=get_module_execution_device(vae), dtype=vae.dtype)
        latents = vae.encode(x).latent_dist.mode()
        z = vae.config.z_dim
        mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1).to(latents)
        inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1).to(latents)
        return (latents - mean) * inv_std

    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        """Normalised VAE latents [1, 16, T', H/8, W/8] of a uint8 video [T, H, W, 3] in
        [-1, 1], encoded like the render (posterior mode): the latents training denoises."""
        full = np.ones(frames.shape[:3], dtype=bool)
        return self._encode_latents(render_video_tensor(frames, full))

    @torch.no_grad()
    def encode_condition_latents(
        self, colors: np.ndarray, masks: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The condition encoder's inputs: VAE latents of the render and of the mask video
        (training runs the encoder on them with gradients)."""
        render_latents = self._encode_latents(render_video_tensor(colors, masks))
        mask_latents = self._encode_latents(vae_mask_input(mask_video_tensor(masks)))
        return render_latents, mask_latents

    @torch.no_grad()
    def encode_condition(self, colors: np.ndarray, masks: np.ndarray) -> torch.Tensor:
        """Condition tokens [1, D, T', H/16, W/16] of (already eroded) render and mask videos."""
        render_latents, mask_latents = self.encode_condition_latents(colors, masks)
        param = next(self.condition_encoder.parameters())
        return self.condition_encoder(
            render_latents.to(param.device, param.dtype), mask_latents.to(param.device, param.dtype)
        )

    @torch.no_grad()
    def encode_source(
        self, source: np.ndarray, num_frames: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image conditioning on the source frame (uint8 [H, W, 3]), as generation uses it:
        CLIP image embeddings (compute dtype), initial noise latents [1, 16, T', H/8, W/8]
        drawn from ``generator`` and the first-frame condition [1, 20, T', H/8, W/8] (frame
        mask + VAE latents of the source frame followed by black frames), both float32."""
        from PIL import Image

        wan, device = self.wan, self.device
        height, width = source.shape[:2]
        image = Image.fromarray(source)
        image_embeds = wan.encode_image(image, device).to(self.plan.dtype)
        image_tensor = wan.video_processor.preprocess(image, height=height, width=width)
        latents, condition = wan.prepare_latents(
            image_tensor.to(device, dtype=torch.float32),
            1,
            wan.vae.config.z_dim,
            height,
            width,
            num_frames,
            torch.float32,
            device,
            generator,
        )
        return image_embeds, latents, condition

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents -> float32 frames [T, H, W, 3] in [0, 1] (as diffusers' pipeline decodes)."""
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = self.vae
        latents = latents.to(device=get_module_execution_device(vae), dtype=vae.dtype)
        z = vae.config.z_dim
        mean = torch.tensor(vae.config.latents_mean).view(1, z, 1, 1, 1).to(latents)
        inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z, 1, 1, 1).to(latents)
        video = vae.decode(latents / inv_std + mean, return_dict=False)[0]
        return self.wan.video_processor.postprocess_video(video, output_type="np")[0]

    @torch.no_grad()
    def __call__(
        self,
        colors: np.ndarray,
        masks: np.ndarray,
        source_frame: np.ndarray | None = None,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        *,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        shift: float | None = None,
        seed: int = 0,
        mask_erosion: str | int | None = "reference",
        output_type: str = "uint8",
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Generate the completed video.

        Args:
            colors: uint8 [T, H, W, 3] render colours (T = 4k+1, H and W multiples of 16).
            masks: bool [T, H, W], True where the render saw a real surface.
            source_frame: uint8 [H, W, 3] image conditioning; default ``colors[0]``.
            prompt, negative_prompt: default the EX-4D reference prompts.
            num_inference_steps, guidance_scale, shift: default the preset's (25, 5.0, 5.0);
                guidance 1.0 (or less) skips the unconditional pass.
            seed: noise and mask-erosion seed; equal seeds give equal outputs.
            mask_erosion: ``"reference"`` (random 2..8 per frame), an int kernel or None.
            output_type: ``"uint8"`` [T, H, W, 3], ``"float"`` (in [0, 1]) or ``"latent"``.
        """
        source = self._check(colors, masks, source_frame)
        if output_type not in ("uint8", "float", "latent"):
            raise InputError(f"output_type {output_type!r} is not one of uint8, float, latent")
        default_steps = self.preset.num_inference_steps
        steps = int(default_steps if num_inference_steps is None else num_inference_steps)
        guidance = float(self.preset.guidance_scale if guidance_scale is None else guidance_scale)
        if steps < 1:
            raise InputError(f"num_inference_steps must be >= 1, got {steps}")
        if not 0 <= int(seed) < 2**63:
            raise InputError(f"seed must be a non-negative integer, got {seed}")
        with self._lock:
            try:
                return self._generate(
                    colors,
                    erode_masks(masks, mask_erosion, seed),
                    source,
                    DEFAULT_PROMPT if prompt is None else prompt,
                    DEFAULT_NEGATIVE_PROMPT if negative_prompt is None else negative_prompt,
                    steps,
                    guidance,
                    self.preset.shift if shift is None else float(shift),
                    int(seed),
                    output_type,
                    progress,
                    cancel,
                )
            finally:
                self.wan.maybe_free_model_hooks()

    def _generate(
        self,
        colors,
        masks,
        source,
        prompt,
        negative_prompt,
        steps,
        guidance,
        shift,
        seed,
        output_type,
        progress,
        cancel,
    ):
        wan, transformer, device = self.wan, self.transformer, self.device
        dtype = self.plan.dtype
        total = steps + 2
        report = progress or (lambda done, total, message: None)

        def check_cancel() -> None:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation was cancelled")

        check_cancel()
        t_count = masks.shape[0]
        do_cfg = guidance > 1.0
        prompt_embeds = self.prompts.encode(prompt).to(device=device, dtype=dtype)
        negative_embeds = None
        if do_cfg:
            negative_embeds = self.prompts.encode(negative_prompt).to(device=device, dtype=dtype)
        scheduler = wan.scheduler
        scheduler.set_shift(shift)
        scheduler.set_timesteps(steps, device=device, sigmas=reference_sigmas(steps))
        generator = torch.Generator(device="cpu").manual_seed(seed)
        image_embeds, latents, condition = self.encode_source(source, t_count, generator)
        tokens = self.encode_condition(colors, masks)
        report(1, total, "encoded the prompt, source frame and render")

        with self.injector.active(tokens):
            for i, t in enumerate(scheduler.timesteps):
                check_cancel()
                model_input = torch.cat([latents, condition], dim=1).to(dtype)
                timestep = t.expand(latents.shape[0])
                with transformer.cache_context("cond"):
                    noise_pred = transformer(
                        hidden_states=model_input,
                        timestep=timestep,
                        encoder_hidden_states=prompt_embeds,
                        encoder_hidden_states_image=image_embeds,
                        return_dict=False,
                    )[0]
                if do_cfg:
                    with transformer.cache_context("uncond"):
                        noise_uncond = transformer(
                            hidden_states=model_input,
                            timestep=timestep,
                            encoder_hidden_states=negative_embeds,
                            encoder_hidden_states_image=image_embeds,
                            return_dict=False,
                        )[0]
                    noise_pred = noise_uncond + guidance * (noise_pred - noise_uncond)
                latents = scheduler.step(noise_pred, t, latents, return_dict=False)[0]
                report(i + 2, total, f"denoising step {i + 1}/{steps}")

        if output_type == "latent":
            report(total, total, "done")
            return latents
        check_cancel()
        frames = self.decode(latents)
        report(total, total, "decoded")
        return frames if output_type == "float" else _to_uint8(frames)

    def generate(
        self,
        request: GenerationRequest,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        """``NovelViewCompleter``: the completed (T, H, W, 3) uint8 video at the input size.

        Renders of another size than :attr:`generation_size` are stretched to it (as the
        reference stretches everything to 512x512) and the result is stretched back. A frame
        count the VAE cannot take is padded with copies of the last frame to the next 4k+1
        (as the reference pads short videos) and the extra frames are dropped again.
        """
        colors, masks, source = request.colors, request.masks, request.source_frame
        check_condition_inputs(colors, masks)
        count, height, width = masks.shape
        extra = (-(count - 1)) % TEMPORAL_STRIDE
        if extra:
            colors = np.concatenate([colors, np.repeat(colors[-1:], extra, axis=0)])
            masks = np.concatenate([masks, np.repeat(masks[-1:], extra, axis=0)])
        if source is not None and getattr(source, "shape", None) != (height, width, 3):
            raise InputError(
                f"source_frame must be [{height}, {width}, 3] like the render frames, got "
                f"{getattr(source, 'shape', type(source).__name__)}"
            )
        size = self.generation_size
        resized = size is not None and (height, width) != (size[1], size[0])
        if resized:
            colors, masks = resize_inputs(colors, masks, size[1], size[0])
            if source is not None:
                source = resize_frames(source[None], size[1], size[0])[0]
        out = self(
            colors,
            masks,
            source,
            request.prompt,
            request.negative_prompt,
            num_inference_steps=request.num_inference_steps,
            guidance_scale=request.guidance_scale,
            seed=request.seed,
            progress=progress,
            cancel=cancel,
        )
        out = out[:count]
        return resize_frames(out, height, width) if resized else out

    def describe(self) -> dict:
        """What was loaded and how it is placed (for logs, the CLI and benchmarks)."""
        return {
            "preset": self.preset.name,
            "device": str(self.device),
            "memory_tier": self.plan.name,
            "dtype": str(self.plan.dtype).removeprefix("torch."),
            "lora_rank": self.lora_rank,
            "lora_alpha": self.lora_alpha,
            "applied": list(self.applied),
            "text_encoder": "loaded" if self.prompts.loaded else "not loaded (lazy)",
        }


def _cast(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast parameters to ``dtype`` except the modules a model keeps in float32 (as
    ``from_pretrained(torch_dtype=...)`` does)."""
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    with torch.no_grad():
        for name, param in model.named_parameters():
            target = torch.float32 if keep.intersection(name.split(".")) else dtype
            if param.dtype != target:
                param.data = param.data.to(target)
    return model


def _set_attention_backend(transformer, backend: str) -> None:
    name = backend.lower()
    if name.endswith("_hub"):
        raise InputError(
            f"attention backend {backend!r} downloads kernels at run time, which ex4d-bridge "
            "never does; install the kernel package and use its local backend (e.g. flash)"
        )
    try:
        transformer.set_attention_backend(name)
    except (ValueError, RuntimeError, ImportError) as exc:
        raise InputError(f"attention backend {backend!r} is not usable here: {exc}") from exc
