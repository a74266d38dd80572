"""The EX-4D pipeline: diffusers' Wan2.1 image-to-video components + the EX-4D adapter.

Composition, not a fork: a stock ``WanImageToVideoPipeline`` holds the transformer, VAE, CLIP
image encoder, tokenizer and a flow-matching Euler scheduler (shift 5). This class adds

* the EX-4D LoRA (peft adapter ``ex4d``) inside the stock transformer,
* the condition encoder, whose tokens a forward hook adds to the patch embedding's output,
* the prompt encoder (UMT5 kept outside the Wan pipeline, so it can stay on the CPU, be
  loaded lazily and have its outputs cached),

and runs the same denoising loop as diffusers' I2V pipeline with the reference's sigma
schedule (``linspace(1, 0, steps + 1)[:-1]``, shifted). With the adapter at its initial values
the output equals the stock pipeline's up to float rounding.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..runtime import resolve_device
from .adapter import (
    ADAPTER_NAME,
    ConditionInjector,
    add_ex4d_lora,
    conditioned_forward,
    lora_config,
)
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
from .frames import back_indices, sample_indices
from .interface import (
    SPATIAL_MULTIPLE,
    TEMPORAL_STRIDE,
    GenerationCancelled,
    GenerationRequest,
    ProgressCallback,
    SamplingParams,
)
from .memory import MemoryPlan, apply_plan
from .options import TINY_DEFAULTS, PipelineOptions, options_from
from .presets import Preset, custom_preset, get_preset, match_preset
from .prompts import PromptCache, PromptEncoder, encoder_identity

log = logging.getLogger(__name__)


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
        options: PipelineOptions,
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
        rank = options.lora_rank or (adapter.rank if adapter else None) or preset.lora_rank
        # Alpha: as given, else the adapter's (an original-layout ex4d.ckpt carries none and
        # reads as alpha = rank), else the rank: LoRA scale alpha / rank = 1, as the reference.
        alpha = options.lora_alpha or (adapter.alpha if adapter else None) or float(rank)
        hidden = (adapter.condition_hidden if adapter else None) or preset.condition_hidden
        inner = transformer.config.num_attention_heads * transformer.config.attention_head_dim
        condition_encoder = ConditionEncoder(wan.vae.config.z_dim, hidden, inner)
        add_ex4d_lora(transformer, rank, alpha)
        report = None
        if adapter is not None:
            report = load_into(
                adapter_targets(transformer, condition_encoder, ADAPTER_NAME),
                adapter,
                strict=options.strict,
            )
            log.info(report.summary())
            if not report.ok:
                log.warning("adapter loaded non-strictly: %s", report.summary())
        if options.extra_loras:
            cls._load_extra_loras(wan, options.extra_loras)
        fused = []
        if options.fuse_lora:
            # Merge every active LoRA into the base weights: no per-layer LoRA work at run time.
            names = list(transformer.active_adapters())
            transformer.fuse_lora(lora_scale=1.0, adapter_names=names)
            fused.append(f"LoRA fused into the base weights ({', '.join(names)})")
        applied = fused + apply_plan(wan, condition_encoder, plan, device)
        if options.attention_backend:
            _set_attention_backend(transformer, options.attention_backend)
            applied.append(f"attention backend {options.attention_backend}")
        if options.compile:
            # Group offload hooks move weights inside each block: no full graph there.
            default = {"fullgraph": plan.offload != "group"}
            compile_options = (
                dict(options.compile) if isinstance(options.compile, Mapping) else default
            )
            transformer.compile_repeated_blocks(**compile_options)
            applied.append(f"regional compile of the transformer blocks {compile_options}")
        return cls(
            wan,
            condition_encoder,
            prompt_encoder,
            preset=preset,
            device=device,
            plan=plan,
            applied=applied,
            load_report=report,
            fused=bool(options.fuse_lora),
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
        options: PipelineOptions | None = None,
        *,
        preset: str = "auto",
        **overrides: Any,
    ) -> EX4DPipeline:
        """Load a local diffusers-format Wan2.1 I2V directory and the EX-4D adapter.

        ``adapter``: ``ex4d.ckpt`` (original key layout) or a ``.safetensors`` written by
        :meth:`save_adapter`; None leaves the adapter at its (no-op) initial values.
        ``options``: a :class:`PipelineOptions` (memory tier, device, dtype, offload, prompt
        cache, extra LoRAs, ...); keyword ``overrides`` replace single fields of it, e.g.
        ``from_pretrained(base, adapter, memory="24gb")``. ``preset``: ``auto`` detects it from
        the transformer's config.
        """
        from . import loading

        opts = options_from(options, overrides, PipelineOptions())
        dev = resolve_device(opts.device)
        plan = opts.plan(dev)
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
        cache_dir = opts.prompt_cache_dir()
        if cache_dir is not None:
            identity = encoder_identity(
                [base_dir / "text_encoder", base_dir / "tokenizer"], te_dtype
            )
            cache = PromptCache(cache_dir, identity)
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
            options=opts,
        )

    @classmethod
    def tiny(
        cls,
        *,
        seed: int = 0,
        adapter: str | PathLike | None = None,
        options: PipelineOptions | None = None,
        **overrides: Any,
    ) -> EX4DPipeline:
        """The ``tiny`` preset: random weights from ``seed``, no files needed. ``options``
        default to the CPU without a prompt cache; keyword ``overrides`` as in
        :meth:`from_pretrained`."""
        from .tiny import build_tiny_components

        opts = options_from(options, overrides, TINY_DEFAULTS)
        dev = resolve_device(opts.device)
        plan = opts.plan(dev)
        components = build_tiny_components(seed)
        text_encoder = _cast(components.pop("text_encoder"), plan.text_encoder_dtype)
        _cast(components["transformer"], plan.dtype)
        _cast(components["vae"], plan.vae_dtype)
        _cast(components["image_encoder"], plan.image_encoder_dtype)
        cache = None
        cache_dir = opts.prompt_cache_dir()
        if cache_dir is not None:
            cache = PromptCache(cache_dir, f"tiny-seed{seed}-{plan.text_encoder_dtype}")
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
            options=opts,
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
        # An original-layout file reads as alpha = rank (scale 1), so both formats are checked.
        if weights.rank not in (None, self.lora_rank) or weights.alpha not in (
            None,
            self.lora_alpha,
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

    def _check(self, colors: np.ndarray, masks: np.ndarray, first_frame) -> None:
        check_condition_inputs(colors, masks)
        t, h, w = masks.shape
        if (t - 1) % TEMPORAL_STRIDE != 0:
            lower = (t - 1) // TEMPORAL_STRIDE * TEMPORAL_STRIDE + 1
            raise InputError(
                f"{t} frames: the Wan VAE takes 4k+1 frames (e.g. 49); use the first {lower} "
                f"or render {lower + TEMPORAL_STRIDE}, or call generate(), which resamples any "
                "render to the preset's frame count"
            )
        if h % SPATIAL_MULTIPLE or w % SPATIAL_MULTIPLE:
            raise InputError(
                f"frame size {w}x{h} is not a multiple of {SPATIAL_MULTIPLE} (VAE stride 8 x "
                f"patch 2); resize to e.g. {self.preset.width}x{self.preset.height}"
            )
        grid = max(h, w) // SPATIAL_MULTIPLE
        if grid > self.transformer.config.rope_max_seq_len:
            raise InputError(f"frame size {w}x{h} is larger than this model supports")
        if first_frame is not None and (
            not isinstance(first_frame, np.ndarray)
            or first_frame.dtype != np.uint8
            or first_frame.shape != (h, w, 3)
        ):
            raise InputError(
                f"first_frame must be a uint8 array [{h}, {w}, 3] like the render frames, got "
                f"{getattr(first_frame, 'dtype', type(first_frame).__name__)} "
                f"{getattr(first_frame, 'shape', '')}"
            )

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
        first_frame: np.ndarray | None = None,
        *,
        sampling: SamplingParams | None = None,
        output_type: str = "uint8",
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        **sampling_fields: Any,
    ) -> np.ndarray | torch.Tensor:
        """Generate the completed video of a render that already fits the model.

        Args:
            colors: uint8 [T, H, W, 3] render colours (T = 4k+1, H and W multiples of 16);
                :meth:`generate` fits any render first.
            masks: bool [T, H, W], True where the render saw a real surface.
            first_frame: uint8 [H, W, 3] image conditioning; default the masked render's frame
                0 (``colors[0]`` where the eroded ``masks[0]`` is set), as the reference.
            sampling: a :class:`SamplingParams`; keyword ``sampling_fields`` replace single
                fields of it (``seed=3``, ``num_inference_steps=4``, ``mask_erosion=None``,
                ...). Defaults: the preset's steps, guidance and shift (25, 5.0, 5.0), the
                reference prompts and erosion. Its ``num_frames`` and ``size`` are ignored
                here (the render's are used).
            output_type: ``"uint8"`` [T, H, W, 3], ``"float"`` (in [0, 1]) or ``"latent"``.
        """
        params = replace(sampling or SamplingParams(), **sampling_fields)
        self._check(colors, masks, first_frame)
        if output_type not in ("uint8", "float", "latent"):
            raise InputError(f"output_type {output_type!r} is not one of uint8, float, latent")
        params = params.resolved(self.preset)
        eroded = erode_masks(masks, params.mask_erosion, params.seed)
        if first_frame is None:
            # The reference conditions on frame 0 of its masked input video, (colour * mask).
            first_frame = colors[0] * eroded[0][..., None].astype(np.uint8)
        with self._lock:
            try:
                return self._generate(
                    colors,
                    eroded,
                    first_frame,
                    params,
                    output_type=output_type,
                    progress=progress,
                    cancel=cancel,
                )
            finally:
                self.wan.maybe_free_model_hooks()

    def _generate(
        self,
        colors: np.ndarray,
        masks: np.ndarray,
        first_frame: np.ndarray,
        sampling: SamplingParams,
        *,
        output_type: str,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ):
        """The denoising loop; ``masks`` are already eroded and ``sampling`` is resolved."""
        wan, transformer, device = self.wan, self.transformer, self.device
        dtype = self.plan.dtype
        steps, guidance = sampling.num_inference_steps, sampling.guidance_scale
        total = steps + 2
        report = progress or (lambda done, total, message: None)

        def check_cancel() -> None:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation was cancelled")

        check_cancel()
        t_count = masks.shape[0]
        do_cfg = guidance > 1.0
        prompt_embeds = self.prompts.encode(sampling.prompt).to(device=device, dtype=dtype)
        negative_embeds = None
        if do_cfg:
            negative_embeds = self.prompts.encode(sampling.negative_prompt).to(
                device=device, dtype=dtype
            )
        scheduler = wan.scheduler
        scheduler.set_shift(sampling.shift)
        scheduler.set_timesteps(steps, device=device, sigmas=reference_sigmas(steps))
        generator = torch.Generator(device="cpu").manual_seed(sampling.seed)
        image_embeds, latents, condition = self.encode_source(first_frame, t_count, generator)
        tokens = self.encode_condition(colors, masks)
        report(1, total, "encoded the prompt, first frame and render")

        for i, t in enumerate(scheduler.timesteps):
            check_cancel()
            model_input = torch.cat([latents, condition], dim=1).to(dtype)
            timestep = t.expand(latents.shape[0])
            noise_pred = conditioned_forward(
                transformer,
                self.injector,
                tokens,
                model_input,
                timestep,
                prompt_embeds,
                image_embeds,
                cache="cond",
            )
            if do_cfg:
                noise_uncond = conditioned_forward(
                    transformer,
                    self.injector,
                    tokens,
                    model_input,
                    timestep,
                    negative_embeds,
                    image_embeds,
                    cache="uncond",
                )
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
        """``NovelViewCompleter``: the completed (T, H, W, 3) uint8 video, one frame per render
        frame at the render's size (callers use :func:`~.interface.generate_views`).

        As the reference's ``generate.py``: the render is fitted to ``sampling.num_frames``
        (the preset's 49) by linspace sampling when longer and by padding with its last frame
        when shorter, and stretched to ``sampling.size`` (the preset's 512x512); the result is
        mapped back, each render frame getting the generated frame of its nearest sample, and
        stretched back to the render's size.
        """
        request.check()
        sampling = request.sampling.resolved(self.preset)
        colors, masks, first = request.colors, request.masks, request.first_frame
        count, height, width = masks.shape
        picked = sample_indices(count, sampling.num_frames)
        colors, masks = colors[picked], masks[picked]
        gen_w, gen_h = (width, height) if sampling.size == "native" else sampling.size
        resized = (height, width) != (gen_h, gen_w)
        if resized:
            colors, masks = resize_inputs(colors, masks, gen_h, gen_w)
            if first is not None:
                first = resize_frames(first[None], gen_h, gen_w)[0]
        out = self(colors, masks, first, sampling=sampling, progress=progress, cancel=cancel)
        out = out[back_indices(picked, count)]
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
