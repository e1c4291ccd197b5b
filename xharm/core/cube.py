"""The canonical cube: one internal form for every raster xharm handles.

A canonical cube is a :class:`xarray.DataArray` with dims ``("time", "band", "y", "x")``,
float32 physical values (NaN = no data), the sensor's band ids on ``band`` (with a
``common_name`` coordinate beside them), a CRS attached the odc-geo way (a
``spatial_ref`` coordinate) and a regular grid, so ``cube.odc.geobox`` is an
:class:`odc.geo.geobox.GeoBox`. ``attrs["sensor"]`` names the sensor table
(:func:`xharm.core.sensors.get_sensor`).

:func:`to_canonical` accepts what users hold (odc-stac Datasets with one variable per
band, stackstac/rioxarray DataArrays with a ``band`` dim, agency band ids or STAC
common names, with or without ``time``) and :func:`from_canonical` converts back.
:func:`validate` checks metadata only and never computes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from ..exceptions import (
    CRSError,
    DimensionError,
    DuplicateBandError,
    EmptyDataError,
    GridError,
    MissingBandError,
    SensorError,
    UnitsError,
    describe,
)
from ..validate import (
    check_grid,
    check_projected,
    check_time,
    grid_name,
    require_present,
    require_same_crs,
)
from .sensors import Sensor, get_sensor

__all__ = [
    "CANONICAL_COORDS",
    "DIMS",
    "canonical_only",
    "check_same_grid",
    "from_canonical",
    "geobox_of",
    "make_cube",
    "processing_level",
    "product_attrs",
    "to_canonical",
    "validate",
]

DIMS: tuple[str, str, str, str] = ("time", "band", "y", "x")
_SPATIAL_ALIASES = {"lat": "y", "latitude": "y", "lon": "x", "longitude": "x"}
_ADDED = "xharm_added"  # attrs to_canonical added, removed again by from_canonical
_RESOLUTION_TOL = 1e-6


def make_cube(
    data: Any,
    *,
    geobox: GeoBox,
    bands: Sequence[str],
    sensor: str | Sensor,
    time: Sequence[Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Build a canonical cube from a ``(time, band, y, x)`` array and a GeoBox.

    Parameters
    ----------
    data
        NumPy or Dask array shaped ``(time, band, y, x)``; cast to float32.
    geobox
        The pixel grid (shape must match the last two axes).
    bands
        Band ids or common names of ``sensor``, in the order of axis 1.
    sensor
        Sensor name or :class:`~xharm.core.sensors.Sensor`.
    time
        Time stamps for axis 0 (anything :func:`numpy.datetime64` accepts).
    attrs
        Extra attributes (``platform`` defaults to the sensor's).

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> gbox = GeoBox.from_bbox((600000, 4999940, 600060, 5000000), "EPSG:32632", resolution=10)
    >>> cube = make_cube(np.zeros((1, 2, 6, 6)), geobox=gbox, bands=["blue", "B03"],
    ...                  sensor="sentinel-2a", time=["2021-06-01"])
    >>> cube.dims, cube.band.values.tolist(), cube.common_name.values.tolist()
    (('time', 'band', 'y', 'x'), ['B02', 'B03'], ['blue', 'green'])
    """
    s = get_sensor(sensor)
    resolved = _resolve_bands(s, list(bands))
    nt = data.shape[0]
    if time is None:
        times = np.full(nt, np.datetime64("NaT"), dtype="datetime64[ns]")
    else:
        times = np.asarray([np.datetime64(t, "ns") for t in time], dtype="datetime64[ns]")
    if data.ndim != 4 or data.shape[1] != len(resolved) or tuple(data.shape[2:]) != tuple(geobox.shape):
        raise DimensionError(
            describe(
                "array shape does not match time/bands/geobox",
                expected=(len(times), len(resolved), *geobox.shape),
                found=tuple(data.shape),
            )
        )
    coords: dict[Hashable, Any] = dict(xr_coords(geobox))
    coords["time"] = times
    coords["band"] = [b.id for b in resolved]
    coords["common_name"] = ("band", [b.common_name for b in resolved])
    out_attrs = {"sensor": s.name, "platform": s.platform}
    out_attrs.update(attrs or {})
    cube = xr.DataArray(data.astype("float32"), dims=DIMS, coords=coords, attrs=out_attrs)
    cube.name = name  # xarray would otherwise take a Dask array's graph key as the name
    return cube


def to_canonical(
    obj: xr.DataArray | xr.Dataset,
    sensor: str | Sensor | None = None,
    *,
    bands: Sequence[str] | None = None,
    crs: Any = None,
    time: Any = None,
    decode: bool = False,
    band_dim: str = "band",
) -> xr.DataArray:
    """Normalize a user's raster into the canonical cube.

    Reads metadata only: nothing is computed (Dask stays lazy). In-memory NumPy
    input is also checked for being entirely NaN.

    Parameters
    ----------
    obj
        An odc-stac style :class:`~xarray.Dataset` (one variable per band) or a
        DataArray with a band dimension (stackstac, rioxarray), with or without
        ``time``, in any dim order.
    sensor
        Sensor name; defaults to ``attrs["sensor"]`` or ``attrs["platform"]``.
    bands
        Keep (and order) only these bands; ids or common names.
    crs
        CRS to attach when the input carries none.
    time
        Time stamp to use when the input has no ``time`` dim (else NaT).
    decode
        Integer DN input is decoded with the sensor's scale/offset/fill when True;
        when False (default) integer input raises :class:`~xharm.exceptions.UnitsError`.
    band_dim
        Name of the band dimension of a DataArray input.

    Returns
    -------
    xarray.DataArray
        The canonical cube; ``attrs`` of the input are kept.

    Raises
    ------
    SensorError, UnknownBandError, DuplicateBandError, MissingBandError, DimensionError,
    CRSError, GridError, UnitsError, EmptyDataError

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from odc.geo.geobox import GeoBox
    >>> from odc.geo.xr import xr_coords
    >>> gbox = GeoBox.from_bbox((600000, 4999940, 600060, 5000000), "EPSG:32632", resolution=10)
    >>> ds = xr.Dataset({n: (("y", "x"), np.ones(gbox.shape, "float32")) for n in ["red", "nir"]},
    ...                 coords=xr_coords(gbox))
    >>> to_canonical(ds, "sentinel-2b").band.values.tolist()
    ['B04', 'B08']
    """
    if not isinstance(obj, xr.DataArray | xr.Dataset):
        raise DimensionError(
            describe(
                "xharm works on xarray objects",
                expected="xarray.DataArray or xarray.Dataset",
                found=type(obj).__name__,
                fix="wrap the array with xarray (e.g. rioxarray.open_rasterio or odc.stac.load)",
            )
        )
    attrs = dict(obj.attrs)
    s = _infer_sensor(sensor, attrs)
    if isinstance(obj, xr.Dataset):
        da = _dataset_to_array(obj, band_dim)
    else:
        da = obj
        if band_dim != "band" and band_dim in da.dims:
            da = da.rename({band_dim: "band"})
    da = da.rename({k: v for k, v in _SPATIAL_ALIASES.items() if k in da.dims})
    if "band" not in da.dims:
        raise DimensionError(
            describe(
                "no band dimension",
                expected="a 'band' dim (or pass band_dim=...), or a Dataset with one variable per band",
                found=f"dims {tuple(da.dims)}",
            )
        )
    added_time = "time" not in da.dims
    if added_time:
        stamp = np.datetime64(time, "ns") if time is not None else np.datetime64("NaT", "ns")
        da = da.expand_dims(time=[stamp])
    extra = [d for d in da.dims if d not in DIMS]
    missing = [d for d in DIMS if d not in da.dims]
    if extra or missing:
        raise DimensionError(
            describe(
                "unexpected dimensions",
                expected="dims {time, band, y, x} (time optional)",
                found=f"dims {tuple(da.dims)}",
                fix="rename spatial dims to y/x and select or stack away extra dims",
            )
        )
    da = da.transpose(*DIMS)
    if da.size == 0:
        raise EmptyDataError(
            describe("the cube is empty", expected="at least one pixel", found=dict(da.sizes))
        )

    names = [str(b) for b in da["band"].values]
    resolved = _resolve_bands(s, names)
    da = da.assign_coords(
        band=[b.id for b in resolved], common_name=("band", [b.common_name for b in resolved])
    )
    if bands is not None:
        wanted = _resolve_bands(s, list(bands))
        missing_b = [b.id for b in wanted if b.id not in da["band"].values]
        if missing_b:
            raise MissingBandError(
                describe(
                    f"band(s) {', '.join(missing_b)} missing from the input",
                    expected=", ".join(b.id for b in wanted),
                    found=", ".join(da["band"].values.tolist()),
                    fix="load the missing bands, or ask for fewer with bands=[...]",
                )
            )
        da = da.sel(band=[b.id for b in wanted])

    da = _attach_crs(da, crs, attrs)
    _check_regular(da)
    da = _to_float(da, s, decode)
    if isinstance(da.data, np.ndarray) and np.isnan(da.data).all():
        raise EmptyDataError(
            describe(
                "every pixel of the cube is NaN (no data)",
                expected="at least one valid pixel",
                found=f"{da.size} NaN values",
                fix="check the fill value / decoding, or select a time/area that has data",
            )
        )
    added = [k for k in ("sensor", "platform") if k not in attrs] + (["time"] if added_time else [])
    attrs["sensor"] = s.name
    attrs.setdefault("platform", s.platform)
    if added:
        attrs[_ADDED] = ",".join(added)
    for key in ("crs", "transform", "res", "resolution", "scale_factor", "add_offset", "_FillValue"):
        attrs.pop(key, None)
    da.attrs = attrs
    return da


def from_canonical(
    cube: xr.DataArray,
    like: Literal["dataarray", "dataset"] = "dataset",
    *,
    names: Literal["id", "common_name"] = "id",
    keep_time: bool | None = None,
) -> xr.DataArray | xr.Dataset:
    """Convert a canonical cube back to a user-facing layout.

    Parameters
    ----------
    cube
        A canonical cube.
    like
        ``"dataset"``: one variable per band (odc-stac layout); ``"dataarray"``:
        a DataArray with a ``band`` dim (stackstac layout).
    names
        Name bands by agency id (``"B02"``) or STAC common name (``"blue"``).
    keep_time
        Keep the ``time`` dim; by default it is dropped only if
        :func:`to_canonical` added it.
    """
    validate(cube)
    attrs = dict(cube.attrs)
    added = str(attrs.pop(_ADDED, "")).split(",")
    for key in ("sensor", "platform"):
        if key in added:
            attrs.pop(key, None)
    out = cube
    if (keep_time is None and "time" in added) or keep_time is False:
        out = out.isel(time=0, drop=True)
    if names == "common_name":
        out = out.assign_coords(band=out["common_name"].values)
    if like == "dataarray":
        out = out.copy()
        out.attrs = attrs
        return out
    ds = out.drop_vars("common_name").to_dataset(dim="band")
    ds.attrs = attrs
    for var in ds.data_vars:
        ds[var].attrs = {}
    return ds


def validate(
    cube: xr.DataArray,
    *,
    bands: Iterable[str] | None = None,
    sensor: str | None = None,
    what: str = "cube",
) -> GeoBox:
    """Check that ``cube`` is canonical; return its GeoBox. Reads metadata only.

    Parameters
    ----------
    cube
        The object to check.
    bands
        Band ids that must be present.
    sensor
        Sensor family or name the cube must come from (e.g. ``"sentinel-2"``).
    what
        How to call the cube in messages (``"S2 10 m cube"``).
    """
    if not isinstance(cube, xr.DataArray):
        raise DimensionError(
            describe(
                f"the {what} is not a DataArray",
                expected="a canonical (time, band, y, x) DataArray",
                found=type(cube).__name__,
                fix="call xharm.core.cube.to_canonical(obj, sensor=...) first",
            )
        )
    check_projected(cube, what)
    if tuple(cube.dims) != DIMS:
        raise DimensionError(
            describe(
                f"the {what} is not in canonical dim order",
                expected=DIMS,
                found=tuple(cube.dims),
                fix="call xharm.core.cube.to_canonical(obj, sensor=...) to normalize it",
            )
        )
    if not np.issubdtype(cube.dtype, np.floating):
        raise UnitsError(
            describe(
                f"the {what} holds {cube.dtype} values, not reflectance",
                expected="float reflectance (0..1)",
                found=str(cube.dtype),
                fix="decode DN first: xharm.core.cube.to_canonical(obj, sensor=..., decode=True)",
            )
        )
    if sensor is not None:
        s = get_sensor(cube.attrs.get("sensor", "")) if "sensor" in cube.attrs else None
        if s is None or sensor not in (s.name, s.family):
            raise SensorError(
                describe(
                    f"the {what} is not from {sensor}",
                    expected=sensor,
                    found=cube.attrs.get("sensor"),
                    fix="pass the right cube, or set attrs['sensor']",
                )
            )
    if bands is not None:
        have = [str(b) for b in cube["band"].values]
        require_present(
            bands,
            have,
            problem=f"the {what} lacks band(s) {{missing}}",
            found=", ".join(have),
            fix="load those bands (or choose another model/method that does not need them)",
        )
    check_time(cube, what)
    check_grid(cube, what)
    return geobox_of(cube, what=what)


CANONICAL_COORDS: tuple[str, ...] = ("time", "band", "y", "x", "common_name", "spatial_ref")
"""The coordinates of a canonical cube; everything else (angles, masks) is per-product extra."""


def canonical_only(obj: xr.DataArray, keep: tuple[str, ...] = ()) -> xr.DataArray:
    """``obj`` without the coordinates that are not canonical (:data:`CANONICAL_COORDS`, plus ``keep``).

    Per-date angles, clear masks and the like are dropped: what a store or a score needs.

    Examples
    --------
    >>> import numpy as np
    >>> c = xr.DataArray(np.zeros((1, 2)), dims=("time", "x"), coords={"sun_zenith": ("time", [30.0])})
    >>> list(canonical_only(c).coords)
    []
    """
    return obj.drop_vars([c for c in obj.coords if c not in CANONICAL_COORDS and c not in keep])


def geobox_of(cube: xr.DataArray | xr.Dataset, *, what: str = "cube") -> GeoBox:
    """The :class:`~odc.geo.geobox.GeoBox` of a cube, with clear errors when it has none."""
    if cube.odc.crs is None:
        raise CRSError(
            describe(
                f"the {what} has no CRS",
                expected="a CRS (spatial_ref coordinate)",
                found="none",
                fix="attach one: cube.odc.assign_crs('EPSG:32632') or to_canonical(obj, crs=...)",
            )
        )
    _check_regular(cube)
    gbox = cube.odc.geobox
    if not isinstance(gbox, GeoBox):
        raise GridError(describe(f"the {what} is not on a regular affine grid", found=type(gbox).__name__))
    return gbox


def check_same_grid(a: xr.DataArray, b: xr.DataArray, *, names: tuple[str, str] = ("a", "b")) -> None:
    """Raise unless two cubes share CRS and pixel grid exactly."""
    ga, gb = geobox_of(a, what=names[0]), geobox_of(b, what=names[1])
    require_same_crs(
        ga.crs,
        gb.crs,
        problem=f"{names[0]} and {names[1]} are in different CRSs",
        fix=f"reproject {names[1]} first (e.g. xharm.core.grid.align_to or .odc.reproject)",
    )
    if ga != gb:
        raise GridError(
            describe(
                f"{names[0]} and {names[1]} are not on the same pixel grid",
                expected=grid_name(ga),
                found=grid_name(gb),
                fix="align the grids with xharm.core.grid",
            )
        )


def processing_level(cube: xr.DataArray | xr.Dataset) -> str | None:
    """The processing level the readers recorded: ``"L1C"``, ``"L2A"``, ``"L1"``, ``"L2"`` or None.

    Read from ``attrs["processing_level"]`` (every xharm reader and the simulator set it);
    a harmonized product reports its source's level (``source_processing_level``). Top of
    atmosphere input (``L1C``/``L1``) into a model trained on surface reflectance is a
    domain error that each method can check with this.

    Examples
    --------
    >>> import xarray as xr
    >>> processing_level(xr.DataArray(0, attrs={"processing_level": "L1C"}))
    'L1C'
    >>> processing_level(xr.DataArray(0)) is None
    True
    """
    attrs = cube.attrs
    value = attrs.get("processing_level") or attrs.get("source_processing_level")
    return None if value in (None, "") else str(value)


def product_attrs(
    source: Mapping[str, Any], *, sensor: str, method: str, resolution: float, **extra: Any
) -> dict[str, Any]:
    """The ``attrs`` of a harmonized product: the product itself, its source under ``source_*``.

    A harmonized cube imitates another sensor: ``sensor`` and ``resolution`` describe the
    product (e.g. ``"landsat-8"``, 30 m); what described the input cube (its sensor,
    platform, product name, processing level and baseline, group, pixel size ...) is kept
    under ``source_<key>``, never beside the product's own keys, so no store mixes the two.

    Parameters
    ----------
    source
        ``attrs`` of the input cube (merged over its resolutions).
    sensor, method, resolution
        The sensor the product imitates, the harmonization method, the pixel size (m).
    **extra
        Further product keys (model name and checksum, coefficients, ...).

    Examples
    --------
    >>> a = product_attrs({"sensor": "sentinel-2a", "platform": "sentinel-2a", "level": "L2A",
    ...                    "resolution": 10.0}, sensor="landsat-8", method="hls", resolution=30)
    >>> a["sensor"], a["resolution"], a["source_platform"], a["source_level"], "platform" in a
    ('landsat-8', 30.0, 'sentinel-2a', 'L2A', False)
    """
    out: dict[str, Any] = {}
    for key, value in source.items():
        if key == _ADDED:
            continue
        if key.startswith(("xharm_", "source_")):  # xharm's own processing notes, earlier provenance
            out[key] = value
        else:
            out[f"source_{key}"] = value
    out.update(
        sensor=sensor,
        resolution=float(resolution),
        harmonization_method=method,
        harmonized_from=str(source.get("platform") or source.get("sensor") or "sentinel-2"),
    )
    out.update(extra)
    return out


def _infer_sensor(sensor: str | Sensor | None, attrs: Mapping[str, Any]) -> Sensor:
    if sensor is not None:
        return get_sensor(sensor)
    for key in ("sensor", "platform"):
        if key in attrs:
            try:
                return get_sensor(str(attrs[key]))
            except SensorError:
                continue
    raise SensorError(
        describe(
            "cannot tell which sensor the data comes from",
            expected="sensor=... or attrs['sensor'] / attrs['platform']",
            found=f"attrs keys {sorted(attrs)}",
            fix="pass sensor='sentinel-2a' (or 'landsat-8', 'hls-s30', ...)",
        )
    )


def _resolve_bands(sensor: Sensor, names: list[str]) -> list[Any]:
    resolved = sensor.resolve(names)
    seen: dict[str, str] = {}
    for name, band in zip(names, resolved, strict=True):
        if band.id in seen:
            raise DuplicateBandError(
                describe(
                    f"band {band.id} ({band.common_name}) appears twice",
                    expected="each band once",
                    found=f"{seen[band.id]!r} and {name!r}",
                    fix="drop one of the two",
                )
            )
        seen[band.id] = name
    return list(resolved)


def _dataset_to_array(ds: xr.Dataset, band_dim: str) -> xr.DataArray:
    names = [str(v) for v in ds.data_vars]
    if not names:
        raise EmptyDataError(describe("the Dataset has no variables", expected="one variable per band"))
    dims = {tuple(ds[v].dims) for v in names}
    if len(dims) != 1:
        raise DimensionError(
            describe(
                "band variables have different dims",
                expected="every band on the same (time, y, x) grid",
                found={v: tuple(ds[v].dims) for v in names},
                fix="load bands of one resolution per Dataset (10 m and 20 m bands are separate cubes)",
            )
        )
    da = ds.to_dataarray(dim=band_dim)
    if band_dim != "band":
        da = da.rename({band_dim: "band"})
    return da


def _attach_crs(da: xr.DataArray, crs: Any, attrs: Mapping[str, Any]) -> xr.DataArray:
    found = da.odc.crs
    if found is not None and crs is None:
        return da
    if found is None and "crs" in attrs:
        found = attrs["crs"]
    if found is None and crs is None:
        raise CRSError(
            describe(
                "the input has no CRS",
                expected="a spatial_ref coordinate, rio CRS or attrs['crs']",
                found="none",
                fix="pass crs='EPSG:32632' (the data's CRS) to to_canonical",
            )
        )
    return da.odc.assign_crs(found if crs is None else crs)


def _check_regular(da: xr.DataArray | xr.Dataset) -> None:
    for dim in ("y", "x"):
        if dim not in da.coords:
            raise GridError(
                describe(
                    f"no {dim!r} coordinate",
                    expected="pixel-centre coordinates on y and x",
                    found=f"coords {list(da.coords)}",
                )
            )
        vals = np.asarray(da[dim].values, dtype="float64")
        if vals.size < 2:
            continue
        steps = np.diff(vals)
        if not np.allclose(steps, steps[0], rtol=_RESOLUTION_TOL, atol=_RESOLUTION_TOL * abs(steps[0])) or (
            steps[0] == 0
        ):
            worst = int(np.argmax(np.abs(steps - steps[0])))
            raise GridError(
                describe(
                    f"the {dim} coordinate is not a regular grid",
                    expected=f"constant step {steps[0]:g}",
                    found=f"step {steps[worst]:g} at index {worst}",
                    fix="resample onto a regular grid first (e.g. .odc.reproject)",
                )
            )


def _to_float(da: xr.DataArray, sensor: Sensor, decode: bool) -> xr.DataArray:
    if np.issubdtype(da.dtype, np.floating):
        return da.astype("float32", copy=False) if da.dtype != np.float32 else da
    if not decode:
        raise UnitsError(
            describe(
                f"the input holds {da.dtype} values (digital numbers), not reflectance",
                expected="float reflectance",
                found=str(da.dtype),
                fix=f"pass decode=True to apply {sensor.name}'s scale/offset/fill, or use an xharm.io reader",
            )
        )
    return xr.apply_ufunc(
        sensor.scaling.decode, da, dask="parallelized", output_dtypes=[np.float32], keep_attrs=True
    )
