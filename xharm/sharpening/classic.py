"""Classical Sentinel-2 band sharpening: bicubic, and high-pass detail injection with regression.

NumPy cores on ``(..., C, h, w)`` coarse stacks and ``(..., 4, H, W)`` 10 m guides
(``H = scale * h``); :func:`xharm.sharpening.api.sharpen` runs them lazily per date.

``hpf`` is a generalized-Laplacian-pyramid style injection (Aiazzi et al. 2006, "MTF-tailored
multiscale fusion"), with a synthetic "pan" per band made by regression (as in
Gram-Schmidt adaptive / regression-based injection): for each coarse band ``b``

1. regress the observed band on the 10 m bands degraded to its grid with the sensor's
   MTF (:func:`xharm.sharpening.mtf.degrade`): ``y_b ~ a_b . D(x10) + c_b`` (least squares
   over the valid pixels of that date);
2. the synthetic 10 m band ``P_b = a_b . x10 + c_b``, its detail ``P_b - U(D(P_b))``
   (``U`` the cubic upsampling);
3. the result is ``U(y_b) + P_b - U(D(P_b))``, computed as ``P_b + U(y_b - D(P_b))``
   (``U`` is linear: one spline per band).
"""

from __future__ import annotations

import numpy as np

from .mtf import DEFAULT_MTF, degrade, upsample_cubic

__all__ = ["bicubic", "hpf"]


def bicubic(coarse: np.ndarray, scale: int) -> np.ndarray:
    """Cubic interpolation to the 10 m grid (NaN where any band of the coarse pixel is NaN).

    Examples
    --------
    >>> bicubic(np.ones((1, 2, 3, 3)), 2).shape
    (1, 2, 6, 6)
    """
    y = np.asarray(coarse, dtype=np.float64)
    nan = np.isnan(y)
    out = upsample_cubic(_fill(y, nan), scale)
    if nan.any():  # as the network: NaN where any band under the output pixel is NaN
        bad = np.repeat(np.repeat(nan.any(axis=-3, keepdims=True), scale, -2), scale, -1)
        out = np.where(bad, np.nan, out)
    return out.astype(np.float32)


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
    y = np.asarray(coarse, dtype=np.float64)
    x = np.asarray(guide, dtype=np.float64)
    lead = y.shape[:-3]
    y2 = y.reshape(-1, *y.shape[-3:])
    x2 = x.reshape(-1, *x.shape[-3:])
    out = np.empty((y2.shape[0], y2.shape[1], *x2.shape[-2:]), dtype=np.float32)
    for t in range(y2.shape[0]):
        out[t] = _hpf_one(y2[t], x2[t], scale, mtf)
    return out.reshape(*lead, *out.shape[1:])


def _hpf_one(y: np.ndarray, x: np.ndarray, scale: int, mtf: float) -> np.ndarray:
    nan_x = np.isnan(x).any(0)
    nan_y = np.isnan(y)
    xf = np.stack([_fill(b, nan_x) for b in x])
    dx = degrade(xf, scale, mtf=mtf)  # (G, h, w)
    if nan_x.any():  # coarse pixels whose degraded guide saw a NaN (an FFT: only when there is one)
        bad_c = degrade(nan_x.astype(float), scale, mtf=mtf) > 1e-6
    else:
        bad_c = np.zeros(dx.shape[-2:], dtype=bool)
    design = np.concatenate([dx.reshape(len(dx), -1).T, np.ones((dx[0].size, 1))], axis=1)
    out = np.empty((len(y), *x.shape[-2:]))
    for b in range(len(y)):
        ok = ~(nan_y[b] | bad_c).ravel()
        coef = (
            np.linalg.lstsq(design[ok], y[b].ravel()[ok], rcond=None)[0]
            if ok.sum() > design.shape[1]
            else None
        )
        yb = _fill(y[b], nan_y[b])
        if coef is None:
            out[b] = upsample_cubic(yb, scale)
            continue
        pan = np.tensordot(coef[:-1], xf, axes=1) + coef[-1]
        low = np.tensordot(coef[:-1], dx, axes=1) + coef[-1]
        out[b] = pan + upsample_cubic(yb - low, scale)  # U(y) + P - U(D(P)), U linear: one spline
    bad = nan_x | np.repeat(np.repeat(nan_y.any(0), scale, -2), scale, -1)
    return np.where(bad, np.nan, out)


def _fill(a: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``a`` with the ``bad`` pixels set to the mean of the others (0 when none is good)."""
    if not bad.any():
        return a
    return np.where(bad, a[~bad].mean() if (~bad).any() else 0.0, a)
