"""The flow-matching (rectified flow) objective in the convention Wan and diffusers sample with.

diffusers' ``FlowMatchEulerDiscreteScheduler`` (which generation samples with) defines

* the forward process ``x_sigma = (1 - sigma) * x0 + sigma * noise`` (``scale_noise``),
* the model input timestep ``t = sigma * 1000`` (``num_train_timesteps``),
* the Euler step ``x_next = x + (sigma_next - sigma) * model_output``,

so the model output is the velocity ``d x / d sigma = noise - x0``: that is the regression
target. Training sigmas are drawn like the scheduler's shifted grid: ``u ~ U(0, 1)`` mapped by
the same shift (``shift * u / (1 + (shift - 1) * u)``, shift 5 for EX-4D), so training spends
its steps where sampling spends them (mostly at high noise); ``uniform`` draws sigma = u.
The loss is the plain mean squared error (no per-timestep weighting).
"""

from __future__ import annotations

import torch

from ..errors import InputError

NUM_TRAIN_TIMESTEPS = 1000
SIGMA_SAMPLING = ("shift", "uniform")


def shift_sigmas(u: torch.Tensor, shift: float) -> torch.Tensor:
    """The scheduler's static shift of sigmas in [0, 1]."""
    return shift * u / (1 + (shift - 1) * u)


def sample_sigmas(
    count: int, generator: torch.Generator, *, mode: str = "shift", shift: float = 5.0
) -> torch.Tensor:
    """``count`` training sigmas in [0, 1) (float32, CPU), from ``generator``."""
    if mode not in SIGMA_SAMPLING:
        raise InputError(f"timestep sampling {mode!r} is not one of {', '.join(SIGMA_SAMPLING)}")
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    sigma = shift_sigmas(u, float(shift)) if mode == "shift" else u
    return sigma.float()


def _per_sample(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return sigma.to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.ndim - 1)))


def noisy_latents(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``(1 - sigma) * x0 + sigma * noise``, sigma per batch element."""
    s = _per_sample(sigma, x0)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """What the model must predict at every sigma: ``noise - x0``."""
    return noise - x0


def model_timesteps(sigma: torch.Tensor) -> torch.Tensor:
    """The transformer's timestep input for ``sigma`` (as the scheduler's ``timesteps``)."""
    return sigma.float() * NUM_TRAIN_TIMESTEPS


def flow_matching_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error in float32 (bf16 predictions are upcast first)."""
    return torch.nn.functional.mse_loss(prediction.float(), target.float())
