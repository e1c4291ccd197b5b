"""Reference labels on any product's own grid, by area majority over the continuous parcel map.

A 30 m product is scored against labels on *its* grid: the Sentinel-2-registered 30 m grid
for harmonized products, the Landsat grid as it lands on the ground (moved by that date's
misregistration) for a Landsat observation. The simulator's class map is continuous
(:meth:`xharm.simulate.landscape.Landscape.labels_at`: Voronoi blocks and field strips at any
angle and sub-pixel position, forests and lakes as zero contours of smooth fields), so the
labels of any grid come from the same map, not from a 10 m raster that nests with only one
of them.

Definitions (for each output pixel, its square footprint of side ``res``):

- **area share** of a class: the fraction of the footprint it covers, estimated on a
  stratified ``samples`` x ``samples`` lattice of points (the centres of equal sub-squares);
  a share is exact to within the area of the sub-squares an edge crosses
  (about ``2 / samples`` of the footprint per straight edge, on either side).
- **label**: the class with the largest area share (ties to the smallest code).
- **edge pixel**: a pixel whose lattice points fall in more than one *parcel* (a field, a
  town field, or a forest / lake area): two fields of the same crop are still an edge, as
  their canopies differ. Slivers of another parcel thinner than half the lattice spacing along
  the footprint's border can be missed. **Interior pixel**: every lattice point in one parcel.

Sub-pixel features that are not classes (roads, hedgerows, single trees, roofs) do not make a
pixel an edge pixel; they are part of the field they sit in, as in the 10 m ``labels``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from ..core.cube import geobox_of
from ..exceptions import ArgumentError, GridError, describe
from ..validate import require_same_crs

__all__ = ["LabelFn", "area_majority", "parcel_labels"]

#: ``(x, y) -> (class codes, parcel ids)`` at points in metres (``x`` east, ``y`` down).
LabelFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def area_majority(
    label_at: LabelFn,
    shape: tuple[int, int],
    origin: tuple[float, float],
    res: float,
    *,
    samples: int = 9,
    rows_per_pass: int = 64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area-majority class, edge flag and majority share of each pixel of a regular grid.

    Parameters
    ----------
    label_at
        The continuous class map: ``(x, y)`` arrays in metres (``x`` east, ``y`` down) to
        ``(codes, parcels)`` integer arrays of the same shape.
    shape
        ``(ny, nx)`` pixels of the output grid.
    origin
        ``(x, y)`` of the grid's upper-left corner in the map's frame (metres, ``y`` down).
    res
        Pixel side (m).
    samples
        Lattice points per side of a pixel (``samples**2`` points per pixel).
    rows_per_pass
        Output rows evaluated at once (bounds the memory: ``rows * nx * samples**2`` points).

    Returns
    -------
    labels, edge, share
        ``(ny, nx)``: class codes (the map's dtype), bool edge flag (more than one parcel),
        float32 area share of the winning class.

    Examples
    --------
    A vertical boundary at x = 18 m cuts the first of two 30 m pixels 60 / 40:

    >>> def half(x, y):
    ...     code = np.where(x < 18.0, 1, 2)
    ...     return code, code
    >>> lab, edge, share = area_majority(half, (1, 2), (0.0, 0.0), 30.0, samples=10)
    >>> lab.tolist(), edge.tolist(), share.round(2).tolist()
    ([[1, 2]], [[True, False]], [[0.6, 1.0]])
    """
    samples = int(samples)
    if samples < 1:
        raise ArgumentError(describe("samples must be >= 1", expected=">= 1 (e.g. 10)", found=samples))
    ny, nx = shape
    off = (np.arange(samples) + 0.5) / samples * res
    labels: np.ndarray | None = None
    edge = np.zeros((ny, nx), bool)
    share = np.zeros((ny, nx), "float32")
    xs = (origin[0] + np.arange(nx)[:, None] * res + off[None, :]).ravel()  # (nx * s,)
    for r0 in range(0, ny, max(1, int(rows_per_pass))):
        r1 = min(ny, r0 + max(1, int(rows_per_pass)))
        ys = (origin[1] + np.arange(r0, r1)[:, None] * res + off[None, :]).ravel()
        y, x = np.meshgrid(ys, xs, indexing="ij")
        code, parcel = label_at(x, y)
        n = r1 - r0
        # (rows, s, cols, s) -> (rows, cols, s * s)
        code = code.reshape(n, samples, nx, samples).transpose(0, 2, 1, 3).reshape(n, nx, -1)
        parcel = parcel.reshape(n, samples, nx, samples).transpose(0, 2, 1, 3).reshape(n, nx, -1)
        if labels is None:
            labels = np.zeros((ny, nx), code.dtype)
        codes = np.unique(code)
        counts = np.stack([(code == c).sum(-1) for c in codes])  # (codes, rows, cols)
        best = counts.argmax(0)  # first maximum: the smallest code wins a tie
        labels[r0:r1] = codes[best]
        share[r0:r1] = np.take_along_axis(counts, best[None], 0)[0] / float(samples * samples)
        edge[r0:r1] = (parcel != parcel[..., :1]).any(-1)
    if labels is None:
        labels = np.zeros((ny, nx), "uint8")
    return labels, edge, share


def _strip(
    block: np.ndarray,
    label_at: LabelFn,
    origin: tuple[float, float],
    res: float,
    samples: int,
    nx: int,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    """One row strip of :func:`parcel_labels`, packed as float32: code, edge flag, share."""
    r0, r1 = block_info[0]["array-location"][0] if block_info else (0, block.shape[0])
    lab, edge, share = area_majority(
        label_at, (r1 - r0, nx), (origin[0], origin[1] + r0 * res), res, samples=samples
    )
    return np.stack([lab.astype("float32"), edge.astype("float32"), share])


def parcel_labels(
    s2_10m: xr.DataArray,
    geobox: GeoBox,
    *,
    shift_m: tuple[float, float] = (0.0, 0.0),
    samples: int = 9,
    lazy: bool | None = None,
    rows_per_chunk: int = 128,
) -> xr.Dataset:
    """Labels, edge flags and area shares of a simulated scene on the grid ``geobox``.

    Parameters
    ----------
    s2_10m
        The uncropped ``s2_10m`` cube of :func:`xharm.simulate.pair_series`: its landscape
        (:func:`xharm.simulate.landscape_of`) and 10 m grid (the landscape's frame).
    geobox
        The product's grid (e.g. ``product.odc.geobox``), same CRS as the scene.
    shift_m
        Misregistration of the product, ``(dx, dy)`` metres east / north, as the simulator's
        ``misregistration_dx`` / ``_dy``: the content moved ``dx`` east and ``dy`` north, so
        pixel ``(row, col)`` of ``geobox`` saw the ground of the cell moved by ``(-dx, -dy)``.
        ``(0, 0)`` for products on the Sentinel-2-registered grid.
    samples
        Lattice points per pixel side (:func:`area_majority`). The default 9 puts lattice
        points on the centres of the 10 m pixels a 30 m pixel of the Sentinel-2-aligned grid
        holds (at 5, 15, 25 m), so an interior pixel is also a pure block of ``labels``.
    lazy
        Dask-backed result (row strips of ``rows_per_chunk``); default: lazy when ``s2_10m``
        is.

    Returns
    -------
    xarray.Dataset
        On ``geobox``'s coordinates: ``labels`` (uint8, ``attrs['classes']``), ``edge``
        (bool, more than one parcel in the footprint), ``share`` (float32 area share of the
        label).

    Raises
    ------
    ProductError
        ``s2_10m`` is not a simulated cube.
    CRSError
        ``geobox`` is in another CRS than the scene.
    GridError
        ``geobox``'s pixels are not square.

    Examples
    --------
    >>> from xharm import simulate
    >>> ps = simulate.pair_series(n_dates=1, size_km=0.6, seed=1)
    >>> lab = parcel_labels(ps.s2_10m, ps.l8.odc.geobox)
    >>> lab.labels.shape, lab.labels.dtype.name, bool(lab.edge.any())
    ((20, 20), 'uint8', True)
    """
    from ..simulate import landscape_of
    from ..simulate.landscape import CLASSES

    land = landscape_of(s2_10m)
    g10 = geobox_of(s2_10m, what="s2_10m")
    require_same_crs(
        g10.crs,
        geobox.crs,
        problem="the product grid is in another CRS than the simulated scene",
        fix="label the product on its own grid in the scene's CRS (product.odc.geobox)",
    )
    res = abs(float(geobox.resolution.x))
    if abs(abs(float(geobox.resolution.y)) - res) > 1e-9 * res:
        raise GridError(describe("the product grid's pixels are not square", found=geobox.resolution))
    dx, dy = float(shift_m[0]), float(shift_m[1])
    origin = (geobox.affine.c - g10.affine.c - dx, g10.affine.f - geobox.affine.f + dy)
    ny, nx = geobox.shape.y, geobox.shape.x
    if lazy is None:
        lazy = isinstance(s2_10m.data, da.Array)
    if lazy:
        step = max(1, int(rows_per_chunk))
        tmpl = da.empty((ny, nx), chunks=(step, nx), dtype="uint8")
        packed: Any = tmpl.map_blocks(
            _strip,
            land.labels_at,
            origin,
            res,
            samples,
            nx,
            new_axis=0,
            chunks=((3,), tmpl.chunks[0], (nx,)),
            dtype="float32",
        )
    else:
        packed = _strip(np.empty((ny, 0)), land.labels_at, origin, res, samples, nx)
    coords = xr_coords(geobox)
    dims = ("y", "x")
    attrs = {
        "classes": {str(k): v for k, v in CLASSES.items()},
        "xharm_regrid": f"area majority of the continuous parcel map, {samples}x{samples} points per pixel",
        "shift_m": [dx, dy],
    }
    return xr.Dataset(
        {
            "labels": xr.DataArray(packed[0].astype("uint8"), dims=dims, coords=coords, attrs=attrs),
            "edge": xr.DataArray(packed[1].astype(bool), dims=dims, coords=coords),
            "share": xr.DataArray(packed[2], dims=dims, coords=coords),
        }
    )
