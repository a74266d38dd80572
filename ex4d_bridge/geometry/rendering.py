"""Render a DW-Mesh from any camera: colour, visibility mask, depth and face ids.

The torch and nvdiffrast backends produce nvdiffrast-style rasters (see ``raster_torch``) and
share everything after the raster (attribute interpolation, masks); the compiled CPU backend
(``"cpu"``, ``raster_numba``) fuses all of it into a few loops that repeat the torch path's
arithmetic in the same order, so it gives the same bits.

Mask styles:

* ``"face"``: the mask is True where a non-occluded face is seen (the exact visibility);
* ``"reference"``: as the EX-4D reference builds its training and inference masks: colour and
  alpha are zeroed on every vertex of an occluded face and the interpolated alpha is thresholded
  at 125/255, so the mask also loses about a pixel of visible surface beside occluded regions.
  Use it for generation inputs; the adapter was trained on masks of that shape.

In both, the colour is black wherever the mask is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import runtime
from ..camera.intrinsics import Intrinsics
from ..errors import InputError
from . import raster_numba, raster_nvdiffrast, raster_torch
from .dwmesh import DWMesh
from .options import RenderOptions
from .raster_torch import gather_rows

_REFERENCE_ALPHA_THRESHOLD = 125.0 / 255.0


@dataclass
class RenderResult:
    """numpy arrays for a numpy mesh, torch tensors (on the mesh's device) for a torch mesh."""

    color: np.ndarray | torch.Tensor  # (H, W, 3) uint8, black where mask is False
    mask: np.ndarray | torch.Tensor  # (H, W) bool
    depth: np.ndarray | torch.Tensor  # (H, W) float32 camera z-depth, inf where empty
    face_id: np.ndarray | torch.Tensor  # (H, W) int64 index into mesh.faces, -1 where empty


def choose_backend(backend: str, device: torch.device) -> str:
    """``"auto"``: nvdiffrast on CUDA when installed, else torch there; on the CPU the
    compiled backend when numba is installed, else torch."""
    if backend == "auto":
        if device.type == "cuda":
            return "nvdiffrast" if raster_nvdiffrast.available() else "torch"
        return "cpu" if raster_numba.available() else "torch"
    if backend not in ("torch", "nvdiffrast", "cpu"):
        raise InputError(f"unknown render backend {backend!r}; use auto, cpu, torch or nvdiffrast")
    if backend == "cpu":
        if not raster_numba.available():
            raise InputError(
                "the cpu render backend needs numba: pip install 'ex4d-bridge[server]' (or "
                "pip install numba), or use backend='torch'"
            )
        if device.type != "cpu":
            raise InputError(
                f"the cpu render backend renders on the CPU, not {device.type}; use "
                "backend='auto', 'torch' or 'nvdiffrast' there"
            )
    return backend


def _check_pose(cam_to_world) -> np.ndarray:
    pose = np.asarray(
        cam_to_world.detach().cpu().numpy()
        if isinstance(cam_to_world, torch.Tensor)
        else cam_to_world,
        dtype=np.float64,
    )
    if pose.shape != (4, 4):
        raise InputError(f"cam_to_world must be a 4x4 matrix, got shape {pose.shape}")
    if not np.isfinite(pose).all():
        raise InputError("cam_to_world contains NaN or inf")
    if not np.allclose(pose[3], (0.0, 0.0, 0.0, 1.0), atol=1e-6):
        raise InputError(f"cam_to_world's bottom row must be [0, 0, 0, 1], got {pose[3].tolist()}")
    rot = pose[:3, :3]
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
        raise InputError("cam_to_world's rotation is not a proper rotation matrix")
    return pose


def projection(intrinsics: Intrinsics, near: float, far: float) -> torch.Tensor:
    """4x4 map from OpenCV camera coordinates to clip space such that NDC x, y = -1 are the left
    and top image edges (nvdiffrast row 0 is NDC y = -1, so images come out upright), w = z and
    z/w runs -1..1 from ``near`` to ``far``."""
    k = intrinsics
    return torch.tensor(
        [
            [2 * k.fx / k.width, 0, 2 * k.cx / k.width - 1, 0],
            [0, 2 * k.fy / k.height, 2 * k.cy / k.height - 1, 0],
            [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)],
            [0, 0, 1, 0],
        ],
        dtype=torch.float64,
    )


def cap_may_be_visible(
    mesh: DWMesh,
    cam_to_world: np.ndarray,
    intrinsics: Intrinsics | None = None,
    near: float = 1e-3,
) -> bool:
    """False when the cap faces provably cannot show, so they need no raster work.

    The closed volume lies inside the source frustum, between the sheet and the cap's plane; a
    camera in front of the sheet reaches the cap only through the sheet. The near plane clips
    only geometry within ``reach`` of the camera (its frustum up to the near plane), so the cap
    stays hidden when no sheet point is within that reach of the camera or behind it: sheet
    depth along a ray through a pixel quad lies between its corner depths, so comparing the
    camera with the nearest depth of the source pixels around its projection is conservative.
    """
    k = mesh.intrinsics
    kr = intrinsics or k
    tx = max(kr.cx, kr.width - kr.cx) / kr.fx
    ty = max(kr.cy, kr.height - kr.cy) / kr.fy
    reach = near * math.sqrt(1.0 + tx * tx + ty * ty)
    c = cam_to_world[:3, 3]
    if c[2] + reach >= mesh.far_depth * (1 - 1e-6):
        return True
    depth = mesh.depth
    if c[2] + reach < float(depth.min()):
        return False  # nearer than every sheet point: in front of the sheet, nothing clipped
    if c[2] - reach <= 0:
        return True  # near the source camera's plane: no cheap proof
    # Pixel index space (centres at integers); the window covers every source pixel whose
    # ray passes within ``reach`` of the camera.
    u = k.fx * c[0] / c[2] + k.cx - 0.5
    v = k.fy * c[1] / c[2] + k.cy - 0.5
    ru = math.ceil(k.fx * reach / (c[2] - reach)) + 1
    rv = math.ceil(k.fy * reach / (c[2] - reach)) + 1
    j0, j1 = max(math.floor(u) - ru, 0), min(math.floor(u) + ru + 2, k.width)
    i0, i1 = max(math.floor(v) - rv, 0), min(math.floor(v) + rv + 2, k.height)
    if j0 >= j1 or i0 >= i1:
        return False  # outside the frustum: outside the volume, and no sheet within reach
    return c[2] + reach >= float(depth[i0:i1, j0:j1].min())


def _rasterize(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    pose: np.ndarray,
    k: Intrinsics,
    near: float,
    backend: str,
):
    """Project, rasterize and resolve per-pixel face, barycentrics and depth, densely over all
    pixels (coverage is usually high)."""
    dev = vertices.device
    w2c = torch.from_numpy(np.linalg.inv(pose)).to(dev, torch.float32)
    cam = vertices @ w2c[:3, :3].T + w2c[:3, 3]
    far = float(cam[:, 2].max()) * 1.01 + 1.0
    proj = projection(k, near, far).to(dev, torch.float32)
    clip = cam @ proj[:, :3].T + proj[:, 3]
    rasterize = raster_torch.rasterize if backend == "torch" else raster_nvdiffrast.rasterize
    rast = rasterize(clip, faces, (k.height, k.width))
    flat = rast.view(-1, 4)
    face_id = flat[:, 3].to(torch.int64) - 1
    hit = face_id >= 0
    fid = face_id.clamp(min=0)
    corners = faces.index_select(0, fid).T.to(torch.int32).contiguous()  # (3, P)
    bary = torch.stack([flat[:, 0], flat[:, 1], 1.0 - flat[:, 0] - flat[:, 1]])  # (3, P)
    depth = (bary * gather_rows(cam[:, 2].contiguous(), corners)).sum(0)
    depth = torch.where(hit, depth, float("inf"))
    return face_id, hit, fid, corners, bary, depth


def _render_compiled(vertices, faces, num_faces, colors, pose, k, near, style, occluded, keep):
    """The compiled CPU backend: projection, raster, resolve and shading in one pass each;
    numpy (color, mask, depth, face_id)."""
    w2c = np.linalg.inv(pose).astype(np.float32)  # as _rasterize's float64 -> float32

    def projection_for(far: float) -> np.ndarray:
        return projection(k, near, far).numpy().astype(np.float32)

    def arr(x, dtype):
        # Writable C-contiguous arrays of fixed dtypes: the types the kernels were compiled
        # for (numba compiles again, for seconds, for any other).
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        x = np.ascontiguousarray(x, dtype=dtype)
        return x if x.flags.writeable else x.copy()

    return raster_numba.render_arrays(
        arr(vertices, np.float32),
        arr(faces, np.int32),
        int(num_faces),
        w2c,
        projection_for,
        k.width,
        k.height,
        arr(colors, np.uint8),
        None if occluded is None else arr(occluded, np.bool_),
        None if keep is None else arr(keep, np.bool_),
        style,
        threads=runtime.compiled_render_threads(),
    )


def render(
    mesh: DWMesh,
    cam_to_world,
    intrinsics: Intrinsics | None = None,
    options: RenderOptions | None = None,
) -> RenderResult:
    """Render ``mesh`` from the camera ``cam_to_world`` (4x4, OpenCV axes, world = the mesh's
    frame) with ``intrinsics`` (default: the mesh's own; their size is the output size) and
    ``options`` (default ``RenderOptions()``: auto backend, exact ``"face"`` masks, on the
    mesh's device)."""
    opts = options if options is not None else RenderOptions()
    if not isinstance(opts, RenderOptions):
        raise InputError(f"options must be a RenderOptions, got {type(opts).__name__}")
    mask_style, near = opts.mask_style, opts.near
    k = intrinsics or mesh.intrinsics
    pose = _check_pose(cam_to_world)
    t = mesh.tensors(opts.device)
    dev = t["vertices"].device
    name = choose_backend(opts.backend, dev)

    faces = t["faces"]
    if not cap_may_be_visible(mesh, pose, k, near):
        faces = faces[: mesh.num_grid_faces]  # a prefix: face ids are unchanged
    if name == "cpu":
        reference = mask_style == "reference"
        out = _render_compiled(
            t["vertices"],
            t["faces"],
            faces.shape[0],
            t["colors"],
            pose,
            k,
            near,
            raster_numba.MASK_REFERENCE if reference else raster_numba.MASK_FACE,
            None if reference else t["occluded"],
            mesh.vertex_visible if reference else None,
        )
        if mesh.is_torch:
            return RenderResult(*(torch.from_numpy(x) for x in out))
        return RenderResult(*out)
    face_id, hit, fid, corners, bary, depth = _rasterize(t["vertices"], faces, pose, k, near, name)

    colors = t["colors"].to(torch.float32)
    if mask_style == "face":
        visible = hit & ~t["occluded"].index_select(0, fid)
        weights = bary
    else:
        keep = torch.as_tensor(mesh.vertex_visible, device=dev).to(torch.float32)
        weights = bary * gather_rows(keep, corners)
        visible = hit & (weights.sum(0) > _REFERENCE_ALPHA_THRESHOLD)
    rgb = sum(weights[i, :, None] * colors.index_select(0, corners[i]) for i in range(3))
    color = (rgb.round_().clamp_(0, 255) * visible[:, None]).to(torch.uint8)
    shape = (k.height, k.width)
    color, mask = color.view(*shape, 3), visible.view(shape)
    depth, face_id = depth.view(shape), face_id.view(shape)
    result = RenderResult(color, mask, depth, face_id)
    if mesh.is_torch:
        return result
    return RenderResult(*(x.cpu().numpy() for x in (color, mask, depth, face_id)))


def render_triangles(
    vertices,
    faces,
    colors,
    cam_to_world,
    intrinsics: Intrinsics,
    options: RenderOptions | None = None,
) -> RenderResult:
    """Render a plain triangle mesh whose every face is real surface (completion layers):
    ``vertices`` (N, 3) float32 in world coordinates, ``faces`` (F, 3) int32, ``colors`` (N, 3)
    uint8; numpy in, numpy out (torch in, torch out). The mask is coverage; ``mask_style`` does
    not apply. Same camera conventions, backends and near plane as ``render``."""
    opts = options if options is not None else RenderOptions()
    k = intrinsics
    pose = _check_pose(cam_to_world)
    as_numpy = not isinstance(vertices, torch.Tensor)
    dev = torch.device(opts.device) if opts.device is not None else None

    def tensor(x, dtype):
        t = torch.as_tensor(np.ascontiguousarray(x) if as_numpy else x)
        return t.to(dev or t.device, dtype)

    v = tensor(vertices, torch.float32)
    f = tensor(faces, torch.int32)
    c = tensor(colors, torch.uint8)
    shape = (k.height, k.width)
    if f.ndim != 2 or f.shape[-1] != 3 or v.ndim != 2 or v.shape[-1] != 3 or len(c) != len(v):
        raise InputError("render_triangles needs vertices (N, 3), faces (F, 3), colors (N, 3)")
    if len(f) == 0:
        color = torch.zeros(*shape, 3, dtype=torch.uint8, device=v.device)
        mask = torch.zeros(shape, dtype=torch.bool, device=v.device)
        depth = torch.full(shape, float("inf"), device=v.device)
        face_id = torch.full(shape, -1, dtype=torch.int64, device=v.device)
    elif (name := choose_backend(opts.backend, v.device)) == "cpu":
        style = raster_numba.MASK_COVERAGE
        out = _render_compiled(v, f, len(f), c, pose, k, opts.near, style, None, None)
        color, mask, depth, face_id = (torch.from_numpy(x) for x in out)
    else:
        face_id, hit, _, corners, bary, depth = _rasterize(v, f, pose, k, opts.near, name)
        cf = c.to(torch.float32)
        rgb = sum(bary[i, :, None] * cf.index_select(0, corners[i]) for i in range(3))
        color = (rgb.round_().clamp_(0, 255) * hit[:, None]).to(torch.uint8).view(*shape, 3)
        mask, depth, face_id = hit.view(shape), depth.view(shape), face_id.view(shape)
    if not as_numpy:
        return RenderResult(color, mask, depth, face_id)
    return RenderResult(*(x.cpu().numpy() for x in (color, mask, depth, face_id)))
