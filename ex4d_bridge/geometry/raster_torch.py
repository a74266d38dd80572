"""A pure-PyTorch triangle rasterizer with nvdiffrast's conventions.

``rasterize(pos, tri, resolution)`` takes clip-space vertex positions ``pos`` (V, 4) and triangles
``tri`` (F, 3) and returns ``rast`` (H, W, 4) float32 exactly as ``nvdiffrast.torch.rasterize``
does for one image: ``(u, v, z/w, triangle_id + 1)`` with perspective-correct barycentrics ``u``
(vertex 0) and ``v`` (vertex 1), and all zeros where no triangle covers the pixel. Pixel centres
sit at half-integers; output row 0 is NDC y = -1. Triangles are clipped at the near plane
``z = -w`` (as nvdiffrast does), never culled by winding, and the nearest surface wins; on an exact
depth tie the lower triangle id wins, so the result is deterministic.

How: each triangle's screen bounding box is expanded into candidate pixels (vectorised, in chunks
so memory stays bounded whatever the triangle sizes), barycentrics and 1/w are evaluated from
per-triangle plane equations, and a z-buffer is resolved with one ``scatter_reduce(amin)`` over
int64 keys that pack the float32 bits of the depth above the triangle id.
"""

from __future__ import annotations

import weakref

import torch

_EMPTY_KEY = torch.iinfo(torch.int64).max
# Candidate pixels evaluated per chunk: bounds memory at ~200 MB whatever the triangle sizes.
_CHUNK = 1 << 22
# Triangles whose box has at most this many pixels test the whole box; others go by row spans.
_SMALL_BOX = 16
# Screen coordinates beyond this many image sizes switch the set-up to float64.
_PRECISE_LIMIT = 8
# Faces set up per chunk on the CPU, so each chunk's temporaries stay in cache.
_SETUP_CHUNK = 1 << 17
# Barycentric slack of the coverage test: pixel centres on shared edges and vertices are covered
# by every triangle that owns them (the depth test then decides), never by none.
_EDGE_EPS = 1e-5
_EDGE_EPS_F64 = 1e-10
_SPAN_SLACK = 1e-3


def _clip_near(v: torch.Tensor):
    """Clip triangles (M, 3, 4) that cross the near plane z = -w.

    Returns (clip-space vertices of the output triangles (K, 3, 4), index of the input triangle
    (K,), barycentric basis (K, 3, 3)): row k of a basis holds the barycentrics, in the input
    triangle, of output vertex k. Clip-space interpolation is linear in 3D, so composing the
    output triangle's perspective-correct barycentrics with the basis is exact.
    """
    device = v.device
    d = v[..., 2] + v[..., 3]  # signed distance to the near plane, >= 0 in front
    inside = d >= 0
    n_in = inside.sum(dim=1)
    ids = torch.arange(v.shape[0], device=device)
    eye = torch.eye(3, device=device, dtype=v.dtype)
    out_v, out_id, out_basis = [], [], []
    for n_inside in (1, 2):
        sel = n_in == n_inside
        vs, ds, ins = v[sel], d[sel], inside[sel]
        # Rotate each triangle (keeping its winding) so that the lone vertex comes first: the
        # single inside vertex when one is inside, the single outside vertex when two are.
        lone = ins if n_inside == 1 else ~ins
        k = lone.to(torch.int64).argmax(dim=1)
        order = (k[:, None] + torch.arange(3, device=device)[None, :]) % 3
        a, b, c = (
            torch.gather(vs, 1, order[:, i, None, None].expand(-1, 1, 4))[:, 0] for i in range(3)
        )
        da, db, dc = (torch.gather(ds, 1, order[:, i, None])[:, 0] for i in range(3))
        ba, bb, bc = (eye[order[:, i]] for i in range(3))
        t_ab = (da / (da - db))[:, None]
        t_ac = (da / (da - dc))[:, None]
        p_ab, q_ab = a + t_ab * (b - a), ba + t_ab * (bb - ba)
        p_ac, q_ac = a + t_ac * (c - a), ba + t_ac * (bc - ba)
        src = ids[sel]
        if n_inside == 1:
            out_v.append(torch.stack([a, p_ab, p_ac], 1))
            out_basis.append(torch.stack([ba, q_ab, q_ac], 1))
            out_id.append(src)
        else:  # a is outside: the inside part is the quad p_ab, b, c, p_ac
            out_v += [torch.stack([p_ab, b, c], 1), torch.stack([p_ab, c, p_ac], 1)]
            out_basis += [torch.stack([q_ab, bb, bc], 1), torch.stack([q_ab, bc, q_ac], 1)]
            out_id += [src, src]
    return torch.cat(out_v), torch.cat(out_id), torch.cat(out_basis)


def _screen(v: torch.Tensor, width: int, height: int):
    """Clip-space positions (..., 4) -> pixel-space x, y (minus 0.5: pixel (x, y) has its centre
    at (x + 0.5, y + 0.5)) and 1/w."""
    inv_w = 1.0 / v[..., 3]
    sx = (v[..., 0] * inv_w + 1.0) * (0.5 * width) - 0.5
    sy = (v[..., 1] * inv_w + 1.0) * (0.5 * height) - 0.5
    return sx, sy, inv_w


def _plane_coefficients(
    sx: torch.Tensor, sy: torch.Tensor, inv_w: torch.Tensor, width: int, height: int
):
    """Per triangle (inputs (3, M): one contiguous row per corner): pixel bounding box and plane
    equations of the screen-space barycentrics b1, b2 and of 1/w as functions of the pixel
    offset (x - xmin, y - ymin) from the box corner.

    The constants are taken at the box corner (an exact integer subtraction), so float32 keeps
    full precision over the small offsets: a pixel centre that lies exactly on a shared vertex or
    edge is not lost to rounding between triangles (which would show what lies behind).
    """
    xmin = torch.minimum(torch.minimum(sx[0], sx[1]), sx[2]).sub_(_EDGE_EPS).ceil_().clamp_(min=0)
    xmax = torch.maximum(torch.maximum(sx[0], sx[1]), sx[2]).add_(_EDGE_EPS).floor_()
    xmax.clamp_(max=width - 1)
    ymin = torch.minimum(torch.minimum(sy[0], sy[1]), sy[2]).sub_(_EDGE_EPS).ceil_().clamp_(min=0)
    ymax = torch.maximum(torch.maximum(sy[0], sy[1]), sy[2]).add_(_EDGE_EPS).floor_()
    ymax.clamp_(max=height - 1)
    x0, y0 = sx[0] - xmin, sy[0] - ymin
    e1x, e1y = sx[1] - sx[0], sy[1] - sy[0]  # corner 0 -> 1
    e2x, e2y = sx[2] - sx[0], sy[2] - sy[0]  # corner 0 -> 2
    area = e1x * e2y - e2x * e1y
    ok = (area.abs() > 1e-12) & torch.isfinite(area) & (xmax >= xmin) & (ymax >= ymin)
    inv_area = torch.where(ok, area, 1.0).reciprocal_().mul_(ok)
    # b1 = ((x - x0) e2y - e2x (y - y0)) / area, b2 = (e1x (y - y0) - (x - x0) e1y) / area.
    b1x, b1y = e2y * inv_area, e2x.neg_().mul_(inv_area)
    b2x, b2y = e1y.neg_().mul_(inv_area), e1x * inv_area
    b1c = -(b1x * x0 + b1y * y0)
    b2c = -(b2x * x0 + b2y * y0)
    # 1/w is affine in screen space: 1/w = iw0 + b1 (iw1 - iw0) + b2 (iw2 - iw0).
    d1, d2 = inv_w[1] - inv_w[0], inv_w[2] - inv_w[0]
    iwx, iwy = b1x * d1 + b2x * d2, b1y * d1 + b2y * d2
    iwc = inv_w[0] + b1c * d1 + b2c * d2
    coef = torch.stack([b1x, b1y, b1c, b2x, b2y, b2c, iwx, iwy, iwc])  # (9, M)
    box = tuple(b.long() for b in (xmin, xmax, ymin, ymax))  # contiguous rows, not (M, 4)
    return coef, box, ok


def _evaluate(coef: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor):
    b1 = coef[0] * dx + coef[1] * dy + coef[2]
    b2 = coef[3] * dx + coef[4] * dy + coef[5]
    iw = coef[6] * dx + coef[7] * dy + coef[8]
    return b1, b2, iw


def _expand(count: torch.Tensor):
    """For counts (n,), the owner index and the rank within the owner of each of sum(count)."""
    owner = torch.repeat_interleave(torch.arange(count.numel(), device=count.device), count)
    first = torch.cumsum(count, 0) - count
    return owner, torch.arange(owner.numel(), device=count.device) - first[owner]


def _chunks(count: torch.Tensor):
    """Split owners into consecutive slices whose counts sum to about _CHUNK at most."""
    if count.numel() == 0:
        return
    ends = torch.cumsum(count, 0)
    marks = torch.arange(0, int(ends[-1]), _CHUNK, device=count.device)
    cuts = torch.searchsorted(ends, marks, right=True).tolist() + [count.numel()]
    begin = 0
    for stop in sorted(set(cuts)):
        if stop > begin:
            yield slice(begin, stop)
            begin = stop


def _row_spans(coef: torch.Tensor, box: torch.Tensor, rows: torch.Tensor, owner: torch.Tensor):
    """For (triangle, row) pairs, the columns [lo, hi] where all barycentrics can be >= 0."""
    c = coef.index_select(1, owner)
    dy = (rows - box[2][owner]).to(coef.dtype)
    lo = box[0][owner].to(coef.dtype)
    hi = box[1][owner].to(coef.dtype)
    xmin = lo
    # Each barycentric is a*dx + k >= 0 along the row: a bound on dx when a != 0.
    for a, k in (
        (c[0], c[1] * dy + c[2]),
        (c[3], c[4] * dy + c[5]),
        (-(c[0] + c[3]), 1.0 - (c[1] + c[4]) * dy - (c[2] + c[5])),
    ):
        safe = torch.where(a == 0, torch.ones_like(a), a)
        bound = xmin - k / safe
        lo = torch.where(a > 0, torch.maximum(lo, bound - _SPAN_SLACK), lo)
        hi = torch.where(a < 0, torch.minimum(hi, bound + _SPAN_SLACK), hi)
        hi = torch.where((a == 0) & (k < -_EDGE_EPS), lo - 1, hi)
    return torch.ceil(lo).to(torch.int64), torch.floor(hi).to(torch.int64)


def _keys(b1, b2, iw, tri_id):
    """int64 z-buffer keys, nearest (largest 1/w) smallest, or _EMPTY_KEY outside."""
    b0 = 1.0 - b1 - b2
    # The slack is barycentric, so it scales with the triangle: float64 set-ups (huge clipped
    # slivers reaching 1e5+ pixels off screen) need a far smaller one to stay sub-pixel.
    eps = _EDGE_EPS if b1.dtype == torch.float32 else _EDGE_EPS_F64
    inside = (torch.minimum(torch.minimum(b0, b1), b2) >= -eps) & (iw > 0)
    # For positive floats the bit pattern grows with the value, so this decreases with 1/w.
    near_first = 0x7F800000 - iw.to(torch.float32).view(torch.int32).to(torch.int64)
    return torch.where(inside, (near_first << 32) | tri_id, _EMPTY_KEY)


def _dense_pass(coef, box, ok, first_id: int, zbuf: torch.Tensor, width: int, height: int):
    """Boxes of at most 2x2 pixels (the bulk of a DW-Mesh seen from near its source camera):
    every triangle is evaluated at its box's four pixels with plain row arithmetic, no gathers.
    Returns the mask of the triangles left for the general passes."""
    bw = box[1] - box[0] + 1
    bh = box[3] - box[2] + 1
    ids = torch.arange(first_id, first_id + coef.shape[1], device=coef.device)
    base = box[2] * width + box[0]
    small2 = ok & (bw <= 2) & (bh <= 2)
    wide, tall = small2 & (bw == 2), small2 & (bh == 2)
    c = coef  # (9, M): each plane's terms as contiguous rows
    for dx, dy, lane_ok in ((0, 0, small2), (1, 0, wide), (0, 1, tall), (1, 1, wide & tall)):
        b1 = c[2] + dx * c[0] + dy * c[1] if (dx or dy) else c[2]
        b2 = c[5] + dx * c[3] + dy * c[4] if (dx or dy) else c[5]
        iw = c[8] + dx * c[6] + dy * c[7] if (dx or dy) else c[8]
        key = torch.where(lane_ok, _keys(b1, b2, iw, ids), _EMPTY_KEY)
        pix = (base + (dy * width + dx)).clamp_(max=height * width - 1)
        zbuf.scatter_reduce_(0, pix, key, "amin")
    return ok & ~small2


def _general_pass(coef, box, rest, ids, zbuf: torch.Tensor, width: int) -> None:
    """Triangles with boxes larger than 2x2 pixels (``rest`` marks them; ``ids`` are their
    triangle ids in the z-buffer)."""
    bw = box[1] - box[0] + 1
    bh = box[3] - box[2] + 1

    def resolve(tri: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
        b1, b2, iw = _evaluate(
            coef.index_select(1, tri),
            (x - box[0][tri]).to(coef.dtype),
            (y - box[2][tri]).to(coef.dtype),
        )
        zbuf.scatter_reduce_(0, y * width + x, _keys(b1, b2, iw, ids[tri]), "amin")

    # Other small boxes: test every pixel of the box.
    small = torch.nonzero(rest & (bw * bh <= _SMALL_BOX)).squeeze(1)
    count = (bw * bh)[small]
    for sl in _chunks(count):
        owner, k = _expand(count[sl])
        tri = small[sl][owner]
        resolve(tri, box[0][tri] + k % bw[tri], box[2][tri] + k // bw[tri])
    # Large or long triangles: expand to rows, then to the covered span of each row, so the work
    # follows the area, not the bounding box (slivers across the screen stay cheap).
    large = torch.nonzero(rest & (bw * bh > _SMALL_BOX)).squeeze(1)
    for sl in _chunks(bh[large]):
        owner, k = _expand(bh[large][sl])
        tri = large[sl][owner]
        rows = box[2][tri] + k
        lo, hi = _row_spans(coef, box, rows, tri)
        span = (hi - lo + 1).clamp(min=0)
        for sl2 in _chunks(span):
            owner2, k2 = _expand(span[sl2])
            resolve(tri[sl2][owner2], lo[sl2][owner2] + k2, rows[sl2][owner2])


def _zbuffer(fsx, fsy, fiw, width: int, height: int) -> torch.Tensor:
    """Set up every triangle ((3, M) corner rows in) and resolve the z-buffer.

    Set-up and the dense pass run in chunks of faces so their temporaries stay in cache; only
    the few triangles the dense pass cannot take are set up again for the general pass."""
    device = fsx.device
    m = fsx.shape[1]
    zbuf = torch.full((height * width,), _EMPTY_KEY, dtype=torch.int64, device=device)
    rest = []
    step = _SETUP_CHUNK if device.type == "cpu" else max(m, 1)
    for a in range(0, m, step):
        sl = slice(a, min(a + step, m))
        c, bx, ok = _plane_coefficients(fsx[:, sl], fsy[:, sl], fiw[:, sl], width, height)
        left = _dense_pass(c, bx, ok, a, zbuf, width, height)
        rest.append(torch.nonzero(left).squeeze(1) + a)
    ids = torch.cat(rest) if rest else torch.zeros(0, dtype=torch.int64, device=device)
    if ids.numel():
        pick = (v.index_select(1, ids) for v in (fsx, fsy, fiw))
        coef, box, ok = _plane_coefficients(*pick, width, height)
        _general_pass(coef, box, ok, ids, zbuf, width)
    return zbuf


_corner_cache: dict = {}


def _corner_rows(tri: torch.Tensor) -> torch.Tensor:
    """(3, F) int32 corner rows of ``tri``, cached while the same face tensor is alive and
    unmodified: a mesh's topology is shared by every frame and every render, and transposing
    half a million faces each time costs several milliseconds."""
    owner = tri if tri._base is None else tri._base
    key = (tri.data_ptr(), tuple(tri.shape), tuple(tri.stride()), str(tri.device))
    hit = _corner_cache.get(key)
    # While the owner is alive its memory cannot be reused, so the key names the same data;
    # the version counter catches in-place edits.
    if hit is not None and hit[0]() is owner and hit[1] == tri._version:
        return hit[2]
    rows = tri.T.to(torch.int32).contiguous()
    if len(_corner_cache) >= 8:
        _corner_cache.clear()
    _corner_cache[key] = (weakref.ref(owner), tri._version, rows)
    return rows


def gather_rows(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``values[rows]`` for (3, F) int32 rows; index_select with int32 indices is about twice as
    fast as advanced indexing here."""
    return values.index_select(0, rows.reshape(-1)).view(rows.shape)


def rasterize(pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """Rasterize one image; see the module docstring for the output convention."""
    height, width = int(resolution[0]), int(resolution[1])
    if pos.ndim != 2 or pos.shape[1] != 4:
        raise ValueError(f"pos must be (V, 4) clip-space positions, got {tuple(pos.shape)}")
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise ValueError(f"tri must be (F, 3) vertex indices, got {tuple(tri.shape)}")
    pos = pos.to(torch.float32)
    # Screen quantities per vertex, then gathered per face: far less work than per-face vertices.
    sx, sy, inv_w = _screen(pos, width, height)
    front = pos[:, 2] + pos[:, 3] >= 0
    limit = _PRECISE_LIMIT * max(width, height)
    if bool(front.all()) and float(torch.maximum(sx.abs().max(), sy.abs().max())) <= limit:
        kept, clipped = None, None
        corners = _corner_rows(tri)
        fsx, fsy, fiw = (gather_rows(v, corners) for v in (sx, sy, inv_w))
    else:
        # Vertices behind the near plane or far off-screen (a camera close to or inside the
        # geometry): clipped vertices project 1e5+ pixels away, where float32 set-up loses the
        # barycentrics of the few pixels that are on screen. Work in float64 here.
        pos = pos.double()
        sx, sy, inv_w = _screen(pos, width, height)
        tri = tri.long()
        whole = front[tri].all(1)
        kept = torch.nonzero(whole).squeeze(1)
        crossing = torch.nonzero(~whole & front[tri].any(1)).squeeze(1)
        cv, cid, cbasis = _clip_near(pos[tri[crossing]])
        csx, csy, ciw = _screen(cv, width, height)
        clipped = (crossing[cid], cbasis, cv)
        corners = tri[kept].T.contiguous()
        fsx = torch.cat([sx[corners], csx.T], 1)
        fsy = torch.cat([sy[corners], csy.T], 1)
        fiw = torch.cat([inv_w[corners], ciw.T], 1)
    zbuf = _zbuffer(fsx, fsy, fiw, width, height)

    # Resolve every pixel densely (empty ones point at triangle 0 and are zeroed at the end):
    # near-complete coverage is the common case, where compaction would cost more than it saves.
    valid = zbuf != _EMPTY_KEY
    if not bool(valid.any()):
        return torch.zeros(height, width, 4, dtype=torch.float32, device=pos.device)
    prim = torch.where(valid, zbuf & 0xFFFFFFFF, 0)
    # Barycentrics of the pixel centres from the winners' corners, as offsets from corner 0
    # (differences of nearby values keep float32 precise; coverage was decided above).
    px, py = (v.index_select(1, prim) for v in (fsx, fsy))
    pix = torch.arange(height * width, device=pos.device)
    dx, dy = (pix % width).to(fsx.dtype) - px[0], (pix // width).to(fsx.dtype) - py[0]
    e1x, e1y, e2x, e2y = px[1] - px[0], py[1] - py[0], px[2] - px[0], py[2] - py[0]
    inv_area = 1.0 / torch.where(valid, e1x * e2y - e2x * e1y, 1.0)
    b1 = (dx * e2y - e2x * dy).mul_(inv_area).clamp_(0, 1)
    b2 = (e1x * dy - dx * e1y).mul_(inv_area).clamp_(0, 1)
    b0 = (1.0 - b1 - b2).clamp_(min=0)
    iw = fiw.index_select(1, prim)
    # Perspective-correct barycentrics of the rasterized (possibly clipped) triangle.
    pb = torch.stack([b0 * iw[0], b1 * iw[1], b2 * iw[2]])
    pb /= pb.sum(0)
    if clipped is None:
        face = prim
    else:
        n_kept = kept.numel()
        is_clipped = valid & (prim >= n_kept)
        face = kept[prim.clamp(max=max(n_kept - 1, 0))] if n_kept else torch.zeros_like(prim)
        if bool(is_clipped.any()):
            j = prim[is_clipped] - n_kept
            face[is_clipped] = clipped[0][j]
            pb[:, is_clipped] = torch.einsum("kn,nkj->jn", pb[:, is_clipped], clipped[1][j])
    corners = tri.index_select(0, face).T.to(torch.int32)
    z = (pb * gather_rows(pos[:, 2].contiguous(), corners)).sum(0)
    w = (pb * gather_rows(pos[:, 3].contiguous(), corners)).sum(0)
    rast = torch.stack([pb[0], pb[1], z / w, (face + 1).to(pb.dtype)], 1).to(torch.float32)
    rast *= valid[:, None]
    return rast.view(height, width, 4)
