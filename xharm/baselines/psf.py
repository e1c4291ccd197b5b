"""Landsat's point-spread function on Sentinel-2 bands: the geometry of ``method="hls_psf"``.

HLS regrids Sentinel-2 to 30 m with a box average of the 10/20 m pixels. A Landsat-8 OLI
pixel sees more than its 30 m box: its optics blur the scene with a Gaussian of sigma
about 12-14 m (system MTF at Nyquist 0.27, Storey et al. 2014; per band
:func:`xharm.core.sensors.psf_sigma`), while a Sentinel-2 pixel has already been blurred
by MSI's own, narrower optics (sigma about 4 m at 10 m, 8-9 m at 20 m). Blurring each
Sentinel-2 band with the difference ``sqrt(sigma_OLI^2 - sigma_MSI^2)`` before the 30 m box
average gives Landsat's spatial response on the Sentinel-2-registered grid: the
zero-parameter, geometry-aware physical baseline a learned model must beat.

No misregistration is modelled (the target grid is the Sentinel-2 one).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage

from ..core.sensors import psf_sigma
from ..exceptions import GridError, describe
from .bandpass import S2_TO_L8

__all__ = ["extra_sigma", "match_landsat_psf", "psf_reach"]

_TRUNCATE = 4.0  # Gaussian support in sigmas (scipy's default)


def extra_sigma(band: str, resolution: float) -> float:
    """Gaussian sigma (m) that turns Sentinel-2 ``band``'s blur into its Landsat counterpart's.

    ``sqrt(sigma_OLI^2 - sigma_MSI^2)``, both from the published MTF at Nyquist
    (:func:`xharm.core.sensors.psf_sigma`); 0 when MSI is already the softer one.

    Examples
    --------
    >>> round(extra_sigma("B04", 10.0), 1), round(extra_sigma("B11", 20.0), 1)
    (11.5, 10.1)
    """
    lband = S2_TO_L8.get(band)
    if lband is None:
        raise GridError(describe(f"Sentinel-2 band {band} has no Landsat-8 counterpart", found=band))
    s_l8 = psf_sigma("landsat-8", 30.0, band=lband)
    s_s2 = psf_sigma("sentinel-2a", float(resolution), band=band)
    return math.sqrt(max(s_l8 * s_l8 - s_s2 * s_s2, 0.0))


def psf_reach() -> float:
    """Metres around a pixel that :func:`match_landsat_psf` reads (4 sigma plus one 20 m pixel).

    A window of a cube extended by this much on each side blurs to the same values as the
    whole cube inside the window (the region jobs of :func:`xharm.jobs.harmonize` use it).

    Examples
    --------
    >>> 40 < psf_reach() < 80
    True
    """
    sig = max(extra_sigma(b, r) for b in S2_TO_L8 for r in (10.0, 20.0))
    return _TRUNCATE * sig + 20.0


def _blur(a: np.ndarray, sigmas: tuple[float, ...]) -> np.ndarray:
    """NaN-aware Gaussian blur of ``(..., band, y, x)``: normalised convolution, NaN kept NaN.

    Without NaN the normaliser is the kernel's sum, 1, and is not computed (half the work).
    """
    a = np.asarray(a, dtype="float32")
    ok = np.isfinite(a)
    whole = bool(ok.all())
    filled = a if whole else np.where(ok, a, np.float32(0.0))
    out = np.empty_like(filled)
    for b, s in enumerate(sigmas):
        if s <= 0:
            out[..., b, :, :] = filled[..., b, :, :]
            continue
        sig = (0.0,) * (a.ndim - 3) + (s, s)
        ndimage.gaussian_filter(
            filled[..., b, :, :], sig, mode="nearest", truncate=_TRUNCATE, output=out[..., b, :, :]
        )
        if not whole:
            den = ndimage.gaussian_filter(
                ok[..., b, :, :].astype("float32"), sig, mode="nearest", truncate=_TRUNCATE
            )
            out[..., b, :, :] /= np.maximum(den, 1e-6)
    if not whole:
        out[~ok] = np.nan
    return out


def match_landsat_psf(cube: xr.DataArray) -> xr.DataArray:
    """Blur each band of a canonical Sentinel-2 cube to Landsat-8 OLI's optics (same grid).

    Parameters
    ----------
    cube
        Canonical ``(time, band, y, x)`` Sentinel-2 cube on its native 10 or 20 m grid,
        bands with a Landsat-8 counterpart (B02-B04, B08, B8A, B11, B12; B01).

    Returns
    -------
    xarray.DataArray
        Same grid, coordinates and attrs (``attrs["xharm_psf"]`` records the sigmas);
        lazy for Dask input (``map_overlap``, halo of 4 sigma). NaN pixels stay NaN and do
        not leak into their neighbours (normalised convolution); image borders repeat the
        edge pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> g = GeoBox.from_bbox((600000, 4999880, 600100, 4999980), "EPSG:32632", resolution=10)
    >>> c = make_cube(np.ones((1, 1, 10, 10)), geobox=g, bands=["B04"], sensor="S2B", time=["2021-06-01"])
    >>> float(match_landsat_psf(c).max())  # a flat field stays flat
    1.0
    """
    res = abs(float(cube.odc.geobox.resolution.x))
    bands = [str(b) for b in cube["band"].values]
    sig_m = tuple(extra_sigma(b, res) for b in bands)
    sig_px = tuple(s / res for s in sig_m)
    data: Any = cube.data
    if hasattr(data, "map_overlap"):
        depth = math.ceil(_TRUNCATE * max(sig_px)) + 1
        data = data.rechunk({data.ndim - 3: -1})
        blurred = data.map_overlap(
            _blur,
            depth={data.ndim - 2: depth, data.ndim - 1: depth},
            boundary="nearest",
            dtype=np.float32,
            sigmas=sig_px,
        )
    else:
        blurred = _blur(data, sig_px)
    out = cube.copy(data=blurred)
    out.attrs = {
        **cube.attrs,
        "xharm_psf": "Landsat-8 OLI optics: extra Gaussian sigma (m) "
        + ", ".join(f"{b} {s:.1f}" for b, s in zip(bands, sig_m, strict=True)),
    }
    return out
