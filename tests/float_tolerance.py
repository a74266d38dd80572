"""How close two float outputs must be when they do not come from the same program.

Two separately built models with bit-identical weights (one built in memory, one loaded from a
diffusers directory), or our denoising loop against diffusers' own, do the same maths but not
the same sequence of kernels: tensors loaded from files have other strides and alignments, so
oneDNN/BLAS choose other blockings and sum in another order, and that order differs between
CPUs too. Each rounding is at most eps/2 of the value it rounds; through the tiny model's chain
(two blocks per pass, two passes per step, a few steps, the VAE decode) some hundred roundings
add up. Measured: up to 3.4e-6 on frames in [0, 1] in float32, about 30 eps. We allow
``ULPS = 256`` eps of the output's scale (3e-5 for float32 frames): eight times the measured
spread, and still far below every effect these tests look for (a wrong LoRA alpha moves the
tiny model's output by 0.2, a random adapter by more than 1e-3).

Where two runs are literally the same program on the same data (one pipeline called twice,
two runs built the same way in one process), tests keep comparing exactly.
"""

from __future__ import annotations

import numpy as np
import torch

ULPS = 256


def float_tolerance(dtype: torch.dtype = torch.float32, scale: float = 1.0) -> float:
    """Absolute tolerance for outputs of magnitude ``scale`` computed in ``dtype``."""
    return ULPS * torch.finfo(dtype).eps * max(float(scale), 1.0)


def assert_outputs_close(actual, expected, dtype: torch.dtype = torch.float32) -> None:
    """``actual`` equals ``expected`` up to :func:`float_tolerance` of its scale."""
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().float().cpu().numpy()
    if isinstance(actual, torch.Tensor):
        actual = actual.detach().float().cpu().numpy()
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=0, atol=float_tolerance(dtype, scale))
