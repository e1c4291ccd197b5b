"""Co-registration: bring a target cube onto the geometry of a reference cube on the same grid.

The MGAN paper "warps" each Landsat-8 image onto its Sentinel-2 pair before cutting training
patches, so a model learns radiometry, not one sensor's geolocation error. Here:

- :func:`estimate_shift` finds the sub-pixel displacement of one image against another by
  phase correlation (scikit-image), after a high-pass (minus a Gaussian of ``highpass_px``)
  and a Hann window, so that smooth radiometric differences (haze, atmospheric correction)
  do not pull the peak;
- :func:`coregister` estimates the shift of every date of a target cube against a reference
  band and resamples the target onto the reference geometry (bilinear), recording the shifts
  as the coordinates ``coreg_dx`` / ``coreg_dy`` (metres, east / north).

Both work on any pair of cubes on one grid, e.g. a Landsat-8 cube and the Sentinel-2 cube
regridded to the same 30 m grid (:func:`xharm.core.grid.s2_to_30m`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from ..exceptions import DimensionError, describe
from ..validate import require_same_count
from .cube import check_same_grid

__all__ = ["coregister", "estimate_shift"]


def estimate_shift(
    moving: np.ndarray,
    reference: np.ndarray,
    resolution: float,
    *,
    valid: np.ndarray | None = None,
    highpass_px: float = 2.0,
    upsample: int = 100,
) -> tuple[float, float]:
    """``(dx, dy)`` in metres (east, north) by which ``moving`` is displaced from ``reference``.

    Parameters
    ----------
    moving, reference
        2-D images on the same grid (one band each).
    resolution
        Pixel size in metres.
    valid
        Optional boolean mask of the pixels to use (clouds, no data excluded); the others are
        filled with the image mean before windowing.
    highpass_px
        Sigma (pixels) of the Gaussian subtracted before correlating.
    upsample
        Sub-pixel precision of the peak (1 / ``upsample`` pixel).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = ndimage.gaussian_filter(rng.random((64, 64)), 1.5)
    >>> moved = ndimage.shift(ref, (0.0, 0.2), order=3, mode="reflect")  # 0.2 px east = 6 m at 30 m
    >>> dx, dy = estimate_shift(moved, ref, 30.0)
    >>> round(dx), round(dy)
    (6, 0)
    """
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    a, b = np.asarray(moving, "float64"), np.asarray(reference, "float64")
    if a.shape != b.shape or a.ndim != 2:
        raise DimensionError(
            describe("the two images must be 2-D and of one shape", expected=b.shape, found=a.shape)
        )
    ok = np.isfinite(a) & np.isfinite(b) & (True if valid is None else np.asarray(valid, bool))
    if ok.sum() < 0.1 * ok.size:
        raise DimensionError(
            describe(
                "too few valid pixels to estimate a shift",
                expected="at least 10 % of the image",
                found=f"{ok.mean():.1%}",
                fix="pick a clearer date, or skip co-registration for it",
            )
        )
    prepared = []
    for img in (b, a):
        img = np.where(ok, img, img[ok].mean())
        img = img - ndimage.gaussian_filter(img, highpass_px)
        prepared.append((img - img.mean()) * window("hann", img.shape))
    shift, _, _ = phase_cross_correlation(
        prepared[0], prepared[1], upsample_factor=upsample, normalization=None
    )
    return -float(shift[1]) * resolution, float(shift[0]) * resolution


def coregister(
    target: xr.DataArray,
    reference: xr.DataArray,
    *,
    bands: tuple[str, str],
    valid: xr.DataArray | None = None,
) -> xr.DataArray:
    """``target`` resampled onto ``reference``'s geometry, date by date, shifts recorded.

    Parameters
    ----------
    target
        Canonical cube ``(time, band, y, x)`` to move (e.g. Landsat-8 at 30 m).
    reference
        Canonical cube on the same grid and dates (e.g. Sentinel-2 regridded to 30 m).
    bands
        ``(target band, reference band)`` correlated to find each date's shift, e.g.
        ``("B4", "B04")`` (red: sharp field edges, little atmosphere).
    valid
        Optional boolean ``(time, y, x)`` mask of usable pixels (clear in both).

    Returns
    -------
    xarray.DataArray
        The target with every band shifted by minus its date's estimated displacement
        (cubic spline; pixels whose source lies outside the image or touches a NaN are NaN), with the
        coordinates ``coreg_dx`` and ``coreg_dy`` (metres, east / north, per date) and
        ``attrs["coregistered_to"]``.

    Raises
    ------
    GridError, CRSError
        The cubes are not on one grid.
    DimensionError
        Other dates, or a date with too few valid pixels.
    """
    check_same_grid(target, reference, names=("the target", "the reference"))
    require_same_count(
        reference.sizes["time"],
        target.sizes["time"],
        problem="the target and the reference have other numbers of dates",
        fix="select the paired dates of both first",
    )
    res = abs(float(target.odc.geobox.resolution.x))
    tb, rb = bands
    t_img = target.sel(band=tb).values
    r_img = reference.sel(band=rb).values
    masks = None if valid is None else np.asarray(valid.values, bool)
    out = np.empty(target.shape, dtype="float32")
    dxs, dys = [], []
    data = target.values
    for i in range(target.sizes["time"]):
        dx, dy = estimate_shift(t_img[i], r_img[i], res, valid=None if masks is None else masks[i])
        dxs.append(dx)
        dys.append(dy)
        for j in range(target.sizes["band"]):
            # the target's content sits dx east / dy north of the reference's: move it back
            # (columns grow eastwards, rows southwards)
            out[i, j] = ndimage.shift(
                data[i, j], (dy / res, -dx / res), order=1, mode="constant", cval=np.nan
            )
    moved = target.copy(data=out)
    moved = moved.assign_coords(coreg_dx=("time", np.array(dxs)), coreg_dy=("time", np.array(dys)))
    moved.attrs = {**target.attrs, "coregistered_to": f"{rb} of the reference, per date (phase correlation)"}
    return moved
