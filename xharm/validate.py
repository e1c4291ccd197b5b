"""One validation layer for the public API and the command line.

Every public entry point (:func:`xharm.to_landsat`, :func:`xharm.jobs.harmonize`,
:func:`xharm.simulate.to_zarr`, the ``xharm`` commands) checks its arguments here
before any work starts, so the Python API and the CLI refuse the same inputs with the
same :class:`~xharm.exceptions.XharmError`. Nothing here computes user data eagerly:
:func:`check_reflectance` checks each block as it is computed.

Reflectance rule (what the harmonizers accept, per pixel and band):

* NaN, +Inf and -Inf are no data: NaN in, NaN out.
* A pixel that is exactly 0.0 in every band of a cube is a no-data fill (Sentinel-2
  L2A and many exporters write 0 for no data): it becomes NaN.
* Values outside ``[REFLECTANCE_MIN, REFLECTANCE_MAX]`` (-0.2 .. 2.0; L2A's BOA offset
  reaches -0.1, snow and glint stay below 2) are not reflectance: such isolated pixels
  become NaN.
* When more than half of the finite values of a block lie outside that range, the
  whole cube is in other units (reflectance x 100, x 10000 digital numbers, or a sign
  error): :class:`~xharm.exceptions.UnitsError`, never an output.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import (
    ArgumentError,
    CRSError,
    DimensionError,
    GridError,
    MissingBandError,
    ProductError,
    ProductNotFoundError,
    StorageError,
    UnitsError,
    describe,
)

__all__ = [
    "REFLECTANCE_MAX",
    "REFLECTANCE_MIN",
    "align_mask",
    "check_angle",
    "check_grid",
    "check_output_path",
    "check_projected",
    "check_reflectance",
    "check_time",
    "check_writable_file",
    "crs_name",
    "existing_file",
    "grid_name",
    "positive_float",
    "positive_int",
    "reflectance_block",
    "require_level",
    "require_present",
    "require_same_count",
    "require_same_crs",
    "timedelta",
]

#: Lowest value taken as reflectance (L2A BOA offset -0.1, with margin).
REFLECTANCE_MIN = -0.2
#: Highest value taken as reflectance (bright snow and glint stay below).
REFLECTANCE_MAX = 2.0


# --------------------------------------------------------------------------- scalars


def positive_int(value: Any, name: str, *, minimum: int = 1, fix: str | None = None) -> int:
    """``value`` as an ``int`` >= ``minimum``; refuses floats with a fraction, bools and strings.

    Examples
    --------
    >>> positive_int(16, "batch_size")
    16
    >>> positive_int(2.7, "samples")
    Traceback (most recent call last):
    ...
    xharm.exceptions.ArgumentError: samples must be a whole number >= 1
      expected: an integer >= 1
      found:    2.7
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = float(value).is_integer()
    if not ok or int(value) < minimum:
        raise ArgumentError(
            describe(
                f"{name} must be a whole number >= {minimum}",
                expected=f"an integer >= {minimum}",
                found=repr(value),
                fix=fix,
            )
        )
    return int(value)


def positive_float(value: Any, name: str, *, fix: str | None = None) -> float:
    """``value`` as a finite ``float`` > 0.

    Examples
    --------
    >>> positive_float(3, "size_km")
    3.0
    """
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if isinstance(value, bool) or not np.isfinite(f) or f <= 0:
        raise ArgumentError(
            describe(
                f"{name} must be a positive number",
                expected="a finite number > 0",
                found=repr(value),
                fix=fix,
            )
        )
    return f


def timedelta(value: Any, name: str) -> Any:
    """``value`` as a non-negative :class:`pandas.Timedelta` (e.g. ``"1D"``, ``"12h"``)."""
    import pandas as pd

    try:
        td = pd.Timedelta(value)
    except (TypeError, ValueError) as err:
        raise ArgumentError(
            describe(f"{name} is not a time span", expected="e.g. 1D, 12h, 3600s", found=repr(value))
        ) from err
    if pd.isna(td) or td < pd.Timedelta(0):
        raise ArgumentError(
            describe(f"{name} must be a time span >= 0", expected="e.g. 1D", found=repr(value))
        )
    return td


# --------------------------------------------------------------------------- cubes


def crs_name(crs: Any) -> str:
    """A short name of a CRS: ``EPSG:32632`` when it has a code, else its name (never the WKT).

    Examples
    --------
    >>> from odc.geo import CRS
    >>> crs_name(CRS("EPSG:32632"))
    'EPSG:32632'
    """
    if crs is None:
        return "none"
    epsg = getattr(crs, "epsg", None)
    if epsg:
        return f"EPSG:{epsg}"
    try:
        from pyproj import CRS as PyprojCRS

        p = PyprojCRS.from_user_input(getattr(crs, "_crs", crs))
        code = p.to_epsg(min_confidence=70)
        return f"EPSG:{code}" if code else f"{p.name!r} (no EPSG code)"
    except Exception:
        text = str(crs)
        return text if len(text) < 80 else text[:77] + "..."


def grid_name(gbox: Any) -> str:
    """A one-line description of a GeoBox: CRS code, size, pixel size and corner."""
    a = gbox.affine
    return (
        f"{crs_name(gbox.crs)} {gbox.shape.y} x {gbox.shape.x} px of {a.a:g} m, corner ({a.c:.6g}, {a.f:.6g})"
    )


def check_time(cube: Any, what: str) -> None:
    """The ``time`` coordinate holds dates (``datetime64``), not numbers or strings."""
    if "time" not in getattr(cube, "coords", {}):
        return
    t = cube["time"]
    if not np.issubdtype(t.dtype, np.datetime64):
        raise DimensionError(
            describe(
                f"the {what}'s time coordinate does not hold dates",
                expected="datetime64 dates",
                found=f"{t.dtype} values such as {t.values.ravel()[:2].tolist()}",
                fix="cube.assign_coords(time=pd.to_datetime(...)) with the acquisition dates",
            )
        )


def check_projected(cube: Any, what: str) -> None:
    """Refuse a cube in a geographic CRS (degrees), or on latitude/longitude dims."""
    crs = cube.odc.crs if hasattr(cube, "odc") else None
    geographic = (crs is not None and crs.geographic) or {"latitude", "longitude"} & set(cube.dims)
    if geographic:
        raise CRSError(
            describe(
                f"the {what} is in a geographic CRS ({crs_name(crs)}, degrees)",
                expected="a projected CRS in metres, e.g. the scene's UTM zone",
                found=crs_name(crs) + (f" with dims {tuple(cube.dims)}" if crs is None else ""),
                fix="reproject to UTM (odc-geo): cube.odc.reproject(cube.odc.geobox.to_crs('utm'))",
            )
        )


def check_grid(cube: Any, what: str) -> None:
    """A projected CRS in metres, a north-up grid (y decreasing, x increasing), 2+ px a side.

    Metadata only. South-up or mirrored grids are refused everywhere (models, baselines,
    Zarr jobs), with the one-line fix to flip them.
    """
    check_projected(cube, what)
    for dim, sign, name in (("y", -1, "north-up (y decreasing)"), ("x", 1, "west to east (x increasing)")):
        if dim not in cube.dims:
            continue
        n = cube.sizes[dim]
        if n < 2:
            raise GridError(
                describe(
                    f"the {what} is {n} px along {dim}: too small to define a grid",
                    expected="at least 2 px along y and x (the models need a whole patch)",
                    found=dict(cube.sizes),
                    fix="pass a larger area",
                )
            )
        if dim in cube.coords:
            v = np.asarray(cube[dim].values[:2], dtype="float64")
            if np.sign(v[1] - v[0]) != sign:
                flip = f"cube.isel({dim}=slice(None, None, -1))"
                raise GridError(
                    describe(
                        f"the {what} is not {name}",
                        expected=f"{dim} coordinates {'de' if sign < 0 else 'in'}creasing",
                        found=f"{dim} = {v[0]:.6g}, {v[1]:.6g}, ...",
                        fix=f"flip it first: {flip}",
                    )
                )


def _range_counts(v: np.ndarray) -> tuple[int, int]:
    """``(finite values outside the reflectance range, non-finite values)`` of ``v``: counts only,
    no full-size masks kept (the rule runs on every input block of a job)."""
    nonfinite = v.size - np.count_nonzero(np.isfinite(v))
    with np.errstate(invalid="ignore"):  # NaN compares False: only +-inf need taking out
        bad = np.count_nonzero(v < REFLECTANCE_MIN) + np.count_nonzero(v > REFLECTANCE_MAX)
    if nonfinite:
        bad -= np.count_nonzero(np.isinf(v))
    return int(bad), int(nonfinite)


def reflectance_block(
    block: np.ndarray, what: str = "cube", band_axis: int = 1, bands: tuple[str, ...] = ()
) -> np.ndarray:
    """Apply the reflectance rule (module docstring) to one NumPy block; raise on other units.

    The units test runs per band (``band_axis``), so one band in other units is caught
    too; ``bands`` names them in the message.
    """
    x = np.asarray(block)
    if x.size == 0:
        return x
    axis = band_axis if x.ndim > band_axis else None
    per_band = list(np.moveaxis(x, axis, 0)) if axis is not None else [x]
    counts = np.array([_range_counts(v) for v in per_band])  # (band, 2)
    share = counts[:, 0] / np.maximum(np.array([v.size for v in per_band]) - counts[:, 1], 1)
    if (share > 0.5).any():
        i = int(np.argmax(share))
        vals = per_band[i][np.isfinite(per_band[i])]
        med = float(np.median(vals))
        guess = (
            "x 10000 (digital numbers)"
            if med > 200
            else "x 100 (percent)"
            if med > REFLECTANCE_MAX
            else "negative (sign or offset error)"
        )
        band = f"band {bands[i]}" if i < len(bands) else f"band {i}"
        raise UnitsError(
            describe(
                f"the {what} does not hold reflectance: {share[i]:.0%} of {band}'s values in a block lie "
                f"outside {REFLECTANCE_MIN:g} .. {REFLECTANCE_MAX:g} (looks like reflectance {guess})",
                expected="surface reflectance, mostly 0 .. 1",
                found=f"median {med:.4g}, range {float(vals.min()):.4g} .. {float(vals.max()):.4g}",
                fix="scale to reflectance (e.g. cube / 10000, or to_canonical(..., decode=True) for DN)",
            )
        )
    if counts.any():  # non-finite or out of range: NaN compares False, so both are dropped
        with np.errstate(invalid="ignore"):
            drop = ~((x >= REFLECTANCE_MIN) & (x <= REFLECTANCE_MAX))
        if axis is not None:
            drop |= np.all(x == 0, axis=axis, keepdims=True)
    elif axis is not None and np.count_nonzero(x) < x.size:
        drop = np.all(x == 0, axis=axis, keepdims=True)
    else:
        return x
    if not drop.any():
        return x
    return np.where(drop, np.array(np.nan, dtype=x.dtype), x)


def check_reflectance(cube: Any, what: str = "cube") -> Any:
    """The cube with :func:`reflectance_block` applied to every block, lazily for Dask input.

    NumPy input is checked at once; Dask input when each block is computed (no extra
    pass over the data), so a wrong scaling fails the job at its first block.
    """
    if not np.issubdtype(cube.dtype, np.floating):
        return cube  # cube.validate refuses integer DN with its own message
    axis = list(cube.dims).index("band") if "band" in cube.dims else cube.ndim
    bands = tuple(str(b) for b in cube["band"].values) if "band" in cube.coords else ()
    data = cube.data
    if hasattr(data, "dask"):
        import dask.array as da

        if axis < cube.ndim and len(data.chunks[axis]) > 1:
            data = data.rechunk({axis: -1})
        data = da.map_blocks(
            reflectance_block, data, what=what, band_axis=axis, bands=bands, dtype=data.dtype
        )
    else:
        data = reflectance_block(np.asarray(data), what, axis, bands)
    return cube.copy(data=data)


def _angle_block(block: np.ndarray, name: str, low: float, high: float) -> np.ndarray:
    x = np.asarray(block, dtype="float64")
    bad = ~np.isfinite(x) | (x < low) | (x >= high)
    if bad.any():
        found = x[bad].ravel()[:3].tolist()
        raise UnitsError(
            describe(
                f"the {name} angle is missing or out of range",
                expected=f"finite degrees in [{low:g}, {high:g})",
                found=f"{int(bad.sum())} value(s) such as {found}",
                fix=f"pass the scene's {name} in degrees (a sun below the horizon cannot be corrected)",
            )
        )
    return block


def check_angle(value: Any, name: str, low: float = 0.0, high: float = 90.0) -> Any:
    """``value`` (a float, array or DataArray, in degrees) after checking ``low <= value < high``.

    NumPy values are checked at once, Dask-backed DataArrays when computed.
    """
    data = getattr(value, "data", value)
    if hasattr(data, "dask"):
        import dask.array as da

        return value.copy(data=da.map_blocks(_angle_block, data, name, low, high, dtype=data.dtype))
    _angle_block(np.asarray(data), name, low, high)
    return value


def align_mask(mask: Any, cube: Any, what: str = "valid mask") -> Any:
    """``mask`` on the dates of ``cube`` (by label) after checking it covers the cube's footprint.

    Raises
    ------
    DimensionError
        Not a boolean ``(time, y, x)`` / ``(y, x)`` DataArray, or dates of the cube missing.
    GridError, CRSError
        The mask does not cover the cube's footprint or is in another CRS.
    """
    import xarray as xr

    if not isinstance(mask, xr.DataArray) or mask.dtype != bool or set(mask.dims) - {"time", "y", "x"}:
        found = f"{mask.dtype} {tuple(mask.dims)}" if isinstance(mask, xr.DataArray) else type(mask).__name__
        raise DimensionError(
            describe(
                f"the {what} is not a clear mask",
                expected="a bool DataArray (time, y, x), True = clear",
                found=found,
                fix="build it with xharm.core.qa.valid_mask, or compare: mask == 1",
            )
        )
    if {"y", "x"} - set(mask.dims):
        raise DimensionError(
            describe(f"the {what} has no y/x dims", expected="(time, y, x)", found=mask.dims)
        )
    if "time" in mask.dims:
        check_time(mask, what)
        have = mask["time"].values.astype("datetime64[ns]")
        want = cube["time"].values.astype("datetime64[ns]")
        if len(np.unique(have)) != len(have):
            raise DimensionError(describe(f"the {what} has a date twice", found=f"{len(have)} dates"))
        missing = np.setdiff1d(want, have)
        if missing.size:
            raise DimensionError(
                describe(
                    f"the {what} lacks {missing.size} of the cube's {want.size} dates",
                    expected=f"every date of the cube, e.g. {np.datetime_as_string(missing[0], unit='s')}",
                    found=f"{have.size} dates from {_span(have)}",
                    fix="pass the mask of the same acquisitions (e.g. s2_20m/s2_valid, not the Landsat mask)",
                )
            )
        mask = mask.sel(time=want)
    mg, cg = mask.odc.geobox, cube.odc.geobox
    if mg is None or mg.crs is None:
        raise CRSError(describe(f"the {what} has no CRS", fix="assign the cube's: mask.odc.assign_crs(...)"))
    if mg.crs != cg.crs:
        raise CRSError(
            describe(f"the {what} is in another CRS", expected=crs_name(cg.crs), found=crs_name(mg.crs))
        )
    mb, cb = mg.extent.boundingbox, cg.extent.boundingbox
    tol = 1e-6 * max(abs(v) for v in (*cb,)) + 1e-9
    if (
        mb.left > cb.left + tol
        or mb.right < cb.right - tol
        or mb.bottom > cb.bottom + tol
        or mb.top < cb.top - tol
    ):
        raise GridError(
            describe(
                f"the {what} does not cover the cube's footprint",
                expected=f"at least x {cb.left:g} .. {cb.right:g}, y {cb.bottom:g} .. {cb.top:g}",
                found=f"x {mb.left:g} .. {mb.right:g}, y {mb.bottom:g} .. {mb.top:g} "
                f"({mg.shape.y} x {mg.shape.x} px)",
                fix="pass the mask of the whole scene (same grid as the cube)",
            )
        )
    return mask


def _span(t: np.ndarray) -> str:
    if t.size == 0:
        return "none"
    return f"{np.datetime_as_string(t.min(), unit='D')} to {np.datetime_as_string(t.max(), unit='D')}"


# --------------------------------------------------------------------------- files


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def check_output_path(
    dst: str | os.PathLike[str], *, inputs: Mapping[str, str | os.PathLike[str]] | None = None
) -> None:
    """Refuse an output that is, lies inside or contains an input, sits under a file, or cannot be written.

    Parameters
    ----------
    dst
        The output path (a Zarr store, a file).
    inputs
        ``{what: path}`` of inputs the output must stay clear of.
    """
    out = _resolved(dst)
    for what, src in (inputs or {}).items():
        s = _resolved(src)
        if out == s or s in out.parents or out in s.parents:
            rel = "is" if out == s else "lies inside" if s in out.parents else "contains"
            raise ArgumentError(
                describe(
                    f"the output {dst} {rel} the {what} {src}",
                    expected="an output store apart from the input",
                    found=str(out),
                    fix="choose another output path (writing there would destroy the input)",
                )
            )
    check_writable_file(dst, "output")


def check_writable_file(path: str | os.PathLike[str], what: str) -> None:
    """The nearest existing ancestor of ``path`` is a writable folder (``path`` may not exist yet)."""
    p = _resolved(path)
    for parent in p.parents:
        if parent.exists():
            break
    else:  # pragma: no cover  (the root always exists)
        parent = Path("/")
    if not parent.is_dir():
        raise StorageError(
            describe(
                f"cannot write the {what} {path}: {parent} is a file, not a folder",
                expected="a path under a folder",
                found=str(parent),
                fix="choose another path",
            )
        )
    target = p if p.exists() else parent
    if not os.access(target, os.W_OK):
        raise StorageError(
            describe(
                f"cannot write the {what} {path}: no write permission on {target}",
                fix="choose a writable place, or fix the permissions",
            )
        )


def existing_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a :class:`Path` when it is an existing file, else :class:`ProductNotFoundError`."""
    p = Path(path)
    if not p.is_file():
        raise ProductNotFoundError(
            describe(f"{what} {path} not found", expected="an existing file", found=str(p.resolve()))
        )
    return p


def require_present(
    wanted: Iterable[str], have: Iterable[str], *, problem: str, fix: str, found: str | None = None
) -> None:
    """Raise :class:`~xharm.exceptions.MissingBandError` unless every name of ``wanted`` is in ``have``.

    ``problem`` is formatted with ``missing`` (the absent names, comma separated); the
    message lists the wanted and the found names and says ``fix``.

    Examples
    --------
    >>> require_present(["B02", "B03"], ["B02", "B03", "B04"], problem="lacks {missing}", fix="load them")
    >>> require_present(["B8A"], ["B08"], problem="S2 band(s) {missing} missing", fix="load B8A")
    Traceback (most recent call last):
    ...
    xharm.exceptions.MissingBandError: ...
    """
    wanted, have = list(wanted), list(have)
    missing = [b for b in wanted if b not in have]
    if missing:
        raise MissingBandError(
            describe(
                problem.format(missing=", ".join(missing)),
                expected=", ".join(wanted),
                found=found if found is not None else (", ".join(sorted(have)) or "none"),
                fix=fix,
            )
        )


def require_same_crs(expected: Any, found: Any, *, problem: str, fix: str | None = None) -> None:
    """Raise :class:`~xharm.exceptions.CRSError` (EPSG codes, no WKT) unless the two CRSs are equal.

    Examples
    --------
    >>> from odc.geo import CRS
    >>> require_same_crs(CRS("EPSG:32632"), CRS("EPSG:32632"), problem="differ")
    >>> require_same_crs(CRS("EPSG:32632"), CRS("EPSG:32633"), problem="the 20 m cube is in another CRS")
    Traceback (most recent call last):
    ...
    xharm.exceptions.CRSError: the 20 m cube is in another CRS
      expected: EPSG:32632
      found:    EPSG:32633
    """
    if expected != found:
        raise CRSError(describe(problem, expected=crs_name(expected), found=crs_name(found), fix=fix))


def require_level(trained: str | None, found: str | None, *, model: str, fix: str) -> None:
    """Raise :class:`~xharm.exceptions.ProductError` when input and model processing levels differ.

    ``trained``: the level the model's ``ModelSpec`` records (``meta["processing_level"]``);
    ``found``: the input's (:func:`xharm.core.cube.processing_level`). Either unknown: no check.
    Sentinel-2 ``L2A`` and Landsat ``L2`` are surface reflectance, ``L1C`` / ``L1`` top of
    atmosphere; a model trained on one is outside its domain on the other.

    Examples
    --------
    >>> require_level("L2A", "L2A", model="m", fix="-")
    >>> require_level("L2A", None, model="m", fix="-")
    >>> require_level("L2A", "L1C", model="mgan-starter", fix="use method='hls' on L2A data")
    Traceback (most recent call last):
    ...
    xharm.exceptions.ProductError: model mgan-starter was trained on L2A (surface reflectance) input, ...
    """
    if not trained or not found or str(trained).upper() == str(found).upper():
        return
    kind = {
        "L1C": "top of atmosphere",
        "L1": "top of atmosphere",
        "L2A": "surface reflectance",
        "L2": "surface reflectance",
    }
    t, f = str(trained).upper(), str(found).upper()
    raise ProductError(
        describe(
            f"model {model} was trained on {t} ({kind.get(t, '?')}) input, "
            f"this input is {f} ({kind.get(f, '?')})",
            expected=t,
            found=f,
            fix=fix,
        )
    )


def require_same_count(expected: int, found: int, *, problem: str, fix: str | None = None) -> None:
    """Raise :class:`~xharm.exceptions.DimensionError` unless two counts (dates, bands) agree.

    Examples
    --------
    >>> require_same_count(3, 3, problem="dates differ")
    >>> require_same_count(3, 2, problem="the mask has another number of dates")
    Traceback (most recent call last):
    ...
    xharm.exceptions.DimensionError: the mask has another number of dates
      expected: 3
      found:    2
    """
    if int(expected) != int(found):
        raise DimensionError(describe(problem, expected=int(expected), found=int(found), fix=fix))
