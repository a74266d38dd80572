"""The numba kernels of ``raster_numba`` (imported only when a compiled render is asked for).

Every expression mirrors ``raster_torch`` and ``rendering``, with the same operand order, since
floating-point addition is not associative: that is what makes the two backends give the same
bits. Constants come in a small array of the set-up's dtype (``cst``: box slack, key slack,
span slack, minimum area, one, zero, alpha threshold, last column, last row) and pixel offsets
as a ramp of that dtype, because numba would promote a Python float or an integer, and with it
a float32 expression, to float64.

Each parallel driver has a serial twin written as its own function (numba's disk cache keys a
function by its source, not by its ``parallel`` flag); both call the same inner functions,
which are inlined. The serial drivers run without numba's reference counting (``_nrt=False``):
with it, every array handed to an inner function was counted up and down atomically, which
made them 2-3x slower than the parallel drivers on one thread.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

EMPTY = np.iinfo(np.int64).max
_OPTS = {"cache": True, "nogil": True, "error_model": "numpy"}
_LOOPS = {**_OPTS, "_nrt": False}
_INNER = {"cache": True, "error_model": "numpy", "forceinline": True}


@intrinsic
def _f32_bits(typingctx, x):
    """The IEEE bit pattern of a float32, as an int32 (``tensor.view(torch.int32)``)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _take(typingctx, tickets, index):
    """``tickets[index] += 1`` atomically; returns the value before: the next block of work,
    so a thread that the scheduler holds back leaves its share to the others."""
    if not (isinstance(tickets, types.Array) and tickets.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], idxty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [idx])
        one = context.get_constant(types.int64, 1)
        return builder.atomic_rmw("add", ptr, one, "monotonic")

    return types.int64(tickets, index), codegen


@njit(**_INNER)
def _test_pixel(b1, b2, iw, pix, tid, zb, key_eps, one, zero):
    """raster_torch._keys for one pixel, then the z-buffer's amin."""
    b0 = (one - b1) - b2
    if b0 >= -key_eps and b1 >= -key_eps and b2 >= -key_eps and iw > zero:
        near_first = np.int64(0x7F800000) - np.int64(_f32_bits(np.float32(iw)))
        key = (near_first << 32) | np.int64(tid)
        if key < zb[pix]:
            zb[pix] = key


@njit(**_INNER)
def _raster_triangle(x0, y0, w0, x1, y1, w1, x2, y2, w2, tid, zb, width, cst, ramp):
    """Set up one triangle (raster_torch._plane_coefficients) and test its pixels: the four of
    a box of at most 2x2 pixels (_dense_pass), every pixel of a box of at most 16, or the
    covered span of each row (_general_pass, _row_spans)."""
    box_eps, key_eps, slack, area_min, one, zero = cst[0], cst[1], cst[2], cst[3], cst[4], cst[5]
    e1x, e1y = x1 - x0, y1 - y0
    e2x, e2y = x2 - x0, y2 - y0
    area = e1x * e2y - e2x * e1y
    if not (abs(area) > area_min) or not np.isfinite(area):
        return
    lo = x0 if x0 < x1 else x1
    lo = lo if lo < x2 else x2
    hi = x0 if x0 > x1 else x1
    hi = hi if hi > x2 else x2
    xmin = np.ceil(lo - box_eps)
    xmin = xmin if xmin > zero else zero
    xmax = np.floor(hi + box_eps)
    xmax = xmax if xmax < cst[7] else cst[7]
    lo = y0 if y0 < y1 else y1
    lo = lo if lo < y2 else y2
    hi = y0 if y0 > y1 else y1
    hi = hi if hi > y2 else y2
    ymin = np.ceil(lo - box_eps)
    ymin = ymin if ymin > zero else zero
    ymax = np.floor(hi + box_eps)
    ymax = ymax if ymax < cst[8] else cst[8]
    if not (xmax >= xmin and ymax >= ymin):
        return
    x0r, y0r = x0 - xmin, y0 - ymin
    inv_area = one / area
    b1x, b1y = e2y * inv_area, (-e2x) * inv_area
    b2x, b2y = (-e1y) * inv_area, e1x * inv_area
    b1c = -(b1x * x0r + b1y * y0r)
    b2c = -(b2x * x0r + b2y * y0r)
    d1, d2 = w1 - w0, w2 - w0
    iwx, iwy = b1x * d1 + b2x * d2, b1y * d1 + b2y * d2
    iwc = (w0 + b1c * d1) + b2c * d2
    bx0, bx1, by0, by1 = int(xmin), int(xmax), int(ymin), int(ymax)
    bw, bh = bx1 - bx0 + 1, by1 - by0 + 1
    base = by0 * width + bx0
    if bw <= 2 and bh <= 2:
        # _dense_pass: c[2] + dx * c[0] + dy * c[1] with dx, dy in {0, 1}.
        _test_pixel(b1c, b2c, iwc, base, tid, zb, key_eps, one, zero)
        if bw == 2:
            _test_pixel(b1c + b1x, b2c + b2x, iwc + iwx, base + 1, tid, zb, key_eps, one, zero)
        if bh == 2:
            pix = base + width
            _test_pixel(b1c + b1y, b2c + b2y, iwc + iwy, pix, tid, zb, key_eps, one, zero)
        if bw == 2 and bh == 2:
            b1 = (b1c + b1x) + b1y
            b2 = (b2c + b2x) + b2y
            iw = (iwc + iwx) + iwy
            _test_pixel(b1, b2, iw, base + width + 1, tid, zb, key_eps, one, zero)
        return
    if bw * bh <= 16:
        for yy in range(bh):
            dy = ramp[yy]
            for xx in range(bw):
                dx = ramp[xx]
                b1 = (b1x * dx + b1y * dy) + b1c
                b2 = (b2x * dx + b2y * dy) + b2c
                iw = (iwx * dx + iwy * dy) + iwc
                _test_pixel(b1, b2, iw, base + yy * width + xx, tid, zb, key_eps, one, zero)
        return
    a3 = -(b1x + b2x)
    for yy in range(bh):
        dy = ramp[yy]
        lo, hi = xmin, xmax
        # Each barycentric is a * dx + k >= 0 along the row: a bound on dx where a != 0.
        for i in range(3):
            if i == 0:
                a, k = b1x, b1y * dy + b1c
            elif i == 1:
                a, k = b2x, b2y * dy + b2c
            else:
                a, k = a3, (one - (b1y + b2y) * dy) - (b1c + b2c)
            safe = a if a != zero else one
            bound = xmin - k / safe
            if a > zero:
                cand = bound - slack
                lo = cand if (cand > lo or cand != cand) else lo
            if a < zero:
                cand = bound + slack
                hi = cand if (cand < hi or cand != cand) else hi
            if a == zero and k < -box_eps:
                hi = lo - one
        if not (lo <= hi):
            continue
        x_lo, x_hi = int(np.ceil(lo)), int(np.floor(hi))
        row = (by0 + yy) * width
        for x in range(x_lo, x_hi + 1):
            dx = ramp[x - bx0]
            b1 = (b1x * dx + b1y * dy) + b1c
            b2 = (b2x * dx + b2y * dy) + b2c
            iw = (iwx * dx + iwy * dy) + iwc
            _test_pixel(b1, b2, iw, row + x, tid, zb, key_eps, one, zero)


# -- vertices --------------------------------------------------------------------------------


@njit(**_LOOPS)
def vertex_pass(vertices, m, p, width, height, cam, sx, sy, iw):
    """Camera-space vertices (``vertices @ R.T + t`` in the order torch's CPU matmul sums for
    k = 3) and their screen positions (raster_torch._screen); returns the largest depth and
    the largest |screen coordinate| (inf if any is not finite)."""
    one = np.float32(1.0)
    half = np.float32(0.5)
    half_w = np.float32(0.5 * width)
    half_h = np.float32(0.5 * height)
    zmax = -np.inf
    extent = 0.0
    for i in range(vertices.shape[0]):
        x, y, z = vertices[i, 0], vertices[i, 1], vertices[i, 2]
        cx = ((x * m[0, 0] + y * m[0, 1]) + z * m[0, 2]) + m[0, 3]
        cy = ((x * m[1, 0] + y * m[1, 1]) + z * m[1, 2]) + m[1, 3]
        cz = ((x * m[2, 0] + y * m[2, 1]) + z * m[2, 2]) + m[2, 3]
        cam[i, 0], cam[i, 1], cam[i, 2] = cx, cy, cz
        px = ((cx * p[0, 0] + cy * p[0, 1]) + cz * p[0, 2]) + p[0, 3]
        py = ((cx * p[1, 0] + cy * p[1, 1]) + cz * p[1, 2]) + p[1, 3]
        pw = ((cx * p[3, 0] + cy * p[3, 1]) + cz * p[3, 2]) + p[3, 3]
        inv_w = one / pw
        u = (px * inv_w + one) * half_w - half
        v = (py * inv_w + one) * half_h - half
        sx[i], sy[i], iw[i] = u, v, inv_w
        if cz > zmax:
            zmax = cz
        if np.isfinite(u) and np.isfinite(v):
            extent = max(extent, abs(u), abs(v))
        else:
            extent = np.inf
    return zmax, extent


@njit(**_LOOPS)
def all_in_front(cam, p):
    """raster_torch's ``front`` over every vertex: clip z + w >= 0 in float32."""
    zero = np.float32(0.0)
    for i in range(cam.shape[0]):
        cx, cy, cz = cam[i, 0], cam[i, 1], cam[i, 2]
        pz = ((cx * p[2, 0] + cy * p[2, 1]) + cz * p[2, 2]) + p[2, 3]
        pw = ((cx * p[3, 0] + cy * p[3, 1]) + cz * p[3, 2]) + p[3, 3]
        if not (pz + pw >= zero):
            return False
    return True


# -- the float32 path: every face from the vertex arrays --------------------------------------


@njit(**_INNER)
def _raster_faces_block(b, sx, sy, iw, faces, num_faces, zb, width, cst, ramp, block):
    for f in range(b * block, min((b + 1) * block, num_faces)):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        _raster_triangle(
            sx[i0], sy[i0], iw[i0], sx[i1], sy[i1], iw[i1], sx[i2], sy[i2], iw[i2],
            f, zb, width, cst, ramp,
        )  # fmt: skip


@njit(**_LOOPS)
def raster_faces(sx, sy, iw, faces, num_faces, zbufs, width, cst, ramp, block):
    zb = zbufs[0]
    zb[:] = EMPTY
    for b in range((num_faces + block - 1) // block):
        _raster_faces_block(b, sx, sy, iw, faces, num_faces, zb, width, cst, ramp, block)


@njit(parallel=True, **_OPTS)
def raster_faces_parallel(sx, sy, iw, faces, num_faces, zbufs, width, cst, ramp, block, tickets):
    """One z-buffer per thread; the threads take blocks of faces in turn (``tickets[0]``)."""
    blocks = (num_faces + block - 1) // block
    for p in prange(zbufs.shape[0]):
        zb = zbufs[p]
        zb[:] = EMPTY
        b = _take(tickets, 0)
        while b < blocks:
            _raster_faces_block(b, sx, sy, iw, faces, num_faces, zb, width, cst, ramp, block)
            b = _take(tickets, 0)


@njit(**_INNER)
def _barycentrics(px, py, x0, y0, w0, x1, y1, w1, x2, y2, w2, one, zero):
    """Perspective-correct barycentrics of the pixel centre (raster_torch.rasterize's
    resolve)."""
    dx, dy = px - x0, py - y0
    e1x, e1y, e2x, e2y = x1 - x0, y1 - y0, x2 - x0, y2 - y0
    inv_area = one / (e1x * e2y - e2x * e1y)
    b1 = (dx * e2y - e2x * dy) * inv_area
    b1 = zero if b1 < zero else (one if b1 > one else b1)
    b2 = (e1x * dy - dx * e1y) * inv_area
    b2 = zero if b2 < zero else (one if b2 > one else b2)
    b0 = (one - b1) - b2
    b0 = zero if b0 < zero else b0
    p0, p1, p2 = b0 * w0, b1 * w1, b2 * w2
    s = (p0 + p1) + p2
    return p0 / s, p1 / s, p2 / s


@njit(**_INNER)
def _min_key(zbufs, pix):
    key = zbufs[0, pix]
    for p in range(1, zbufs.shape[0]):
        if zbufs[p, pix] < key:
            key = zbufs[p, pix]
    return key


@njit(**_INNER)
def _shade(y, x, f, u, v, faces, cam, colors, occluded, keep, style, cst, color, mask, depth, fid):
    """rendering.render after the raster: depth, face id, mask and colour of one pixel."""
    one = np.float32(1.0)
    i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
    b2 = (one - u) - v
    depth[y, x] = (u * cam[i0, 2] + v * cam[i1, 2]) + b2 * cam[i2, 2]
    fid[y, x] = f
    w0, w1, w2 = u, v, b2
    if style == 0:
        visible = not occluded[f]
    elif style == 1:
        w0 = u * np.float32(keep[i0])
        w1 = v * np.float32(keep[i1])
        w2 = b2 * np.float32(keep[i2])
        visible = (w0 + w1) + w2 > cst[6]
    else:
        visible = True
    mask[y, x] = visible
    for c in range(3):
        if visible:
            rgb = (w0 * np.float32(colors[i0, c]) + w1 * np.float32(colors[i1, c])) + w2 * (
                np.float32(colors[i2, c])
            )
            rgb = np.rint(rgb)
            rgb = np.float32(0.0) if rgb < 0 else (np.float32(255.0) if rgb > 255 else rgb)
            color[y, x, c] = np.uint8(rgb)
        else:
            color[y, x, c] = 0


@njit(**_INNER)
def _empty(y, x, color, mask, depth, fid):
    color[y, x, 0] = color[y, x, 1] = color[y, x, 2] = 0
    mask[y, x] = False
    depth[y, x] = np.inf
    fid[y, x] = -1


@njit(**_INNER)
def _resolve_faces_rows(
    blk, rows, zbufs, sx, sy, iw, faces, cam, colors, occluded, keep, style, cst, ramp,
    color, mask, depth, fid,
):  # fmt: skip
    height, width = depth.shape
    one, zero = cst[4], cst[5]
    for y in range(blk * rows, min(height, (blk + 1) * rows)):
        for x in range(width):
            key = _min_key(zbufs, y * width + x)
            if key == EMPTY:
                _empty(y, x, color, mask, depth, fid)
                continue
            f = key & 0xFFFFFFFF
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            u, v, _ = _barycentrics(
                ramp[x], ramp[y], sx[i0], sy[i0], iw[i0], sx[i1], sy[i1], iw[i1],
                sx[i2], sy[i2], iw[i2], one, zero,
            )  # fmt: skip
            _shade(y, x, f, u, v, faces, cam, colors, occluded, keep, style, cst,
                   color, mask, depth, fid)  # fmt: skip


@njit(**_LOOPS)
def resolve_faces(
    zbufs, sx, sy, iw, faces, cam, colors, occluded, keep, style, cst, ramp, color, mask, depth,
    fid, rows,
):  # fmt: skip
    for blk in range((depth.shape[0] + rows - 1) // rows):
        _resolve_faces_rows(blk, rows, zbufs, sx, sy, iw, faces, cam, colors, occluded, keep,
                            style, cst, ramp, color, mask, depth, fid)  # fmt: skip


@njit(parallel=True, **_OPTS)
def resolve_faces_parallel(
    zbufs, sx, sy, iw, faces, cam, colors, occluded, keep, style, cst, ramp, color, mask, depth,
    fid, rows, tickets,
):  # fmt: skip
    """The threads take blocks of rows in turn (``tickets[1]``)."""
    blocks = (depth.shape[0] + rows - 1) // rows
    for _ in prange(zbufs.shape[0]):
        blk = _take(tickets, 1)
        while blk < blocks:
            _resolve_faces_rows(blk, rows, zbufs, sx, sy, iw, faces, cam, colors, occluded,
                                keep, style, cst, ramp, color, mask, depth, fid)  # fmt: skip
            blk = _take(tickets, 1)


# -- the float64 path: near-plane clipping (raster_torch._clip_near) --------------------------


@njit(**_OPTS)
def precise_setup(cam, p, faces, num_faces, width, height):
    """The float64 set-up: screen positions of every vertex, the faces kept whole (all
    vertices in front of the near plane, decided in float32) and the triangles clipped from
    those that cross it, numbered as raster_torch numbers them: kept faces in order, then the
    one-inside clips, then the first and the second halves of the two-inside clips."""
    n = cam.shape[0]
    pos = np.empty((n, 4), np.float64)
    front = np.empty(n, np.bool_)
    psx = np.empty(n, np.float64)
    psy = np.empty(n, np.float64)
    piw = np.empty(n, np.float64)
    half_w, half_h = 0.5 * width, 0.5 * height
    for i in range(n):
        cx, cy, cz = cam[i, 0], cam[i, 1], cam[i, 2]
        c0 = ((cx * p[0, 0] + cy * p[0, 1]) + cz * p[0, 2]) + p[0, 3]
        c1 = ((cx * p[1, 0] + cy * p[1, 1]) + cz * p[1, 2]) + p[1, 3]
        c2 = ((cx * p[2, 0] + cy * p[2, 1]) + cz * p[2, 2]) + p[2, 3]
        c3 = ((cx * p[3, 0] + cy * p[3, 1]) + cz * p[3, 2]) + p[3, 3]
        front[i] = c2 + c3 >= np.float32(0.0)
        pos[i, 0], pos[i, 1], pos[i, 2], pos[i, 3] = c0, c1, c2, c3
        inv_w = 1.0 / pos[i, 3]
        psx[i] = (pos[i, 0] * inv_w + 1.0) * half_w - 0.5
        psy[i] = (pos[i, 1] * inv_w + 1.0) * half_h - 0.5
        piw[i] = inv_w
    kept = np.empty(num_faces, np.int64)
    n_kept = 0
    crossing = np.empty(num_faces, np.int64)
    n_cross = 0
    for f in range(num_faces):
        k = int(front[faces[f, 0]]) + int(front[faces[f, 1]]) + int(front[faces[f, 2]])
        if k == 3:
            kept[n_kept] = f
            n_kept += 1
        elif k > 0:
            crossing[n_cross] = f
            n_cross += 1
    # Inside counts in float64, as _clip_near decides them.
    n_in = np.zeros(n_cross, np.int64)
    for j in range(n_cross):
        for c in range(3):
            i = faces[crossing[j], c]
            if pos[i, 2] + pos[i, 3] >= 0.0:
                n_in[j] += 1
    n_one = 0
    n_two = 0
    for j in range(n_cross):
        if n_in[j] == 1:
            n_one += 1
        elif n_in[j] == 2:
            n_two += 1
    nc = n_one + 2 * n_two
    csx = np.empty((nc, 3), np.float64)
    csy = np.empty((nc, 3), np.float64)
    ciw = np.empty((nc, 3), np.float64)
    cface = np.empty(nc, np.int64)
    cbasis = np.zeros((nc, 3, 3), np.float64)
    slot_one, slot_two = 0, n_one
    v = np.empty((3, 4), np.float64)
    d = np.empty(3, np.float64)
    q = np.empty((5, 3), np.float64)  # ba, bb, bc, q_ab, q_ac
    p_ab = np.empty(4, np.float64)
    p_ac = np.empty(4, np.float64)
    for j in range(n_cross):
        if n_in[j] != 1 and n_in[j] != 2:
            continue
        f = crossing[j]
        for c in range(3):
            i = faces[f, c]
            for r in range(4):
                v[c, r] = pos[i, r]
            d[c] = v[c, 2] + v[c, 3]
        # The lone vertex first (inside when one is, outside when two are), winding kept.
        k = 0
        for c in range(3):
            if (d[c] >= 0.0) == (n_in[j] == 1):
                k = c
                break
        o0, o1, o2 = k, (k + 1) % 3, (k + 2) % 3
        da, db, dc = d[o0], d[o1], d[o2]
        t_ab = da / (da - db)
        t_ac = da / (da - dc)
        for r in range(4):
            p_ab[r] = v[o0, r] + t_ab * (v[o1, r] - v[o0, r])
            p_ac[r] = v[o0, r] + t_ac * (v[o2, r] - v[o0, r])
        for r in range(3):
            ba = 1.0 if r == o0 else 0.0
            bb = 1.0 if r == o1 else 0.0
            bc = 1.0 if r == o2 else 0.0
            q[0, r], q[1, r], q[2, r] = ba, bb, bc
            q[3, r] = ba + t_ab * (bb - ba)
            q[4, r] = ba + t_ac * (bc - ba)
        if n_in[j] == 1:
            _emit_clip(slot_one, v[o0], p_ab, p_ac, q[0], q[3], q[4], f, csx, csy, ciw, cface,
                       cbasis, half_w, half_h)  # fmt: skip
            slot_one += 1
        else:
            _emit_clip(slot_two, p_ab, v[o1], v[o2], q[3], q[1], q[2], f, csx, csy, ciw, cface,
                       cbasis, half_w, half_h)  # fmt: skip
            _emit_clip(slot_two + n_two, p_ab, v[o2], p_ac, q[3], q[2], q[4], f, csx, csy, ciw,
                       cface, cbasis, half_w, half_h)  # fmt: skip
            slot_two += 1
    return kept[:n_kept].copy(), psx, psy, piw, csx, csy, ciw, cface, cbasis


@njit(**_INNER)
def _emit_clip(s, va, vb, vc, qa, qb, qc, f, csx, csy, ciw, cface, cbasis, half_w, half_h):
    for c in range(3):
        vert = va if c == 0 else (vb if c == 1 else vc)
        basis = qa if c == 0 else (qb if c == 1 else qc)
        inv_w = 1.0 / vert[3]
        csx[s, c] = (vert[0] * inv_w + 1.0) * half_w - 0.5
        csy[s, c] = (vert[1] * inv_w + 1.0) * half_h - 0.5
        ciw[s, c] = inv_w
        for r in range(3):
            cbasis[s, c, r] = basis[r]
    cface[s] = f


@njit(**_INNER)
def _raster_precise_block(
    b, kept, psx, psy, piw, faces, csx, csy, ciw, zb, width, cst, ramp, block,
):  # fmt: skip
    n_kept = kept.shape[0]
    for t in range(b * block, min((b + 1) * block, n_kept + csx.shape[0])):
        if t < n_kept:
            f = kept[t]
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            _raster_triangle(
                psx[i0], psy[i0], piw[i0], psx[i1], psy[i1], piw[i1],
                psx[i2], psy[i2], piw[i2], t, zb, width, cst, ramp,
            )  # fmt: skip
        else:
            j = t - n_kept
            _raster_triangle(
                csx[j, 0], csy[j, 0], ciw[j, 0], csx[j, 1], csy[j, 1], ciw[j, 1],
                csx[j, 2], csy[j, 2], ciw[j, 2], t, zb, width, cst, ramp,
            )  # fmt: skip


@njit(**_LOOPS)
def raster_precise(kept, psx, psy, piw, faces, csx, csy, ciw, zbufs, width, cst, ramp, block):
    zb = zbufs[0]
    zb[:] = EMPTY
    for b in range((kept.shape[0] + csx.shape[0] + block - 1) // block):
        _raster_precise_block(b, kept, psx, psy, piw, faces, csx, csy, ciw, zb, width, cst,
                              ramp, block)  # fmt: skip


@njit(parallel=True, **_OPTS)
def raster_precise_parallel(
    kept, psx, psy, piw, faces, csx, csy, ciw, zbufs, width, cst, ramp, block, tickets
):
    blocks = (kept.shape[0] + csx.shape[0] + block - 1) // block
    for p in prange(zbufs.shape[0]):
        zb = zbufs[p]
        zb[:] = EMPTY
        b = _take(tickets, 0)
        while b < blocks:
            _raster_precise_block(b, kept, psx, psy, piw, faces, csx, csy, ciw, zb, width, cst,
                                  ramp, block)  # fmt: skip
            b = _take(tickets, 0)


@njit(**_INNER)
def _resolve_precise_rows(
    blk, rows, zbufs, kept, psx, psy, piw, faces, csx, csy, ciw, cface, cbasis, cam, colors,
    occluded, keep, style, cst, color, mask, depth, fid,
):  # fmt: skip
    height, width = depth.shape
    n_kept = kept.shape[0]
    for y in range(blk * rows, min(height, (blk + 1) * rows)):
        for x in range(width):
            key = _min_key(zbufs, y * width + x)
            if key == EMPTY:
                _empty(y, x, color, mask, depth, fid)
                continue
            t = key & 0xFFFFFFFF
            if t < n_kept:
                f = kept[t]
                i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
                u, v, _ = _barycentrics(
                    float(x), float(y), psx[i0], psy[i0], piw[i0], psx[i1], psy[i1], piw[i1],
                    psx[i2], psy[i2], piw[i2], 1.0, 0.0,
                )  # fmt: skip
            else:
                j = t - n_kept
                f = cface[j]
                p0, p1, p2 = _barycentrics(
                    float(x), float(y), csx[j, 0], csy[j, 0], ciw[j, 0], csx[j, 1], csy[j, 1],
                    ciw[j, 1], csx[j, 2], csy[j, 2], ciw[j, 2], 1.0, 0.0,
                )  # fmt: skip
                bs = cbasis[j]
                u = (p0 * bs[0, 0] + p1 * bs[1, 0]) + p2 * bs[2, 0]
                v = (p0 * bs[0, 1] + p1 * bs[1, 1]) + p2 * bs[2, 1]
            _shade(y, x, f, np.float32(u), np.float32(v), faces, cam, colors, occluded, keep,
                   style, cst, color, mask, depth, fid)  # fmt: skip


@njit(**_LOOPS)
def resolve_precise(
    zbufs, kept, psx, psy, piw, faces, csx, csy, ciw, cface, cbasis, cam, colors, occluded,
    keep, style, cst, color, mask, depth, fid, rows,
):  # fmt: skip
    for blk in range((depth.shape[0] + rows - 1) // rows):
        _resolve_precise_rows(blk, rows, zbufs, kept, psx, psy, piw, faces, csx, csy, ciw,
                              cface, cbasis, cam, colors, occluded, keep, style, cst, color,
                              mask, depth, fid)  # fmt: skip


@njit(parallel=True, **_OPTS)
def resolve_precise_parallel(
    zbufs, kept, psx, psy, piw, faces, csx, csy, ciw, cface, cbasis, cam, colors, occluded,
    keep, style, cst, color, mask, depth, fid, rows, tickets,
):  # fmt: skip
    blocks = (depth.shape[0] + rows - 1) // rows
    for _ in prange(zbufs.shape[0]):
        blk = _take(tickets, 1)
        while blk < blocks:
            _resolve_precise_rows(blk, rows, zbufs, kept, psx, psy, piw, faces, csx, csy, ciw,
                                  cface, cbasis, cam, colors, occluded, keep, style, cst, color,
                                  mask, depth, fid)  # fmt: skip
            blk = _take(tickets, 1)
