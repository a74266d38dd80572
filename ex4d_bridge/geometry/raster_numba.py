"""A compiled CPU rasterizer (numba): project, rasterize, resolve and shade in a few loops.

It computes exactly what ``raster_torch`` and ``rendering`` compute on the CPU, operation for
operation and in the same floating-point order, so the results are the same bits: the camera
transform, the screen set-up of every triangle (float32, or float64 with near-plane clipping
when vertices lie behind the near plane or far off screen), the coverage test with its slack on
shared edges, the z-buffer key (nearest ``1/w`` first, then the lower rasterized triangle id),
the barycentrics of the winner at the pixel centre, the perspective-correct interpolation of
depth and colour and both mask styles. Where ``raster_torch`` expands candidate pixels into
tensors (~1.8 GB of temporaries per 512x512 render), this walks each triangle's pixels once
and keeps nothing but the z-buffer.

Threads: each thread of a parallel render has its own z-buffer and takes blocks of 4096 faces
in turn from an atomic counter, then blocks of 8 rows to resolve, where the z-buffers merge by
taking the smaller key; so the result does not depend on the number of threads, and a thread
that the scheduler holds back (other work on the machine) leaves its share to the others
instead of making them wait. numba's ``workqueue`` threading layer is chosen unless
``NUMBA_THREADING_LAYER`` says otherwise: its threads sleep on condition variables (they never
spin), it survives ``fork`` (numba's GNU OpenMP layer ends a forked child that launches a
parallel loop) and it needs no second OpenMP runtime beside torch's; ``omp`` measured the same
within noise on the 2-core development machine. It is not thread-safe, so one render at a
time runs in parallel and a render that finds the threads busy runs on its own thread (see
``render_arrays``). ``runtime.compiled_render_threads`` sets the count. When other work holds
a core, two threads cost up to about 1.4x one thread's time (each launch waits for a thread
the scheduler holds back); beside one busy process they took the same time as one thread.

Compilation: every kernel is cached on disk (``cache=True``); ``warm_up()`` compiles or loads
every variant (a few seconds the first time on a machine, then well under a second) so that no
render pays it. numba is optional (the ``server`` extra); ``available()`` says whether it is
installed, and nothing here imports it before a render or ``warm_up`` asks for it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from functools import cache

import numpy as np

# raster_torch's constants, as the dtype of each path (see there).
_EDGE_EPS = 1e-5
_EDGE_EPS_F64 = 1e-10
_SPAN_SLACK = 1e-3
_AREA_MIN = 1e-12
_PRECISE_LIMIT = 8
_REFERENCE_ALPHA_THRESHOLD = 125.0 / 255.0
# Faces per block and rows per resolve block that the threads of a parallel render take in
# turn: about 50-100 us of work each, small enough to balance, large enough to stay local.
_BLOCK = 4096
_ROWS = 8

MASK_FACE, MASK_REFERENCE, MASK_COVERAGE = 0, 1, 2


@cache
def available() -> bool:
    """Whether numba is installed and imports (it refuses NumPy versions it does not know)."""
    if importlib.util.find_spec("numba") is None:
        return False
    try:
        import numba  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken install is as good as none
        return False
    return True


def _constants(dtype, width: int, height: int) -> np.ndarray:
    """Constants in the dtype of the set-up (numba would promote a Python float, and with it a
    float32 expression, to float64): box slack, key slack, span slack, minimum area, one, zero,
    alpha threshold, last column, last row."""
    key_eps = _EDGE_EPS if dtype == np.float32 else _EDGE_EPS_F64
    values = (
        _EDGE_EPS, key_eps, _SPAN_SLACK, _AREA_MIN, 1.0, 0.0, _REFERENCE_ALPHA_THRESHOLD,
        width - 1, height - 1,
    )  # fmt: skip
    return np.array(values, dtype=dtype)


@cache
def _kernels():
    """Compile (or load from the disk cache) the kernels; imports numba on first use."""
    if "NUMBA_THREADING_LAYER" not in os.environ:
        import numba

        # Before the first parallel launch fixes the layer for the process.
        numba.config.THREADING_LAYER = "workqueue"
    from . import _raster_numba_kernels as k

    return k


# numba's workqueue layer takes one parallel launch at a time: the render holding this lock
# runs in parallel, any other runs on its own thread meanwhile.
_parallel = threading.Lock()


def render_arrays(
    vertices: np.ndarray,
    faces: np.ndarray,
    num_faces: int,
    world_to_camera: np.ndarray,
    projection_for,
    width: int,
    height: int,
    colors: np.ndarray,
    occluded: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    mask_style: int = MASK_COVERAGE,
    threads: int = 1,
):
    """Render ``faces[:num_faces]`` of a mesh: ``vertices`` (N, 3) float32 in world
    coordinates, ``faces`` (F, 3) int32, ``world_to_camera`` (4, 4) float32,
    ``projection_for(far)`` the (4, 4) float32 projection for a far plane (``rendering`` picks
    the far plane from the camera-space depths, as for the other backends), ``colors`` (N, 3)
    uint8; ``occluded`` (F,) bool for ``MASK_FACE`` and ``keep`` (N,) bool (the vertices of no
    occluded face) for ``MASK_REFERENCE``.

    Returns numpy arrays (color (H, W, 3) uint8, mask (H, W) bool, depth (H, W) float32 with
    inf where empty, face_id (H, W) int64 with -1 where empty). With ``threads`` > 1 the kernels
    run in parallel, unless another render holds the thread pool: then this one runs on the
    calling thread alone."""
    k = _kernels()
    import numba

    width, height, num_faces, mask_style = int(width), int(height), int(num_faces), int(mask_style)

    parts = min(threads, numba.config.NUMBA_NUM_THREADS)
    parallel = parts > 1 and _parallel.acquire(blocking=False)
    try:
        if parallel:
            numba.set_num_threads(parts)  # this thread's launches only
        else:
            parts = 1
        n = vertices.shape[0]
        cam = np.empty((n, 3), np.float32)
        sx, sy, iw = (np.empty(n, np.float32) for _ in range(3))
        # The projection's x, y and w rows do not depend on the far plane: one pass gives the
        # camera-space vertices, their screen positions and the largest depth. (It is bound by
        # memory traffic: a parallel version was no faster.)
        zmax, extent = k.vertex_pass(
            vertices, world_to_camera, projection_for(1.0), width, height, cam, sx, sy, iw
        )
        proj = projection_for(float(zmax) * 1.01 + 1.0)
        occluded = np.zeros(1, np.bool_) if occluded is None else occluded
        keep = np.zeros(1, np.bool_) if keep is None else keep
        color = np.empty((height, width, 3), np.uint8)
        mask = np.empty((height, width), np.bool_)
        depth = np.empty((height, width), np.float32)
        face_id = np.empty((height, width), np.int64)
        zbufs = np.empty((parts, height * width), np.int64)
        c32 = _constants(np.float32, width, height)
        ramp32 = np.arange(max(width, height) + 1, dtype=np.float32)
        out = (color, mask, depth, face_id, _ROWS)
        # Work-sharing counters of the parallel kernels (raster blocks, resolve blocks).
        tickets = (np.zeros(2, np.int64),) if parallel else ()
        if extent <= _PRECISE_LIMIT * max(width, height) and k.all_in_front(cam, proj):
            raster = k.raster_faces_parallel if parallel else k.raster_faces
            raster(sx, sy, iw, faces, num_faces, zbufs, width, c32, ramp32, _BLOCK, *tickets)
            resolve = k.resolve_faces_parallel if parallel else k.resolve_faces
            resolve(zbufs, sx, sy, iw, faces, cam, colors, occluded, keep, mask_style, c32,
                    ramp32, *out, *tickets)  # fmt: skip
        else:
            # Vertices behind the near plane or far off screen: float64, with clipping.
            c64 = _constants(np.float64, width, height)
            ramp64 = ramp32.astype(np.float64)
            kept, psx, psy, piw, csx, csy, ciw, cface, cbasis = k.precise_setup(
                cam, proj, faces, num_faces, width, height
            )
            raster = k.raster_precise_parallel if parallel else k.raster_precise
            raster(kept, psx, psy, piw, faces, csx, csy, ciw, zbufs, width, c64, ramp64, _BLOCK,
                   *tickets)  # fmt: skip
            resolve = k.resolve_precise_parallel if parallel else k.resolve_precise
            resolve(zbufs, kept, psx, psy, piw, faces, csx, csy, ciw, cface, cbasis, cam,
                    colors, occluded, keep, mask_style, c32, *out, *tickets)  # fmt: skip
        return color, mask, depth, face_id
    finally:
        if parallel:
            _parallel.release()


def warm_up() -> float:
    """Compile, or load from the disk cache, every kernel variant (the float32 path and the
    float64 clipping path, serial and parallel) by rendering a tiny mesh; returns the seconds
    it took. Call it once at start-up (the server does) so that no render waits for the
    compiler. Does nothing when numba is not installed."""
    t0 = time.perf_counter()
    if not available():
        return 0.0
    from ..camera.intrinsics import Intrinsics
    from .rendering import projection

    k = Intrinsics.reference(8, 6, focal=8.0)
    vertices = np.array([[-1, -1, 2], [1, -1, 2], [0, 1, 2], [0, 0, -1]], np.float32)
    faces = np.array([[0, 1, 2], [0, 1, 3]], np.int32)
    colors = np.full((4, 3), 200, np.uint8)

    def projection_for(far: float) -> np.ndarray:
        return projection(k, 1e-3, far).numpy().astype(np.float32)

    eye = np.eye(4, dtype=np.float32)
    for threads in (1, 2):
        # In front of the camera (the float32 path), then with a vertex behind it (float64).
        for n in (3, 4):
            render_arrays(vertices[:n].copy(), faces, n - 2, eye, projection_for, k.width,
                          k.height, colors[:n].copy(), threads=threads)  # fmt: skip
    return time.perf_counter() - t0
