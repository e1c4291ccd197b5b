"""Sentinel-2 MTF degradation, its exact adjoint-based consistency projection, and upsampling.

NumPy only (the training code imports it; no xarray, Dask or JAX). Arrays are
``(..., H, W)``: the last two axes are the image, any leading axes (time, band) are a batch.

The degradation ``D`` of a fine image by an integer ``scale`` is the sensor model of the
Wald protocol: blur with a Gaussian point spread function whose transfer function
matches the sensor's MTF, then aggregate ``scale x scale`` blocks (area mean). Image
borders are half-sample symmetric (the image is mirrored), which makes ``D`` exactly
computable with FFTs on the mirrored, periodic image; :func:`project_consistent` uses the
same algebra to solve ``D x' = y`` with the smallest change to ``x`` (``x' = x + D^T
(D D^T)^{-1} (y - D x)``), exact up to float error.

MTF. The Sentinel-2 MSI MTF at Nyquist is specified between 0.15 and 0.3 per band
(ESA, Sentinel-2 User Handbook / MSI mission requirements); the default here is a total
(optics + detector) MTF of 0.3 at the *coarse* grid's Nyquist frequency, the box
aggregation's own 2/pi included, so the Gaussian's part is ``0.3 / (2 / pi)``. Pass
``mtf=`` per call to change it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..exceptions import DimensionError, GridError, describe

__all__ = [
    "DEFAULT_MTF",
    "degrade",
    "gaussian_sigma",
    "project_consistent",
    "upsample_cubic",
]

DEFAULT_MTF = 0.3  # total MTF at the coarse grid's Nyquist frequency (box aggregation included)


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


def _gauss_tf(shape: tuple[int, int], sigma: float) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return np.exp(-2.0 * math.pi**2 * sigma**2 * (fy**2 + fx**2))


def _blur(z: np.ndarray, sigma: float) -> np.ndarray:
    shape = z.shape[-2:]
    return np.fft.irfft2(np.fft.rfft2(z) * _gauss_tf(shape, sigma), s=shape)


def _block_mean(z: np.ndarray, s: int) -> np.ndarray:
    *lead, h, w = z.shape
    return z.reshape(*lead, h // s, s, w // s, s).mean(axis=(-3, -1))


def _d_periodic(z: np.ndarray, s: int, sigma: float) -> np.ndarray:
    return _block_mean(_blur(z, sigma), s)


def _dt_periodic(r: np.ndarray, s: int, sigma: float) -> np.ndarray:
    up = np.repeat(np.repeat(r, s, axis=-2), s, axis=-1) / (s * s)
    return _blur(up, sigma)


def degrade(x: np.ndarray, scale: int, *, mtf: float = DEFAULT_MTF) -> np.ndarray:
    """The sensor model ``D``: MTF blur then ``scale x scale`` area mean (symmetric borders).

    Returns float64 ``(..., H / scale, W / scale)``.

    Examples
    --------
    >>> x = np.full((4, 6), 2.0)
    >>> degrade(x, 2).shape, bool(np.allclose(degrade(x, 2), 2.0))
    ((2, 3), True)
    """
    x = np.asarray(x, dtype=np.float64)
    _check(x, scale)
    h, w = x.shape[-2] // scale, x.shape[-1] // scale
    return _d_periodic(_mirror(x), scale, gaussian_sigma(scale, mtf))[..., :h, :w]


def project_consistent(
    fine: np.ndarray, coarse: np.ndarray, scale: int, *, mtf: float = DEFAULT_MTF
) -> np.ndarray:
    """The smallest change to ``fine`` such that ``degrade(result) == coarse`` (float error).

    NaN handling: NaN fine pixels are filled with the cubic upsampling of ``coarse``
    during the solve and are NaN again in the result; NaN coarse pixels keep the
    network's own degraded value (no constraint there).

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
    sigma = gaussian_sigma(scale, mtf)
    nan_x = np.isnan(x)
    if nan_x.any():
        x = np.where(nan_x, upsample_cubic(np.nan_to_num(y), scale), x)
    dx = degrade(x, scale, mtf=mtf)
    r = np.where(np.isnan(y), 0.0, y - dx)
    rm = _mirror(r)
    h2, w2 = rm.shape[-2:]
    delta = np.zeros((h2, w2))
    delta[0, 0] = 1.0
    kernel = _d_periodic(_dt_periodic(delta, scale, sigma), scale, sigma)
    sol = np.fft.irfft2(np.fft.rfft2(rm) / np.fft.rfft2(kernel), s=(h2, w2))
    out = x + _dt_periodic(sol, scale, sigma)[..., : x.shape[-2], : x.shape[-1]]
    return np.where(nan_x, np.nan, out)


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
