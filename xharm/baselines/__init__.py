"""Physical and statistical baselines: Sentinel-2 -> Landsat-8-like without a neural network.

Three methods behind one function, :func:`to_landsat`:

- ``"resample"``: the plain HLS 30 m regrid (the "original Sentinel-2" row of Table IV of
  Sedona et al. 2021);
- ``"hls"``: NASA HLS v2.0 (regrid, BRDF c-factor NBAR, bandpass adjustment),
  :mod:`xharm.baselines.hls`;
- ``"hls_psf"``: HLS with Landsat-8 OLI's point-spread function instead of the plain box
  regrid (:mod:`xharm.baselines.psf`): the geometry-aware physical baseline, Landsat's
  spatial and spectral response on the Sentinel-2-registered grid with no parameter fitted;
- ``"tra"``: per-pixel time-series regression on Landsat (Shang & Zhu 2019),
  :mod:`xharm.baselines.tra`.

All are lazy (Dask in, Dask out) and need no GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import xarray as xr

from ..core.grid import mask_to_grid
from ..exceptions import DimensionError, describe
from . import bandpass, brdf, solar
from . import hls as _hls
from . import tra as _tra
from ._inputs import S2Input, as_landsat, gather, mask_to_30m, to_30m
from .bandpass import apply_bandpass, bandpass_coefficients, platforms_of
from .brdf import c_factor, li_sparse_r, nbar, ross_thick
from .solar import nbar_solar_zenith
from .tra import apply_tra, fit_tra

__all__ = [
    "METHODS",
    "apply_bandpass",
    "apply_tra",
    "bandpass",
    "bandpass_coefficients",
    "brdf",
    "c_factor",
    "fit_tra",
    "li_sparse_r",
    "nbar",
    "nbar_solar_zenith",
    "platforms_of",
    "resample",
    "ross_thick",
    "solar",
    "to_landsat",
]

METHODS = ("hls", "hls_psf", "tra", "resample")


def resample(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    *,
    s2_60m: xr.DataArray | None = None,
    nir: str = "B8A",
    coastal: bool | None = None,
) -> xr.DataArray:
    """Plain HLS 30 m regrid of the S2 bands matching L8 B2-B7, named as L8 bands."""
    inp = gather(s2, s2_20m, s2_60m, nir=nir, coastal=coastal)
    return as_landsat(to_30m(inp), inp, "resample")


def to_landsat(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    *,
    method: Literal["hls", "hls_psf", "tra", "resample"] = "hls",
    s2_60m: xr.DataArray | None = None,
    nir: str = "B8A",
    coastal: bool | None = None,
    valid: xr.DataArray | None = None,
    angles: Mapping[str, Any] | xr.Dataset | None = None,
    brdf: bool = True,
    nbar_sun_zenith: Any = None,
    platform: str | Sequence[str] | None = None,
    l8: xr.DataArray | None = None,
    l8_valid: xr.DataArray | None = None,
    **tra_kwargs: Any,
) -> xr.DataArray:
    """Harmonise Sentinel-2 cubes to Landsat-8 OLI-like reflectance at 30 m.

    Parameters
    ----------
    s2
        The Sentinel-2 10 m canonical cube (B02, B03, B04, B08), or a mapping
        ``{10: cube10, 20: cube20[, 60: cube60]}``. Any single cube that holds every needed
        band also works (its pixel size decides the regrid: 10 m, 20 m, 30 m or 60 m).
    s2_20m
        The 20 m cube (B8A, B11, B12; red edge unused) when ``s2`` is a single cube.
    method
        ``"hls"`` (NASA HLS v2.0), ``"hls_psf"`` (HLS with Landsat's PSF),
        ``"tra"`` (per-pixel regression on ``l8``) or
        ``"resample"`` (30 m regrid only).
    s2_60m
        Optional 60 m cube with B01; L8 B1 (coastal) is produced when B01 is given.
    nir
        S2 band feeding L8 B5: ``"B8A"`` (HLS, default) or ``"B08"`` (the MGAN paper).
    coastal
        Force (True) or drop (False) the L8 B1 output; default: when B01 is given.
    valid
        Boolean clear mask of the S2 dates, ``(time, y, x)`` on the 10, 20 or 30 m grid;
        brought to 30 m (clear only where every sub-pixel is clear), attached to the output
        as the ``valid`` coordinate, and output pixels that are not clear are NaN (as for
        the MGAN, :func:`xharm.to_landsat`). TRA also fits on clear pixels only.
    angles
        ``hls``/``hls_psf`` only: ``sun_zenith``, ``sun_azimuth``, ``view_zenith``, ``view_azimuth`` in
        degrees (scalars, per-date sequences, or DataArrays on ``(time, y, x)``); default the
        same names in the S2 cubes' ``attrs``.
    brdf
        ``hls``/``hls_psf`` only: apply the BRDF normalisation (needs angles). ``False`` skips it.
    nbar_sun_zenith
        ``hls``/``hls_psf`` only: normalisation solar zenith (deg, scalar or per date); default the HLS
        v2.0 rule at the cube centre (:func:`xharm.baselines.solar.nbar_solar_zenith`).
    platform
        ``hls``/``hls_psf`` only: overrides the cubes' platform (``"S2A"``/``"S2B"``/
        ``"S2C"``, or one per date).
    l8, l8_valid
        ``tra`` only: the Landsat reference cube on the 30 m output grid and its clear mask.
    **tra_kwargs
        ``tra`` only: ``min_pairs``, ``max_pair_days``, ``max_gap_days``, ``unfitted`` of
        :func:`xharm.baselines.tra.fit_tra`.

    Returns
    -------
    xarray.DataArray
        Canonical 30 m cube with L8 band ids (B2..B7, plus B1) and common names,
        ``attrs["sensor"] = "landsat-8"``, ``attrs["harmonization_method"]`` and the
        coefficients used; lazy for Dask input.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> g10 = GeoBox.from_bbox((600000, 4999860, 600120, 4999980), "EPSG:32632", resolution=10)
    >>> g20 = GeoBox.from_bbox((600000, 4999860, 600120, 4999980), "EPSG:32632", resolution=20)
    >>> c10 = make_cube(np.full((1, 4, 12, 12), 0.1), geobox=g10, bands=["B02", "B03", "B04", "B08"],
    ...                 sensor="S2B", time=["2021-06-01"])
    >>> c20 = make_cube(np.full((1, 3, 6, 6), 0.3), geobox=g20, bands=["B8A", "B11", "B12"],
    ...                 sensor="S2B", time=["2021-06-01"])
    >>> out = to_landsat(c10, c20, method="hls", brdf=False)
    >>> out.band.values.tolist(), out.shape
    (['B2', 'B3', 'B4', 'B5', 'B6', 'B7'], (1, 6, 4, 4))
    >>> round(float(out.sel(band="B2")[0, 0, 0]), 6)  # 0.9778 * 0.1 - 0.0040
    0.09378
    """
    if method not in METHODS:
        raise DimensionError(
            describe("unknown harmonisation method", expected=" | ".join(METHODS), found=repr(method))
        )
    if method != "tra" and (l8 is not None or l8_valid is not None or tra_kwargs):
        raise DimensionError(
            describe(
                f"l8/l8_valid/{', '.join(tra_kwargs) or 'TRA options'} only apply to method='tra'",
                expected="method='tra'",
                found=f"method={method!r}",
            )
        )
    inp = gather(s2, s2_20m, s2_60m, nir=nir, coastal=coastal)
    if method == "tra":
        if l8 is None:
            raise DimensionError(
                describe(
                    "method='tra' needs the Landsat reference cube",
                    expected="l8=<Landsat cube on the 30 m output grid>",
                    found="l8=None",
                    fix="pass l8=... (align it first with xharm.core.grid.align_to if needed)",
                )
            )
        out = _tra.harmonize(
            inp.cubes, l8=l8, s2_valid=valid, l8_valid=l8_valid, nir=nir, coastal=coastal, **tra_kwargs
        )
        assert isinstance(out, xr.DataArray)
    else:
        physical = method in ("hls", "hls_psf")
        if physical:
            platforms_of(inp.first, platform)  # fail early
        if method == "hls_psf" and valid is not None:
            # the PSF reaches ~50 m: cloudy inputs must not bleed into clear neighbours
            inp = S2Input(
                {r: _keep_attrs(c.where(mask_to_grid(valid, c.odc.geobox)), c) for r, c in inp.cubes.items()},
                inp.bands,
            )
        cube30 = to_30m(inp, psf=method == "hls_psf")
        if physical:
            out = _hls.hls_from_30m(
                cube30, inp, angles=angles, brdf=brdf, nbar_sun_zenith=nbar_sun_zenith, platform=platform
            )
            if method == "hls_psf":
                out.attrs["harmonization_method"] = "hls_psf"
        else:
            out = as_landsat(cube30, inp, "resample")
    if valid is not None:
        v30 = mask_to_30m(valid, inp, out)
        attrs = dict(out.attrs)
        out = out.where(v30).assign_coords(valid=v30)
        out.attrs = attrs
    return out


def _keep_attrs(masked: xr.DataArray, cube: xr.DataArray) -> xr.DataArray:
    masked.attrs = dict(cube.attrs)
    return masked
