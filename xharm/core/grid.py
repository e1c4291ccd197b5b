"""Nested pixel grids: S2 10/20/60 m -> 30 m (HLS style), L8 onto the S2 footprint, masks.

Grids *nest* when one lattice of 60 m x 60 m blocks (more generally: blocks of the least
common multiple of 60 m and every resolution) has whole pixels of every grid. Sentinel-2
and HLS tiles do: their origins are multiples of 60 m in UTM coordinates. Here the block
lattice of a set of grids is the one whose points are congruent to every grid's origin
modulo that grid's resolution; of those, the one through the smallest non-negative such
point (for S2: the multiples of 60 m). So the 30 m grid made from a 10 m cube and the one
made from a 20 m cube of the same scene are on one lattice, whatever the two footprints.

:func:`output_grid` is the one place where an output grid is chosen: every method (the
MGAN, HLS, TRA, resample, any model) writes on the grid it returns. :func:`grid_at` and
:func:`nested_grids` build the grids of one footprint, cropped inward to whole blocks;
:func:`check_nested` checks a set of grids and :func:`nest_offset` says where one grid
starts inside another. :func:`s2_to_30m` regrids an
S2 cube to 30 m the HLS way, :func:`align_to` reprojects an L8 cube onto a given grid
(nearest, as in the MGAN paper), :func:`mask_to_grid` moves a boolean mask between nested
grids. All are lazy on Dask input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords, xr_reproject

from ..exceptions import GridError, UnitsError, describe
from ..validate import require_same_crs
from .cube import geobox_of, validate

__all__ = [
    "BLOCK",
    "align_to",
    "check_nested",
    "grid_at",
    "mask_to_grid",
    "nest_offset",
    "nested_grids",
    "output_grid",
    "s2_to_30m",
]

BLOCK = 60.0
"""Side of the blocks that every nested grid tiles with whole pixels (m)."""

_TOL = 1e-6  # fraction of a pixel
_RESAMPLING = (
    "nearest bilinear cubic cubic_spline lanczos average mode gauss max min med q1 q3 sum rms".split()
)


# --------------------------------------------------------------------------- grids


def check_nested(*geoboxes: GeoBox) -> None:
    """Raise unless the grids share a CRS and one block lattice (see module docs).

    Parameters
    ----------
    *geoboxes
        North-up, axis-aligned :class:`~odc.geo.geobox.GeoBox` objects.

    Raises
    ------
    CRSError
        The CRSs differ.
    GridError
        A grid is rotated or flipped, or two grids' pixel edges are offset so that no
        common block lattice exists.

    Examples
    --------
    >>> from affine import Affine
    >>> g10 = GeoBox((6, 6), Affine(10, 0, 600000, 0, -10, 5000040), "EPSG:32632")
    >>> g20 = GeoBox((3, 3), Affine(20, 0, 600000, 0, -20, 5000040), "EPSG:32632")
    >>> check_nested(g10, g20)
    >>> check_nested(g10, GeoBox((3, 3), Affine(20, 0, 600005, 0, -20, 5000040), "EPSG:32632"))
    Traceback (most recent call last):
    ...
    xharm.exceptions.GridError: grids 0 (10 m) and 1 (20 m) do not nest along x...
    """
    if not geoboxes:
        return
    crs0 = geoboxes[0].crs
    for i, g in enumerate(geoboxes):
        require_same_crs(
            crs0,
            g.crs,
            problem=f"grids 0 and {i} are in different CRSs, so they cannot nest",
            fix="reproject one of them first (xharm.core.grid.align_to)",
        )
    axes = [_axes(g, i) for i, g in enumerate(geoboxes)]
    for i in range(len(axes)):
        for j in range(i + 1, len(axes)):
            for k, name in ((0, "x"), (1, "y")):
                ri, oi = axes[i][k]
                rj, oj = axes[j][k]
                step = _gcd(ri, rj)
                if not _on_step(oi - oj, step):
                    raise GridError(
                        describe(
                            f"grids {i} ({_fmt(ri)} m) and {j} ({_fmt(rj)} m) do not nest along {name}",
                            expected=f"pixel edges offset by a multiple of {_fmt(step)} m",
                            found=f"edges {_fmt(oi)} and {_fmt(oj)} (offset {_fmt(oi - oj)} m)",
                            fix="load both on one tile grid (odc.stac.load(..., like=...)), or resample one",
                        )
                    )


def grid_at(geobox: GeoBox, resolution: float, *, within: Sequence[GeoBox] = ()) -> GeoBox:
    """The ``resolution`` grid of ``geobox``'s footprint, cropped inward to whole blocks.

    Parameters
    ----------
    geobox
        The source grid (north-up, axis-aligned).
    resolution
        Target pixel size in CRS units (10, 20, 30, 60 m ...).
    within
        Further grids the result must also lie in and nest with (e.g. the 20 m grid of
        the scene when ``geobox`` is its 10 m grid): the result is then the common part.

    Raises
    ------
    GridError
        Grids do not nest, or the (common) footprint holds no whole block.

    Examples
    --------
    >>> from affine import Affine
    >>> g10 = GeoBox((7, 8), Affine(10, 0, 600000, 0, -10, 5000040), "EPSG:32632")
    >>> g30 = grid_at(g10, 30)
    >>> g30.shape, g30.affine.c, g30.affine.f
    (Shape2d(x=2, y=2), 600000.0, 5000040.0)
    """
    res = _positive(resolution)
    boxes = [geobox, *within]
    check_nested(*boxes)
    (px, lx), (py, ly) = _lattice(boxes, res)
    x0, x1, y0, y1 = _footprint(boxes)
    left, right = _snap_in(x0, x1, px, lx)
    bottom, top = _snap_in(y0, y1, py, ly)
    if right <= left or top <= bottom:
        r0 = abs(geobox.affine.a)
        need = (
            f"{_fmt(lx)} x {_fmt(ly)} m block whose edges lie on the lattice (x = {_fmt(px)} + k * {_fmt(lx)}"
        )
        need += f", y = {_fmt(py)} + k * {_fmt(ly)} m)"
        raise GridError(
            describe(
                "the footprint is too small: it holds no whole block of the nested-grid lattice",
                expected=f"at least one {need}: {round(lx / r0)} x {round(ly / r0)} px of {_fmt(r0)} m "
                f"when aligned with it, {round(2 * lx / r0)} x {round(2 * ly / r0)} px ({_fmt(2 * lx)} m) "
                "anywhere",
                found=f"{_fmt(x1 - x0)} x {_fmt(y1 - y0)} m ({round((x1 - x0) / r0)} x "
                f"{round((y1 - y0) / r0)} px): x {_fmt(x0)}..{_fmt(x1)}, y {_fmt(y0)}..{_fmt(y1)}",
                fix="read a larger area (crop it so that it covers the block above)",
            )
        )
    nx = round((right - left) / res)
    ny = round((top - bottom) / res)
    return GeoBox((ny, nx), Affine(res, 0.0, left, 0.0, -res, top), geobox.crs)


def output_grid(geoboxes: Sequence[GeoBox] | Mapping[Any, GeoBox], resolution: float) -> GeoBox:
    """The output grid of every method for these input grids: the one grid authority.

    Every product xharm makes from one or more input grids (the MGAN, HLS, TRA, a plain
    resample, any model run through :mod:`xharm.engine.apply`) is written on this grid: its corner
    is the first point of the inputs' block lattice inside their common footprint (so it
    lies on a pixel edge of every input), and it holds as many whole ``resolution`` pixels
    as fit inside every input. Cropping an input by a pixel therefore never moves the
    output off the lattice; it only drops the output pixels that no longer fit.

    Parameters
    ----------
    geoboxes
        The input grids (a sequence, or a mapping whose values are grids; its order only
        decides which grid is named first in errors).
    resolution
        Output pixel size in CRS units (30 for Landsat-like output).

    Raises
    ------
    GridError
        The grids do not nest, or their common footprint holds no whole block.

    Examples
    --------
    >>> from affine import Affine
    >>> g10 = GeoBox((12, 12), Affine(10, 0, 600000, 0, -10, 5000040), "EPSG:32632")
    >>> g20 = GeoBox((5, 5), Affine(20, 0, 600020, 0, -20, 5000020), "EPSG:32632")
    >>> g = output_grid([g10, g20], 30)
    >>> g.shape.yx, g.affine.c, g.affine.f
    ((2, 2), 600060.0, 4999980.0)
    """
    boxes = list(geoboxes.values()) if isinstance(geoboxes, Mapping) else list(geoboxes)
    if not boxes:
        raise GridError(describe("no input grids given", expected="one GeoBox per input"))
    res = _positive(resolution)
    check_nested(*boxes)
    (px, lx), (py, ly) = _lattice(boxes, res)
    x0, x1, y0, y1 = _footprint(boxes)
    left = px + math.ceil((x0 - px) / lx - _TOL) * lx
    top = py + math.floor((y1 - py) / ly + _TOL) * ly
    nx = math.floor((x1 - left) / res + _TOL)
    ny = math.floor((top - y0) / res + _TOL)
    if nx <= 0 or ny <= 0:
        r0 = abs(boxes[0].affine.a)
        aligned = math.ceil(res / r0 - _TOL)
        anywhere = (math.ceil((lx - r0 + res) / r0 - _TOL), math.ceil((ly - r0 + res) / r0 - _TOL))
        raise GridError(
            describe(
                f"the footprint is too small: it holds no {_fmt(res)} m output pixel on the grids' lattice",
                expected=f"one {_fmt(res)} m pixel whose corner lies on the lattice (x = {_fmt(px)} + k * "
                f"{_fmt(lx)}, y = {_fmt(py)} + k * {_fmt(ly)} m): {aligned} x {aligned} px of {_fmt(r0)} m "
                f"when aligned with it, {anywhere[0]} x {anywhere[1]} px anywhere",
                found=f"{_fmt(max(x1 - x0, 0))} x {_fmt(max(y1 - y0, 0))} m ({round(max(x1 - x0, 0) / r0)} x "
                f"{round(max(y1 - y0, 0) / r0)} px): x {_fmt(x0)}..{_fmt(x1)}, y {_fmt(y0)}..{_fmt(y1)}",
                fix="read a larger area (or check that the inputs overlap)",
            )
        )
    return GeoBox((ny, nx), Affine(res, 0.0, left, 0.0, -res, top), boxes[0].crs)


def nest_offset(
    outer: GeoBox, inner: GeoBox, factor: Fraction | float, *, name: str = "input"
) -> tuple[int, int]:
    """Offset ``(row, col)``, in pixels of ``inner``, of the top-left corner of ``outer``.

    Checks that both grids share a CRS and axis orientation, that ``inner`` pixels are
    ``factor`` times smaller, and that ``outer``'s corner falls on an ``inner`` pixel edge.

    Examples
    --------
    >>> g10 = GeoBox.from_bbox((600000, 4999400, 600600, 5000000), "EPSG:32632", resolution=10)
    >>> g30 = GeoBox.from_bbox((600060, 4999410, 600600, 4999950), "EPSG:32632", resolution=30)
    >>> nest_offset(g30, g10, 3)
    (5, 6)
    """
    require_same_crs(outer.crs, inner.crs, problem=f"{name} is in another CRS than the output grid")
    ao, ai = outer.affine, inner.affine
    if abs(ao.b) > _TOL or abs(ao.d) > _TOL or abs(ai.b) > _TOL or abs(ai.d) > _TOL:
        raise GridError(describe(f"{name} or the output grid is rotated", expected="north-up grids"))
    f = float(factor)
    for axis, (o, i) in {"x": (ao.a, ai.a), "y": (ao.e, ai.e)}.items():
        if abs(o - i * f) > _TOL * abs(o):
            raise GridError(
                describe(
                    f"{name} pixel size along {axis} does not nest in the output grid",
                    expected=f"{o / f:g} m ({f:g} px per output px)",
                    found=f"{i:g} m",
                    fix="check the model spec's resolutions, or align the grids with xharm.core.grid",
                )
            )
    col = (ao.c - ai.c) / ai.a
    row = (ao.f - ai.f) / ai.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        raise GridError(
            describe(
                f"the output grid corner is not on a {name} pixel edge",
                expected="an integer pixel offset",
                found=f"row {row:g}, col {col:g}",
                fix="align the grids so that they nest exactly (xharm.core.grid), e.g. snap to one corner",
            )
        )
    return round(row), round(col)


def nested_grids(geobox: GeoBox, resolutions: Iterable[float] = (10, 20, 30, 60)) -> dict[float, GeoBox]:
    """The grids of one footprint at several resolutions; they nest exactly.

    Every grid covers the same extent: ``geobox``'s footprint cropped inward to whole
    blocks of the least common multiple of 60 m and ``resolutions``.

    Examples
    --------
    >>> from affine import Affine
    >>> g20 = GeoBox((7, 7), Affine(20, 0, 600000, 0, -20, 5000040), "EPSG:32632")
    >>> {r: g.shape.yx for r, g in nested_grids(g20).items()}
    {10: (12, 12), 20: (6, 6), 30: (4, 4), 60: (2, 2)}
    """
    res = {r: _positive(r) for r in resolutions}
    common = grid_at(geobox, _lcm_all(res.values()))
    left, top = common.affine.c, common.affine.f
    return {
        k: GeoBox(_shape(common, r), Affine(r, 0.0, left, 0.0, -r, top), common.crs) for k, r in res.items()
    }


# --------------------------------------------------------------------------- S2 -> 30 m


def s2_to_30m(cube: xr.DataArray, *, geobox: GeoBox | None = None) -> xr.DataArray:
    """Regrid a canonical Sentinel-2 cube (10, 20 or 60 m) to 30 m, HLS style.

    - 10 m: mean of the 3 x 3 pixels of each 30 m pixel.
    - 20 m: area-weighted mean. A 30 m pixel covers 1.5 x 1.5 pixels of 20 m: weights
      1, 0.5, 0.5, 0.25 (over 2.25), applied separably as (2/3, 1/3) per axis.
    - 60 m: each pixel replicated into its 2 x 2 nested 30 m pixels.

    NaN rule (conservative, as HLS): a 30 m pixel is NaN when any input pixel that
    overlaps it is NaN. The output grid is ``output_grid([cube.odc.geobox], 30)`` (corner on
    the 60 m block lattice, every whole 30 m pixel inside the footprint) unless ``geobox``
    is given. Lazy on Dask: chunks along y/x are rechunked to
    multiples of the block (3 input pixels for 10/20 m), one NumPy kernel per chunk.

    Parameters
    ----------
    cube
        Canonical cube ``(time, band, y, x)``, float, square pixels of 10, 20 or 60 m.
    geobox
        Optional 30 m target grid inside the footprint whose origin lies on the cube's
        pixel edges, e.g. the common 30 m grid of the 10 m and 20 m cubes:
        ``output_grid([g10, g20], 30)``.

    Returns
    -------
    xarray.DataArray
        float32 cube on the 30 m grid; ``time``, ``band``, ``common_name``, CRS and
        ``attrs`` kept (``attrs["resolution"]`` set to 30 when present,
        ``attrs["xharm_regrid"]`` says what was done).

    Raises
    ------
    DimensionError, UnitsError, CRSError
        Not a canonical cube.
    GridError
        Pixel size not 10/20/60 m or not square, footprint smaller than a 60 m block,
        or ``geobox`` not a fitting 30 m grid.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from xharm.core.cube import make_cube
    >>> g10 = GeoBox((6, 6), Affine(10, 0, 600000, 0, -10, 5000040), "EPSG:32632")
    >>> cube = make_cube(np.arange(36.0).reshape(1, 1, 6, 6), geobox=g10, bands=["B02"],
    ...                  sensor="sentinel-2a", time=["2021-06-01"])
    >>> s2_to_30m(cube).values[0, 0].tolist()
    [[7.0, 10.0], [25.0, 28.0]]
    """
    src = validate(cube, what="S2 cube")
    (rx, ox), (ry, oy) = _axes(src, 0)
    if not math.isclose(rx, ry, rel_tol=_TOL):
        raise GridError(
            describe(
                "the S2 cube's pixels are not square", expected="equal x and y pixel size", found=(rx, ry)
            )
        )
    kernels = {10.0: (_mean3, 3, 1), 20.0: (_area20, 3, 2), 60.0: (_replicate2, 1, 2)}
    res = next((r for r in kernels if math.isclose(rx, r, rel_tol=_TOL)), None)
    if res is None:
        raise GridError(
            describe(
                f"the S2 cube has {_fmt(rx)} m pixels",
                expected="10, 20 or 60 m (Sentinel-2 native grids)",
                found=f"{_fmt(rx)} m",
                fix="pass a cube on its native grid" + (" (it is already at 30 m)" if rx == 30 else ""),
            )
        )
    kernel, nin, nout = kernels[res]
    dst = output_grid([src], 30.0) if geobox is None else _check_target(src, geobox, res)
    iy = round((oy - dst.affine.f) / res)
    ix = round((dst.affine.c - ox) / res)
    h, w = dst.shape.yx
    # whole blocks of nin input px; the input px that a last, odd 30 m px does not overlap are
    # padded (NaN) and their output px cropped, so any 30 m size on the lattice works
    ny, nx = -(-h // nout) * nin, -(-w // nout) * nin
    data = _pad_end(cube.data[..., iy : iy + ny, ix : ix + nx], (ny, nx))
    out = _blockwise(data, kernel, nin, nout, np.dtype("float32"))[..., :h, :w]
    attrs = dict(cube.attrs)
    if "resolution" in attrs:
        attrs["resolution"] = 30.0
    attrs["xharm_regrid"] = {
        10.0: "s2_to_30m: 10 m -> 30 m, 3x3 block mean",
        20.0: "s2_to_30m: 20 m -> 30 m, area-weighted mean",
        60.0: "s2_to_30m: 60 m -> 30 m, replicated",
    }[res] + " (NaN where any overlapping input pixel is NaN)"
    return _wrap(out, cube, dst, attrs)


# --------------------------------------------------------------------------- L8 -> footprint


def align_to(
    cube: xr.DataArray,
    geobox: GeoBox,
    resampling: str = "nearest",
    *,
    fill: float | None = None,
) -> xr.DataArray:
    """Reproject ``cube`` (e.g. Landsat-8 at 30 m) onto ``geobox`` (e.g. the S2 30 m grid).

    Any CRS works (reprojection is the point); nearest resampling is the MGAN paper's
    choice. Lazy on Dask (odc-geo's :func:`~odc.geo.xr.xr_reproject`); band coords,
    ``common_name`` and ``attrs`` are kept. Pixels outside the source are NaN for float
    data, ``fill`` (or odc-geo's default) otherwise.

    Parameters
    ----------
    cube
        DataArray with ``y``/``x`` and a CRS: canonical cube or a ``(time, y, x)`` layer.
    geobox
        Target grid.
    resampling
        A GDAL resampling name (``"nearest"``, ``"bilinear"``, ``"average"``, ...).
    fill
        Value for target pixels the source does not cover (integer layers: e.g. 1 for
        Landsat QA_PIXEL, whose bit 0 is fill).

    Raises
    ------
    CRSError
        ``cube`` has no CRS.
    GridError
        ``geobox`` is not a GeoBox, the footprints do not overlap, or unknown ``resampling``.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from xharm.core.cube import make_cube
    >>> g = GeoBox((4, 4), Affine(30, 0, 600000, 0, -30, 5000040), "EPSG:32632")
    >>> l8 = make_cube(np.arange(16.0).reshape(1, 1, 4, 4), geobox=g, bands=["B4"],
    ...                sensor="landsat-8", time=["2021-06-01"])
    >>> shifted = GeoBox((2, 2), Affine(30, 0, 600030, 0, -30, 5000010), "EPSG:32632")
    >>> align_to(l8, shifted).values[0, 0].tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """
    src = geobox_of(cube, what="cube to align")
    if not isinstance(geobox, GeoBox):
        raise GridError(
            describe(
                "the target grid is not a GeoBox",
                expected="odc.geo.geobox.GeoBox (e.g. grid_at(s2_cube.odc.geobox, 30))",
                found=type(geobox).__name__,
            )
        )
    if resampling not in _RESAMPLING:
        raise GridError(
            describe(f"unknown resampling {resampling!r}", expected=", ".join(_RESAMPLING), found=resampling)
        )
    overlap = src.geographic_extent.intersection(geobox.geographic_extent)
    if overlap.is_empty or overlap.area <= 0:
        raise GridError(
            describe(
                "the cube and the target grid do not overlap",
                expected=f"a footprint overlapping {geobox.geographic_extent.boundingbox}",
                found=f"cube footprint {src.geographic_extent.boundingbox} (lon/lat)",
                fix="pick the scene/tile that covers the target footprint",
            )
        )
    kw: dict[str, Any] = {"resampling": resampling}
    if fill is not None:
        kw["dst_nodata"] = fill
    out = xr_reproject(cube, geobox, **kw)
    out.attrs = {**cube.attrs, "xharm_aligned": f"align_to: resampling={resampling}"}
    out.name = cube.name
    return out


# --------------------------------------------------------------------------- masks


def mask_to_grid(mask: xr.DataArray, geobox: GeoBox) -> xr.DataArray:
    """Move a boolean mask (True = valid) onto a nested grid of another resolution.

    A target pixel is valid when every source pixel it overlaps is valid: coarsening
    (20 m -> 30/60 m, 10 m -> 30 m) keeps only fully valid blocks, refining by a whole
    factor (20 m -> 10 m) is nearest. Target pixels outside the source are invalid.

    Parameters
    ----------
    mask
        Boolean DataArray with ``y``/``x`` last and a CRS (e.g. ``valid_mask(scl)``).
    geobox
        Target grid, nested with the mask's grid (:func:`check_nested`).

    Raises
    ------
    UnitsError
        ``mask`` is not boolean.
    CRSError, GridError
        Grids do not nest.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from affine import Affine
    >>> from odc.geo.xr import xr_coords
    >>> g20 = GeoBox((3, 3), Affine(20, 0, 600000, 0, -20, 5000040), "EPSG:32632")
    >>> m = xr.DataArray(np.ones((3, 3), bool), dims=("y", "x"), coords=xr_coords(g20))
    >>> m[0, 0] = False
    >>> g30 = GeoBox((2, 2), Affine(30, 0, 600000, 0, -30, 5000040), "EPSG:32632")
    >>> mask_to_grid(m, g30).values.tolist()
    [[False, True], [True, True]]
    """
    if not isinstance(mask, xr.DataArray) or mask.dtype != bool:
        found = mask.dtype if isinstance(mask, xr.DataArray) else type(mask).__name__
        raise UnitsError(
            describe(
                "the mask is not a boolean DataArray",
                expected="bool DataArray (True = valid), e.g. xharm.core.qa.valid_mask(...)",
                found=str(found),
                fix="build it with xharm.core.qa.valid_mask, or compare: mask == 1",
            )
        )
    src = geobox_of(mask, what="mask")
    check_nested(src, geobox)
    mask = mask.transpose(..., "y", "x")
    data = mask.data
    for axis, (rs, os_), (rt, ot), nt, sign in (
        (-2, _axes(src, 0)[1], _axes(geobox, 1)[1], geobox.shape.y, -1),
        (-1, _axes(src, 0)[0], _axes(geobox, 1)[0], geobox.shape.x, 1),
    ):
        g = _gcd(rs, rt)
        fs, ft = round(rs / g), round(rt / g)
        off = round(sign * (ot - os_) / g)  # target start in fine cells from the source edge
        p0, p1 = off // fs, -(-(off + nt * ft) // fs)
        n = data.shape[axis]
        data = _take(data, max(p0, 0), min(p1, n), axis)
        pad = [(0, 0)] * data.ndim
        pad[axis] = (max(0, -p0), max(0, p1 - n))
        if pad[axis] != (0, 0):
            data = np.pad(data, pad, constant_values=False)
        if fs > 1:
            data = np.repeat(data, fs, axis=axis)
        start = off - p0 * fs
        data = _take(data, start, start + nt * ft, axis)
        data = _blockwise(data, _all_block(ft, axis), ft, 1, np.dtype(bool), axes=(axis,))
    attrs = {
        **mask.attrs,
        "xharm_regrid": "mask_to_grid: valid where every overlapping source pixel is valid",
    }
    return _wrap(data, mask, geobox, attrs)


# --------------------------------------------------------------------------- helpers


def _axes(g: GeoBox, i: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x resolution, left edge), (y resolution, top edge)) of a north-up grid."""
    a = g.affine
    if not (a.b == 0 and a.d == 0 and a.a > 0 and a.e < 0):
        raise GridError(
            describe(
                f"grid {i} is not north-up and axis-aligned",
                expected="affine (res, 0, x0, 0, -res, y0)",
                found=tuple(round(v, 6) for v in a[:6]),
                fix="reproject it (odc-geo .odc.reproject) onto a north-up grid",
            )
        )
    return (a.a, a.c), (-a.e, a.f)


def _frac(v: float) -> Fraction:
    return Fraction(v).limit_denominator(10**6)


def _gcd(a: float, b: float) -> float:
    fa, fb = _frac(a), _frac(b)
    return float(
        Fraction(
            math.gcd(fa.numerator * fb.denominator, fb.numerator * fa.denominator),
            fa.denominator * fb.denominator,
        )
    )


def _lcm(a: float, b: float) -> float:
    return a * b / _gcd(a, b)


def _lcm_all(values: Iterable[float]) -> float:
    out = BLOCK
    for v in values:
        out = _lcm(out, v)
    return out


def _on_step(d: float, step: float) -> bool:
    q = d / step
    return abs(q - round(q)) < _TOL


def _lattice(boxes: Sequence[GeoBox], res: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Per axis (anchor, period) of the block lattice of nested grids (see module docs)."""
    out = []
    for k in (0, 1):
        rs = [_axes(g, i)[k][0] for i, g in enumerate(boxes)]
        os_ = [_axes(g, i)[k][1] for i, g in enumerate(boxes)]
        unit = BLOCK
        for r in [*rs, res]:
            unit = _gcd(unit, r)
        shift = os_[0] - math.floor(os_[0] / unit + _TOL) * unit
        anchor, mod = 0, 1
        for r, o in zip(rs, os_):
            ri, oi = round(r / unit), round((o - shift) / unit)
            g = math.gcd(mod, ri)
            t = ((oi - anchor) // g * pow(mod // g, -1, ri // g)) % (ri // g)
            anchor, mod = (anchor + t * mod), mod * ri // g
            anchor %= mod
        out.append((shift + anchor * unit, _lcm_all([*rs, res])))
    return out[0], out[1]


def _footprint(boxes: Sequence[GeoBox]) -> tuple[float, float, float, float]:
    """``(left, right, bottom, top)`` of the common part of north-up grids."""
    x0 = max(g.affine.c for g in boxes)
    x1 = min(g.affine.c + g.affine.a * g.width for g in boxes)
    y1 = min(g.affine.f for g in boxes)
    y0 = max(g.affine.f + g.affine.e * g.height for g in boxes)
    return x0, x1, y0, y1


def _snap_in(lo: float, hi: float, anchor: float, period: float) -> tuple[float, float]:
    a = anchor + math.ceil((lo - anchor) / period - _TOL) * period
    b = anchor + math.floor((hi - anchor) / period + _TOL) * period
    return a, b


def _shape(g: GeoBox, res: float) -> tuple[int, int]:
    return round(g.height * -g.affine.e / res), round(g.width * g.affine.a / res)


def _positive(v: Any) -> float:
    try:
        r = float(v)
    except (TypeError, ValueError):
        r = float("nan")
    if not r > 0:
        raise GridError(describe("resolution must be a positive number", expected="e.g. 30", found=repr(v)))
    return r


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def _check_target(src: GeoBox, dst: GeoBox, res: float) -> GeoBox:
    if not isinstance(dst, GeoBox):
        raise GridError(
            describe("geobox must be a GeoBox", expected="odc.geo.geobox.GeoBox", found=type(dst))
        )
    check_nested(src, dst)
    (rx, ox), (ry, oy) = _axes(dst, 1)
    (_, sx), (_, sy) = _axes(src, 0)
    sb, db = src.boundingbox, dst.boundingbox
    inside = (
        db.left >= sb.left - _TOL
        and db.right <= sb.right + _TOL
        and db.bottom >= sb.bottom - _TOL
        and db.top <= sb.top + _TOL
    )
    on_edges = _on_step(ox - sx, res) and _on_step(sy - oy, res)
    if not (math.isclose(rx, 30.0) and math.isclose(ry, 30.0) and inside and on_edges):
        raise GridError(
            describe(
                "geobox is not a 30 m grid that fits the S2 cube",
                expected=f"30 m pixels, inside the cube, origin on its {_fmt(res)} m edges",
                found=repr(dst),
                fix="use xharm.core.grid.output_grid([g10, g20], 30)",
            )
        )
    return dst


def _pad_end(data: Any, size: tuple[int, int]) -> Any:
    """Pad the last two axes of ``data`` (NumPy or Dask) with NaN at their ends up to ``size``."""
    pad = [(0, 0)] * (data.ndim - 2) + [(0, size[0] - data.shape[-2]), (0, size[1] - data.shape[-1])]
    if not any(p[1] for p in pad):
        return data
    mod = da if isinstance(data, da.Array) else np
    return mod.pad(data.astype(np.float32, copy=False), pad, mode="constant", constant_values=np.nan)


def _take(data: Any, start: int, stop: int, axis: int) -> Any:
    index = [slice(None)] * data.ndim
    index[axis] = slice(start, stop)
    return data[tuple(index)]


def _blockwise(
    data: Any,
    kernel: Callable[[np.ndarray], np.ndarray],
    nin: int,
    nout: int,
    dtype: np.dtype,
    axes: tuple[int, ...] = (-2, -1),
) -> Any:
    """Apply a kernel mapping ``nin`` pixels to ``nout`` along ``axes`` (NumPy or Dask)."""
    if not isinstance(data, da.Array):
        return kernel(np.asarray(data))
    axes = tuple(a % data.ndim for a in axes)
    new = {}
    for a in axes:
        chunks = data.chunks[a]
        if any(c % nin for c in chunks):
            new[a] = max(nin, round(float(np.median(chunks)) / nin) * nin)
    if new:
        data = data.rechunk(new)
    out_chunks = tuple(
        tuple(c * nout // nin for c in ch) if a in axes else ch for a, ch in enumerate(data.chunks)
    )
    return data.map_blocks(kernel, chunks=out_chunks, dtype=dtype, meta=np.empty((0,) * data.ndim, dtype))


def _mean3(a: np.ndarray) -> np.ndarray:
    """3x3 block mean of the last two axes (strided adds: rows first, then columns)."""
    a = a.astype(np.float32, copy=False)
    rows = a[..., 0::3, :] + a[..., 1::3, :]
    rows += a[..., 2::3, :]
    out = rows[..., 0::3] + rows[..., 1::3]
    out += rows[..., 2::3]
    out *= np.float32(1.0 / 9.0)
    return out


def _area20_axis(a: np.ndarray, axis: int) -> np.ndarray:
    """3 pixels of 20 m -> 2 of 30 m along ``axis`` (-2 or -1): weights (2/3, 1/3), (1/3, 2/3)."""

    def take(start: int, step: int) -> tuple[slice, ...]:
        return (Ellipsis, slice(start, None, step)) + ((slice(None),) if axis == -2 else ())

    shape = list(a.shape)
    shape[axis] = shape[axis] // 3 * 2
    out = np.empty(shape, np.float32)
    third = np.float32(1.0 / 3.0)
    p0, p1, p2 = a[take(0, 3)], a[take(1, 3)], a[take(2, 3)]
    out[take(0, 2)] = (p0 + p0 + p1) * third
    out[take(1, 2)] = (p1 + p2 + p2) * third
    return out


def _area20(a: np.ndarray) -> np.ndarray:
    return _area20_axis(_area20_axis(a.astype(np.float32, copy=False), -2), -1)


def _replicate2(a: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(a, 2, axis=-2), 2, axis=-1).astype(np.float32, copy=False)


def _all_block(f: int, axis: int) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(a: np.ndarray) -> np.ndarray:
        if f == 1:
            return a
        a = np.moveaxis(a, axis, -1)
        out = np.asarray(a.reshape(*a.shape[:-1], a.shape[-1] // f, f).all(axis=-1))
        return np.moveaxis(out, -1, axis)

    return kernel


def _wrap(data: Any, like: xr.DataArray, gbox: GeoBox, attrs: dict[str, Any]) -> xr.DataArray:
    keep: dict[Hashable, Any] = {
        k: v for k, v in like.coords.items() if not ({"y", "x"} & set(v.dims)) and k != "spatial_ref"
    }
    keep.update(xr_coords(gbox))
    out = xr.DataArray(data, dims=like.dims, coords=keep, attrs=attrs)
    out.name = like.name
    return out
