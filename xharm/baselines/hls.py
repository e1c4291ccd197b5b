"""The NASA HLS v2.0 S30 method: Sentinel-2 -> Landsat-8-like, after atmospheric correction.

Steps (SENSORS.md §A.1, as in the HLS processing chain):

1. regrid to 30 m on the S2 footprint (:func:`xharm.core.grid.s2_to_30m`: 3x3 mean of 10 m
   bands, area-weighted mean of 20 m bands, 60 m bands replicated);
2. BRDF normalisation to nadir view and the HLS v2.0 NBAR solar zenith with the
   c-factor (:mod:`xharm.baselines.brdf`, :mod:`xharm.baselines.solar`);
3. bandpass adjustment MSI -> OLI with the coefficients of the date's platform
   (:mod:`xharm.baselines.bandpass`).

Angles (degrees) are looked up by name -- ``sun_zenith``, ``sun_azimuth``,
``view_zenith``, ``view_azimuth`` -- first in ``angles=`` (a mapping or Dataset), then in
the S2 cubes' coordinates (e.g. per-date coords on ``time``, as :mod:`xharm.simulate`
writes them), then in their ``attrs``. Values may be scalars, per-date sequences, or
DataArrays with dims among ``(time, y, x)``; a ``(y, x)`` grid other than the 30 m output
(e.g. the 5 km S2 angle grid) is linearly interpolated onto it. Azimuths are measured
from north towards the sun / the sensor; the relative azimuth is
``view_azimuth - sun_azimuth``. Missing angles raise unless ``brdf=False``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..core.sensors import ANGLE_NAMES
from ..exceptions import DimensionError, MissingBandError, describe
from ..validate import check_angle
from ._inputs import S2Input, as_landsat, gather, per_time, to_30m
from .bandpass import bandpass_coefficients, platforms_of
from .brdf import c_factors
from .solar import centre_lonlat, nbar_solar_zenith

__all__ = ["harmonize", "hls_from_30m", "resolve_angles", "resolve_nbar_sun_zenith"]


def hls_from_30m(
    cube30: xr.DataArray,
    inp: S2Input,
    *,
    angles: Mapping[str, Any] | xr.Dataset | None = None,
    brdf: bool = True,
    nbar_sun_zenith: Any = None,
    platform: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """BRDF + bandpass on an S2 cube already at 30 m (S2 band ids); returns the L8-like cube."""
    plats = platforms_of(cube30, platform)  # fail early, before any graph is built
    extra: dict[str, Any] = {"brdf": bool(brdf)}
    slope, offset = bandpass_coefficients(plats, inp.bands)
    coords = {"time": cube30["time"], "band": cube30["band"]}
    gain: Any = xr.DataArray(slope.astype("float32"), dims=("time", "band"), coords=coords)
    o = xr.DataArray(offset.astype("float32"), dims=("time", "band"), coords=coords)
    if brdf:
        ang = resolve_angles(cube30, inp, angles)
        sz_nbar = resolve_nbar_sun_zenith(cube30, nbar_sun_zenith)
        gain = gain * c_factors(cube30["band"], ang, sz_nbar)  # NBAR then bandpass as one affine map
        extra["nbar_sun_zenith"] = np.broadcast_to(np.asarray(sz_nbar), (cube30.sizes["time"],)).tolist()
    out = (cube30 * gain + o).transpose(*cube30.dims).astype("float32", copy=False)
    first = {p: plats.index(p) for p in dict.fromkeys(plats)}  # one row per platform present
    table = {
        p: {b: [float(slope[i, j]), float(offset[i, j])] for j, b in enumerate(inp.bands)}
        for p, i in first.items()
    }
    extra["bandpass_coefficients"] = json.dumps(table)
    extra["bandpass_platforms"] = list(plats)
    if "B08" in inp.bands:
        extra["nir_note"] = (
            "B08 feeds L8 B5 and was adjusted with the HLS B8A coefficients (HLS has none for B08)"
        )
    out.attrs = dict(cube30.attrs)
    result = as_landsat(out, inp, "hls", extra)
    if len(set(plats)) == 1:
        result.attrs["source_platform"] = plats[0]
    return result


def harmonize(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    *,
    s2_60m: xr.DataArray | None = None,
    nir: str = "B8A",
    coastal: bool | None = None,
    angles: Mapping[str, Any] | xr.Dataset | None = None,
    brdf: bool = True,
    nbar_sun_zenith: Any = None,
    platform: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """HLS v2.0 S30 harmonisation of Sentinel-2 cubes; see :func:`xharm.baselines.to_landsat`."""
    inp = gather(s2, s2_20m, s2_60m, nir=nir, coastal=coastal)
    platforms_of(inp.first, platform)  # fail before building anything
    return hls_from_30m(
        to_30m(inp), inp, angles=angles, brdf=brdf, nbar_sun_zenith=nbar_sun_zenith, platform=platform
    )


def resolve_angles(
    cube30: xr.DataArray, inp: S2Input, angles: Mapping[str, Any] | xr.Dataset | None
) -> dict[str, Any]:
    """Sun/view angles (deg) for the BRDF step, broadcastable to the 30 m cube."""
    src = {} if angles is None else angles
    attrs = inp.attrs
    coords = {n: c[n] for c in inp.cubes.values() for n in ANGLE_NAMES if n in c.coords}
    out: dict[str, Any] = {}
    missing = []
    for name in ANGLE_NAMES:
        for place in (src, coords, attrs):
            if name in place:
                value = place[name]
                break
        else:
            missing.append(name)
            continue
        if isinstance(value, xr.DataArray):
            out[name] = _angle_on_grid(value, cube30, name)
        else:
            out[name] = per_time(value, cube30, name)
    for name, high in (("sun_zenith", 90.0), ("view_zenith", 90.0)):
        if name in out:
            out[name] = check_angle(out[name], name, 0.0, high)
    if missing:
        raise MissingBandError(
            describe(
                f"sun/view angle(s) {', '.join(missing)} not found for the BRDF normalisation",
                expected="angles={'sun_zenith': .., 'sun_azimuth': .., 'view_zenith': .., "
                "'view_azimuth': ..}, or coords/attrs of those names on the S2 cubes (degrees)",
                found=f"angles keys {sorted(map(str, src))}; attrs keys {sorted(attrs)}",
                fix="pass angles=..., or brdf=False to skip the BRDF step",
            )
        )
    return out


def resolve_nbar_sun_zenith(cube30: xr.DataArray, value: Any) -> Any:
    """The NBAR solar zenith: the override, or the HLS v2.0 rule per date at the cube centre."""
    if value is not None:
        return per_time(value, cube30, "nbar_sun_zenith")
    times = np.asarray(cube30["time"].values, dtype="datetime64[ns]")
    if np.isnat(times).any():
        raise DimensionError(
            describe(
                "the HLS NBAR solar zenith needs the acquisition dates, and some are NaT",
                expected="dates on the time coordinate",
                found=str(times),
                fix="assign dates, or pass nbar_sun_zenith=<degrees>",
            )
        )
    lon, lat = centre_lonlat(cube30.odc.geobox)
    return xr.DataArray(nbar_solar_zenith(times, lat, lon), dims="time", coords={"time": cube30["time"]})


def _angle_on_grid(value: xr.DataArray, cube30: xr.DataArray, name: str) -> xr.DataArray:
    extra = [d for d in value.dims if d not in ("time", "y", "x")]
    if extra:
        raise DimensionError(
            describe(
                f"angle {name!r} has unexpected dims",
                expected="dims among (time, y, x)",
                found=tuple(value.dims),
                fix="select one band/detector, or average the per-band view angles",
            )
        )
    value = value.drop_vars([c for c in value.coords if c not in value.dims])
    if "time" in value.dims:
        if value.sizes["time"] != cube30.sizes["time"]:
            raise DimensionError(
                describe(
                    f"angle {name!r} has another number of dates",
                    expected=cube30.sizes["time"],
                    found=value.sizes["time"],
                )
            )
        value = value.assign_coords(time=cube30["time"])
    if "y" in value.dims and "x" in value.dims:
        same = value.sizes["y"] == cube30.sizes["y"] and value.sizes["x"] == cube30.sizes["x"]
        if (
            same
            and "y" in value.coords
            and np.allclose(value["y"], cube30["y"])
            and np.allclose(value["x"], cube30["x"])
        ):
            value = value.assign_coords(y=cube30["y"], x=cube30["x"])
        elif "y" in value.coords and "x" in value.coords:
            value = value.interp(y=cube30["y"], x=cube30["x"], kwargs={"fill_value": "extrapolate"})
        elif same:
            value = value.assign_coords(y=cube30["y"], x=cube30["x"])
        else:
            raise DimensionError(
                describe(
                    f"angle {name!r} has no y/x coordinates to place it",
                    expected="y, x coords",
                    found=dict(value.sizes),
                )
            )
    return value.astype("float64")
