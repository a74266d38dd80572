"""Adapter training: the EX-4D LoRA + condition encoder on a frozen Wan2.1 I2V model.

Every training sample is conditioned exactly as generation conditions a render (the same
methods of :class:`~ex4d_bridge.generation.EX4DPipeline` build the inputs):

* the masked input video and its mask (eroded like generation erodes render masks, kernel
  2..8 per frame by default) -> VAE -> condition encoder -> tokens added after the patch
  embedding;
* image conditioning on frame 0 of the target (the source frame): CLIP embeddings and the
  first-frame latent condition of the Wan I2V model;
* the text embedding of the reference prompt (encoded once, cached on disk).

The target video's VAE latents ``x0`` are noised along the flow-matching path and the model
regresses the velocity ``noise - x0`` (:mod:`.flow_matching`).

Exact resume: every random draw of a step (which sample, its sigma, its noise, its mask
erosion) comes from a generator seeded by ``(seed, micro-batch index)``, never from a global
random state, and checkpoints hold the adapter, the AdamW moments and the step, so a resumed
run computes the same losses and weights as an uninterrupted one. Multi-GPU runs go through
accelerate (``accelerate launch -m ex4d_bridge train ...``): the adapter module is wrapped in
DDP and each process draws its own micro-batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..generation.adapter import conditioned_forward
from ..generation.condition import erode_masks
from ..generation.pipeline import SPATIAL_MULTIPLE, TEMPORAL_STRIDE
from ..generation.prompts import DEFAULT_PROMPT
from .dataset import TrainingSample, load_sample, read_index
from .flow_matching import (
    SIGMA_SAMPLING,
    flow_matching_loss,
    model_timesteps,
    noisy_latents,
    sample_sigmas,
    shift_sigmas,
    velocity_target,
)

log = logging.getLogger(__name__)

STATE_FORMAT = "ex4d-bridge-training-state"
STATE_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
ADAPTER_FILE = "adapter.safetensors"
LR_SCHEDULES = ("constant", "cosine")
# Settings a resumed run must share with the run it continues, else its losses would differ.
_RESUME_KEYS = (
    "seed",
    "lr",
    "warmup_steps",
    "lr_schedule",
    "weight_decay",
    "max_grad_norm",
    "grad_accum",
    "lora_rank",
    "lora_alpha",
    "timestep_sampling",
    "shift",
    "erosion",
    "prompt",
    "num_processes",
    "dataset_samples",
)
_EVAL_STREAM = 1 << 40  # seeds of evaluation draws: disjoint from the training micro-batches


@dataclass
class TrainConfig:
    """Options of ``ex4d-bridge train`` (see docs/training.md)."""

    data: str
    out: str
    base: str | None = None
    adapter: str | None = None  # start from these weights instead of the zero-effect init
    steps: int = 1000
    lr: float = 1e-4
    warmup_steps: int = 100
    lr_schedule: str = "constant"
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # 0 disables clipping
    grad_accum: int = 1
    lora_rank: int | None = None  # default: the adapter's, else the preset's (16)
    lora_alpha: float | None = None  # default: the adapter's, else the rank (LoRA scale 1)
    timestep_sampling: str = "shift"
    shift: float = 5.0
    erosion: str | int | None = "reference"
    prompt: str = DEFAULT_PROMPT
    seed: int = 0
    device: str = "auto"
    dtype: str | None = None  # base weights: default bf16 on CUDA, fp32 on the CPU
    mixed_precision: str | None = None  # "bf16" or "no"; default bf16 on CUDA
    gradient_checkpointing: bool = True
    cache_encodings: bool = False  # keep each sample's erosion-independent encodings in RAM
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    resume: str | None = None  # "latest" or a checkpoint directory
    prompt_cache: str | None = "default"
    attention_backend: str | None = None
    progress: bool = True

    def check(self) -> None:
        positive = {"steps": self.steps, "grad_accum": self.grad_accum}
        for name, value in positive.items():
            if int(value) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.lora_rank is not None and int(self.lora_rank) < 1:
            raise InputError(f"--lora-rank must be >= 1, got {self.lora_rank}")
        if not self.lr > 0:
            raise InputError(f"--lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.max_grad_norm < 0:
            raise InputError("--warmup-steps, --weight-decay and --max-grad-norm must be >= 0")
        if self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise InputError("--checkpoint-every and --keep-checkpoints must be >= 1")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(
                f"--lr-schedule {self.lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}"
            )
        if self.timestep_sampling not in SIGMA_SAMPLING:
            raise InputError(
                f"--timestep-sampling {self.timestep_sampling!r} is not one of "
                f"{', '.join(SIGMA_SAMPLING)}"
            )
        if not self.shift > 0:
            raise InputError(f"--shift must be > 0, got {self.shift}")
        if self.mixed_precision not in (None, "bf16", "no"):
            raise InputError(f"--mixed-precision {self.mixed_precision!r} is not bf16 or no")
        if not 0 <= int(self.seed) < 2**63:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}")


@dataclass
class TrainResult:
    adapter: Path
    step: int  # optimizer steps done in total (including resumed ones)
    losses: list[float] = field(default_factory=list)  # this run's per-step losses
    checkpoint: Path | None = None


class AdapterModule(nn.Module):
    """The trainable part as one module (what accelerate wraps for DDP): condition encoder ->
    tokens -> transformer with the tokens injected after its patch embedding."""

    def __init__(self, transformer: nn.Module, condition_encoder: nn.Module, injector):
        super().__init__()
        self.transformer = transformer
        self.condition_encoder = condition_encoder
        self._injector = injector

    def forward(self, model_input, timestep, text, image, render_latents, mask_latents):
        tokens = self.condition_encoder(render_latents, mask_latents)
        return conditioned_forward(
            self.transformer, self._injector, tokens, model_input, timestep, text, image
        )


@dataclass
class StepInputs:
    """One micro-batch, encoded: everything the model sees plus the flow-matching draw."""

    x0: torch.Tensor  # target latents [1, 16, T', h, w]
    condition: torch.Tensor  # first-frame condition [1, 20, T', h, w]
    image_embeds: torch.Tensor
    render_latents: torch.Tensor
    mask_latents: torch.Tensor
    sigma: torch.Tensor  # [1]
    noise: torch.Tensor


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0])


def _dataset_fingerprint(rows: list[dict]) -> str:
    return hashlib.sha1("\n".join(sorted(r["id"] for r in rows)).encode()).hexdigest()[:16]


def check_rows(rows: list[dict], directory: str | os.PathLike) -> None:
    """Frame counts and sizes the Wan VAE and patch embedding can take."""
    for row in rows:
        try:
            t, h, w = int(row["num_frames"]), int(row["height"]), int(row["width"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"sample {row.get('id', '?')} of {directory} lacks num_frames/width/height in "
                "index.jsonl; remake the dataset with `ex4d-bridge make-dataset`"
            ) from None
        if t < 1 or (t - 1) % TEMPORAL_STRIDE:
            raise InputError(
                f"sample {row['id']} of {directory} has {t} frames; the Wan VAE takes 4k+1 "
                "frames (e.g. 49): remake the dataset with --frames 4k+1"
            )
        if h % SPATIAL_MULTIPLE or w % SPATIAL_MULTIPLE or min(h, w) < SPATIAL_MULTIPLE:
            raise InputError(
                f"sample {row['id']} of {directory} is {w}x{h}; frame sizes must be multiples "
                f"of {SPATIAL_MULTIPLE} (VAE stride 8 x patch 2): remake it with e.g. --size 512"
            )


def _lr_factor(step: int, warmup: int, schedule: str, total: int) -> float:
    """Linear warmup over ``warmup`` steps, then constant or cosine decay to 0 at ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        span = max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))
    return 1.0


def _make_accelerator(device: str):
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    from ..runtime import resolve_device

    dev = resolve_device(device)
    try:
        # Mixed precision is applied by the trainer (torch.autocast), not by accelerate, whose
        # process-wide state could not change between runs in one process.
        return Accelerator(
            cpu=dev.type == "cpu",
            kwargs_handlers=[DistributedDataParallelKwargs(gradient_as_bucket_view=True)],
        )
    except ValueError as exc:
        raise InputError(f"cannot train on {device!r} in this process: {exc}") from exc


def _complete_checkpoints(out: Path) -> list[Path]:
    root = out / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / "checkpoint.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


class Trainer:
    """Builds the model, optimizer and data order from a :class:`TrainConfig`; :meth:`run`
    trains to ``config.steps``, or call :meth:`train_step` yourself.

    ``pipeline``: an already built :class:`~ex4d_bridge.generation.EX4DPipeline` to train
    in place (then ``config.base``, ``adapter``, ``dtype``, ``lora_rank`` and ``lora_alpha``
    are not read: the pipeline already has them).
    """

    def __init__(self, config: TrainConfig, pipeline=None):
        config.check()
        self.config = config
        self.data = Path(config.data)
        self.rows = read_index(self.data)
        check_rows(self.rows, self.data)
        self.out = Path(config.out)
        self.accelerator = _make_accelerator(config.device)
        self.device = self.accelerator.device
        cuda = self.device.type == "cuda"
        resume_dir = self._resume_dir()
        if pipeline is None:
            pipeline = self._build_pipeline(cuda)
        self.pipeline = pipeline
        self._check_sizes()
        self.autocast_dtype = None
        mixed = config.mixed_precision or ("bf16" if cuda else "no")
        if mixed == "bf16":
            self.autocast_dtype = torch.bfloat16
        self.params = self._prepare_parameters()
        if config.gradient_checkpointing:
            pipeline.transformer.enable_gradient_checkpointing()
        module = AdapterModule(pipeline.transformer, pipeline.condition_encoder, pipeline.injector)
        optimizer = torch.optim.AdamW(
            list(self.params.values()), lr=config.lr, weight_decay=config.weight_decay
        )
        # Stepped once per optimizer step by the trainer (accelerate's wrapper would step it
        # once per process).
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: _lr_factor(s, config.warmup_steps, config.lr_schedule, config.steps),
        )
        self.model, self.optimizer = self.accelerator.prepare(module, optimizer)
        dtype = pipeline.plan.dtype
        self.text = pipeline.prompts.encode(config.prompt).to(self.device, dtype)
        self.step = 0
        self._cache: dict = {}
        self.settings = self._settings()
        if resume_dir is not None:
            self.load_checkpoint(resume_dir)

    # ------------------------------------------------------------------ setup

    def _resume_dir(self) -> Path | None:
        existing = _complete_checkpoints(self.out)
        resume = self.config.resume
        if resume is None:
            if existing:
                raise InputError(
                    f"{self.out} already holds a training run (checkpoints up to "
                    f"{existing[-1].name}); pass --resume to continue it, or choose another --out"
                )
            return None
        if resume == "latest":
            if not existing:
                raise InputError(f"nothing to resume: {self.out} holds no complete checkpoint")
            return existing[-1]
        path = Path(resume)
        if not (path / "checkpoint.json").is_file():
            raise InputError(
                f"{path} is not a training checkpoint (no checkpoint.json); give a "
                f"{CHECKPOINT_DIR}/step-N directory or --resume alone for the latest"
            )
        return path

    def _build_pipeline(self, cuda: bool):
        from ..generation import EX4DPipeline, PipelineOptions

        config = self.config
        if not config.base:
            raise InputError(
                "give --base PATH: the local diffusers-format Wan2.1-I2V-14B-480P directory "
                "whose adapter is trained"
            )
        dtype = config.dtype or ("bf16" if cuda else "fp32")
        # The LoRA's random A (and the encoder's hidden layers) are drawn from the global CPU
        # generator: seed it so equal seeds give equal runs, without leaking the change.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(config.seed))
            options = PipelineOptions(
                device=self.device,
                memory="80gb" if cuda else "cpu",
                dtype=dtype,
                prompt_cache=config.prompt_cache,
                lora_rank=config.lora_rank,
                lora_alpha=config.lora_alpha,
                attention_backend=config.attention_backend,
            )
            return EX4DPipeline.from_pretrained(config.base, config.adapter, options)

    def _check_sizes(self) -> None:
        limit = int(self.pipeline.transformer.config.rope_max_seq_len)
        for row in self.rows:
            if max(row["height"], row["width"]) // SPATIAL_MULTIPLE > limit:
                raise InputError(
                    f"sample {row['id']} is {row['width']}x{row['height']}, larger than this "
                    f"model supports ({limit * SPATIAL_MULTIPLE} pixels a side)"
                )

    def _prepare_parameters(self) -> dict[str, nn.Parameter]:
        """Freeze everything, then make the adapter trainable in float32 (the base may be
        bf16: autocast computes in bf16 while AdamW updates float32 master weights)."""
        pipe = self.pipeline
        if pipe.fused:
            raise InputError("a pipeline with a fused LoRA cannot be trained")
        for module in (pipe.transformer, pipe.vae, pipe.wan.image_encoder):
            module.requires_grad_(False)
        params = pipe.adapter_parameters()
        with torch.no_grad():
            for p in params.values():
                if p.dtype != torch.float32:
                    p.data = p.data.float()
                p.requires_grad_(True)
        return params

    def _settings(self) -> dict:
        s = {k: v for k, v in asdict(self.config).items() if k in _RESUME_KEYS}
        s["lora_rank"] = self.pipeline.lora_rank
        s["lora_alpha"] = self.pipeline.lora_alpha
        s["num_processes"] = self.accelerator.num_processes
        s["dataset_samples"] = _dataset_fingerprint(self.rows)  # a hash of the sample ids
        if self.config.lr_schedule == "cosine":  # the decay depends on the length
            s["steps"] = self.config.steps
        return s

    # ------------------------------------------------------------------ data

    def sample_for(self, micro: int) -> dict:
        """The index row of global micro-batch ``micro``: a fresh permutation every epoch."""
        n = len(self.rows)
        epoch, pos = divmod(micro, n)
        order = np.random.default_rng([int(self.config.seed), epoch]).permutation(n)
        return self.rows[int(order[pos])]

    def _source_encodings(self, sample: TrainingSample):
        """Target latents, first-frame condition and CLIP embeddings: independent of the
        step's random draws, so ``cache_encodings`` keeps them (on the CPU) per sample."""
        key = sample.meta.get("id")
        cached = self._cache.get(key) if self.config.cache_encodings else None
        if cached is None:
            pipe = self.pipeline
            x0 = pipe.encode_video(sample.target)
            fixed = torch.Generator().manual_seed(0)  # generation's initial noise: unused here
            image_embeds, _, condition = pipe.encode_source(
                sample.target[0], sample.masks.shape[0], fixed
            )
            cached = (x0, condition, image_embeds)
            if self.config.cache_encodings:
                self._cache[key] = tuple(x.cpu() for x in cached)
        return tuple(x.to(self.device) for x in cached)

    def encode(
        self, sample: TrainingSample, erosion_seed: int, sigma: torch.Tensor, noise_seed: int
    ) -> StepInputs:
        """Everything the model sees for one sample, built by the generation pipeline."""
        masks = erode_masks(sample.masks, self.config.erosion, erosion_seed)
        render_latents, mask_latents = self.pipeline.encode_condition_latents(sample.inputs, masks)
        x0, condition, image_embeds = self._source_encodings(sample)
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(noise_seed))
        return StepInputs(
            x0,
            condition,
            image_embeds,
            render_latents,
            mask_latents,
            sigma.to(self.device),
            noise.to(self.device),
        )

    def micro_inputs(self, micro: int) -> StepInputs:
        row = self.sample_for(micro)
        sample = load_sample(self.data, row)
        seed = _seed(self.config.seed, micro)
        g = torch.Generator().manual_seed(seed)
        sigma = sample_sigmas(1, g, mode=self.config.timestep_sampling, shift=self.config.shift)
        return self.encode(sample, seed % (1 << 62), sigma, _seed(seed, 1))

    # ------------------------------------------------------------------ model

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def predict(self, inputs: StepInputs, x_t: torch.Tensor, model=None) -> torch.Tensor:
        """The model's velocity for the noisy latents ``x_t`` at ``inputs.sigma``."""
        dtype = self.pipeline.plan.dtype
        model_input = torch.cat([x_t, inputs.condition.to(x_t)], dim=1).to(dtype)
        with self._autocast():
            return (model or self.model)(
                model_input,
                model_timesteps(inputs.sigma),
                self.text,
                inputs.image_embeds,
                inputs.render_latents,
                inputs.mask_latents,
            )

    def loss(self, inputs: StepInputs, model=None) -> torch.Tensor:
        x_t = noisy_latents(inputs.x0, inputs.noise, inputs.sigma)
        prediction = self.predict(inputs, x_t, model)
        return flow_matching_loss(prediction, velocity_target(inputs.x0, inputs.noise))

    def train_step(self) -> dict:
        """One optimizer step over ``grad_accum`` micro-batches per process."""
        acc, cfg = self.accelerator, self.config
        losses = []
        for k in range(cfg.grad_accum):
            micro = (self.step * cfg.grad_accum + k) * acc.num_processes + acc.process_index
            inputs = self.micro_inputs(micro)
            last = k == cfg.grad_accum - 1
            with contextlib.nullcontext() if last else acc.no_sync(self.model):
                loss = self.loss(inputs)
                acc.backward(loss / cfg.grad_accum)
            losses.append(loss.detach())
        grad_norm = None
        if cfg.max_grad_norm > 0:
            grad_norm = float(acc.clip_grad_norm_(list(self.params.values()), cfg.max_grad_norm))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        mean = acc.reduce(torch.stack(losses).mean(), reduction="mean")
        return {"step": self.step, "loss": float(mean), "lr": lr, "grad_norm": grad_norm}

    @torch.no_grad()
    def evaluate(self, draws: int = 8) -> float:
        """Mean loss over fixed draws (samples in index order, evenly spread shifted sigmas,
        seeded noise and erosion): unlike the training loss, comparable between steps."""
        total = 0.0
        for k in range(draws):
            sample = load_sample(self.data, self.rows[k % len(self.rows)])
            u = torch.tensor([(k + 0.5) / draws], dtype=torch.float64)
            sigma = shift_sigmas(u, self.config.shift).float()
            seed = _seed(self.config.seed, _EVAL_STREAM + k)
            inputs = self.encode(sample, seed % (1 << 62), sigma, _seed(seed, 1))
            total += float(self.loss(inputs, self.accelerator.unwrap_model(self.model)))
        return total / draws

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self) -> Path:
        """``checkpoints/step-N``: adapter (generation's format), optimizer, LR schedule, RNG
        and step; written to a temporary directory and renamed, ``checkpoint.json`` last."""
        acc = self.accelerator
        root = self.out / CHECKPOINT_DIR
        final = root / f"step-{self.step:07d}"
        tmp = root / f".tmp-step-{self.step:07d}"
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        torch.save(rng, tmp / f"rng-{acc.process_index}.pt")
        acc.wait_for_everyone()
        if acc.is_main_process:
            self.pipeline.save_adapter(tmp / ADAPTER_FILE)
            state = {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "step": self.step,
                "optimizer": self.optimizer.state_dict(),
                "lr_scheduler": self.lr_scheduler.state_dict(),
            }
            torch.save(state, tmp / "training_state.pt")
            meta = {"step": self.step, "settings": self.settings, "config": asdict(self.config)}
            (tmp / "checkpoint.json").write_text(json.dumps(meta, indent=2))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            for old in _complete_checkpoints(self.out)[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def _check_adapter_fits(self, path: Path) -> None:
        from ..generation.checkpoint import read_adapter

        meta = read_adapter(path).metadata
        pipe = self.pipeline
        ours = {
            "model_dim": pipe.condition_encoder.out_dim,
            "num_layers": pipe.transformer.config.num_layers,
            "condition_hidden": pipe.condition_encoder.hidden,
            "lora_rank": pipe.lora_rank,
        }
        theirs = {k: meta.get(k) for k in ours}
        if any(v is not None and int(v) != ours[k] for k, v in theirs.items()):
            raise InputError(
                f"the checkpoint {path.parent} was trained on a model of width "
                f"{theirs['model_dim']} with {theirs['num_layers']} blocks (condition width "
                f"{theirs['condition_hidden']}, LoRA rank {theirs['lora_rank']}); this base "
                f"model has width {ours['model_dim']} with {ours['num_layers']} blocks "
                f"(condition width {ours['condition_hidden']}, LoRA rank {ours['lora_rank']}). "
                "Resume with the base model (and --lora-rank) it was trained with, or start a "
                "new --out"
            )

    def load_checkpoint(self, directory: str | os.PathLike) -> None:
        path = Path(directory)
        meta = json.loads((path / "checkpoint.json").read_text())
        self._check_adapter_fits(path / ADAPTER_FILE)
        saved = meta.get("settings", {})
        changed = [
            f"{k}: {saved.get(k)!r} in the checkpoint, {v!r} now"
            for k, v in self.settings.items()
            if saved.get(k) != v
        ]
        if changed:
            raise InputError(
                f"cannot resume {path} exactly: settings differ ({'; '.join(changed)}). Use the "
                "settings of the run being resumed (only --steps may change), or a new --out"
            )
        self.pipeline.load_adapter(path / ADAPTER_FILE)
        try:
            state = torch.load(path / "training_state.pt", map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged file has many error types; all mean "unreadable"
            raise InputError(f"{path / 'training_state.pt'} is unreadable: {exc}") from exc
        if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise InputError(f"{path} holds no training state this release reads")
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.step = int(state["step"])
        rng_file = path / f"rng-{self.accelerator.process_index}.pt"
        if rng_file.is_file():
            rng = torch.load(rng_file, weights_only=True)
            torch.set_rng_state(rng["cpu"])
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)
        log.info("resumed %s at step %d", path, self.step)

    # ------------------------------------------------------------------ loop

    def _log_path(self) -> Path:
        return self.out / "losses.jsonl"

    def _start_log(self) -> None:
        """Keep the loss log of the steps before the resumed one; drop any later lines."""
        path = self._log_path()
        kept = []
        if path.is_file():
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    if json.loads(line)["step"] <= self.step:
                        kept.append(line)
        path.write_text("".join(line + "\n" for line in kept))

    def run(self) -> TrainResult:
        from tqdm.auto import tqdm

        acc, cfg = self.accelerator, self.config
        main = acc.is_main_process
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.json").write_text(
                json.dumps({"config": asdict(cfg), "settings": self.settings}, indent=2)
            )
            self._start_log()
        losses: list[float] = []
        checkpoint = None
        bar = tqdm(
            total=cfg.steps,
            initial=min(self.step, cfg.steps),
            desc="training",
            unit="step",
            disable=not (cfg.progress and main),
        )
        try:
            while self.step < cfg.steps:
                record = self.train_step()
                losses.append(record["loss"])
                if main:
                    with self._log_path().open("a") as f:
                        f.write(json.dumps(record) + "\n")
                bar.update()
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    checkpoint = self.save_checkpoint()
        finally:
            bar.close()
        adapter = self.out / ADAPTER_FILE
        if main:
            self.pipeline.save_adapter(adapter)
        acc.wait_for_everyone()
        return TrainResult(adapter, self.step, losses, checkpoint)


def train(config: TrainConfig, pipeline=None) -> TrainResult:
    """Train the EX-4D adapter as configured; the final adapter is ``<out>/adapter.safetensors``
    (``EX4DPipeline.from_pretrained(base, adapter)`` and ``load_adapter`` read it)."""
    return Trainer(config, pipeline).run()
