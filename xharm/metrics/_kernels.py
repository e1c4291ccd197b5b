"""NumPy/Dask core of :mod:`xharm.metrics`: fused Numba kernels and their Dask driver.

Every array here is laid out ``(*lead, band, y, x)``. One call of :func:`block_sums`
reads a block of ``pred``, ``ref`` and the optional mask once per kernel and returns,
per image (each lead index and band), a short vector of sums and counts (see the
``SLOTS``): pixel count, sum of squared errors, sum of the reference, the sum and count
of UIQI and SSIM over windows, and, per lead index (stored at band 0), the SAM angle sum
and count and the NDVI correlation sums. The xarray layer turns these into metrics.

The kernels are compiled with Numba (``nogil``, so Dask threads run them in parallel;
``cache``, so the compile happens once per machine). They read float32 or float64 input
as it is and accumulate in float64; a value is used when the mask is true and both
``pred`` and ``ref`` are finite, and counts as zero elsewhere. The window kernels keep
running (sliding) window sums, so their cost grows with the number of pixels, not with
the window area, and count only the windows whose anchor pixel lies in a *core* range
of the block. NumPy input is one block whose core is the whole image. Dask input
(:func:`metric_sums`) gives each chunk a halo from its neighbours (``boundary='none'``: no
padding at the image edge) and makes the chunk's own pixels its core, so every window is
counted by exactly one chunk, and chunked results equal unchunked ones. Each chunk
returns only its small vector of sums; the sums over chunks are a Dask reduction, so
memory is bounded by the chunks.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from ..core.blocks import halo_sides, merge_small, overlap

SLOTS = (
    "n", "sse", "sum_r",  # per band: pixel count, sum of (p - r)^2, sum of r
    "uiqi", "uiqi_n", "ssim", "ssim_n",  # per band: sum and count over windows
    "sam", "sam_n",  # per lead, at band 0: sum of angles (radians), pixels used
    "corr_n", "corr_a", "corr_b", "corr_aa", "corr_bb", "corr_ab",  # per lead, at band 0: NDVI sums
)  # fmt: skip
"""Names of the entries along the last axis of :func:`block_sums`' result."""
SLOT = {name: i for i, name in enumerate(SLOTS)}


def is_dask(x: Any) -> bool:
    """Whether ``x`` is a Dask array (checked without importing Dask)."""
    return type(x).__module__.startswith("dask.")


def gaussian_weights(sigma: float, truncate: float) -> np.ndarray:
    """1-D Gaussian weights as :func:`scipy.ndimage.gaussian_filter` builds them.

    ``exp(-x^2 / (2 sigma^2))`` for ``x = -radius..radius``, ``radius = int(truncate * sigma + 0.5)``,
    normalised to sum 1.

    >>> gaussian_weights(1.5, 3.5).size
    11
    """
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return phi / phi.sum()


# ---------------------------------------------------------------- Numba kernels
# p, r: (L, B, Y, X) float32 or float64. v: bool (L or 1, B or 1, Y or 1, X); all ones
# (1, 1, 1, X) when there is no mask. y0, y1, x0, x1: the core range, half-open.
# Inner loops run over contiguous rows so that LLVM vectorizes them; error_model="numpy":
# a division by zero gives inf/nan instead of raising (such values are always discarded).

_jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")


@_jit
def _rows(p: Any, r: Any, v: Any, ld: int, b: int, y: int, x0: int, n: int) -> tuple[Any, Any, Any]:
    """Row ``y`` of image ``(ld, b)``, columns ``x0 : x0 + n``, of ``p``, ``r`` and the mask."""
    lv = ld if v.shape[0] > 1 else 0
    bv = b if v.shape[1] > 1 else 0
    yv = y if v.shape[2] > 1 else 0
    return p[ld, b, y, x0 : x0 + n], r[ld, b, y, x0 : x0 + n], v[lv, bv, yv, x0 : x0 + n]


@_jit
def _value(pr: Any, rr: Any, vr: Any, i: int) -> tuple[float, float, bool]:
    """Pixel ``i`` of a row as float64, 0 unless valid (mask true, both finite), and whether valid."""
    a, c = np.float64(pr[i]), np.float64(rr[i])
    ok = vr[i] & (abs(a) < math.inf) & (abs(c) < math.inf)
    return (a if ok else 0.0), (c if ok else 0.0), ok


@_jit
def _total(a: Any) -> float:
    """Sum of a 1-D array (a plain loop)."""
    s = 0.0
    for i in range(a.size):
        s += a[i]
    return s


@_jit
def pixel_sums(p: Any, r: Any, v: Any, y0: int, y1: int, x0: int, x1: int, sam: bool) -> tuple[Any, Any]:
    """Per-pixel sums over the core, in one pass over the block.

    Returns ``(per_band, per_lead)``: ``per_band[ld, b]`` = (count, sum of squared errors,
    sum of ref) over valid pixels; ``per_lead[ld]`` = (sum of spectral angles, pixels used)
    when ``sam``, else zeros. A pixel enters SAM when it is valid in every band and both
    spectra have non-zero norm; its angle is ``arccos(clip(<p, r> / sqrt(|p|^2 |r|^2), -1, 1))``.
    Sums run per column over rows first, then over columns.
    """
    nl, nb = p.shape[0], p.shape[1]
    nx = max(x1 - x0, 0)
    per_band = np.zeros((nl, nb, 3))
    per_lead = np.zeros((nl, 2))
    dot, pp, rr, good = np.empty(nx), np.empty(nx), np.empty(nx), np.empty(nx, np.bool_)
    for ld in range(nl):
        cnt, sse, sr = np.zeros((nb, nx)), np.zeros((nb, nx)), np.zeros((nb, nx))
        ang, nang = np.zeros(nx), np.zeros(nx)
        for y in range(y0, y1):
            for i in range(nx):
                dot[i] = pp[i] = rr[i] = 0.0
                good[i] = True
            for b in range(nb):
                prow, rrow, vrow = _rows(p, r, v, ld, b, y, x0, nx)
                cb, sb, rb = cnt[b], sse[b], sr[b]
                if sam:
                    for i in range(nx):
                        a, c, ok = _value(prow, rrow, vrow, i)
                        cb[i] += ok
                        sb[i] += (a - c) * (a - c)
                        rb[i] += c
                        dot[i] += a * c
                        pp[i] += a * a
                        rr[i] += c * c
                        good[i] &= ok
                else:
                    for i in range(nx):
                        a, c, ok = _value(prow, rrow, vrow, i)
                        cb[i] += ok
                        sb[i] += (a - c) * (a - c)
                        rb[i] += c
            if sam:
                for i in range(nx):
                    norm = math.sqrt(pp[i] * rr[i])
                    if good[i] and norm > 0.0:
                        ang[i] += math.acos(min(max(dot[i] / norm, -1.0), 1.0))
                        nang[i] += 1.0
        for b in range(nb):
            per_band[ld, b, 0] = _total(cnt[b])
            per_band[ld, b, 1] = _total(sse[b])
            per_band[ld, b, 2] = _total(sr[b])
        per_lead[ld, 0] = _total(ang)
        per_lead[ld, 1] = _total(nang)
    return per_band, per_lead


@_jit
def _products(p: Any, r: Any, v: Any, ld: int, b: int, y: int, x0: int, n: int, q: Any, bad: Any) -> int:
    """Fill ``q[:, :n] = (p, r, p^2 + r^2, p r)`` (zero where invalid) and ``bad[:n]`` (1 where
    invalid) from row ``y``, columns ``x0 : x0 + n``; return the number of invalid pixels."""
    prow, rrow, vrow = _rows(p, r, v, ld, b, y, x0, n)
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    nbad = 0
    for i in range(n):
        a, c, ok = _value(prow, rrow, vrow, i)
        q0[i] = a
        q1[i] = c
        q2[i] = a * a + c * c
        q3[i] = a * c
        bad[i] = 0 if ok else 1
        nbad += 0 if ok else 1
    return nbad


@_jit
def _slide_down(
    p: Any, r: Any, v: Any, ld: int, b: int, ynew: int, yold: int, x0: int, col: Any, bad: Any
) -> int:
    """Column sums of ``(p, r, p^2 + r^2, p r)`` and of invalid pixels: add row ``ynew``,
    remove row ``yold`` (none if negative); return the change in the number of invalid pixels."""
    n = col.shape[1]
    c0, c1, c2, c3 = col[0], col[1], col[2], col[3]
    pn, rn, vn = _rows(p, r, v, ld, b, ynew, x0, n)
    change = 0
    if yold < 0:
        for i in range(n):
            a, c, ok = _value(pn, rn, vn, i)
            c0[i] += a
            c1[i] += c
            c2[i] += a * a + c * c
            c3[i] += a * c
            bad[i] += 0 if ok else 1
            change += 0 if ok else 1
        return change
    po, ro, vo = _rows(p, r, v, ld, b, yold, x0, n)
    for i in range(n):
        a, c, ok = _value(pn, rn, vn, i)
        ao, co, oko = _value(po, ro, vo, i)
        c0[i] += a - ao
        c1[i] += c - co
        c2[i] += (a * a + c * c) - (ao * ao + co * co)
        c3[i] += a * c - ao * co
        d = (0 if ok else 1) - (0 if oko else 1)
        bad[i] += d
        change += d
    return change


@_jit
def _slide(src: Any, w: int, dst: Any) -> None:
    """``dst[j] = sum(src[j : j + w])`` for every ``j < dst.size``, as a running sum."""
    s = src[0] - src[0]
    for c in range(w):
        s += src[c]
    dst[0] = s
    for j in range(1, dst.size):
        s += src[j + w - 1] - src[j - 1]
        dst[j] = s


@_jit
def _slide4(src: Any, w: int, dst: Any) -> None:
    """:func:`_slide` of the four rows of ``src`` at once (independent running sums)."""
    a, b, c, d = src[0], src[1], src[2], src[3]
    sa = sb = sc = sd = 0.0
    for i in range(w):
        sa += a[i]
        sb += b[i]
        sc += c[i]
        sd += d[i]
    da, db, dc, dd = dst[0], dst[1], dst[2], dst[3]
    da[0], db[0], dc[0], dd[0] = sa, sb, sc, sd
    for j in range(1, da.size):
        sa += a[j + w - 1] - a[j - 1]
        sb += b[j + w - 1] - b[j - 1]
        sc += c[j + w - 1] - c[j - 1]
        sd += d[j + w - 1] - d[j - 1]
        da[j], db[j], dc[j], dd[j] = sa, sb, sc, sd


@_jit
def _window_sum(vals: Any, colbad: Any, w: int, hbad: Any, clean: bool) -> tuple[float, int]:
    """Sum and number of ``vals[j]`` over windows ``j`` free of invalid pixels.

    ``colbad``: invalid pixels per column (the window of ``j`` spans columns ``j : j + w``);
    ``clean``: no invalid pixel at all (skips the count). Four interleaved partial sums.
    """
    n = vals.size
    if not clean:
        _slide(colbad, w, hbad)
    s0 = s1 = s2 = s3 = 0.0
    count = 0
    for j in range(0, n - n % 4, 4):
        if clean:
            s0 += vals[j]
            s1 += vals[j + 1]
            s2 += vals[j + 2]
            s3 += vals[j + 3]
        else:
            s0 += vals[j] if hbad[j] == 0 else 0.0
            s1 += vals[j + 1] if hbad[j + 1] == 0 else 0.0
            s2 += vals[j + 2] if hbad[j + 2] == 0 else 0.0
            s3 += vals[j + 3] if hbad[j + 3] == 0 else 0.0
    for j in range(n - n % 4, n):
        s0 += vals[j] if clean or hbad[j] == 0 else 0.0
    if clean:
        count = n
    else:
        for j in range(n):
            count += hbad[j] == 0
    return (s0 + s1) + (s2 + s3), count


@_jit
def uiqi_sums(p: Any, r: Any, v: Any, w: int, y0: int, y1: int, x0: int, x1: int) -> Any:
    """Sum and number of UIQI values over ``w x w`` box windows anchored in the core.

    A window with top-left pixel ``(i, j)`` is anchored at ``(i + w // 2, j + w // 2)``; it
    counts when it lies fully inside the block and holds no invalid pixel. Returns
    ``(L, B, 2)``. With ``n = w^2`` and window sums ``sp, sr, s2 = spp + srr, spr``:
    ``Q = 4 (n spr - sp sr) sp sr / ((n s2 - sp^2 - sr^2) (sp^2 + sr^2))``; when the
    denominator is zero (both variances zero) Q is the luminance term
    ``2 sp sr / (sp^2 + sr^2)``, and 1 when the means are zero too. Column sums over ``w``
    rows slide down the block (add the new row, remove the old), window sums slide along
    each row.
    """
    nl, nb, ny, nx = p.shape
    out = np.zeros((nl, nb, 2))
    a = w // 2
    i0, i1 = max(0, y0 - a), min(ny - w, y1 - 1 - a)  # top rows, inclusive
    j0, j1 = max(0, x0 - a), min(nx - w, x1 - 1 - a)  # left columns, inclusive
    if i1 < i0 or j1 < j0:
        return out
    nwin = j1 - j0 + 1
    nc = nwin + w - 1
    n = float(w * w)
    hs, hbad, q = np.empty((4, nwin)), np.empty(nwin, np.int64), np.empty(nwin)
    for ld in range(nl):
        for b in range(nb):
            col, colbad = np.zeros((4, nc)), np.zeros(nc, np.int64)
            nbad = 0  # invalid pixels in the current w rows
            total = 0.0
            count = 0
            for y in range(i0, i1 + w):
                nbad += _slide_down(p, r, v, ld, b, y, y - w if y >= i0 + w else -1, j0, col, colbad)
                if y < i0 + w - 1:
                    continue
                # the windows whose top row is y - w + 1
                _slide4(col, w, hs)
                sp, sr, s2, spr = hs[0], hs[1], hs[2], hs[3]
                for j in range(nwin):
                    prod = sp[j] * sr[j]
                    sq = sp[j] * sp[j] + sr[j] * sr[j]
                    den = (n * s2[j] - sq) * sq
                    full, lum = den != 0.0, sq != 0.0
                    num = 4.0 * (n * spr[j] - prod) * prod if full else (2.0 * prod if lum else 1.0)
                    q[j] = num / (den if full else (sq if lum else 1.0))
                row, m = _window_sum(q, colbad, w, hbad, nbad == 0)
                total += row
                count += m
            out[ld, b, 0] = total
            out[ld, b, 1] = count
    return out


_ROWS = 2  # SSIM output rows per pass of the column filter (each ring row is read once for both)


@_jit
def _gauss_rows(dst: Any, ring: Any, s0: int, g: Any) -> None:
    """``dst[j, i] = sum_t g[t] ring[(s0 + j + t) % nr, i]`` for ``j = 0, 1``; ``nr = len(g) + 1``.

    ``g`` is a tuple, so that its length is known when compiling: the loop over ``t``
    unrolls and the loop over ``i`` vectorizes. Symmetric taps are paired.
    """
    w = len(g)
    rad = w // 2
    nr = w + _ROWS - 1
    for i in range(dst.shape[1]):
        a0 = g[rad] * ring[(s0 + rad) % nr, i]
        a1 = g[rad] * ring[(s0 + 1 + rad) % nr, i]
        for t in range(rad):
            a0 += g[t] * (ring[(s0 + t) % nr, i] + ring[(s0 + w - 1 - t) % nr, i])
            a1 += g[t] * (ring[(s0 + 1 + t) % nr, i] + ring[(s0 + w - t) % nr, i])
        dst[0, i] = a0
        dst[1, i] = a1


@_jit
def _gauss_cols(dst: Any, src: Any, g: Any) -> None:
    """``dst[i] = sum_t g[t] src[i + t]`` (symmetric taps paired)."""
    w = len(g)
    rad = w // 2
    for i in range(dst.size):
        acc = g[rad] * src[i + rad]
        for t in range(rad):
            acc += g[t] * (src[i + t] + src[i + w - 1 - t])
        dst[i] = acc


@_jit
def ssim_sums(
    p: Any, r: Any, v: Any, g: Any, c1: float, c2: float, y0: int, y1: int, x0: int, x1: int
) -> Any:
    """Sum and number of SSIM values over Gaussian windows centred in the core.

    ``g``: tuple of symmetric weights, odd length ``w = 2 radius + 1`` (:func:`gaussian_weights`).
    A window centred at ``(y, x)`` counts when it lies fully inside the block and holds no
    invalid pixel. The separable filter (columns, then rows) of ``p, r, p^2 + r^2, p r``
    gives the local means ``up, ur``, the sum of the population variances ``vp + vr`` and
    the covariance ``vpr``; SSIM is ``(2 up ur + c1)(2 vpr + c2) / ((up^2 + ur^2 + c1)(vp + vr + c2))``.
    A ring holds the last ``w + _ROWS - 1`` rows of the four products; the column filter
    makes ``_ROWS`` output rows per pass. Returns ``(L, B, 2)``.
    """
    nl, nb, ny, nx = p.shape
    out = np.zeros((nl, nb, 2))
    w = len(g)
    rad = w // 2
    ya, yb = max(rad, y0), min(ny - rad, y1)  # centres, half-open
    xa, xb = max(rad, x0), min(nx - rad, x1)
    if ya >= yb or xa >= xb:
        return out
    nout = xb - xa
    nc = nout + 2 * rad
    nr = w + _ROWS - 1  # ring of product rows
    nrb = nr + 1  # ring of invalid-pixel rows (also holds the row that leaves the window)
    ring, tmp = np.zeros((4, nr, nc)), np.empty((4, nc))
    ringbad, rowbad = np.empty((nrb, nc), np.int64), np.empty(nrb, np.int64)
    hbad = np.empty(nout, np.int64)
    vert, hor, sv = np.empty((4, _ROWS, nc)), np.empty((4, nout)), np.empty(nout)
    for ld in range(nl):
        for b in range(nb):
            total = 0.0
            count = 0
            colbad = np.zeros(nc, np.int64)
            nbad = 0  # invalid pixels in the window rows
            top = bottom = nxt = ya - rad  # window rows top : bottom in colbad; next row to load
            for yg in range(ya, yb, _ROWS):
                while nxt <= min(yg + _ROWS - 1, yb - 1) + rad:  # load the rows this pass needs
                    rowbad[nxt % nrb] = _products(p, r, v, ld, b, nxt, xa - rad, nc, tmp, ringbad[nxt % nrb])
                    for k in range(4):
                        rk, tk = ring[k, nxt % nr], tmp[k]
                        for c in range(nc):
                            rk[c] = tk[c]
                    nxt += 1
                for k in range(4):
                    _gauss_rows(vert[k], ring[k], (yg - rad) % nr, g)
                for y in range(yg, min(yg + _ROWS, yb)):
                    while bottom <= y + rad:  # the window of centre y: rows y - rad .. y + rad
                        rb = ringbad[bottom % nrb]
                        for c in range(nc):
                            colbad[c] += rb[c]
                        nbad += rowbad[bottom % nrb]
                        bottom += 1
                    while top < y - rad:
                        rb = ringbad[top % nrb]
                        for c in range(nc):
                            colbad[c] -= rb[c]
                        nbad -= rowbad[top % nrb]
                        top += 1
                    for k in range(4):
                        _gauss_cols(hor[k], vert[k, y - yg], g)
                    up, ur, s2, spr = hor[0], hor[1], hor[2], hor[3]
                    for x in range(nout):
                        uu = up[x] * ur[x]
                        sq = up[x] * up[x] + ur[x] * ur[x]
                        sv[x] = (2.0 * uu + c1) * (2.0 * (spr[x] - uu) + c2) / ((sq + c1) * (s2[x] - sq + c2))
                    row, m = _window_sum(sv, colbad, w, hbad, nbad == 0)
                    total += row
                    count += m
            out[ld, b, 0] = total
            out[ld, b, 1] = count
    return out


@_jit
def ndvi_sums(p: Any, r: Any, v: Any, red: int, nir: int, y0: int, y1: int, x0: int, x1: int) -> Any:
    """Per lead index: (n, sum a, sum b, sum a^2, sum b^2, sum a b) of a = NDVI(p), b = NDVI(r).

    A pixel counts when red and nir are valid in both images and neither ``nir + red`` is zero.
    """
    nl = p.shape[0]
    nx = max(x1 - x0, 0)
    out = np.zeros((nl, 6))
    for ld in range(nl):
        for y in range(y0, y1):
            pr_, rr_, vr_ = _rows(p, r, v, ld, red, y, x0, nx)
            pn_, rn_, vn_ = _rows(p, r, v, ld, nir, y, x0, nx)
            for i in range(nx):
                pr, rr, okr = _value(pr_, rr_, vr_, i)
                pn, rn, okn = _value(pn_, rn_, vn_, i)
                dp, dr = pn + pr, rn + rr
                if okr and okn and dp != 0.0 and dr != 0.0:
                    a = (pn - pr) / dp
                    c = (rn - rr) / dr
                    out[ld, 0] += 1.0
                    out[ld, 1] += a
                    out[ld, 2] += c
                    out[ld, 3] += a * a
                    out[ld, 4] += c * c
                    out[ld, 5] += a * c
    return out


# ---------------------------------------------------------------- blocks and chunks


def _float(dtype: np.dtype) -> np.dtype:
    dt = np.result_type(dtype, np.float32)
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


def block_sums(
    p: np.ndarray,
    r: np.ndarray,
    v: np.ndarray | None,
    core: tuple[int, int, int, int],
    **kw: Any,
) -> np.ndarray:
    """Per-image sums of one block, shape ``(*lead, band, len(SLOTS))``; unrequested slots are 0.

    ``p, r``: ``(*lead, band, y, x)``; ``v``: None (all valid) or a boolean mask whose
    dims are those of ``p`` or 1. ``core = (y0, y1, x0, x1)``: the pixels (and window
    anchors) this block counts. ``pixel``: count, SSE, sum of ref; ``sam`` (needs every
    band in the block); ``window``: UIQI window (0: none); ``weights``: SSIM Gaussian
    weights (None: no SSIM), with constants ``c1, c2``; ``ndvi``: (red, nir) band indices
    (keywords of :func:`_block_sums4`).
    """
    p, r = np.asarray(p), np.asarray(r)
    lead, (nb, ny, nx) = p.shape[:-3], p.shape[-3:]
    nl = int(np.prod(lead, dtype=np.int64))
    dt = np.result_type(_float(p.dtype), _float(r.dtype))
    if v is None:
        v4 = np.ones((1, 1, 1, nx), dtype=bool)
    else:
        v = np.asarray(v)
        lead_v = v.shape[:-3]
        if lead_v != lead:
            v = np.broadcast_to(v, (*lead, *v.shape[-3:])) if any(n > 1 for n in lead_v) else v
        v4 = np.require(v.reshape(-1, *v.shape[-3:]), dtype=bool, requirements=["C", "W"])
    # The kernels are compiled for C-contiguous, writeable float32 or float64 arrays (one
    # variant per dtype): other input is converted one lead index at a time, not whole.
    if all(a.dtype == dt and a.flags.c_contiguous and a.flags.writeable for a in (p, r)):
        out = _block_sums4(p.reshape(nl, nb, ny, nx), r.reshape(nl, nb, ny, nx), v4, core, **kw)
    else:
        parts = []
        for i, idx in enumerate(np.ndindex(*lead)):
            pi, ri = (np.require(a[idx], dt, ["C", "W"])[None] for a in (p, r))
            parts.append(_block_sums4(pi, ri, v4[i : i + 1] if v4.shape[0] > 1 else v4, core, **kw))
        out = np.concatenate(parts)
    return out.reshape(*lead, nb, len(SLOTS))


def _block_sums4(
    p4: np.ndarray,
    r4: np.ndarray,
    v4: np.ndarray,
    core: tuple[int, int, int, int],
    *,
    pixel: bool = False,
    sam: bool = False,
    window: int = 0,
    weights: np.ndarray | None = None,
    c1: float = 0.0,
    c2: float = 0.0,
    ndvi: tuple[int, int] | None = None,
) -> np.ndarray:
    """:func:`block_sums` on ``(L, B, Y, X)`` arrays ready for the kernels; returns ``(L, B, len(SLOTS))``."""
    nl, nb = p4.shape[:2]
    y0, y1, x0, x1 = (int(c) for c in core)
    out = np.zeros((nl, nb, len(SLOTS)))
    if pixel or sam:
        per_band, per_lead = pixel_sums(p4, r4, v4, y0, y1, x0, x1, sam)
        out[..., 0:3] = per_band
        out[:, 0, SLOT["sam"] : SLOT["sam_n"] + 1] = per_lead
    if window:
        out[..., SLOT["uiqi"] : SLOT["uiqi_n"] + 1] = uiqi_sums(p4, r4, v4, int(window), y0, y1, x0, x1)
    if weights is not None:
        g = tuple(float(x) for x in weights)  # a tuple: the kernel is compiled for its length
        out[..., SLOT["ssim"] : SLOT["ssim_n"] + 1] = ssim_sums(p4, r4, v4, g, c1, c2, y0, y1, x0, x1)
    if ndvi is not None:
        out[:, 0, SLOT["corr_n"] :] = ndvi_sums(p4, r4, v4, int(ndvi[0]), int(ndvi[1]), y0, y1, x0, x1)
    return out


def metric_sums(p: Any, r: Any, v: Any, depth: int, **kw: Any) -> Any:
    """:func:`block_sums` over whole images: NumPy now, Dask lazily chunk by chunk.

    NumPy: one block, core = the whole image. Dask: spatial chunks smaller than the halo
    ``depth`` are merged first; each chunk gets a halo of ``depth`` pixels from its
    neighbours (none at the image edge), counts its own pixels and window anchors, and
    returns ``(*lead, band, 1, 1, len(SLOTS))``; these are summed over the chunk grid.
    ``p`` and ``r`` must share chunks; ``v`` (None or a mask with dims of ``p`` or 1)
    shares their spatial chunks, and their other chunks where its dims are not 1.
    """
    if not is_dask(p):
        return block_sums(p, r, v, (0, p.shape[-2], 0, p.shape[-1]), **kw)
    import dask.array as da

    nd = p.ndim
    axes = (nd - 2, nd - 1)
    chunks = list(p.chunks)
    depths = {}
    for ax in axes:
        chunks[ax] = merge_small(p.chunks[ax], depth)
        depths[ax] = depth if len(chunks[ax]) > 1 else 0
    p, r = p.rechunk(tuple(chunks)), r.rechunk(tuple(chunks))
    arrays = [p, r] if v is None else [p, r, v.rechunk({ax: chunks[ax] for ax in axes})]
    arrays = [overlap(a, depths) for a in arrays]

    def one(
        pb: np.ndarray, rb: np.ndarray, vb: np.ndarray | None = None, block_info: Any = None
    ) -> np.ndarray:
        (ylo, yhi), (xlo, xhi) = (halo_sides(block_info, depths)[ax] for ax in axes)
        core = (ylo, pb.shape[axes[0]] - yhi, xlo, pb.shape[axes[1]] - xhi)
        out = block_sums(pb, rb, vb, core, **kw)
        return out[..., None, None, :]

    out_chunks = (*p.chunks[:-2], (1,) * len(chunks[-2]), (1,) * len(chunks[-1]), (len(SLOTS),))
    parts = da.map_blocks(
        one, *arrays, chunks=out_chunks, new_axis=[nd], dtype=np.float64,
        meta=np.empty((0,) * (nd + 1), dtype=np.float64),
    )  # fmt: skip
    return parts.sum(axis=(-3, -2))
