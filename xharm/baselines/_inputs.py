"""Input plumbing shared by the baselines: S2 cubes in, 30 m S2 cube with L8 band order out.

Metadata only: nothing here computes user data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..core.cube import product_attrs, validate
from ..core.grid import mask_to_grid, output_grid, s2_to_30m
from ..core.sensors import get_sensor
from ..exceptions import DimensionError, GridError, MissingBandError, SensorError, describe
from ..validate import require_present, require_same_count
from .bandpass import S2_TO_L8, specific_platform

__all__ = ["S2Input", "as_landsat", "gather", "grid30", "mask_to_30m", "per_time", "to_30m"]

_KEEP = ("spatial_ref", "platform", "common_name")
_BASE = ("B02", "B03", "B04", "NIR", "B11", "B12")
_LANDSAT = get_sensor("landsat-8")


class S2Input:
    """The Sentinel-2 cubes of one call, keyed by pixel size (m), and the bands to use."""

    def __init__(self, cubes: dict[float, xr.DataArray], bands: list[str]) -> None:
        self.cubes = cubes
        self.bands = bands  # S2 ids in output order, e.g. B02 B03 B04 B8A B11 B12 (B01 first if used)

    @property
    def first(self) -> xr.DataArray:
        return self.cubes[min(self.cubes)]

    @property
    def attrs(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for res in sorted(self.cubes, reverse=True):
            merged.update(self.cubes[res].attrs)
        return merged


def gather(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    s2_60m: xr.DataArray | None = None,
    *,
    nir: str = "B8A",
    coastal: bool | None = None,
) -> S2Input:
    """Collect the S2 cubes and decide which band feeds each L8 band.

    ``s2`` is the 10 m cube (or any single cube holding every band), or a mapping
    ``{10: cube, 20: cube, 60: cube}``. ``coastal=None`` adds L8 B1 when B01 is given.
    """
    if isinstance(s2, Mapping):
        if s2_20m is not None or s2_60m is not None:
            raise DimensionError(
                describe(
                    "pass the S2 cubes either as a mapping or as separate arguments, not both",
                    expected="to_landsat({10: c10, 20: c20}) or to_landsat(c10, c20)",
                    found="a mapping plus s2_20m/s2_60m",
                )
            )
        given = [c for c in s2.values() if c is not None]
    else:
        given = [c for c in (s2, s2_20m, s2_60m) if c is not None]
    cubes: dict[float, xr.DataArray] = {}
    for i, cube in enumerate(given):
        what = f"S2 input cube #{i + 1}"
        gbox = validate(cube, sensor="sentinel-2", what=what)
        res = float(abs(gbox.resolution.x))
        if res in cubes:
            raise DimensionError(
                describe(
                    f"two S2 input cubes share the pixel size {res:g} m",
                    expected="one cube per resolution (10, 20, 60 m)",
                    found=f"{res:g} m twice",
                    fix="concatenate bands of the same resolution into one cube",
                )
            )
        cubes[res] = cube
    if not cubes:
        raise DimensionError(describe("no Sentinel-2 cube given", expected="at least the 10 m cube"))
    times = [np.asarray(c["time"].values) for c in cubes.values()]
    if any(t.shape != times[0].shape or not np.array_equal(t, times[0]) for t in times[1:]):
        raise DimensionError(
            describe(
                "the S2 cubes of different resolutions have different dates",
                expected="the same time coordinate in every cube",
                found=[str(t[:3]) + ("..." if len(t) > 3 else "") for t in times],
                fix="select the common dates (e.g. c20.sel(time=c10.time))",
            )
        )
    sats = {
        f"cube {float(r):g} m attrs[{k!r}]": specific_platform(c.attrs[k])
        for r, c in cubes.items()
        for k in ("platform", "sensor")
        if c.attrs.get(k)
    }
    if len({v for v in sats.values() if v}) > 1:
        raise SensorError(
            describe(
                "the S2 cubes disagree about the satellite",
                expected="one Sentinel-2 platform for the 10/20/60 m cubes of a scene",
                found={k: v for k, v in sats.items() if v},
                fix="pass cubes of the same acquisitions, or correct attrs['platform']",
            )
        )
    if nir not in ("B8A", "B08"):
        raise MissingBandError(
            describe("nir must name the S2 band feeding L8 B5", expected="'B8A' or 'B08'", found=nir)
        )
    have = {str(b) for c in cubes.values() for b in c["band"].values}
    wanted = [nir if b == "NIR" else b for b in _BASE]
    if coastal or (coastal is None and "B01" in have):
        wanted = ["B01", *wanted]
    require_present(
        wanted,
        have,
        problem="S2 band(s) {missing} missing",
        fix="load them (10 m: B02 B03 B04 B08; 20 m: B8A B11 B12; 60 m: B01), or pass nir='B08'",
    )
    return S2Input(cubes, wanted)


def grid30(inp: S2Input) -> Any:
    """The common 30 m grid of every input cube's footprint (:func:`xharm.core.grid.output_grid`)."""

    return output_grid([inp.cubes[r].odc.geobox for r in sorted(inp.cubes)], 30.0)


def to_30m(inp: S2Input, *, psf: bool = False) -> xr.DataArray:
    """Regrid the used bands to the common 30 m grid HLS-style; S2 ids in output order.

    ``psf=True`` first blurs each 10/20 m band to Landsat-8 OLI's optics
    (:func:`xharm.baselines.psf.match_landsat_psf`), so the 30 m box average then gives
    Landsat's spatial response on the Sentinel-2 grid.
    """
    from .psf import match_landsat_psf

    dst = grid30(inp)
    parts = []
    taken: set[str] = set()
    for res in sorted(inp.cubes):
        cube = inp.cubes[res]
        mine = [b for b in inp.bands if b in {str(v) for v in cube["band"].values} and b not in taken]
        if not mine:
            continue
        taken.update(mine)
        sub = _select(cube, mine)
        if res == 30.0:
            sub = _crop(sub, dst)
        else:
            sub = s2_to_30m(match_landsat_psf(sub) if psf and res < 60.0 else sub, geobox=dst)
        parts.append(sub.drop_vars([c for c in sub.coords if c not in sub.dims and c not in _KEEP]))
    out = (
        xr.concat(parts, dim="band", coords="minimal", compat="override", join="override")
        if len(parts) > 1
        else parts[0]
    )
    if [str(b) for b in out["band"].values] != inp.bands:
        out = out.sel(band=inp.bands)
    out.attrs = inp.attrs
    out.attrs.pop("xharm_regrid", None)
    out.attrs["xharm_regrid"] = (
        "HLS 30 m: 10 m 3x3 mean, 20 m area-weighted, 60 m replicated (xharm.core.grid.s2_to_30m)"
        + (", after Landsat-8 OLI's PSF (xharm.baselines.psf)" if psf else "")
    )
    return out


def mask_to_30m(valid: xr.DataArray, inp: S2Input, like30: xr.DataArray) -> xr.DataArray:
    """A boolean ``(time, y, x)`` mask on any input grid -> 30 m: clear only if all sub-pixels are."""

    if not isinstance(valid, xr.DataArray) or set(valid.dims) != {"time", "y", "x"}:
        found = tuple(valid.dims) if isinstance(valid, xr.DataArray) else type(valid).__name__
        raise DimensionError(
            describe("the valid mask has the wrong dims", expected="(time, y, x)", found=found)
        )
    require_same_count(
        like30.sizes["time"], valid.sizes["time"], problem="the valid mask has another number of dates"
    )
    valid = valid.transpose("time", "y", "x")
    if valid.odc.crs is None:
        # no CRS: accept it only when it is shaped like one of the input grids or the output
        for gbox in [like30.odc.geobox] + [c.odc.geobox for c in inp.cubes.values()]:
            if tuple(valid.shape[1:]) == tuple(gbox.shape):
                from odc.geo.xr import xr_coords

                valid = valid.assign_coords(xr_coords(gbox))
                break
        else:
            raise GridError(
                describe(
                    "the valid mask has no CRS and matches none of the input grids",
                    expected=[tuple(c.shape[2:]) for c in inp.cubes.values()],
                    found=tuple(valid.shape[1:]),
                    fix="attach the grid (mask.odc.assign_crs(cube.odc.crs)) or use the 10/20/30 m grid",
                )
            )
    out = mask_to_grid(valid.astype(bool), like30.odc.geobox)
    return out.drop_vars([c for c in out.coords if c not in ("time", "y", "x")]).assign_coords(
        time=like30["time"], y=like30["y"], x=like30["x"]
    )


def _select(cube: xr.DataArray, bands: list[str]) -> xr.DataArray:
    """``cube.sel(band=bands)`` as a view when the bands are contiguous (no copy of NumPy data)."""
    have = [str(b) for b in cube["band"].values]
    idx = [have.index(b) for b in bands]
    if idx == list(range(idx[0], idx[0] + len(idx))):
        return cube if len(idx) == len(have) else cube.isel(band=slice(idx[0], idx[-1] + 1))
    return cube.isel(band=idx)


def _crop(cube: xr.DataArray, dst: Any) -> xr.DataArray:
    from odc.geo.xr import xr_coords

    g = cube.odc.geobox
    ix = round((dst.affine.c - g.affine.c) / 30.0)
    iy = round((g.affine.f - dst.affine.f) / 30.0)
    out = cube.isel(y=slice(iy, iy + dst.shape.y), x=slice(ix, ix + dst.shape.x))
    return out.assign_coords(xr_coords(dst))


def as_landsat(
    cube30: xr.DataArray, inp: S2Input, method: str, extra: Mapping[str, Any] | None = None
) -> xr.DataArray:
    """Rename S2 bands to L8 ids/common names and record provenance in ``attrs``."""

    ids = [S2_TO_L8[b] for b in inp.bands]
    out = cube30.assign_coords(band=ids, common_name=("band", [_LANDSAT.band(i).common_name for i in ids]))
    src = {**inp.attrs, **{k: v for k, v in cube30.attrs.items() if k.startswith("xharm_")}}
    out.attrs = product_attrs(
        src,
        sensor="landsat-8",
        method=method,
        resolution=30.0,
        source_bands=list(inp.bands),
        target_bands=ids,
        **dict(extra or {}),
    )
    out.name = None
    return out


def per_time(value: Any, cube: xr.DataArray, name: str) -> Any:
    """A scalar stays a float; a per-date sequence becomes a DataArray on ``time``."""
    if isinstance(value, xr.DataArray):
        return value
    arr = np.asarray(value, dtype="float64")
    if arr.ndim == 0:
        return float(arr)
    nt = cube.sizes["time"]
    if arr.shape != (nt,):
        raise DimensionError(
            describe(
                f"{name} must be one value or one per date",
                expected=f"a scalar or a sequence of {nt}",
                found=f"shape {arr.shape}",
            )
        )
    return xr.DataArray(arr, dims="time", coords={"time": cube["time"]})
