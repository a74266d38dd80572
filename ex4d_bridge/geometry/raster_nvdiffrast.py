"""Optional nvdiffrast backend (CUDA only). nvdiffrast is not on PyPI; install it yourself
(``pip install git+https://github.com/NVlabs/nvdiffrast``) to use it."""

from __future__ import annotations

from functools import lru_cache

import torch

from ..errors import InputError


def available() -> bool:
    try:
        import nvdiffrast.torch  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken install is as good as none
        return False
    return torch.cuda.is_available()


@lru_cache(maxsize=4)
def _context(device: str):
    import nvdiffrast.torch as dr

    return dr.RasterizeCudaContext(device=torch.device(device))


def rasterize(pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """Same contract as ``raster_torch.rasterize``: (H, W, 4) ``(u, v, z/w, triangle_id + 1)``."""
    if not available():
        raise InputError(
            "the nvdiffrast backend needs nvdiffrast and a CUDA GPU; install nvdiffrast or use "
            "backend='torch'"
        )
    if pos.device.type != "cuda":
        raise InputError("the nvdiffrast backend renders CUDA meshes only; move the mesh to CUDA")
    import nvdiffrast.torch as dr

    rast, _ = dr.rasterize(
        _context(str(pos.device)),
        pos.to(torch.float32).contiguous()[None],
        tri.to(torch.int32).contiguous(),
        resolution=[int(resolution[0]), int(resolution[1])],
    )
    return rast[0]
