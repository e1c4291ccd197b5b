"""NumPy/Dask core of :mod:`xharm.metrics`: integer axes, no xarray.

Every array here is laid out ``(*lead, band, y, x)``. Inputs are first turned into
``p0, r0`` (float64, zero where a pixel is excluded) and a boolean mask ``m``. The
functions then return per-image sums and counts (reduced over the last two axes),
which the xarray layer combines into metrics. The same code runs on NumPy (eager,
exact) and Dask (lazy; NumPy functions dispatch to Dask through
``__array_function__``). Sliding-window maps go through :func:`window_map`, which uses
``dask.array.map_overlap`` with a halo so that chunked equals unchunked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

SPATIAL = (-2, -1)


def is_dask(x: Any) -> bool:
    """Whether ``x`` is a Dask array (checked without importing Dask)."""
    return type(x).__module__.startswith("dask.")


def prepare(pred: Any, ref: Any, valid: Any) -> tuple[Any, Any, Any]:
    """Return ``(p0, r0, m)``: float64 values zeroed where excluded, and the mask.

    A value is used when ``valid`` is true and both ``pred`` and ``ref`` are finite.
    """
    m = np.isfinite(pred) & np.isfinite(ref) & valid
    p0 = np.where(m, pred, 0).astype(np.float64)
    r0 = np.where(m, ref, 0).astype(np.float64)
    return p0, r0, m


def pixel_sums(p0: Any, r0: Any, m: Any) -> dict[str, Any]:
    """Per-image count, sum of squared errors and sum of the reference."""
    d = p0 - r0
    return {
        "n": m.sum(axis=SPATIAL),
        "sse": (d * d).sum(axis=SPATIAL),
        "sum_r": r0.sum(axis=SPATIAL),
    }


def sam_sums(p0: Any, r0: Any, m: Any) -> tuple[Any, Any]:
    """Sum of per-pixel spectral angles (radians) and the number of pixels used.

    A pixel is used when it is valid in every band and neither spectrum has zero norm.
    """
    dot = (p0 * r0).sum(axis=-3)
    norm = np.sqrt((p0 * p0).sum(axis=-3) * (r0 * r0).sum(axis=-3))
    ok = m.all(axis=-3) & (norm > 0)
    cos = np.clip(dot / np.where(ok, norm, 1.0), -1.0, 1.0)
    angle = np.where(ok, np.arccos(cos), 0.0)
    return angle.sum(axis=SPATIAL), ok.sum(axis=SPATIAL)


def corr_sums(a: Any, b: Any, ok: Any) -> dict[str, Any]:
    """Sums for a per-image Pearson correlation of ``a`` and ``b`` over pixels ``ok``."""
    a = np.where(ok, a, 0.0)
    b = np.where(ok, b, 0.0)
    return {
        "n": ok.sum(axis=SPATIAL),
        "a": a.sum(axis=SPATIAL),
        "b": b.sum(axis=SPATIAL),
        "aa": (a * a).sum(axis=SPATIAL),
        "bb": (b * b).sum(axis=SPATIAL),
        "ab": (a * b).sum(axis=SPATIAL),
    }


# ---------------------------------------------------------------- sliding windows


def _box_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sums over every ``w x w`` window fully inside the last two axes ('valid' mode)."""
    c = np.zeros((*x.shape[:-2], x.shape[-2] + 1, x.shape[-1] + 1), dtype=np.float64)
    np.cumsum(x, axis=-2, out=c[..., 1:, 1:])
    np.cumsum(c[..., 1:, 1:], axis=-1, out=c[..., 1:, 1:])
    return c[..., w:, w:] - c[..., :-w, w:] - c[..., w:, :-w] + c[..., :-w, :-w]


def _bad_windows(m: np.ndarray, w: int) -> np.ndarray | None:
    """Number of invalid pixels in each ``w x w`` window, or None when the block is all valid."""
    return None if m.all() else _box_sum((~m).astype(np.float64), w)


def _place(values: np.ndarray, bad: np.ndarray | None, shape: tuple[int, ...], w: int) -> np.ndarray:
    """Put 'valid'-mode window values at their anchor pixel (offset ``w // 2``); NaN elsewhere."""
    out = np.full(shape, np.nan)
    a = w // 2
    ny, nx = values.shape[-2:]
    out[..., a : a + ny, a : a + nx] = values if bad is None else np.where(bad > 0, np.nan, values)
    return out


def uiqi_block(p0: np.ndarray, r0: np.ndarray, m: np.ndarray, *, window: int) -> np.ndarray:
    """UIQI map (Wang & Bovik 2002) over ``window x window`` box windows; NaN where undefined.

    Conventions for degenerate windows: when both variances are zero the index is the
    luminance term ``2 mu_p mu_r / (mu_p^2 + mu_r^2)``; when means are zero too it is 1.
    """
    shape = p0.shape
    if min(shape[-2:]) < window:
        return np.full(shape, np.nan)
    n = float(window * window)
    sp, sr = _box_sum(p0, window), _box_sum(r0, window)
    spp, srr, spr = _box_sum(p0 * p0, window), _box_sum(r0 * r0, window), _box_sum(p0 * r0, window)
    bad = _bad_windows(m, window)
    prod = sp * sr
    sq = sp * sp + sr * sr
    var = n * (spp + srr) - sq
    num = 4.0 * (n * spr - prod) * prod
    den = var * sq
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(den != 0, num / den, np.where(sq != 0, 2.0 * prod / sq, 1.0))
    return _place(q, bad, shape, window)


def ssim_block(
    p0: np.ndarray, r0: np.ndarray, m: np.ndarray, *, sigma: float, truncate: float, c1: float, c2: float
) -> np.ndarray:
    """SSIM map with Gaussian weights and population covariance; NaN where undefined."""
    shape = p0.shape
    radius = int(truncate * sigma + 0.5)
    w = 2 * radius + 1
    if min(shape[-2:]) < w:
        return np.full(shape, np.nan)

    def g(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma=sigma, truncate=truncate, mode="reflect", axes=SPATIAL)

    crop = (..., slice(radius, shape[-2] - radius), slice(radius, shape[-1] - radius))
    up, ur = g(p0)[crop], g(r0)[crop]
    vp = g(p0 * p0)[crop] - up * up
    vr = g(r0 * r0)[crop] - ur * ur
    vpr = g(p0 * r0)[crop] - up * ur
    s = (2 * up * ur + c1) * (2 * vpr + c2) / ((up * up + ur * ur + c1) * (vp + vr + c2))
    bad = _bad_windows(m, w)
    return _place(s, bad, shape, w)


def window_map(block: Callable[..., np.ndarray], depth: int, p0: Any, r0: Any, m: Any, **kw: Any) -> Any:
    """Apply a window kernel on NumPy directly, or on Dask with a halo of ``depth`` pixels.

    ``boundary='none'``: no padding at the image edge, so windows that reach past the
    edge are undefined (NaN) exactly as in the unchunked computation.
    """
    if not is_dask(p0):
        return block(p0, r0, m, **kw)
    import dask.array as da

    ndim = p0.ndim
    depths = {ax: 0 for ax in range(ndim)} | {ndim - 2: depth, ndim - 1: depth}
    return da.map_overlap(
        block, p0, r0, m, depth=depths, boundary="none", dtype=np.float64,
        meta=np.empty((0,) * ndim, dtype=np.float64), **kw,
    )  # fmt: skip


def map_sums(qmap: Any) -> tuple[Any, Any]:
    """Per-image sum and count of the defined (non-NaN) entries of a window map."""
    ok = ~np.isnan(qmap)
    return np.where(ok, qmap, 0.0).sum(axis=SPATIAL), ok.sum(axis=SPATIAL)
