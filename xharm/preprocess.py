"""Per-band clipping and normalization (MGAN preprocessing), with an exact inverse.

The MGAN paper clips each band at its 1st/99th percentile and normalizes it by
subtracting the mean and dividing by the maximum. :func:`compute_norm_stats` measures
this on *valid* pixels only (finite, and ``valid`` mask True) and returns a
:class:`~xharm.spec.NormStats`; :func:`normalize` / :func:`denormalize` apply it lazily.

Percentiles
    NumPy input: exact (:func:`numpy.percentile`, linear interpolation).
    Dask input: approximate, from a per-band histogram of ``bins`` bins over
    ``value_range`` (values outside are counted in the end bins), summed over chunks in
    one pass; the percentile is linearly interpolated inside its bin, so the error is at
    most one bin width (default ``2.0 / 20000 = 1e-4`` reflectance, one S2 DN).
    The mean and extremes of the clipped values are then exact (a second pass).

Scale
    ``scale="absmax"`` (default): the largest absolute deviation of the clipped values
    from their mean ("divide by the max" after centring), so normalized values lie in
    ``[-1, 1]``. ``scale="max"``: the largest clipped value, the paper's literal wording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .cube import validate
from .exceptions import DimensionError, EmptyDataError, describe
from .spec import ModelSpec, NormStats

__all__ = ["compute_norm_stats", "denormalize", "fit_spec_norm", "normalize"]


def _valid_values(x: np.ndarray, m: np.ndarray | None) -> list[np.ndarray]:
    """Per band (axis 1 of (T, C, Y, X)), the finite values where the mask is True."""
    ok = np.isfinite(x)
    if m is not None:
        ok &= m[:, None]
    return [x[:, c][ok[:, c]] for c in range(x.shape[1])]


def _block_hist(x: np.ndarray, m: np.ndarray | None, edges: np.ndarray) -> np.ndarray:
    lo, hi = edges[0], edges[-1]
    out = np.zeros((x.shape[1], edges.size - 1), dtype=np.int64)
    for c, v in enumerate(_valid_values(x, m)):
        out[c] = np.histogram(np.clip(v, lo, hi), bins=edges)[0]
    return out[None]


def _block_moments(x: np.ndarray, m: np.ndarray | None, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per band: count, sum, min, max of clipped valid values (float64)."""
    out = np.zeros((1, x.shape[1], 4))
    out[0, :, 2], out[0, :, 3] = np.inf, -np.inf
    for c, v in enumerate(_valid_values(x, m)):
        if v.size:
            v = np.clip(v.astype(np.float64), low[c], high[c])
            out[0, c] = (v.size, v.sum(), v.min(), v.max())
    return out


def _hist_percentile(counts: np.ndarray, edges: np.ndarray, q: float) -> float:
    n = counts.sum()
    rank = q / 100.0 * (n - 1)  # numpy's "linear" definition, ranks 0..n-1
    cum = np.cumsum(counts)
    k = int(np.searchsorted(cum, rank, side="right"))
    k = min(k, counts.size - 1)
    before = cum[k - 1] if k else 0
    frac = (rank - before + 0.5) / counts[k] if counts[k] else 0.5
    return float(edges[k] + min(max(frac, 0.0), 1.0) * (edges[k + 1] - edges[k]))


def compute_norm_stats(
    cube: xr.DataArray,
    *,
    valid: xr.DataArray | None = None,
    q: tuple[float, float] = (1.0, 99.0),
    scale: Literal["absmax", "max"] = "absmax",
    bins: int = 20000,
    value_range: tuple[float, float] = (-0.5, 1.5),
) -> NormStats:
    """Measure per-band clip range, mean and scale on the valid pixels of a cube. Computes.

    Parameters
    ----------
    cube
        Canonical ``(time, band, y, x)`` cube (NumPy or Dask).
    valid
        Optional boolean ``(time, y, x)`` mask on the cube's grid (True = usable).
    q
        Lower and upper percentiles for clipping.
    scale
        ``"absmax"`` or ``"max"`` (see the module docstring).
    bins, value_range
        Histogram used for the approximate percentiles of Dask input.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.cube import make_cube
    >>> g = GeoBox.from_bbox((0, 0, 100, 100), "EPSG:32632", resolution=10)
    >>> data = np.linspace(0, 1, 100, dtype="float32").reshape(1, 1, 10, 10)
    >>> s = compute_norm_stats(make_cube(data, geobox=g, bands=["B02"], sensor="sentinel-2a"), q=(0, 100))
    >>> s.low, s.high, round(s.mean[0], 6), round(s.scale[0], 6)
    ((0.0,), (1.0,), 0.5, 0.5)
    """
    validate(cube)
    bands = tuple(str(b) for b in cube["band"].values)
    if valid is not None:
        if tuple(valid.dims) != ("time", "y", "x") or valid.shape != (cube.shape[0], *cube.shape[2:]):
            raise DimensionError(
                describe(
                    "valid mask does not match the cube",
                    expected=f"dims (time, y, x) shape {(cube.shape[0], *cube.shape[2:])}",
                    found=f"dims {valid.dims} shape {valid.shape}",
                )
            )
    x, m = cube.data, None if valid is None else valid.data
    lazy = isinstance(x, da.Array) or isinstance(m, da.Array)
    if lazy:
        x = da.asarray(x).rechunk({1: -1})
        if m is not None:
            m = da.asarray(m).rechunk((x.chunks[0], x.chunks[2], x.chunks[3]))
        edges = np.linspace(value_range[0], value_range[1], bins + 1)
        xb = x.to_delayed().ravel()
        mb = [None] * len(xb) if m is None else list(m.to_delayed().ravel())
        parts = [
            da.from_delayed(dask.delayed(_block_hist)(b, mm, edges), (1, len(bands), bins), np.int64)
            for b, mm in zip(xb, mb, strict=True)
        ]
        hist = da.concatenate(parts).sum(axis=0).compute()
        low = np.array([_hist_percentile(hist[c], edges, q[0]) for c in range(len(bands))])
        high = np.array([_hist_percentile(hist[c], edges, q[1]) for c in range(len(bands))])
        mparts = [
            da.from_delayed(dask.delayed(_block_moments)(b, mm, low, high), (1, len(bands), 4), np.float64)
            for b, mm in zip(xb, mb, strict=True)
        ]
        stack = da.concatenate(mparts)
        mom = da.stack(
            [stack[..., 0].sum(0), stack[..., 1].sum(0), stack[..., 2].min(0), stack[..., 3].max(0)], axis=-1
        ).compute()
    else:
        vals = _valid_values(np.asarray(x), None if m is None else np.asarray(m, dtype=bool))
        for b, v in zip(bands, vals, strict=True):
            if not v.size:
                raise EmptyDataError(describe(f"band {b} has no valid pixel", fix="check the valid mask"))
        low = np.array([np.percentile(v.astype(np.float64), q[0]) for v in vals])
        high = np.array([np.percentile(v.astype(np.float64), q[1]) for v in vals])
        mom = _block_moments(np.asarray(x), None if m is None else np.asarray(m, dtype=bool), low, high)[0]
    empty = [b for b, c in zip(bands, mom[:, 0], strict=True) if c == 0]
    if empty:
        raise EmptyDataError(
            describe(f"band(s) {', '.join(empty)} have no valid pixel", fix="check the mask")
        )
    mean = mom[:, 1] / mom[:, 0]
    if scale == "absmax":
        sc = np.maximum(mom[:, 3] - mean, mean - mom[:, 2])
    elif scale == "max":
        sc = np.abs(mom[:, 3])
    else:
        raise ValueError(describe("unknown scale rule", expected="'absmax' or 'max'", found=scale))
    sc = np.where(sc > 0, sc, 1.0)  # a constant band normalizes to 0
    return NormStats(bands, tuple(low), tuple(high), tuple(mean), tuple(sc))


def _stats_da(cube: xr.DataArray, stats: NormStats) -> list[xr.DataArray]:
    bands = [str(b) for b in cube["band"].values]
    s = stats.select(bands)
    return [
        xr.DataArray(np.asarray(getattr(s, k), dtype=cube.dtype), dims="band", coords={"band": cube["band"]})
        for k in ("low", "high", "mean", "scale")
    ]


def normalize(cube: xr.DataArray, stats: NormStats) -> xr.DataArray:
    """Clip to ``[low, high]`` and map ``(x - mean) / scale`` per band; lazy, NaN kept.

    Bands are matched by name (``stats`` may hold more bands than the cube).
    """
    low, high, mean, sc = _stats_da(cube, stats)
    with xr.set_options(keep_attrs=True):
        return (cube.clip(low, high) - mean) / sc


def denormalize(cube: xr.DataArray, stats: NormStats) -> xr.DataArray:
    """Inverse of :func:`normalize` (``x * scale + mean``); lazy."""
    _, _, mean, sc = _stats_da(cube, stats)
    with xr.set_options(keep_attrs=True):
        return cube * sc + mean


def fit_spec_norm(
    spec: ModelSpec,
    cubes: Mapping[str, xr.DataArray],
    *,
    valid: Mapping[str, xr.DataArray] | None = None,
    groups: Sequence[str] | None = None,
    **kwargs: Any,
) -> ModelSpec:
    """A copy of ``spec`` with stats measured on ``cubes`` (one per group name). Computes."""
    valid = valid or {}
    names = list(groups) if groups is not None else [g.name for g in spec.groups if g.name in cubes]
    norm = {}
    for name in names:
        g = spec.group(name)
        norm[name] = compute_norm_stats(cubes[name].sel(band=list(g.bands)), valid=valid.get(name), **kwargs)
    return spec.with_norm(norm)
