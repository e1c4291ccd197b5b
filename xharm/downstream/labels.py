"""Reference labels onto the grid of a harmonized series: majority (mode) over whole blocks.

A crop-type raster usually comes on the Sentinel-2 10 m grid; the harmonized series is
at 30 m. :func:`labels_to_grid` gives each 30 m pixel the most frequent code of the 3 x 3
block of 10 m pixels it covers (ties go to the smallest code) and can blank pixels whose
block is mixed (field borders) with ``min_purity``.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from ..core.cube import geobox_of
from ..core.grid import check_nested
from ..exceptions import DimensionError, GridError, UnitsError, describe

__all__ = ["block_mode", "check_labels", "labels_to_grid"]


def block_mode(a: np.ndarray, factor: int, *, nodata: int = 0, min_purity: float = 0.0) -> np.ndarray:
    """Most frequent value of each ``factor`` x ``factor`` block of a 2-D integer array.

    Parameters
    ----------
    a
        ``(ny * factor, nx * factor)`` integer array.
    factor
        Block side in pixels.
    nodata
        Value written where the block's purity is below ``min_purity``.
    min_purity
        Minimum share of the block's pixels that must carry the winning value (0..1).

    Returns
    -------
    numpy.ndarray
        ``(ny, nx)`` array of ``a``'s dtype; ties go to the smallest value.

    Examples
    --------
    >>> a = np.array([[1, 1, 2, 2], [1, 3, 2, 3], [4, 4, 5, 6], [4, 4, 6, 5]], dtype=np.uint8)
    >>> block_mode(a, 2).tolist()
    [[1, 2], [4, 5]]
    >>> block_mode(a, 2, min_purity=0.8).tolist()   # 3 of 4 is not pure enough
    [[0, 0], [4, 0]]
    """
    ny, nx = a.shape[0] // factor, a.shape[1] // factor
    tiles = a[: ny * factor, : nx * factor].reshape(ny, factor, nx, factor).transpose(0, 2, 1, 3)
    blocks = tiles.reshape(ny, nx, factor * factor)
    codes = np.unique(blocks)
    if codes.size == 0:
        return np.empty((ny, nx), a.dtype)
    counts = np.stack([(blocks == c).sum(-1) for c in codes])  # (codes, ny, nx)
    best = counts.argmax(0)  # first maximum: the smallest code wins a tie
    out = codes[best].astype(a.dtype, copy=False)
    if min_purity > 0:
        purity = np.take_along_axis(counts, best[None], 0)[0] / float(factor * factor)
        out = np.where(purity + 1e-9 >= min_purity, out, np.asarray(nodata, a.dtype))
    return out


def check_labels(labels: Any) -> None:
    """Raise unless ``labels`` is a ``(y, x)`` DataArray of integer class codes (nothing computes).

    Raises
    ------
    DimensionError
        Not a DataArray with dims ``y`` and ``x``.
    UnitsError
        Not an integer dtype.
    """
    if not isinstance(labels, xr.DataArray) or set(labels.dims) != {"y", "x"}:
        raise DimensionError(
            describe(
                "the labels are not a (y, x) DataArray",
                expected="dims ('y', 'x')",
                found=tuple(labels.dims) if isinstance(labels, xr.DataArray) else type(labels).__name__,
                fix="select one layer, e.g. labels.isel(time=0), or wrap the array in a DataArray",
            )
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise UnitsError(
            describe(
                "the labels are not integer class codes",
                expected="an integer dtype (e.g. uint8)",
                found=str(labels.dtype),
                fix="cast the codes: labels.astype('uint8') (NaN -> a nodata code first)",
            )
        )


def labels_to_grid(
    labels: xr.DataArray, geobox: GeoBox, *, nodata: int = 0, min_purity: float = 0.0
) -> xr.DataArray:
    """Bring a ``(y, x)`` label raster onto a coarser nested grid by block majority.

    Parameters
    ----------
    labels
        Integer ``(y, x)`` DataArray with a CRS, on a grid that nests with ``geobox``
        (e.g. the S2 10 m grid for a 30 m target) and whose pixel size divides the target's.
    geobox
        Target grid (e.g. ``series.odc.geobox``); must lie inside the labels' footprint.
    nodata
        Code meaning "no label"; written where a block is too mixed.
    min_purity
        Keep a target pixel only when at least this share of its block carries the winning
        code (``1.0``: pure blocks only, i.e. no field borders). ``0``: keep all.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` labels on ``geobox``, same dtype and ``attrs`` (plus ``xharm_regrid``);
        lazy for Dask input.

    Raises
    ------
    UnitsError
        The labels are not integers.
    DimensionError
        The labels are not ``(y, x)``.
    CRSError, GridError
        No CRS, grids that do not nest, a target pixel that is not a whole number of label
        pixels, or a target that is not inside the labels.

    Examples
    --------
    >>> from affine import Affine
    >>> g10 = GeoBox((6, 6), Affine(10, 0, 600000, 0, -10, 5000040), "EPSG:32632")
    >>> g30 = GeoBox((2, 2), Affine(30, 0, 600000, 0, -30, 5000040), "EPSG:32632")
    >>> lab = xr.DataArray(np.repeat(np.repeat([[1, 2], [3, 4]], 3, 0), 3, 1).astype("uint8"),
    ...                    dims=("y", "x"), coords=xr_coords(g10))
    >>> labels_to_grid(lab, g30).values.tolist()
    [[1, 2], [3, 4]]
    """
    check_labels(labels)
    labels = labels.transpose("y", "x")
    src = geobox_of(labels, what="labels")
    check_nested(src, geobox)
    rs, rt = abs(src.resolution.x), abs(geobox.resolution.x)
    factor = round(rt / rs)
    if factor < 1 or abs(factor * rs - rt) > 1e-6 * rt:
        raise GridError(
            describe(
                "the labels' pixel size does not divide the target's",
                expected=f"labels at {rt:g} m or a whole fraction of it (e.g. {rt / 3:g} m)",
                found=f"{rs:g} m",
                fix="regrid the labels with a majority rule to a grid that nests with the series",
            )
        )
    col0 = round((geobox.affine.c - src.affine.c) / rs)
    row0 = round((src.affine.f - geobox.affine.f) / rs)
    ny, nx = geobox.shape.y, geobox.shape.x
    if row0 < 0 or col0 < 0 or row0 + ny * factor > src.shape.y or col0 + nx * factor > src.shape.x:
        raise GridError(
            describe(
                "the target grid is not inside the labels' footprint",
                expected=f"labels covering {geobox.extent.boundingbox}",
                found=f"labels over {src.extent.boundingbox}",
                fix="crop the series to the labelled area (cube.odc.crop / isel) first",
            )
        )
    data: Any = labels.data[row0 : row0 + ny * factor, col0 : col0 + nx * factor]
    if factor == 1:
        out_data: Any = data  # one label pixel per target pixel: purity is always 1
    elif isinstance(data, da.Array):
        size = max(factor, round(float(np.median(data.chunks[0] + data.chunks[1])) / factor) * factor)
        data = data.rechunk((size, size))
        out_data = data.map_blocks(
            block_mode,
            factor,
            nodata=nodata,
            min_purity=min_purity,
            chunks=tuple(tuple(c // factor for c in ch) for ch in data.chunks),
            dtype=labels.dtype,
        )
    else:
        out_data = block_mode(np.asarray(data), factor, nodata=nodata, min_purity=min_purity)
    attrs = {
        **labels.attrs,
        "xharm_regrid": f"labels_to_grid: mode of {factor}x{factor} blocks, ties to the smallest code"
        + (f", purity >= {min_purity:g} else {nodata}" if min_purity > 0 and factor > 1 else ""),
    }
    return xr.DataArray(out_data, dims=("y", "x"), coords=xr_coords(geobox), attrs=attrs, name=labels.name)
