"""Depth for the generated pixels of a completion layer: the fill strategies' numerics.

Everything here works on one image in the *generated* camera's pixel grid. The inputs are the
source DW-Mesh's render at that camera (``known``: where a visible face is seen, with its
z-depth) and the pixels to fill (``target``: the generated pixels with no visible face).

``propagate`` (no model): a disocclusion reveals what lies *behind* the nearer side of a depth
edge, so the hole takes its depth from the background side of its boundary only, as
layered-depth inpainting does (3D Photography, Shih et al. 2020). Two steps:

1. **Which boundary pixels are background** (``background_seeds``). Decided locally, from the
   source DW-Mesh's depth edges, never by clustering the boundary's depths (a steep floor's
   depth spans a larger range along a hole's boundary than many depth edges do). An edge is
   an occluded face stretched across a depth jump (far / near vertex depth above
   ``edge_ratio``); it splits near from far at the geometric mean of its vertex depths. A
   known pixel within ``band`` pixels of the hole is *foreground* when it is nearer than the
   split of the closest edge, judged twice: (a) in the generated view, by the edge faces the
   hole pixels see (their near vertices sit on the foreground side, the far ones on the
   background); (b) in the source image, by the pixels within ``band`` of an edge's near side
   (``source_foreground``), which also catches foreground beside holes that show no edge
   face. Faces touching the image border are the DW-Mesh's closure, not edges. Without
   evidence a pixel is background (a hole inside one continuous surface, or past the source
   frustum, where the room simply goes on).
2. **Extending the background** (``_extend_background``), in disparity (``1/z``: a plane is
   affine in disparity over the image, so planes extend exactly). The background seeds are
   split into planes (``detect_planes``: sequential RANSAC on local plane fits, deterministic)
   and the rest. Each hole pixel takes the surface of its nearest seed; where two planes meet
   along a crease among the seeds (a floor and a wall), both compete near it and the nearer
   wins, so the crease runs on through the hole where it really is. Seeds on no plane are
   interpolated by ``plane_fill`` (push-pull of their first and second moments: a local
   least-squares plane at every pixel, smooth, exact on planes) and never come nearer than
   their nearest seed.

A hole with no background seed around it (enclosed by foreground, or with no known pixel near
at all) takes the far side of the edge faces it sees, else the DW-Mesh's far depth (a backdrop,
as the DW-Mesh's own closure). Nothing is placed beyond that far depth.

``aligned``: a depth model's prediction on the generated frame, mapped into the scene by a
robust scale + shift in disparity (``depth.align.fit_scale_shift``) fitted where the render
has depth.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...depth.align import fit_scale_shift
from ...errors import InputError
from ...generation.fallback import _down
from ...geometry import DWMesh

# A known pixel may take a threshold from an edge face at most this much farther than ``band``.
_EVIDENCE_SLACK = 2
# Fit samples for ``aligned`` (a regular subgrid beyond this).
_MAX_FIT_SAMPLES = 65536


# -- push-pull of moments -----------------------------------------------------------------


def _push_pull(premul: torch.Tensor) -> torch.Tensor:
    """Fill ``premul`` (1, C + 1, H, W) = (values * w, w) with w in [0, 1]; returns the
    (1, C, H, W) values (premultiplied by w where w = 1, i.e. the inputs there), with every
    other pixel a convex combination of coarser levels' normalised means (see
    ``generation.fallback._push_pull``; here for any number of channels)."""
    h, w = premul.shape[-2:]
    vals, weight = premul[:, :-1], premul[:, -1:]
    if h == 1 and w == 1:
        return vals / weight.clamp_min(1e-300)
    sums = _down(premul.clone())
    sum_w = sums[:, -1:]
    trusted = (sum_w * 4.0).clamp_(max=1.0)
    sums[:, :-1] *= trusted / sum_w.clamp_min(1e-300)
    sums[:, -1:] = trusted
    coarse = _push_pull(sums)
    up = F.interpolate(
        coarse, size=(2 * sums.shape[2], 2 * sums.shape[3]), mode="bilinear", align_corners=False
    )[..., :h, :w]
    return up.mul_(1.0 - weight).add_(vals)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (u, v), float64 (H, W) each, centred on the image (conditioning)."""
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    return uu - 0.5 * w, vv - 0.5 * h


def plane_fill(values: np.ndarray, seeds: np.ndarray, *, ridge: float = 1e-5) -> np.ndarray:
    """(H, W) float64: at every pixel, a plane ``a u + b v + c`` fitted to ``values`` on the
    nearby ``seeds`` ((H, W) bool, at least one) evaluated there; seeds keep their own value.

    Exact (up to ``ridge``) wherever the seeds near a pixel lie on one plane. ``ridge`` (px^2,
    against the seeds' spread) regularises the slope where they span no area (a single line
    of seeds: constant across it)."""
    h, w = values.shape
    if not seeds.any():
        raise InputError("plane_fill needs at least one seed")
    uu, vv = _grid(h, w)
    wt = seeds.astype(np.float64)
    d = np.where(seeds, values, 0.0).astype(np.float64)
    chans = [uu, vv, uu * uu, uu * vv, vv * vv, d, uu * d, vv * d]
    premul = np.stack([c * wt for c in chans] + [wt])
    with torch.inference_mode():
        m = _push_pull(torch.from_numpy(premul)[None])[0].numpy()
    eu, ev, euu, euv, evv, ed, eud, evd = m
    cuu, cuv, cvv = euu - eu * eu, euv - eu * ev, evv - ev * ev
    cuu, cvv = cuu + ridge, cvv + ridge
    cud, cvd = eud - eu * ed, evd - ev * ed
    det = cuu * cvv - cuv * cuv
    det = np.where(det > 0, det, 1.0)
    gu = (cvv * cud - cuv * cvd) / det
    gv = (cuu * cvd - cuv * cud) / det
    out = ed + gu * (uu - eu) + gv * (vv - ev)
    return np.where(seeds, values, out)


# -- propagate ------------------------------------------------------------------------------


def edge_evidence(
    mesh: DWMesh,
    face_id: np.ndarray,
    occluded_seen: np.ndarray,
    pose: np.ndarray,
    *,
    edge_ratio: float = 1.03,
) -> tuple[np.ndarray, np.ndarray]:
    """(near, far): per pixel, the nearest and farthest vertex z-depth (in the camera ``pose``)
    of the occluded grid face ``face_id`` seen there, where ``occluded_seen``; NaN elsewhere,
    on faces that touch the image border (the DW-Mesh's closure) and where far / near is not
    above ``edge_ratio`` (no depth edge)."""
    near = np.full(face_id.shape, np.nan)
    far = np.full(face_id.shape, np.nan)
    h, w = mesh.height, mesh.width
    pix = np.flatnonzero(occluded_seen & (face_id >= 0) & (face_id < mesh.num_grid_faces))
    if not len(pix):
        return near, far
    corners = np.asarray(mesh.faces)[face_id.reshape(-1)[pix]].astype(np.int64)  # (P, 3)
    row, col = corners // w, corners % w
    inner = ((row > 0) & (row < h - 1) & (col > 0) & (col < w - 1)).all(1)
    pix, corners = pix[inner], corners[inner]
    verts = np.asarray(mesh.vertices, np.float64)[corners]  # (P, 3, 3)
    z = (verts - pose[:3, 3]) @ pose[:3, 2]  # camera z of each corner, (P, 3)
    zn, zf = z.min(1), z.max(1)
    edge = (zn > 0) & (zf > edge_ratio * zn)
    near.reshape(-1)[pix[edge]] = zn[edge]
    far.reshape(-1)[pix[edge]] = zf[edge]
    return near, far


def _nearest(source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, the distance to the nearest ``source`` pixel and its flat index."""
    dist, labels = cv2.distanceTransformWithLabels(
        (~source).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    flat = np.flatnonzero(source)
    lookup = np.zeros(int(labels.max()) + 1, np.int64)
    lookup[labels.reshape(-1)[flat]] = flat  # each source pixel carries its own label
    return dist, lookup[labels]


def _distance_to(region: np.ndarray) -> np.ndarray:
    if not region.any():
        return np.full(region.shape, np.inf, np.float32)
    return cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 5)


def source_foreground(mesh: DWMesh, *, edge_ratio: float = 1.03, band: int = 6) -> np.ndarray:
    """(H, W) bool over the *source* pixels of ``mesh``: the near side of a depth edge, up to
    ``band`` pixels from it. An occluded grid face whose far / near vertex depth exceeds
    ``edge_ratio`` (and that does not touch the image border, the closure) is an edge; a pixel
    is on its near side when it is nearer than the split (geometric mean of near and far) of
    the closest edge vertex on a near side."""
    h, w = mesh.height, mesh.width
    n = mesh.num_grid_faces
    faces = np.asarray(mesh.faces)[:n].astype(np.int64)
    occluded = np.asarray(mesh.occluded)[:n]
    z = np.asarray(mesh.depth, np.float64).reshape(-1)
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    sel = faces[occluded & ~border.reshape(-1)[faces].any(1)]
    fz = z[sel]
    zn, zf = fz.min(1), fz.max(1)
    edge = zf > edge_ratio * zn
    sel, fz, split = sel[edge], fz[edge], np.sqrt(zn[edge] * zf[edge])
    on_near = fz < split[:, None]
    at_vertex = np.zeros(h * w)
    np.maximum.at(at_vertex, sel[on_near], np.broadcast_to(split[:, None], fz.shape)[on_near])
    marked = (at_vertex > 0).reshape(h, w)
    if not marked.any():
        return np.zeros((h, w), bool)
    dist, idx = _nearest(marked)
    return (dist <= band) & (z.reshape(h, w) < at_vertex[idx])


def foreground_seen(
    mesh: DWMesh, face_id: np.ndarray, visible: np.ndarray, source_fg: np.ndarray
) -> np.ndarray:
    """(H, W) bool: ``visible`` pixels of a render whose face has a ``source_fg`` vertex."""
    out = np.zeros(face_id.shape, bool)
    pix = np.flatnonzero(visible & (face_id >= 0) & (face_id < mesh.num_grid_faces))
    if len(pix):
        corners = np.asarray(mesh.faces)[face_id.reshape(-1)[pix]].astype(np.int64)
        out.reshape(-1)[pix] = source_fg.reshape(-1)[corners].any(1)
    return out


def background_seeds(
    depth: np.ndarray,
    known: np.ndarray,
    target: np.ndarray,
    near: np.ndarray,
    far: np.ndarray,
    *,
    band: int,
    foreground: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(background seeds, foreground pixels), each (H, W) bool, among the known pixels within
    ``band`` pixels of ``target``. ``near``/``far``: per pixel, the near and far vertex depths
    of the depth-edge face seen there (NaN where none); ``foreground``: pixels already known
    to be on the near side of an edge (``foreground_seen``)."""
    around = known & (_distance_to(target) <= band)
    edge = np.isfinite(near) & np.isfinite(far)
    fg = np.zeros_like(known) if foreground is None else foreground & around
    if edge.any():
        dist, idx = _nearest(edge)
        split = np.sqrt(near * far).reshape(-1)[idx]
        fg |= around & (dist <= band + _EVIDENCE_SLACK) & (depth < split)
    return around & ~fg, fg


def _components(target: np.ndarray) -> tuple[int, np.ndarray]:
    n, labels = cv2.connectedComponents(target.astype(np.uint8), connectivity=8)
    return n, labels


def _fit_plane(u, v, d) -> np.ndarray | None:
    """Least-squares ``d ~ a u + b v + c`` over 1-D samples; None when they span no area."""
    if len(d) < 3:
        return None
    mu, mv = u.mean(), v.mean()
    du, dv = u - mu, v - mv
    cov = np.array([[du @ du, du @ dv], [du @ dv, dv @ dv]]) / len(d)
    if np.linalg.eigvalsh(cov)[0] < 0.25:  # collinear (a crease, a one-pixel line)
        return None
    g = np.linalg.solve(cov, np.array([du @ (d - d.mean()), dv @ (d - d.mean())]) / len(d))
    return np.array([g[0], g[1], d.mean() - g[0] * mu - g[1] * mv])


def detect_planes(
    disp: np.ndarray,
    seeds: np.ndarray,
    *,
    tol: float = 0.01,
    radius: int = 3,
    max_planes: int = 8,
    min_fraction: float = 0.02,
    hypotheses: int = 256,
    samples: int = 4096,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Planar surfaces among the ``seeds``: ``disp`` (disparity) affine in the image,
    ``a u + b v + c`` in ``_grid`` coordinates.

    Sequential RANSAC with deterministic hypotheses: the local plane of every ``hypotheses``-th
    seed (least squares over the seeds in its (2 radius + 1)^2 window), scored on a regular
    subsample of the seeds by how many lie within ``tol`` (relative disparity); the best is
    refitted on all its inliers, which are then taken out. Stops after ``max_planes`` or when
    the best explains fewer than ``min_fraction`` of the seeds (and at least 3 windows' worth).
    Returns the planes and a (H, W) int32 label image (plane index, -1 elsewhere)."""
    h, w = disp.shape
    labels = np.full((h, w), -1, np.int32)
    n_seeds = int(seeds.sum())
    min_count = max(min_fraction * n_seeds, 3 * (2 * radius + 1))
    if n_seeds < min_count:
        return [], labels
    uu, vv = _grid(h, w)
    wt = seeds.astype(np.float64)
    d = np.where(seeds, disp, 0.0)
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, cv2.CV_64F, size, normalize=False, borderType=cv2.BORDER_CONSTANT)

    m0 = box(wt)
    safe = np.maximum(m0, 1.0)
    mu, mv, md = box(wt * uu) / safe, box(wt * vv) / safe, box(d) / safe
    cuu = box(wt * uu * uu) / safe - mu * mu
    cuv = box(wt * uu * vv) / safe - mu * mv
    cvv = box(wt * vv * vv) / safe - mv * mv
    cud = box(uu * d) / safe - mu * md
    cvd = box(vv * d) / safe - mv * md
    det = cuu * cvv - cuv * cuv
    good = seeds & (m0 >= 6) & (det > 0.0625)  # both spreads above (1/2 px)^2: an area
    idx = np.flatnonzero(good)
    if not len(idx):
        return [], labels
    idx = idx[np.linspace(0, len(idx) - 1, min(hypotheses, len(idx))).astype(np.int64)]
    det_h = det.reshape(-1)[idx]
    ga = cvv.reshape(-1)[idx] * cud.reshape(-1)[idx] - cuv.reshape(-1)[idx] * cvd.reshape(-1)[idx]
    gb = cuu.reshape(-1)[idx] * cvd.reshape(-1)[idx] - cuv.reshape(-1)[idx] * cud.reshape(-1)[idx]
    ga, gb = ga / det_h, gb / det_h
    gc = md.reshape(-1)[idx] - ga * mu.reshape(-1)[idx] - gb * mv.reshape(-1)[idx]
    hyp = np.stack([ga, gb, gc], 1)  # (Hn, 3)

    flat = np.flatnonzero(seeds)
    su, sv, sd = uu.reshape(-1)[flat], vv.reshape(-1)[flat], disp.reshape(-1)[flat]
    sub = np.linspace(0, len(flat) - 1, min(samples, len(flat))).astype(np.int64)
    free = np.ones(len(flat), bool)
    alive = np.ones(len(hyp), bool)
    scale = len(flat) / len(sub)
    planes: list[np.ndarray] = []

    everything = np.arange(len(flat))

    def inliers(plane, at, within):
        residual = np.abs(plane[0] * su[at] + plane[1] * sv[at] + plane[2] - sd[at])
        return residual <= within * sd[at]

    while len(planes) < max_planes and alive.any():
        fs = sub[free[sub]]
        res = np.abs(hyp[:, :1] * su[fs] + hyp[:, 1:2] * sv[fs] + hyp[:, 2:] - sd[fs])
        counts = np.where(alive, (res <= tol * sd[fs]).sum(1), -1)
        best = int(np.argmax(counts))
        if counts[best] * scale < min_count:
            break
        plane = hyp[best]
        # Refit on every free inlier, twice, then on the closest quarter of the tolerance, so
        # seeds of a neighbouring surface that pass near its crease do not tilt the plane.
        for scale_tol in (1.0, 1.0, 0.25):
            members = np.flatnonzero(free & inliers(plane, everything, scale_tol * tol))
            refit = _fit_plane(su[members], sv[members], sd[members])
            if refit is None or len(members) < min_count:
                break
            plane = refit
        members = np.flatnonzero(free & inliers(plane, everything, tol))
        alive[best] = False
        if len(members) < min_count or _fit_plane(su[members], sv[members], sd[members]) is None:
            continue
        labels.reshape(-1)[flat[members]] = len(planes)
        planes.append(plane)
        free[members] = False
        # Hypotheses from seeds now explained are spent.
        alive &= free[np.searchsorted(flat, idx)]
    return planes, labels


def _joined(planes: list[np.ndarray], labels: np.ndarray, disp, uu, vv, tol: float) -> np.ndarray:
    """(M, M) bool: planes that meet along a crease among the seeds (as a floor meets a wall):
    seeds of one, within 2 pixels of seeds of the other, also lie on the other's plane. An
    object's silhouette against a wall is adjacent too, but with a depth jump: not joined."""
    m = len(planes)
    joined = np.eye(m, dtype=bool)
    kernel = np.ones((5, 5), np.uint8)
    for j, (a, b, c) in enumerate(planes):
        near_j = cv2.dilate((labels == j).astype(np.uint8), kernel).astype(bool)
        on_j = np.abs(a * uu + b * vv + c - disp) <= 3 * tol * np.abs(disp)
        meet = near_j & on_j & (labels >= 0) & (labels != j)
        if meet.any():
            counts = np.bincount(labels[meet], minlength=m)
            joined[j] |= counts >= 3
    return joined | joined.T


def _extend_background(
    disp: np.ndarray, seeds: np.ndarray, target: np.ndarray, *, band: int, tol: float
) -> np.ndarray:
    """Disparity on ``target`` from the background ``seeds``: the planar surfaces among them
    (``detect_planes``) extended, the remaining seeds interpolated (``plane_fill``).

    A pixel takes the surface of its nearest seed; where planes meet along a crease among the
    seeds (``_joined``: a floor and a wall), each of them that reaches the pixel (from up to
    1.5 times the distance to the nearest seed, plus ``band``) competes and the nearest in
    front of the camera wins, so the crease continues across the hole where it really runs.
    A plane may come nearer than its seeds (a floor running towards the camera); the
    interpolated rest never comes nearer than its nearest seed. NaN where no surface lies in
    front of the camera."""
    ys, xs = np.nonzero(seeds | target)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    box = (slice(y0, y1), slice(x0, x1))
    d, s, tg = disp[box], seeds[box], target[box]
    h, w = d.shape
    uu, vv = _grid(h, w)
    planes, labels = detect_planes(d, s, tol=tol)
    m = len(planes)
    rest = s & (labels < 0)
    if m and rest.any():
        # Seeds on the seam between two planes (a crease pixel mixes both) are not a surface.
        rest &= _distance_to(labels >= 0) > 1.5
    used = (labels >= 0) | rest
    d0, nearest = _nearest(used)
    surface = np.where(rest, m, labels).reshape(-1)[nearest]  # plane index, m = the rest
    values = [a * uu + b * vv + c for a, b, c in planes]
    if rest.any():
        # A plane may come nearer than its seeds (a floor towards the camera); the
        # interpolated rest may not.
        values.append(np.minimum(plane_fill(d, rest), float(d[rest].max())))
    best = np.full((h, w), -np.inf)
    for i, value in enumerate(values):
        own = surface == i
        np.maximum(best, np.where(tg & own & (value > 0), value, -np.inf), out=best)
    if m > 1:
        joined = _joined(planes, labels, d, uu, vv, tol)
        reach = 1.5 * d0 + band
        for i in range(m):
            partners = np.flatnonzero(joined[:, i])
            if len(partners) < 2:
                continue
            ok = tg & np.isin(surface, partners) & (_distance_to(labels == i) <= reach)
            ok &= values[i] > 0
            np.maximum(best, np.where(ok, values[i], -np.inf), out=best)
    out = np.full(disp.shape, np.nan)
    out[box] = np.where(np.isfinite(best), best, np.nan)
    return out


def _fill_disparity(values: np.ndarray, seeds: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Plane fill of ``values`` (disparity) from ``seeds`` onto ``target``, on the crop both
    occupy, never nearer than the nearest seed (farther is fine: a surface recedes)."""
    ys, xs = np.nonzero(seeds | target)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sub = plane_fill(values[y0:y1, x0:x1], seeds[y0:y1, x0:x1])
    out = np.full(values.shape, np.nan)
    out[y0:y1, x0:x1] = np.minimum(sub, float(values[seeds].max()))
    return out


def propagate_depth(
    depth: np.ndarray,
    known: np.ndarray,
    target: np.ndarray,
    near: np.ndarray,
    far: np.ndarray,
    *,
    band: int = 6,
    far_depth: float = 100.0,
    tol: float = 0.01,
    foreground: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W) float32 depth on ``target`` (inf elsewhere), filled from the background side.

    ``depth``: the render's z-depth where ``known``; ``near``/``far``: the near and far vertex
    depths of the depth-edge face each target pixel sees (NaN where none); ``far_depth``: the
    backdrop for holes with no depth reference at all."""
    out = np.full(depth.shape, np.inf, np.float32)
    if not target.any():
        return out
    seeds, _ = background_seeds(depth, known, target, near, far, band=band, foreground=foreground)
    disp = np.zeros(depth.shape, np.float64)
    np.divide(1.0, depth, out=disp, where=known)
    # Which hole components have a background seed around them.
    n, labels = _components(target)
    has_seed = np.zeros(n, bool)
    if seeds.any():
        near_seed = target & (_distance_to(seeds) <= band + 1)
        has_seed[np.unique(labels[near_seed])] = True
    has_seed[0] = False
    fill = np.full(depth.shape, np.nan)
    seeded = has_seed[labels] & target
    if seeded.any():
        fill = np.where(seeded, _extend_background(disp, seeds, seeded, band=band, tol=tol), fill)
    rest = target & ~seeded
    if rest.any():
        evidence = rest & np.isfinite(far) & (far > 0)
        if evidence.any():
            far_disp = np.where(evidence, 1.0 / np.where(evidence, far, 1.0), 0.0)
            fill = np.where(rest, _fill_disparity(far_disp, evidence, rest), fill)
        else:
            fill = np.where(rest, 1.0 / far_depth, fill)
    fill = np.maximum(np.nan_to_num(fill, nan=0.0), 1.0 / far_depth)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[target] = (1.0 / fill[target]).astype(np.float32)
    out[~np.isfinite(out) | (out <= 0)] = np.inf
    return out


# -- aligned --------------------------------------------------------------------------------


def aligned_depth(
    predicted: np.ndarray,
    depth: np.ndarray,
    known: np.ndarray,
    target: np.ndarray,
    *,
    far_depth: float = 100.0,
    trim: float = 0.2,
) -> tuple[np.ndarray, tuple[float, float]]:
    """(H, W) float32 depth on ``target`` from a model's ``predicted`` depth, aligned by a
    robust scale + shift in disparity fitted where the render ``depth`` is ``known``; also the
    (scale, shift). Anything at or beyond the far depth lands on it."""
    if predicted.shape != depth.shape:
        raise InputError(
            f"the depth model returned {predicted.shape[1]}x{predicted.shape[0]} depth for a "
            f"{depth.shape[1]}x{depth.shape[0]} frame"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        pred_disp = np.where(
            np.isfinite(predicted) & (predicted > 0), 1.0 / predicted.astype(np.float64), 0.0
        )
        ref_disp = np.where(known, 1.0 / depth.astype(np.float64), np.nan)
    fit = known & (pred_disp > 0)
    if fit.sum() < 2:
        raise InputError(
            "aligned depth needs known depth to fit against, but the render at this pose shows "
            "almost none of the scene; use depth_fill='propagate'"
        )
    idx = np.flatnonzero(fit)
    if len(idx) > _MAX_FIT_SAMPLES:
        idx = idx[:: math.ceil(len(idx) / _MAX_FIT_SAMPLES)]
    scale, shift = fit_scale_shift(
        pred_disp.reshape(-1)[idx][None], ref_disp.reshape(-1)[idx][None], trim=trim
    )
    a, b = float(scale[0]), float(shift[0])
    disp = np.maximum(a * pred_disp + b, 1.0 / far_depth)
    out = np.full(depth.shape, np.inf, np.float32)
    out[target] = (1.0 / disp[target]).astype(np.float32)
    return out, (a, b)


__all__ = [
    "aligned_depth",
    "background_seeds",
    "detect_planes",
    "edge_evidence",
    "foreground_seen",
    "plane_fill",
    "propagate_depth",
    "source_foreground",
]
