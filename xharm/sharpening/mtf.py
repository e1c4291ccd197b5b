"""Sentinel-2 MTF degradation, its exact adjoint-based consistency projection, and upsampling.

NumPy only (the training code imports it; no xarray, Dask or JAX). Arrays are
``(..., H, W)``: the last two axes are the image, any leading axes (time, band) are a batch.

The degradation ``D`` of a fine image by an integer ``scale`` is the sensor model of the
Wald protocol: blur with a sampled Gaussian point spread function whose transfer function
matches the sensor's MTF (a finite, separable kernel of radius ``ceil(4 sigma)``:
:func:`blur_kernel`), then aggregate ``scale x scale`` blocks (area mean). Image borders
are half-sample symmetric (the image is mirrored). The kernel is finite, so ``D`` is local:
a block with a halo of :func:`halo` coarse pixels gives the same values as the whole image
(:mod:`xharm.sharpening.api` streams it chunk by chunk). :func:`project_consistent` solves
``D x' = y`` with the smallest change to ``x``: ``x' = x + D^T (D D^T)^{-1} (y - D x)``.
``D`` is separable, so ``D D^T`` is a separable convolution on the coarse grid whose inverse
kernel decays exponentially; cut at 1e-13 of its centre it is local too (a block with
:func:`inverse_halo` coarse pixels of halo gives the whole image's result), and the result
is consistent to ~1e-12.

MTF. The Sentinel-2 MSI MTF at Nyquist is specified between 0.15 and 0.3 per band
(ESA, Sentinel-2 User Handbook / MSI mission requirements); the default here is a total
(optics + detector) MTF of 0.3 at the *coarse* grid's Nyquist frequency, the box
aggregation's own 2/pi included, so the Gaussian's part is ``0.3 / (2 / pi)``. Pass
``mtf=`` per call to change it.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage

from ..exceptions import DimensionError, GridError, describe

__all__ = [
    "DEFAULT_MTF",
    "blur_kernel",
    "degrade",
    "gaussian_sigma",
    "halo",
    "inverse_halo",
    "project_consistent",
    "upsample_cubic",
]

DEFAULT_MTF = 0.3  # total MTF at the coarse grid's Nyquist frequency (box aggregation included)
_INVERSE_CUT = 1e-13  # relative tap below which the inverse Gram kernel is cut
_TRUNCATE = 4.0  # kernel radius in sigmas (the taps beyond are below 3.4e-4 of the centre's)
#: Coarse pixels of halo for the cubic spline (:func:`upsample_cubic`): its prefilter's
#: influence falls by ``2 - sqrt(3) = 0.268`` per pixel, 0.268 ** 16 = 7e-10 at the halo's edge.
SPLINE_HALO = 16


def gaussian_sigma(scale: int, mtf: float = DEFAULT_MTF) -> float:
    """Gaussian PSF sigma in *fine* pixels whose blur + ``scale``-block mean has ``mtf`` at Nyquist.

    Examples
    --------
    >>> round(gaussian_sigma(2), 3), round(gaussian_sigma(6), 3)
    (0.781, 2.344)
    """
    box = 2.0 / math.pi  # the block mean's transfer at the coarse Nyquist frequency
    g = mtf / box
    if not 0.0 < g < 1.0:
        raise DimensionError(describe("MTF out of range", expected=f"0 < mtf < {box:.3f}", found=mtf))
    sigma_coarse = math.sqrt(-2.0 * math.log(g)) / math.pi
    return sigma_coarse * scale


def _check(x: np.ndarray, scale: int) -> None:
    if x.ndim < 2 or x.shape[-1] % scale or x.shape[-2] % scale:
        raise GridError(
            describe(
                "the fine image is not a whole number of coarse pixels",
                expected=f"H and W multiples of {scale}",
                found=x.shape,
                fix="crop the 10 m image to the coarse grid's footprint",
            )
        )


def _mirror(x: np.ndarray) -> np.ndarray:
    x = np.concatenate([x, x[..., ::-1, :]], axis=-2)
    return np.concatenate([x, x[..., :, ::-1]], axis=-1)


def blur_kernel(scale: int, mtf: float = DEFAULT_MTF) -> np.ndarray:
    """The 1-D blur of ``D``: a sampled Gaussian, radius ``ceil(4 sigma)``, sum 1, with the sensor's MTF.

    Its sigma is :func:`gaussian_sigma` adjusted (by 0.2 % at ``scale=2``) so that the
    *sampled* kernel's transfer at the coarse Nyquist frequency is exactly
    ``mtf / (2 / pi)`` (sampling aliases a little of the Gaussian's tail back).

    Examples
    --------
    >>> k = blur_kernel(2)
    >>> len(k), round(float(k.sum()), 12)
    (9, 1.0)
    """
    s0 = gaussian_sigma(scale, mtf)
    r = math.ceil(_TRUNCATE * s0)
    n = np.arange(-r, r + 1)
    target = mtf / (2.0 / math.pi)
    cos = np.cos(math.pi * n / scale)  # the coarse Nyquist frequency, 1 / (2 scale) cycles per px

    def kernel(sigma: float) -> np.ndarray:
        k = np.exp(-0.5 * (n / sigma) ** 2)
        return k / k.sum()

    lo, hi = 0.5 * s0, 2.0 * s0  # transfer falls as sigma grows: bisect
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(kernel(mid) @ cos) > target else (lo, mid)
    return kernel(0.5 * (lo + hi))


def halo(scale: int, mtf: float = DEFAULT_MTF) -> int:
    """Coarse pixels a block of fine pixels needs around it for :func:`degrade` to be exact.

    Examples
    --------
    >>> halo(2), halo(6)
    (2, 2)
    """
    return math.ceil((len(blur_kernel(scale, mtf)) // 2) / scale)


def _block_mean(z: np.ndarray, s: int) -> np.ndarray:
    *lead, h, w = z.shape
    return z.reshape(*lead, h // s, s, w // s, s).mean(axis=(-3, -1))


@functools.lru_cache(maxsize=16)
def _inverse_gram(scale: int, mtf: float) -> np.ndarray:
    """The 1-D coarse kernel of ``(D D^T)^-1`` along one axis (``D`` is separable, so is its Gram).

    ``D D^T`` is a convolution on the coarse grid with the autocorrelation, at coarse lags,
    of one coarse pixel's fine footprint (the blur times the block mean); its inverse kernel
    decays exponentially (by about 0.4 per coarse pixel at the default MTF) and is cut
    where its taps fall below 1e-13 of the centre's (:func:`inverse_halo`).
    """
    c = np.convolve(blur_kernel(scale, mtf), np.ones(scale) / scale)  # one coarse pixel's footprint
    ac = np.correlate(c, c, mode="full")
    lags = np.arange(-((len(c) - 1) // scale), (len(c) - 1) // scale + 1)
    n = 4096
    q = np.zeros(n)
    q[lags % n] = ac[len(c) - 1 + lags * scale]
    p = np.fft.ifft(1.0 / np.fft.fft(q)).real
    tail = np.abs(p[: n // 2]) / abs(p[0])
    r = int(np.nonzero(tail >= _INVERSE_CUT)[0].max()) + 1
    out = np.concatenate([p[-r:], p[: r + 1]]) if r else p[:1]
    out.setflags(write=False)
    return out


def inverse_halo(scale: int, mtf: float = DEFAULT_MTF) -> int:
    """Coarse pixels a block needs around it for :func:`project_consistent` to be the whole image's.

    The inverse Gram kernel's radius, the blur of ``D x`` and of ``D^T`` (:func:`halo` each)
    and the spline that fills NaN pixels (:data:`SPLINE_HALO`).

    Examples
    --------
    >>> inverse_halo(2) > halo(2) + SPLINE_HALO
    True
    """
    return len(_inverse_gram(scale, mtf)) // 2 + 2 * halo(scale, mtf) + SPLINE_HALO


def degrade(x: np.ndarray, scale: int, *, mtf: float = DEFAULT_MTF) -> np.ndarray:
    """The sensor model ``D``: MTF blur then ``scale x scale`` area mean (symmetric borders).

    Returns float64 ``(..., H / scale, W / scale)``. Local: the blur reaches
    ``len(blur_kernel(scale)) // 2`` fine pixels, so a block cut with :func:`halo` coarse
    pixels around it (image borders excepted) gives the whole image's values there.

    Examples
    --------
    >>> x = np.full((4, 6), 2.0)
    >>> degrade(x, 2).shape, bool(np.allclose(degrade(x, 2), 2.0))
    ((2, 3), True)
    """
    x = np.asarray(x, dtype=np.float64)
    _check(x, scale)
    k = blur_kernel(scale, mtf)
    z = ndimage.correlate1d(x, k, axis=-2, mode="reflect")  # "reflect": half-sample symmetric
    return _block_mean(ndimage.correlate1d(z, k, axis=-1, mode="reflect"), scale)


def project_consistent(
    fine: np.ndarray,
    coarse: np.ndarray,
    scale: int,
    *,
    mtf: float = DEFAULT_MTF,
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> np.ndarray:
    """The smallest change to ``fine`` such that ``degrade(result) == coarse`` (to ~1e-12).

    ``x' = x + D^T (D D^T)^-1 (coarse - D x)``, each operator a separable convolution with
    mirrored borders; ``(D D^T)^-1``'s kernel is cut at 1e-13 of its centre. NaN handling:
    NaN fine pixels are filled with the cubic upsampling of ``coarse`` during the solve
    and are NaN again in the result; NaN coarse pixels keep the network's own degraded
    value (no constraint there). ``pads``: coarse pixels of halo on each side (top,
    bottom, left, right; ``fine`` carries ``scale`` times as many), at least
    :func:`inverse_halo` where not at an image border; the result is the block without them.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((8, 8)), rng.random((4, 4))
    >>> bool(np.abs(degrade(project_consistent(x, y, 2), 2) - y).max() < 1e-9)
    True
    """
    x = np.asarray(fine, dtype=np.float64)
    y = np.asarray(coarse, dtype=np.float64)
    _check(x, scale)
    if y.shape[-2:] != (x.shape[-2] // scale, x.shape[-1] // scale):
        raise GridError(
            describe(
                "coarse image does not match the fine image", expected="H/scale x W/scale", found=y.shape
            )
        )
    k = blur_kernel(scale, mtf)
    nan_x = np.isnan(x)
    if nan_x.any():
        x = np.where(nan_x, upsample_cubic(np.nan_to_num(y), scale), x)
    r = np.where(np.isnan(y), 0.0, y - degrade(x, scale, mtf=mtf))
    p = _inverse_gram(scale, mtf)
    sol = ndimage.correlate1d(ndimage.correlate1d(r, p, axis=-2, mode="reflect"), p, axis=-1, mode="reflect")
    up = np.repeat(np.repeat(sol, scale, axis=-2), scale, axis=-1) / (scale * scale)  # B^T
    dt = ndimage.correlate1d(ndimage.correlate1d(up, k, axis=-2, mode="reflect"), k, axis=-1, mode="reflect")
    out = np.where(nan_x, np.nan, x + dt)
    top, bottom, left, right = (q * scale for q in pads)
    return out[..., top : out.shape[-2] - bottom, left : out.shape[-1] - right]


def upsample_cubic(coarse: np.ndarray, scale: int) -> np.ndarray:
    """Cubic (B-spline) interpolation of ``(..., h, w)`` to ``(..., h * scale, w * scale)``.

    Pixel areas are aligned (the corner of the first fine pixel is the corner of the
    first coarse pixel); borders are mirrored. This is the "bicubic" baseline.

    Examples
    --------
    >>> upsample_cubic(np.ones((2, 3)), 2).shape
    (4, 6)
    """
    y = np.asarray(coarse, dtype=np.float64)
    flat = y.reshape(-1, *y.shape[-2:])  # 2-D zooms: a 4-D spline with unit factors is ~25x slower
    out = np.stack([ndimage.zoom(a, scale, order=3, mode="mirror", grid_mode=True) for a in flat])
    return out.reshape(*y.shape[:-2], *out.shape[-2:])
