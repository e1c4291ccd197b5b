"""Classical Sentinel-2 band sharpening: bicubic, and high-pass detail injection with regression.

NumPy cores on ``(..., C, h, w)`` coarse stacks and ``(..., 4, H, W)`` 10 m guides
(``H = scale * h``); :mod:`xharm.sharpening.streamed` runs the same cores chunk by chunk
(a fit pass of sums, then an apply pass on blocks with a halo), so a whole Sentinel-2
tile never has to be in memory.

``hpf`` is a generalized-Laplacian-pyramid style injection (Aiazzi et al. 2006, "MTF-tailored
multiscale fusion"), with a synthetic "pan" per band made by regression (as in
Gram-Schmidt adaptive / regression-based injection): for each coarse band ``b``

1. regress the observed band on the 10 m bands degraded to its grid with the sensor's
   MTF (:func:`xharm.sharpening.mtf.degrade`): ``y_b ~ a_b . D(x10) + c_b`` (least squares
   over the valid pixels of that date, from sums over blocks: :func:`block_sums`, :func:`solve`);
2. the synthetic 10 m band ``P_b = a_b . x10 + c_b``, its detail ``P_b - U(D(P_b))``
   (``U`` the cubic upsampling);
3. the result is ``U(y_b) + P_b - U(D(P_b))``, computed as ``P_b + U(y_b - D(P_b))``
   (``U`` is linear: one spline per band; :func:`apply_fit`).

A date's *fit* is a ``(C, 2 G + 2)`` array, one row per coarse band: the regression weights
``a_b`` (``G`` guide bands), the offset ``c_b``, the value that fills the band's NaN pixels
and the ``G`` values that fill the guide's (the date's means: NaN pixels are filled before
the blur and the spline, and are NaN again in the output).
"""

from __future__ import annotations

import numpy as np

from .mtf import DEFAULT_MTF, degrade, upsample_cubic

__all__ = ["FIT_TERMS", "apply_fit", "bicubic", "block_sums", "fit_date", "hpf", "solve", "sums_size"]

G = 4  # guide bands: B02, B03, B04, B08
#: The columns of a fit row.
FIT_TERMS = (*(f"a{i}" for i in range(G)), "offset", "fill", *(f"guide_fill{i}" for i in range(G)))
_K = (G + 1) * (G + 1) + (G + 1) + 1  # normal matrix, right-hand side, count
Pads = tuple[int, int, int, int]
_NO_PADS: Pads = (0, 0, 0, 0)


def bicubic(coarse: np.ndarray, scale: int) -> np.ndarray:
    """Cubic interpolation to the 10 m grid (NaN where any band of the coarse pixel is NaN).

    Examples
    --------
    >>> bicubic(np.ones((1, 2, 3, 3)), 2).shape
    (1, 2, 6, 6)
    """
    return _per_date(coarse, None, scale, DEFAULT_MTF)


def hpf(coarse: np.ndarray, guide: np.ndarray, scale: int, *, mtf: float = DEFAULT_MTF) -> np.ndarray:
    """High-pass detail injection of the 10 m ``guide`` bands with per-band regression weights.

    ``coarse`` ``(..., C, h, w)``, ``guide`` ``(..., G, h * scale, w * scale)``; returns
    ``(..., C, H, W)`` float32. NaN in either input is NaN in the output.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = rng.random((4, 8, 8))
    >>> y = degrade(g[:1] * 2.0, 2)          # a band that is exactly 2 x B02
    >>> bool(np.allclose(hpf(y, g, 2), 2 * g[:1], atol=1e-5))
    True
    """
    return _per_date(coarse, guide, scale, mtf)


def _per_date(coarse: np.ndarray, guide: np.ndarray | None, scale: int, mtf: float) -> np.ndarray:
    y = np.asarray(coarse, dtype=np.float64)
    lead = y.shape[:-3]
    y2 = y.reshape(-1, *y.shape[-3:])
    x2 = None if guide is None else np.asarray(guide, dtype=np.float64).reshape(-1, G, *np.shape(guide)[-2:])
    h, w = y2.shape[-2:]
    out = np.empty((y2.shape[0], y2.shape[1], h * scale, w * scale), dtype=np.float32)
    for t in range(y2.shape[0]):
        xt = None if x2 is None else x2[t]
        fit = fit_date(y2[t], xt, scale, mtf=mtf)
        out[t] = apply_fit(y2[t], xt, fit, scale, mtf=mtf)
    return out.reshape(*lead, *out.shape[1:])


def fit_date(
    coarse: np.ndarray, guide: np.ndarray | None, scale: int, *, mtf: float = DEFAULT_MTF
) -> np.ndarray:
    """One date's fit ``(C, 2 G + 2)`` from the whole image (``guide`` None: bicubic's, weights zero).

    Examples
    --------
    >>> fit_date(np.ones((2, 4, 4)), np.ones((4, 8, 8)), 2).shape
    (2, 10)
    """
    return solve(block_sums(coarse, guide, scale, mtf=mtf), coarse.shape[0])


def block_sums(
    coarse: np.ndarray,
    guide: np.ndarray | None,
    scale: int,
    *,
    mtf: float = DEFAULT_MTF,
    pads: Pads = _NO_PADS,
) -> np.ndarray:
    """Everything a date's fit needs from one block, as sums that blocks add up (:func:`solve`).

    ``[fill sums (G + 1 + 2 C), normal sums (C * K)]``: the sums and counts of the valid
    guide pixels (where no guide band is NaN) and of each band's valid coarse pixels, then
    per band the least-squares sums of ``y_b ~ a_b . D(x) + c_b`` over the coarse pixels
    that are valid in ``b`` and have no NaN guide pixel under their blurred footprint.
    ``guide`` carries ``pads`` (top, bottom, left, right) coarse pixels of halo around the
    block of ``coarse`` (0 at image borders), at least :func:`~xharm.sharpening.mtf.halo`.
    The sums are not centred, so no other pass has to come first; :func:`solve` centres them.
    ``guide`` None (bicubic): the coarse fill sums only.
    """
    y = np.asarray(coarse, dtype=np.float64)
    ok_y = ~np.isnan(y)
    sx, nx = np.zeros(G), 0
    if guide is not None:
        x = np.asarray(guide, dtype=np.float64)
        top, bottom, left, right = (p * scale for p in pads)
        xc = x[:, top : x.shape[1] - bottom, left : x.shape[2] - right]  # the block itself
        ok_x = ~np.isnan(xc).any(0)
        sx, nx = np.where(ok_x, xc, 0.0).sum(axis=(-2, -1)), ok_x.sum()
    fills = np.concatenate([sx, [nx], np.where(ok_y, y, 0.0).sum(axis=(-2, -1)), ok_y.sum(axis=(-2, -1))])
    normal = np.zeros((len(y), _K))
    if guide is not None:
        dx = degrade(x, scale, mtf=mtf)[_core(pads, 1)]  # NaN wherever a NaN guide pixel is under the blur
        z = np.concatenate([dx.reshape(G, -1), np.ones((1, dx[0].size))])  # (G + 1, n)
        clear = np.isfinite(z).all(0)
        for b in range(len(y)):
            ok = clear & ok_y[b].ravel()
            zb, yb = z[:, ok], y[b].ravel()[ok]
            normal[b] = np.concatenate([(zb @ zb.T).ravel(), zb @ yb, [ok.sum()]])
    return np.concatenate([fills, normal.ravel()])


def sums_size(n_bands: int) -> int:
    """Length of :func:`block_sums`' vector for ``n_bands`` coarse bands."""
    return G + 1 + 2 * n_bands + n_bands * _K


def solve(sums: np.ndarray, n_bands: int) -> np.ndarray:
    """The date's fit ``(C, 2 G + 2)`` from its summed :func:`block_sums`.

    Least squares on centred sums (the means taken out after summing: well conditioned).
    A band with no more valid pixels than unknowns gets zero weights: its output is the
    cubic upsampling (as ``bicubic``).
    """
    c = n_bands
    sx, nx = sums[:G], sums[G]
    sy, ny = sums[G + 1 : G + 1 + c], sums[G + 1 + c : G + 1 + 2 * c]
    fx = sx / nx if nx > 0 else np.zeros(G)
    fy = np.divide(sy, ny, out=np.zeros(c), where=ny > 0)
    normal = sums[G + 1 + 2 * c :].reshape(c, _K)
    n = G + 1
    fit = np.zeros((c, 2 * G + 2))
    for b, row in enumerate(normal):
        count = row[-1]
        if count > n:
            a_mat, v = row[: n * n].reshape(n, n) / count, row[n * n : n * n + n] / count
            mx, my = a_mat[:G, G], v[G]
            cov = a_mat[:G, :G] - np.outer(mx, mx)
            coef = np.linalg.lstsq(cov, v[:G] - mx * my, rcond=None)[0]
            fit[b, :G] = coef
            fit[b, G] = my - coef @ mx
    fit[:, G + 1] = fy
    fit[:, G + 2 :] = fx
    return fit


def apply_fit(
    coarse: np.ndarray,
    guide: np.ndarray | None,
    fit: np.ndarray,
    scale: int,
    *,
    mtf: float = DEFAULT_MTF,
    pads: Pads = _NO_PADS,
) -> np.ndarray:
    """``P_b + U(y_b - D(P_b))`` (``P_b = a_b . x + c_b``) of one block: ``(C, H, W)`` float32.

    ``coarse`` and ``guide`` carry ``pads`` coarse pixels of halo (the guide ``scale``
    times as many), at least ``halo(scale) + SPLINE_HALO`` where not at an image border;
    the result is the block without them. ``guide`` None (bicubic): ``U(y_b)``. NaN where a
    guide pixel or any band of the coarse pixel is NaN.
    """
    y = np.asarray(coarse, dtype=np.float64)
    nan_y = np.isnan(y)
    a, c = fit[:, :G], fit[:, G]
    yf = np.where(nan_y, fit[:, G + 1, None, None], y)
    bad = np.repeat(np.repeat(nan_y.any(0), scale, -2), scale, -1)
    core = _core(pads, scale)[1:]
    if guide is None:
        xf = dx = None
    else:
        x = np.asarray(guide, dtype=np.float64)
        nan_x = np.isnan(x).any(0)
        xf = np.where(nan_x, fit[0, G + 2 :, None, None], x)
        dx = degrade(xf, scale, mtf=mtf)
        bad |= nan_x
    bad = bad[core]
    out = np.empty((len(y), *bad.shape), dtype=np.float32)
    for b in range(len(y)):  # one band at a time: a block's float64 temporaries stay a few bands' size
        if xf is None or dx is None:
            band = upsample_cubic(yf[b], scale)[core]
        else:
            low = np.tensordot(a[b], dx, axes=1) + c[b]
            band = upsample_cubic(yf[b] - low, scale)[core]
            band += np.tensordot(a[b], xf[(slice(None), *core)], axes=1) + c[b]
        band[bad] = np.nan
        out[b] = band
    return out


def _core(pads: Pads, scale: int) -> tuple[slice, slice, slice]:
    top, bottom, left, right = (p * scale for p in pads)
    return (slice(None), slice(top, -bottom or None), slice(left, -right or None))
