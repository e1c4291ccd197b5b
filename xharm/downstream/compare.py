"""Crop mapping v2: harmonization methods compared by crop-type accuracy, each on its own grid.

:func:`compare_crop_mapping` runs every method on a simulated pair series, maps crop types from
each product with :func:`~xharm.downstream.crop_mapping` (RBF SVM, spatial block split) and
scores the held-out pixels against labels rasterized from the continuous parcel map onto that
product's own grid by area majority (:func:`~xharm.downstream.rasterize.parcel_labels`): the
Sentinel-2-registered 30 m grid for the harmonized products, the Landsat grid moved by its
misregistration for the Landsat observation.

Calendars (after Table V of Sedona et al. 2021):

- ``"paper"``: the Landsat dates, i.e. every date of the series but the Sentinel-2-only one;
  each method's series is its harmonized Sentinel-2 product on those dates (the paper's
  "TS of 5 synthetic Landsat-8 images"); the ``"landsat"`` series is the Landsat observation,
  cloudy pixels filled in time.
- ``"paper+S2"``: the same plus the Sentinel-2-only date (the paper's July image, for which
  Landsat had no clear acquisition), harmonized by the method; for ``"landsat"`` that missing
  date is filled by the reference method's product.

Pixel sets (test pixels of the split only): ``"all"``, ``"interior"`` (one parcel in the whole
footprint) and ``"edge"`` (more than one parcel), as defined in :mod:`.rasterize`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import pandas as pd
import xarray as xr

from ..core.grid import mask_to_grid
from ..exceptions import ArgumentError, BandError, DimensionError, GridError, describe
from .crop import crop_mapping
from .rasterize import parcel_labels
from .split import TEST

__all__ = [
    "CALENDARS",
    "CROPS",
    "LANDSAT",
    "PIXEL_SETS",
    "CropComparison",
    "Method",
    "compare_crop_mapping",
]

#: ``(s2_10m, s2_20m, s2_valid) -> (time, band, y, x)`` Landsat-like cube on its 30 m grid.
Method = Callable[[xr.DataArray, xr.DataArray, xr.DataArray], xr.DataArray]
#: The two calendars, in table order.
CALENDARS = ("paper", "paper+S2")
#: The pixel sets, in table order.
PIXEL_SETS = ("all", "interior", "edge")
#: Name of the Landsat-observation row.
LANDSAT = "landsat"
#: The crop classes mapped by default (forest, water, urban and bare land are left out).
CROPS = ("wheat", "maize", "rapeseed", "soybean", "sugarbeet", "grassland")


@dataclass(frozen=True, eq=False)
class CropComparison:
    """Overall accuracies of :func:`compare_crop_mapping`.

    Attributes
    ----------
    table
        Tidy, one row per ``method``, ``calendar``, ``pixels``, ``split``: ``OA`` (percent of
        the test pixels of that set that are mapped right) and ``n`` (those test pixels).
    reference
        The method the others are compared with (:meth:`versus`).
    dates
        ``{"landsat": [...], "s2_only": ...}`` (days, ISO strings).
    info
        ``landsat_shift_m`` (mean misregistration the Landsat labels were moved by),
        ``edge_fraction`` (share of edge pixels on each method's grid), ``dropped_classes`` per
        run that dropped any, ``samples``, ``classes``.
    """

    table: pd.DataFrame
    reference: str
    dates: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Mean, sd, min and max of OA over splits per method, calendar and pixel set (percent)."""
        g = self.table.groupby(["method", "calendar", "pixels"], sort=False)["OA"]
        out = pd.DataFrame(
            {"mean": g.mean(), "sd": g.std(ddof=1), "min": g.min(), "max": g.max(), "splits": g.size()}
        )
        return out

    def versus(self, reference: str | None = None, *, tolerance: float = 0.5) -> pd.DataFrame:
        """Each method's OA minus the reference's, split by split (percentage points).

        Returns one row per method (not the reference), calendar and pixel set: ``mean`` and
        ``min`` of the per-split difference, and ``holds``: mean >= 0 and min >= ``-tolerance``
        (issue 17: MGAN >= HLS on the mean over splits, never more than 0.5 points below).
        """
        ref = reference or self.reference
        t = self.table.set_index(["method", "calendar", "pixels", "split"])["OA"]
        if ref not in t.index.get_level_values("method"):
            raise ArgumentError(describe("unknown reference method", expected=self.methods, found=ref))
        base = t.xs(ref, level="method")
        rows = []
        for m in self.methods:
            if m == ref:
                continue
            d = (t.xs(m, level="method") - base).dropna()
            for (cal, pix), s in d.groupby(level=["calendar", "pixels"], sort=False):
                rows.append(
                    {
                        "method": m,
                        "calendar": cal,
                        "pixels": pix,
                        "mean": s.mean(),
                        "min": s.min(),
                        "holds": bool(s.mean() >= 0 and s.min() >= -tolerance),
                    }
                )
        return pd.DataFrame(rows).set_index(["method", "calendar", "pixels"])

    def gain(self) -> pd.DataFrame:
        """OA with the Sentinel-2-only date minus without, per method and pixel set (points).

        Columns ``mean``, ``min`` over splits and ``up`` (splits where it rose, of ``splits``).
        """
        t = self.table.set_index(["method", "calendar", "pixels", "split"])["OA"]
        d = (t.xs(CALENDARS[1], level="calendar") - t.xs(CALENDARS[0], level="calendar")).dropna()
        g = d.groupby(level=["method", "pixels"], sort=False)
        return pd.DataFrame(
            {
                "mean": g.mean(),
                "min": g.min(),
                "up": g.apply(lambda s: int((s > 0).sum())),
                "splits": g.size(),
            }
        )

    @property
    def methods(self) -> list[str]:
        """Method names in table order."""
        return list(dict.fromkeys(self.table["method"]))


def _resolve_s2_only(days: pd.DatetimeIndex, s2_only: int | str | Any | None) -> int:
    if s2_only is None:
        return len(days) // 2
    if isinstance(s2_only, int | np.integer) and not isinstance(s2_only, bool):
        if -len(days) <= int(s2_only) < len(days):
            return int(s2_only) % len(days)
    else:
        try:
            hit = np.flatnonzero(days == pd.Timestamp(s2_only).normalize())
        except (TypeError, ValueError):
            hit = np.array([], int)
        if hit.size:
            return int(hit[0])
    raise ArgumentError(
        describe(
            "s2_only is not a date of the series",
            expected=f"a date index (0..{len(days) - 1}) or one of {[str(d.date()) for d in days]}",
            found=repr(s2_only),
            fix="pick the date whose Landsat image counts as missing (the paper: a July date)",
        )
    )


def _check_product(name: str, out: Any, n_dates: int) -> xr.DataArray:
    if not isinstance(out, xr.DataArray) or set(out.dims) != {"time", "band", "y", "x"}:
        raise DimensionError(
            describe(
                f"method {name!r} did not return a (time, band, y, x) cube",
                expected="a canonical Landsat-like cube (e.g. from xharm.to_landsat)",
                found=getattr(out, "dims", type(out).__name__),
            )
        )
    if out.sizes["time"] != n_dates:
        raise DimensionError(
            describe(
                f"method {name!r} returned another number of dates than its input",
                expected=n_dates,
                found=out.sizes["time"],
                fix="return one image per Sentinel-2 date (cloudy pixels may be NaN)",
            )
        )
    return out.transpose("time", "band", "y", "x").drop_vars("valid", errors="ignore")


def _test_scores(r: Any, edge: np.ndarray, nodata: int) -> dict[str, tuple[float, int]]:
    """OA (percent) and test pixels of each pixel set from one crop-mapping run."""
    pred, ref = np.asarray(r.prediction.values), np.asarray(r.reference.values)
    test = (np.asarray(r.split.values) == TEST) & (ref != nodata) & (pred != nodata)
    ok = pred == ref
    out = {}
    for name, sel in (("all", test), ("interior", test & ~edge), ("edge", test & edge)):
        n = int(sel.sum())
        out[name] = (100.0 * float(ok[sel].mean()) if n else float("nan"), n)
    return out


def compare_crop_mapping(
    pairs: Any,
    methods: Mapping[str, Method],
    *,
    reference: str = "hls",
    s2_only: int | str | Any | None = None,
    landsat: bool = True,
    classes: Iterable[int | str] = CROPS,
    splits: int | Sequence[int] = 5,
    samples: int = 9,
    blocks: tuple[int, int] = (8, 8),
    test_fraction: float = 0.3,
    buffer: int = 1,
    max_train_per_class: int = 300,
    param_grid: Mapping[str, Sequence[Any]] | None = None,
    cv: int = 5,
    n_jobs: int | None = None,
) -> CropComparison:
    """Crop-mapping accuracy of harmonization methods on a simulated pair series (crop mapping v2).

    Parameters
    ----------
    pairs
        A :class:`xharm.simulate.PairSeries` (uncropped): ``s2_10m``, ``s2_20m``, ``s2_valid``,
        ``l8``, ``l8_valid``; lazy or loaded. Every product is computed once, together.
    methods
        ``{name: callable(s2_10m, s2_20m, s2_valid) -> Landsat-like (time, band, y, x) cube on
        its 30 m grid}``, one image per Sentinel-2 date (e.g.
        ``lambda a, b, v: xharm.to_landsat({10: a, 20: b}, method="hls", valid=v)``).
    reference
        The method the others are compared with (:meth:`CropComparison.versus`) and whose
        product fills the Sentinel-2-only date of the Landsat series.
    s2_only
        The date treated as Sentinel-2 only (its Landsat image is not used): an index or a
        date of the series; default the middle date.
    landsat
        Also map from the Landsat observation (row ``"landsat"``), labelled on its own grid:
        the 30 m grid moved by the mean misregistration of its dates.
    classes
        Classes mapped and scored (default :data:`CROPS`).
    splits
        Number of block splits (seeds ``0..splits-1``) or the split seeds; every product
        gets the same splits.
    samples
        Lattice points per pixel side of the area-majority labels.
    blocks, test_fraction, buffer, max_train_per_class, param_grid, cv, n_jobs
        As :func:`~xharm.downstream.crop_mapping`.

    Returns
    -------
    CropComparison
        ``table`` (method x calendar x pixel set x split -> OA %), ``summary()`` (mean over
        splits), ``versus()`` (difference to ``reference``: mean and per-split minimum),
        ``gain()`` (the Sentinel-2-only date's effect).

    Raises
    ------
    ArgumentError
        No methods, a method that is not callable, an unknown reference, a reserved name, an
        ``s2_only`` that is not a date of the series, fewer than two Landsat dates.
    ProductError
        ``pairs`` is not a simulated series (its parcels are unknown).
    DimensionError, GridError
        A method's product is not a cube with one image per date on a grid in the scene.
    BandError
        With ``landsat=True``: the reference product has bands the Landsat cube lacks.

    Examples
    --------
    >>> from xharm import simulate
    >>> from xharm.baselines import to_landsat
    >>> ps = simulate.pair_series(n_dates=4, size_km=2.4, seed=0, cloud_cover=0.0)  # doctest: +SKIP
    >>> hls = lambda a, b, v: to_landsat({10: a, 20: b}, method="hls", valid=v)  # doctest: +SKIP
    >>> res = compare_crop_mapping(ps, {"hls": hls}, splits=2)  # doctest: +SKIP
    >>> res.summary().loc[("hls", "paper+S2", "edge")]  # doctest: +SKIP
    """
    if not isinstance(methods, Mapping) or not methods:
        raise ArgumentError(describe("no methods to compare", expected="{name: callable}", found=methods))
    if bad := [m for m, f in methods.items() if not callable(f)]:
        raise ArgumentError(
            describe("methods must be callables", expected="callable(s2_10m, s2_20m, valid)", found=bad)
        )
    if reference not in methods:
        raise ArgumentError(
            describe(
                "the reference is not one of the methods",
                expected=list(methods),
                found=reference,
                fix="pass reference= one of the method names",
            )
        )
    if landsat and LANDSAT in methods:
        raise ArgumentError(
            describe(
                f"{LANDSAT!r} names the Landsat observation row",
                found=list(methods),
                fix="rename that method or pass landsat=False",
            )
        )
    from ..simulate import landscape_of

    landscape_of(pairs.s2_10m)  # a simulated series? (cheap check before any work)
    days = pd.DatetimeIndex(pairs.s2_10m.time.values).normalize()
    i_s2 = _resolve_s2_only(days, s2_only)
    l8_idx = [i for i in range(len(days)) if i != i_s2]
    if len(l8_idx) < 2:
        raise ArgumentError(
            describe(
                "too few Landsat dates",
                expected=">= 2 dates besides the S2-only one",
                found=len(l8_idx),
                fix="simulate more dates (pair_series(n_dates=...))",
            )
        )
    seeds = list(range(int(splits))) if isinstance(splits, int | np.integer) else [int(s) for s in splits]
    if not seeds:
        raise ArgumentError(describe("no block split to run", expected="splits >= 1 or seeds", found=splits))
    classes = list(classes)

    n = len(days)
    s2 = (pairs.s2_10m, pairs.s2_20m, pairs.s2_valid)
    products = {m: _check_product(m, f(*s2), n) for m, f in methods.items()}
    bands = [str(b) for b in products[reference].band.values]
    if landsat and (missing := [b for b in bands if b not in set(pairs.l8.band.values)]):
        raise BandError(
            describe(
                f"the reference product's bands are not all Landsat bands: {missing}",
                expected=f"a subset of {list(pairs.l8.band.values)}",
                found=bands,
                fix="name the product's bands as Landsat's (to_landsat does) or pass landsat=False",
            )
        )
    ref = products[reference]
    if landsat and (ref.sizes["y"], ref.sizes["x"]) != (pairs.l8.sizes["y"], pairs.l8.sizes["x"]):
        raise GridError(
            describe(
                f"the reference product {reference!r} cannot fill the Landsat series' missing date",
                expected=f"its 30 m grid, {pairs.l8.sizes['y']} x {pairs.l8.sizes['x']} px",
                found=f"{ref.sizes['y']} x {ref.sizes['x']} px",
                fix="use a reference on the Sentinel-2-registered 30 m grid, or landsat=False",
            )
        )
    l8 = pairs.l8.sel(band=bands) if landsat else None
    computed = dask.compute(products, l8, pairs.s2_valid, pairs.l8_valid if landsat else None)
    products, l8, s2_valid, l8_valid = computed
    g30 = pairs.l8.odc.geobox

    # labels on each product's grid (shared between products on the same grid)
    grid_labels: dict[Any, xr.Dataset] = {}

    def labels_on(cube: xr.DataArray, shift: tuple[float, float] = (0.0, 0.0)) -> xr.Dataset:
        gb = cube.odc.geobox
        if gb is None or gb.crs != g30.crs:
            raise GridError(
                describe(
                    "a product has no grid in the scene's CRS",
                    expected=str(g30.crs),
                    found=getattr(gb, "crs", None),
                )
            )
        key = (gb, shift)
        if key not in grid_labels:
            lab = parcel_labels(pairs.s2_10m, gb, shift_m=shift, samples=samples, lazy=False)
            grid_labels[key] = lab.assign_coords(y=cube.y, x=cube.x)
        return grid_labels[key]

    series: dict[str, dict[str, tuple[xr.DataArray, xr.DataArray]]] = {}
    for m, p in products.items():
        v = mask_to_grid(s2_valid, p.odc.geobox)
        series[m] = {
            CALENDARS[0]: (p.isel(time=l8_idx), v.isel(time=l8_idx)),
            CALENDARS[1]: (p, v),
        }
    shift = (0.0, 0.0)
    if landsat:
        assert l8 is not None and l8_valid is not None
        dx = pairs.l8.coords.get("misregistration_dx")
        dy = pairs.l8.coords.get("misregistration_dy")
        if dx is not None and dy is not None:
            shift = (float(np.mean(dx.values[l8_idx])), float(np.mean(dy.values[l8_idx])))
        obs, ov = l8.isel(time=l8_idx), l8_valid.isel(time=l8_idx)
        fill, fill_valid = (a.isel(time=[i_s2]) for a in series[reference][CALENDARS[1]])
        both = xr.concat([_dims_only(obs), _dims_only(fill.assign_coords(band=obs.band.values))], dim="time")
        both_valid = xr.concat([_dims_only(ov), _dims_only(fill_valid)], dim="time")
        if "spatial_ref" in obs.coords:
            both = both.assign_coords(spatial_ref=obs.spatial_ref)
        obs = obs.drop_vars(["misregistration_dx", "misregistration_dy"], errors="ignore")
        series[LANDSAT] = {
            CALENDARS[0]: (obs, ov),
            CALENDARS[1]: (both.sortby("time"), both_valid.sortby("time")),
        }

    rows = []
    dropped: dict[str, Any] = {}
    edge_fraction: dict[str, float] = {}
    for m, cals in series.items():
        lab = labels_on(cals[CALENDARS[0]][0], shift if m == LANDSAT else (0.0, 0.0))
        edge = np.asarray(lab.edge.values)
        edge_fraction[m] = float(edge.mean())
        for cal, (cube, valid) in cals.items():
            for s in seeds:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", UserWarning)
                    r = crop_mapping(
                        cube,
                        lab.labels,
                        valid=valid,
                        classes=classes,
                        seed=s,
                        predict_map=False,
                        blocks=blocks,
                        test_fraction=test_fraction,
                        buffer=buffer,
                        max_train_per_class=max_train_per_class,
                        param_grid=param_grid,
                        cv=cv,
                        n_jobs=n_jobs,
                    )
                if r.info.get("dropped_classes") or caught:
                    why = r.info.get("dropped_classes") or [str(w.message) for w in caught]
                    dropped[f"{m}/{cal}/{s}"] = why
                for pix, (oa, k) in _test_scores(r, edge, 0).items():
                    rows.append({"method": m, "calendar": cal, "pixels": pix, "split": s, "OA": oa, "n": k})
    table = pd.DataFrame(rows)
    info = {
        "landsat_shift_m": shift,
        "edge_fraction": edge_fraction,
        "dropped_classes": dropped,
        "samples": int(samples),
        "classes": classes,
    }
    dates = {"landsat": [str(days[i].date()) for i in l8_idx], "s2_only": str(days[i_s2].date())}
    return CropComparison(table=table, reference=reference, dates=dates, info=info)


def _dims_only(obj: xr.DataArray) -> xr.DataArray:
    """``obj`` with only its dimension coordinates (so layers of two sensors concatenate)."""
    return obj.drop_vars([c for c in obj.coords if c not in obj.dims])
