"""Dense time series: real Landsat-8/9 dates and Landsat-like Sentinel-2 dates in one cube.

:func:`dense_series` merges a Landsat cube and a Landsat-like cube harmonized from
Sentinel-2 (:func:`xharm.to_landsat`) on the same 30 m grid into one series sorted by
time, with a ``source`` coordinate per date and, per pixel, which sensor the value came
from. Same-day acquisitions become one date; which value wins there is the ``prefer``
rule. See ``docs/dense_series.md``.
"""

from __future__ import annotations

import warnings
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .core.cube import canonical_only, check_same_grid, validate
from .core.grid import align_to, mask_to_grid
from .exceptions import DimensionError, XharmError, describe

__all__ = ["PIXEL_SOURCES", "PREFER", "dense_series"]

PREFER = ("landsat", "nearest-clear")
#: Codes of the ``pixel_source`` coordinate.
PIXEL_SOURCES = {0: "none", 1: "landsat", 2: "sentinel-2-like"}


def _valid_of(cube: xr.DataArray, valid: xr.DataArray | None, what: str) -> xr.DataArray:
    """Clear mask ``(time, y, x)`` on the cube's grid: ``valid`` (or the ``valid`` coord) and finite."""
    ok = cube.notnull().all("band")
    ok = xr.DataArray(ok.data, dims=("time", "y", "x"))
    if valid is None and "valid" in cube.coords:
        valid = cube.coords["valid"]
    if valid is None:
        return ok
    if valid.dtype != bool:
        raise DimensionError(
            describe(
                f"the {what} mask is not boolean", expected="bool (True = clear)", found=str(valid.dtype)
            )
        )
    if set(valid.dims) != {"time", "y", "x"} or valid.sizes["time"] != cube.sizes["time"]:
        raise DimensionError(
            describe(
                f"the {what} mask does not fit the cube's dates",
                expected=f"(time, y, x) with {cube.sizes['time']} dates",
                found=dict(valid.sizes),
                fix="pass the mask of the same acquisitions (e.g. ps.l8_valid for ps.l8)",
            )
        )
    if (
        "spatial_ref" in valid.coords
        or valid.sizes["y"] != cube.sizes["y"]
        or valid.sizes["x"] != cube.sizes["x"]
    ):
        valid = mask_to_grid(valid, cube.odc.geobox)
    return ok & xr.DataArray(valid.transpose("time", "y", "x").data, dims=("time", "y", "x"))


def _bands(l8: xr.DataArray, s2_like: xr.DataArray, bands: list[str] | None) -> list[str]:
    """The output bands: ``bands``, or those of ``s2_like`` that ``l8`` holds too (warns on a drop)."""
    if bands is not None:
        return [str(b) for b in bands]
    have = {str(b) for b in l8["band"].values}
    mine = [str(b) for b in s2_like["band"].values]
    common = [b for b in mine if b in have]
    dropped = [b for b in mine if b not in have]
    if not common:
        raise DimensionError(
            describe(
                "the Landsat cube and the Landsat-like S2 cube share no band",
                expected=mine,
                found=sorted(have),
                fix="load Landsat bands with the same ids (B2..B7)",
            )
        )
    if dropped:
        warnings.warn(
            f"dense_series: band(s) {', '.join(dropped)} of the Landsat-like S2 cube are not in the "
            f"Landsat cube and are left out (pass bands=[...] to choose)",
            UserWarning,
            stacklevel=3,
        )
    return common


def _onto(
    cube: xr.DataArray, ok: xr.DataArray, geobox: Any, resampling: str
) -> tuple[xr.DataArray, xr.DataArray]:
    """Reproject a cube and its clear mask (nearest; outside the source: not clear) onto ``geobox``."""
    from odc.geo.xr import xr_coords

    src = cube.odc.geobox
    mask = xr.DataArray(ok.data.astype("uint8"), dims=("time", "y", "x"), coords=xr_coords(src))
    moved = align_to(cube, geobox, resampling)
    mask = align_to(mask, geobox, "nearest", fill=0)
    return moved, xr.DataArray((mask.data == 1), dims=("time", "y", "x"))


def _same_grid(a: xr.DataArray, b: xr.DataArray) -> None:
    try:
        check_same_grid(a, b, names=("the Landsat cube", "the Landsat-like S2 cube"))
    except XharmError as err:
        raise type(err)(
            f"{err}\n  or:       dense_series(..., grid='landsat') reprojects the S2-like cube onto the "
            "Landsat grid (grid='sentinel-2': the other way); different UTM zones are normal"
        ) from err


def _platform(cube: xr.DataArray, family: str) -> str:
    """The platform of ``family`` (``landsat-9``) the cube's dates come from, else ``family``.

    ``attrs["source_platform"]`` of a harmonized product (where its data came from), else
    ``attrs["platform"]``.
    """
    name = str(cube.attrs.get("source_platform", cube.attrs.get("platform", ""))).lower()
    return name if name.startswith(family.split("-")[0]) else family


def _pairs(t_l8: np.ndarray, t_s2: np.ndarray, window: np.timedelta64) -> dict[int, int]:
    """One-to-one same-day matching ``{s2 index: l8 index}``, closest pairs first."""
    cand = [
        (abs(int(t_s2[j] - t_l8[i])), j, i)
        for i in range(len(t_l8))
        for j in range(len(t_s2))
        if abs(t_s2[j] - t_l8[i]) <= window
    ]
    used_l8: set[int] = set()
    out: dict[int, int] = {}
    for _, j, i in sorted(cand):
        if j not in out and i not in used_l8:
            out[j] = i
            used_l8.add(i)
    return out


def dense_series(
    l8: xr.DataArray,
    s2_like: xr.DataArray,
    *,
    l8_valid: xr.DataArray | None = None,
    s2_valid: xr.DataArray | None = None,
    prefer: str = "landsat",
    same_day: str | pd.Timedelta = "12h",
    max_day_gap: float = 5.0,
    grid: str = "same",
    resampling: str = "nearest",
    bands: list[str] | None = None,
) -> xr.DataArray:
    """Merge Landsat dates and Landsat-like Sentinel-2 dates into one dense 30 m series.

    Parameters
    ----------
    l8
        Landsat-8/9 canonical cube (surface reflectance, 30 m).
    s2_like
        Landsat-like cube harmonized from Sentinel-2 (:func:`xharm.to_landsat`), on
        the same grid as ``l8`` (same CRS, resolution, origin and shape) unless ``grid``
        says which grid to reproject onto.
    l8_valid, s2_valid
        Boolean clear masks ``(time, y, x)`` of the two cubes' dates (True = clear). The
        S2 mask may be on the 10/20/30 m grid (brought to 30 m: clear where every
        sub-pixel is). Default: the cube's ``valid`` coordinate if it has one. A pixel is
        only ever used where its mask is True *and* it is finite in every band.
    prefer
        What value a date gets at each pixel:

        * ``"landsat"``: an L8 date and an S2 date less than ``same_day`` apart are one
          output date (at the L8 time). Each pixel takes the L8 value where L8 is clear,
          else the S2-like value where S2 is clear, else NaN. Dates without a same-day
          partner keep their own clear pixels (NaN elsewhere). No value moves in time.
        * ``"nearest-clear"``: the same dates, but each pixel takes the clear
          observation (of either sensor) nearest in time to the output date, within
          ``max_day_gap`` days; ties go to Landsat, then to the earlier date. Clouds are
          filled from neighbouring dates; the ``obs_time`` coordinate says from which.
    same_day
        Largest time difference for an L8 and an S2 acquisition to count as the same day
        (each S2 date pairs with at most one L8 date, closest pairs first).
    max_day_gap
        ``"nearest-clear"`` only: how far (days) to look for a clear observation.
    grid
        ``"same"`` (default): the cubes must already share one grid. ``"landsat"``:
        reproject ``s2_like`` (and its mask) onto ``l8``'s grid; ``"sentinel-2"``: reproject
        ``l8`` onto ``s2_like``'s grid. Landsat WRS-2 scenes and Sentinel-2 MGRS tiles are
        often in different UTM zones: this is how to merge them (odc-geo reprojection,
        :func:`xharm.core.grid.align_to`; masks with nearest, pixels outside the source NaN).
    resampling
        GDAL resampling of the reprojected reflectance (``"nearest"``, as the MGAN paper
        aligns Landsat; or ``"bilinear"``, ``"average"`` ...).
    bands
        Bands of the output; default the bands of ``s2_like`` that ``l8`` also holds, in
        ``s2_like``'s order (e.g. HLS's ``B1`` is dropped, with a warning, for a Landsat
        cube read without it).

    Returns
    -------
    xarray.DataArray
        Canonical ``(time, band, y, x)`` cube on the common grid, sorted by time, lazy
        when the inputs are, with coordinates

        * ``source`` (time): the platform of the date, from each cube's ``platform``
          attribute (``"landsat-8"``, ``"sentinel-2a"``; ``"landsat-8"`` / ``"sentinel-2"``
          when absent), ``"landsat-8+sentinel-2a"`` for a same-day pair;
        * ``pixel_source`` (time, y, x) int8: 0 no clear value, 1 Landsat, 2 S2-like;
        * ``obs_time`` (time, y, x) datetime64: acquisition time of the value (NaT: none);
        * ``valid`` (time, y, x) bool: the pixel has a value.

        ``attrs``: the L8 cube's, plus ``dense_series_prefer`` and the counts of dates.

    Examples
    --------
    >>> import xharm
    >>> from xharm import simulate
    >>> ps = simulate.pair_series(n_dates=2, size_km=0.6, seed=1, dates=["2021-06-01", "2021-06-05"])
    >>> l8like = xharm.to_landsat({10: ps.s2_10m, 20: ps.s2_20m}, method="hls")
    >>> l8 = ps.l8.isel(time=[0])                         # Landsat on the first date only
    >>> dense = dense_series(l8, l8like, l8_valid=ps.l8_valid.isel(time=[0]), s2_valid=ps.s2_valid)
    >>> dense.source.values.tolist()
    ['landsat-8+sentinel-2a', 'sentinel-2a']
    >>> dense.pixel_source.attrs["flag_meanings"]
    'none landsat sentinel-2-like'
    """
    if prefer not in PREFER:
        raise DimensionError(describe(f"unknown prefer rule {prefer!r}", expected=PREFER, found=prefer))
    bands = _bands(l8, s2_like, bands)
    validate(l8, bands=bands, what="Landsat cube")
    validate(s2_like, bands=bands, what="Landsat-like S2 cube")
    a = canonical_only(l8.sel(band=bands))
    b = canonical_only(s2_like.sel(band=bands))
    va, vb = _valid_of(l8, l8_valid, "Landsat"), _valid_of(s2_like, s2_valid, "Landsat-like S2")
    if grid == "landsat":
        b, vb = _onto(b, vb, a.odc.geobox, resampling)
    elif grid == "sentinel-2":
        a, va = _onto(a, va, b.odc.geobox, resampling)
    elif grid != "same":
        raise DimensionError(
            describe(f"unknown grid {grid!r}", expected="'same', 'landsat' or 'sentinel-2'", found=grid)
        )
    _same_grid(a, b)
    b = b.assign_coords(band=a["band"].values)

    t_a = a["time"].values.astype("datetime64[ns]")
    t_b = b["time"].values.astype("datetime64[ns]")
    pairs = _pairs(t_a, t_b, np.timedelta64(pd.Timedelta(same_day).value, "ns"))
    l8_name = _platform(l8, "landsat-8")
    s2_name = _platform(s2_like, "sentinel-2")
    # Observations: (time, sensor rank 1 = landsat / 2 = s2, index in its cube).
    obs = [(t, 1, i) for i, t in enumerate(t_a)] + [(t, 2, j) for j, t in enumerate(t_b)]
    dates: list[tuple[np.datetime64, str, list[tuple[int, int]]]] = []
    paired_l8 = {i: j for j, i in pairs.items()}
    for i, t in enumerate(t_a):
        own = [(1, i)] + ([(2, paired_l8[i])] if i in paired_l8 else [])
        dates.append((t, f"{l8_name}+{s2_name}" if i in paired_l8 else l8_name, own))
    for j, t in enumerate(t_b):
        if j not in pairs:
            dates.append((t, s2_name, [(2, j)]))
    dates.sort(key=lambda d: (d[0], d[1]))

    gap = int(max_day_gap * 86400e9)
    lazy = any(isinstance(x.data, da.Array) for x in (a, b, va, vb))
    xp: Any = da if lazy else np
    arr_a, arr_b = (xp.asarray(x.data).astype(np.float32) for x in (a, b))
    ok_a, ok_b = xp.asarray(va.data), xp.asarray(vb.data)
    shape = (a.sizes["band"], a.sizes["y"], a.sizes["x"])
    planes, srcs, whens = [], [], []
    for t, _name, own in dates:
        if prefer == "landsat":
            order = own
        else:
            near = [(abs(int(to - t)), rank, int(to.astype("int64")), idx) for to, rank, idx in obs]
            order = [(rank, idx) for dt, rank, _, idx in sorted(near) if dt <= gap]
        kw = {"chunks": arr_a.chunks[1:]} if lazy else {}
        kw2 = {"chunks": arr_a.chunks[2:]} if lazy else {}
        value = xp.full(shape, np.nan, dtype=np.float32, **kw)
        src = xp.zeros(shape[1:], dtype=np.int8, **kw2)
        when = xp.full(shape[1:], np.datetime64("NaT", "ns"), dtype="datetime64[ns]", **kw2)
        for rank, idx in reversed(order):  # the first in order is applied last: it wins
            cube, ok, times = (arr_a, ok_a, t_a) if rank == 1 else (arr_b, ok_b, t_b)
            value = xp.where(ok[idx][None], cube[idx], value)
            src = xp.where(ok[idx], np.int8(rank), src)
            when = xp.where(ok[idx], times[idx], when)
        planes.append(value)
        srcs.append(src)
        whens.append(when)
    pix = xp.stack(srcs)
    out = xr.DataArray(
        xp.stack(planes),
        dims=("time", "band", "y", "x"),
        coords={
            "time": np.array([d[0] for d in dates], dtype="datetime64[ns]"),
            **{k: v for k, v in a.coords.items() if k not in ("time",)},
            "source": ("time", [d[1] for d in dates]),
            "pixel_source": (("time", "y", "x"), pix),
            "obs_time": (("time", "y", "x"), xp.stack(whens)),
            "valid": (("time", "y", "x"), pix > 0),
        },
    )
    out["pixel_source"].attrs = {
        "flag_values": list(PIXEL_SOURCES),
        "flag_meanings": " ".join(PIXEL_SOURCES.values()),
    }
    out.attrs = {
        **l8.attrs,
        "dense_series_prefer": prefer,
        "dense_series_landsat_dates": len(t_a),
        "dense_series_sentinel2_dates": len(t_b),
        "dense_series_same_day_pairs": len(pairs),
    }
    out.name = None
    return out
