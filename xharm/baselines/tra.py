"""TRA: per-pixel time-series regression of Landsat-8 on Sentinel-2 (Shang & Zhu 2019).

Shang, R. & Zhu, Z. (2019), *Harmonizing Landsat 8 and Sentinel-2: A time-series-based
reflectance adjustment approach*, RSE 235:111439 (GERSL/TRA). Per pixel and band:

1. pair every clear Sentinel-2 date with the clear Landsat date of the same day, else one
   day apart (closest first; "clear" = valid mask and finite in every band);
2. if a pixel has fewer than ``min_pairs`` (4) such pairs, pair instead every clear S2 date
   with the Landsat reflectance linearly interpolated in time between the bracketing clear
   Landsat dates, both within ``max_gap_days`` (16) of the S2 date;
3. ordinary least squares ``L8 = slope * S2 + intercept`` over the pairs;
4. apply to every S2 date of the pixel.

Pixels with fewer than ``min_pairs`` pairs after the fallback are *unfitted*: identity
(slope 1, intercept 0) by default, or NaN with ``unfitted="nan"``.

The kernel is vectorised over pixels and bands (the only loops run over dates); the
xarray layer hands it blocks with the whole time axis (``apply_ufunc``,
``dask="parallelized"``), so Dask input gives lazy coefficients and a lazy output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..core.cube import check_same_grid, validate
from ..exceptions import DimensionError, MissingBandError, describe
from ._inputs import as_landsat, gather, mask_to_30m, to_30m

__all__ = ["SOURCE_DIRECT", "SOURCE_INTERPOLATED", "SOURCE_NONE", "apply_tra", "fit_tra", "harmonize"]

#: Values of the ``source`` coefficient: how a pixel was fitted.
SOURCE_NONE, SOURCE_DIRECT, SOURCE_INTERPOLATED = 0, 1, 2
_COEFS = ("slope", "intercept", "n_pairs", "source")


def fit_tra(
    s2: xr.DataArray,
    l8: xr.DataArray,
    *,
    s2_valid: xr.DataArray | None = None,
    l8_valid: xr.DataArray | None = None,
    min_pairs: int = 4,
    max_pair_days: int = 1,
    max_gap_days: int = 16,
    unfitted: Literal["identity", "nan"] = "identity",
) -> xr.Dataset:
    """Fit per-pixel, per-band TRA coefficients of ``l8`` on ``s2``.

    Parameters
    ----------
    s2
        Sentinel-2 cube on the Landsat 30 m grid with the *same band labels* as ``l8``
        (e.g. after :func:`xharm.baselines.resample`, which names them B2..B7).
    l8
        Landsat reference cube on the same grid (``check_same_grid``); its own dates.
    s2_valid, l8_valid
        Boolean clear masks ``(time, y, x)`` on that grid; default all clear. NaN reflectance
        always counts as not clear.
    min_pairs
        Pairs needed to fit; fewer direct pairs switch a pixel to interpolated pairs.
    max_pair_days
        Largest calendar-day difference of a direct pair.
    max_gap_days
        Largest distance (days) from an S2 date to each bracketing Landsat date.
    unfitted
        What pixels with too few pairs get: ``"identity"`` or ``"nan"``.

    Returns
    -------
    xarray.Dataset
        ``slope``, ``intercept`` (float64, ``(band, y, x)``), ``n_pairs`` and ``source``
        (0 unfitted, 1 direct pairs, 2 interpolated pairs), on the grid of ``s2``; lazy for
        Dask input.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> gbox = GeoBox.from_bbox((600000, 4999920, 600060, 4999980), "EPSG:32632", resolution=30)
    >>> x = np.random.default_rng(0).uniform(0.05, 0.4, (6, 1, 2, 2))
    >>> days = [f"2021-06-{d:02d}" for d in (1, 5, 9, 13, 17, 21)]
    >>> s2 = make_cube(x, geobox=gbox, bands=["B4"], sensor="landsat-8", time=days)
    >>> l8 = make_cube(0.9 * x + 0.01, geobox=gbox, bands=["B4"], sensor="landsat-8", time=days)
    >>> coef = fit_tra(s2, l8)
    >>> round(float(coef.slope[0, 0, 0]), 5), round(float(coef.intercept[0, 0, 0]), 5)
    (0.9, 0.01)
    """
    validate(s2, what="S2 cube")
    validate(l8, what="Landsat reference cube")
    check_same_grid(s2, l8, names=("S2 cube (30 m)", "Landsat reference cube"))
    s2_bands = [str(b) for b in s2["band"].values]
    missing = [b for b in s2_bands if b not in set(str(v) for v in l8["band"].values)]
    if missing:
        raise MissingBandError(
            describe(
                f"the Landsat reference lacks band(s) {', '.join(missing)}",
                expected=", ".join(s2_bands),
                found=", ".join(str(v) for v in l8["band"].values),
                fix="load those Landsat bands, or name the S2 bands as the Landsat ones (resample())",
            )
        )
    if min_pairs < 2:
        raise DimensionError(
            describe("a line needs at least two pairs", expected="min_pairs >= 2", found=min_pairs)
        )
    l8 = l8.sel(band=s2_bands)
    ms = _mask(s2_valid, s2, "s2_valid")
    ml = _mask(l8_valid, l8, "l8_valid")
    ts = _days(s2, "S2 cube")
    tl = _days(l8, "Landsat reference cube")

    x = _one_time_chunk(s2.drop_vars([c for c in s2.coords if c not in s2.dims and c != "spatial_ref"]))
    y = _one_time_chunk(l8.drop_vars([c for c in l8.coords if c not in l8.dims and c != "spatial_ref"]))
    y = y.rename(time="ltime").assign_coords(ltime=np.arange(y.sizes["time"]))
    ml = _one_time_chunk(ml).rename(time="ltime").assign_coords(ltime=np.arange(ml.sizes["time"]))
    ms = _one_time_chunk(ms)
    y = y.drop_vars("spatial_ref", errors="ignore")
    ml = ml.drop_vars("spatial_ref", errors="ignore")
    kwargs = dict(ts=ts, tl=tl, min_pairs=min_pairs, max_pair_days=max_pair_days, max_gap_days=max_gap_days)
    stacked = xr.apply_ufunc(
        _fit_kernel,
        x,
        y,
        ms,
        ml,
        input_core_dims=[["time"], ["ltime"], ["time"], ["ltime"]],
        output_core_dims=[["coef"]],
        kwargs=kwargs,
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"coef": len(_COEFS)}},
    )
    ds = xr.Dataset({name: stacked.isel(coef=i, drop=True) for i, name in enumerate(_COEFS)})
    ds["n_pairs"] = ds["n_pairs"].isel(band=0, drop=True).astype("int32")
    ds["source"] = ds["source"].isel(band=0, drop=True).astype("int8")
    if unfitted == "identity":
        fitted = ds["source"] != SOURCE_NONE
        ds["slope"] = ds["slope"].where(fitted, 1.0)
        ds["intercept"] = ds["intercept"].where(fitted, 0.0)
    elif unfitted != "nan":
        raise DimensionError(
            describe("unknown unfitted= policy", expected="'identity' or 'nan'", found=unfitted)
        )
    ds = ds.transpose("band", "y", "x", ...)
    ds.attrs = {
        "method": "tra",
        "reference": "Shang & Zhu (2019) RSE 235:111439",
        "min_pairs": min_pairs,
        "max_pair_days": max_pair_days,
        "max_gap_days": max_gap_days,
        "unfitted": unfitted,
    }
    return ds


def apply_tra(s2: xr.DataArray, coefficients: xr.Dataset) -> xr.DataArray:
    """Apply TRA coefficients to every date: ``slope * s2 + intercept`` (float32, lazy).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> gbox = GeoBox.from_bbox((600000, 4999920, 600060, 4999980), "EPSG:32632", resolution=30)
    >>> s2 = make_cube(np.full((1, 1, 2, 2), 0.2), geobox=gbox, bands=["B4"], sensor="landsat-8",
    ...                time=["2021-06-01"])
    >>> one = s2.isel(time=0)
    >>> coef = xr.Dataset({"slope": xr.full_like(one, 2.0), "intercept": xr.full_like(one, 0.1)})
    >>> round(float(apply_tra(s2, coef)[0, 0, 0, 0]), 6)
    0.5
    """
    slope = coefficients["slope"].astype("float32")
    intercept = coefficients["intercept"].astype("float32")
    out = (s2 * slope + intercept).transpose(*s2.dims).astype("float32", copy=False)
    out.attrs = dict(s2.attrs)
    return out


# --------------------------------------------------------------------------- kernel


def _fit_kernel(
    x: np.ndarray,
    y: np.ndarray,
    ms: np.ndarray,
    ml: np.ndarray,
    *,
    ts: np.ndarray,
    tl: np.ndarray,
    min_pairs: int,
    max_pair_days: int,
    max_gap_days: int,
) -> np.ndarray:
    """NumPy core. x: (band, Y, X, Ts); y: (band, Y, X, Tl); ms: (Y, X, Ts); ml: (Y, X, Tl).

    Returns (band, Y, X, 4): slope, intercept, n_pairs, source (float64).
    """
    x = np.moveaxis(x, -1, 0).astype("float64")  # (Ts, B, Y, X)
    y = np.moveaxis(y, -1, 0).astype("float64")  # (Tl, B, Y, X)
    clear_s = np.moveaxis(ms, -1, 0).astype(bool) & np.isfinite(x).all(axis=1)  # (Ts, Y, X)
    clear_l = np.moveaxis(ml, -1, 0).astype(bool) & np.isfinite(y).all(axis=1)  # (Tl, Y, X)
    day_s = np.floor(ts).astype("int64")
    day_l = np.floor(tl).astype("int64")

    # 1. direct pairs: for each S2 date, the closest clear Landsat date within max_pair_days
    y_direct = np.full_like(x, np.nan)
    ok_direct = np.zeros_like(clear_s)
    for i in range(x.shape[0]):
        dd = np.abs(day_l - day_s[i])
        for j in sorted(np.nonzero(dd <= max_pair_days)[0], key=lambda j: (dd[j], abs(tl[j] - ts[i]))):
            take = clear_l[j] & ~ok_direct[i]
            y_direct[i] = np.where(take, y[j], y_direct[i])
            ok_direct[i] |= take
    ok_direct &= clear_s
    n_direct = ok_direct.sum(axis=0)

    # 2. interpolated pairs: bracketing clear Landsat dates within max_gap_days
    y_interp = np.full_like(x, np.nan)
    ok_interp = np.zeros_like(clear_s)
    for i in range(x.shape[0]):
        before = [
            j for j in np.argsort(-tl, kind="stable") if tl[j] <= ts[i] and ts[i] - tl[j] <= max_gap_days
        ]
        after = [j for j in np.argsort(tl, kind="stable") if tl[j] >= ts[i] and tl[j] - ts[i] <= max_gap_days]
        y0, t0, f0 = _first_clear(before, y, tl, clear_l)
        y1, t1, f1 = _first_clear(after, y, tl, clear_l)
        span = t1 - t0
        w = np.where(span > 0, (ts[i] - t0) / np.where(span > 0, span, 1.0), 0.0)  # (Y, X)
        y_interp[i] = y0 + w[None] * (y1 - y0)
        ok_interp[i] = f0 & f1 & clear_s[i]

    use_direct = n_direct >= min_pairs  # (Y, X)
    ok = np.where(use_direct[None], ok_direct, ok_interp)
    yref = np.where(use_direct[None, None], y_direct, y_interp)
    n = ok.sum(axis=0)  # (Y, X)
    fitted = n >= min_pairs
    source = np.where(fitted, np.where(use_direct, 1, 2), 0)

    # 3. OLS per pixel and band, centred two-pass sums
    w = ok[:, None].astype("float64")  # (Ts, 1, Y, X)
    nn = np.maximum(n, 1)[None].astype("float64")  # (1, Y, X)
    xs = np.where(ok[:, None], x, 0.0)
    ys = np.where(ok[:, None], yref, 0.0)
    mx = xs.sum(axis=0) / nn
    my = ys.sum(axis=0) / nn
    dx = (xs - mx) * w
    dy = (ys - my) * w
    sxx = (dx * dx).sum(axis=0)
    sxy = (dx * dy).sum(axis=0)
    good = fitted[None] & (sxx > 0)
    slope = np.where(good, sxy / np.where(good, sxx, 1.0), np.nan)
    intercept = np.where(good, my - slope * mx, np.nan)
    source = np.where(good.all(axis=0), source, 0)
    return np.stack(
        [
            slope,
            intercept,
            np.broadcast_to(n, slope.shape).astype("float64"),
            np.broadcast_to(source, slope.shape).astype("float64"),
        ],
        axis=-1,
    )


def _first_clear(
    order: list[int], y: np.ndarray, tl: np.ndarray, clear_l: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel, the value and time of the first clear Landsat date in ``order``."""
    shape = clear_l.shape[1:]
    val = np.full(y.shape[1:], np.nan)
    t = np.zeros(shape)
    found = np.zeros(shape, dtype=bool)
    for j in order:
        take = clear_l[j] & ~found
        val = np.where(take[None], y[j], val)
        t = np.where(take, tl[j], t)
        found |= take
    return val, t, found


# --------------------------------------------------------------------------- helpers


def _days(cube: xr.DataArray, what: str) -> np.ndarray:
    t = np.asarray(cube["time"].values, dtype="datetime64[ns]")
    if np.isnat(t).any():
        raise DimensionError(
            describe(
                f"the {what} has dates that are not set (NaT)",
                expected="a datetime for every time step",
                found=str(t),
                fix="assign the acquisition dates: cube.assign_coords(time=...)",
            )
        )
    return (t - np.datetime64("1970-01-01", "ns")) / np.timedelta64(1, "D")


def _mask(valid: xr.DataArray | None, cube: xr.DataArray, what: str) -> xr.DataArray:
    template = cube.isel(band=0, drop=True)
    if valid is None:
        data = xr.ones_like(template, dtype=bool)
        return data
    if set(valid.dims) != {"time", "y", "x"}:
        raise DimensionError(
            describe(f"{what} has the wrong dims", expected="(time, y, x)", found=tuple(valid.dims))
        )
    valid = valid.transpose("time", "y", "x")
    if valid.shape != template.shape:
        raise DimensionError(
            describe(
                f"{what} does not match its cube",
                expected=tuple(template.shape),
                found=tuple(valid.shape),
                fix="bring the mask onto the same 30 m grid and dates as the cube",
            )
        )
    return valid.astype(bool).assign_coords(time=template["time"], y=template["y"], x=template["x"])


def _one_time_chunk(da: xr.DataArray) -> Any:
    if da.chunks is not None:
        return da.chunk({"time": -1})
    return da


# --------------------------------------------------------------------------- pipeline


def harmonize(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    *,
    l8: xr.DataArray,
    s2_valid: xr.DataArray | None = None,
    l8_valid: xr.DataArray | None = None,
    s2_60m: xr.DataArray | None = None,
    nir: str = "B8A",
    coastal: bool | None = None,
    return_coefficients: bool = False,
    **fit_kwargs: Any,
) -> xr.DataArray | tuple[xr.DataArray, xr.Dataset]:
    """TRA harmonisation of Sentinel-2 cubes; see :func:`xharm.baselines.to_landsat`.

    The S2 cubes are regridded to 30 m (:func:`xharm.core.grid.s2_to_30m`), named as Landsat
    bands, regressed per pixel on ``l8`` (:func:`fit_tra`) and adjusted on every date
    (:func:`apply_tra`). ``s2_valid`` may be on the 10, 20 or 30 m grid.
    """

    inp = gather(s2, s2_20m, s2_60m, nir=nir, coastal=coastal)
    s2_30 = as_landsat(to_30m(inp), inp, "resample")
    ms = None if s2_valid is None else mask_to_30m(s2_valid, inp, s2_30)
    coef = fit_tra(s2_30, l8, s2_valid=ms, l8_valid=l8_valid, **fit_kwargs)
    out = apply_tra(s2_30, coef)
    out.attrs.update(harmonization_method="tra", tra_parameters=json.dumps(dict(coef.attrs)))
    return (out, coef) if return_coefficients else out
