"""One evaluation module: run harmonization methods on pairs and score them (Table IV style).

Everything in xharm that compares methods goes through here: the demo, ``xharm evaluate``
(stored products, :func:`score_stores`), checkpoint selection in ``xharm train
--select`` and the report scripts.

- :func:`score_table`: scores of several predictions against one reference on the valid
  pixels (SAM, ERGAS, RMSE, UIQI, PSNR, SSIM), overall and per band;
- :func:`run_methods`: ``to_landsat`` with each method on the same inputs and mask;
- :func:`score_series`: both on a simulated pair series, against its references (the
  registered truth and/or the Landsat observation), with the right masks;
- :func:`table_iv`: that over several held-out scenes, averaged; :func:`markdown` prints it;
- :func:`table_iv_v2`: the protocol of "learn radiometry, not geometry" (registered truth,
  co-registered observation, parcel interiors / edges, seeds per archetype, the
  geometry-aware baseline ``hls_psf``, optionally the per-pixel regression
  :func:`tra_product`), :func:`summarize` and :func:`goal_check`;
- :func:`better_than`: which overall scores one method wins over another;
- :func:`score_stores`: a harmonized product in a Zarr store against a reference store
  (``xharm evaluate``), dates matched, stored masks applied (:class:`Evaluation`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .core.coregister import coregister
from .core.cube import canonical_only, check_same_grid
from .core.grid import mask_to_grid, s2_to_30m
from .exceptions import EmptyDataError, MissingBandError, SensorError, describe
from .io.zarr import VAR, clear_masks, open_cube, open_group, open_mask
from .metrics import DEFAULT_METRICS, metrics
from .pipeline import METHODS, to_landsat
from .simulate import pair_series
from .validate import timedelta

__all__ = [
    "HEADERS",
    "LOWER_BETTER",
    "METRICS",
    "METRIC_NOTES",
    "PIXEL_SETS",
    "REFERENCES",
    "Evaluation",
    "better_than",
    "coregistered_target",
    "markdown",
    "metric_legend",
    "parcel_pixels",
    "read_bigearthnet",
    "real_l2a_check",
    "run_methods",
    "score_series",
    "score_stores",
    "score_table",
    "table_iv",
    "tra_product",
]

METRICS: tuple[str, ...] = DEFAULT_METRICS
"""The scores of Table IV of Sedona et al. (2021), in that order."""
LOWER_BETTER: tuple[str, ...] = ("sam", "ergas", "rmse")
"""Scores where lower is better (the others: higher is better)."""
#: Column headers with units.
HEADERS = {
    "sam": "SAM [deg]",
    "ergas": "ERGAS",
    "rmse": "RMSE [refl]",
    "uiqi": "UIQI",
    "psnr": "PSNR [dB]",
    "ssim": "SSIM",
}
#: Unit and better direction of each score (printed under every score table).
METRIC_NOTES = {
    "sam": "spectral angle mapper, degrees; lower is better (0 = same spectral shape)",
    "ergas": "relative global error (ERGAS), no unit; lower is better (0 = identical)",
    "rmse": "root mean square error, reflectance (0..1); lower is better",
    "uiqi": "universal image quality index, -1..1; higher is better (1 = identical)",
    "psnr": "peak signal-to-noise ratio, dB for a data range of 1; higher is better",
    "ssim": "structural similarity, -1..1; higher is better (1 = identical)",
}
#: The references of a simulated pair series and what each is.
REFERENCES = {
    "target": "the registered Landsat-8 product: the clear nadir surface as Landsat's processor delivers it "
    "(its systematic atmospheric-correction behaviour, no per-date error, noise or misregistration), "
    "on pixels clear in Sentinel-2",
    "truth": "the Landsat-8 truth (clear-sky, registered, BRDF-normalised), on pixels clear in Sentinel-2",
    "l8": "the simulated Landsat-8 observation of the same day, on pixels clear in both sensors",
    "l8_coreg": "the Landsat-8 observation of the same day co-registered onto the Sentinel-2 grid "
    "(the training target's geometry), on pixels clear in both sensors",
}
#: The pixel sets of :func:`score_series` (``pixels=``); see :func:`parcel_pixels`.
PIXEL_SETS = {
    "all": "every clear pixel",
    "interior": "clear pixels with no parcel boundary within 30 m of their footprint",
    "edge": "clear pixels whose footprint holds more than one parcel",
}


def score_table(
    predictions: Mapping[str, xr.DataArray], reference: xr.DataArray, valid: xr.DataArray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table-IV style scores of each prediction against ``reference`` on ``valid`` pixels.

    Every metric is computed per image (date, band) over the valid pixels, then averaged
    over dates; "overall" averages the per-band metrics over bands (SAM and ERGAS are
    spectral by definition). SAM is in degrees, PSNR for a data range of 1.

    Returns
    -------
    overall, per_band
        ``overall``: one row per method, one column per metric. ``per_band``: RMSE, UIQI,
        PSNR and SSIM per band (rows: method, band).

    Examples
    --------
    >>> from xharm import simulate
    >>> ps = simulate.pair_series(n_dates=1, size_km=1.2, seed=3, lazy=False, cloud_cover=0.0)
    >>> pred = run_methods({10: ps.s2_10m, 20: ps.s2_20m}, ["resample"])
    >>> truth = ps.l8_truth.sel(band=pred["resample"].band.values)
    >>> overall, _ = score_table(pred, truth, ps.l8_valid.assign_coords(time=truth.time.values))
    >>> list(overall.columns)
    ['sam', 'ergas', 'rmse', 'uiqi', 'psnr', 'ssim']
    """
    overall, per_band = {}, []
    for name, pred in predictions.items():
        pred = pred.drop_vars("valid", errors="ignore")
        ds = metrics(pred, reference, METRICS, dim=("time", "y", "x"), valid=valid, degrees=True).compute()
        overall[name] = {m: float(ds[m].mean()) if "band" in ds[m].dims else float(ds[m]) for m in METRICS}
        for band in ds["band"].values:
            row = {m: float(ds[m].sel(band=band)) for m in ("rmse", "uiqi", "psnr", "ssim")}
            per_band.append({"method": name, "band": str(band), **row})
    return pd.DataFrame(overall).T[list(METRICS)], pd.DataFrame(per_band).set_index(["method", "band"])


def run_methods(
    s2: Mapping[Any, xr.DataArray],
    methods: Sequence[str] = ("resample", "hls", "mgan"),
    *,
    model: Any = None,
    valid: xr.DataArray | None = None,
    compute: bool = True,
) -> dict[str, xr.DataArray]:
    """``to_landsat`` with each method on the same Sentinel-2 cubes and clear mask.

    Parameters
    ----------
    s2
        ``{10: s2_10m, 20: s2_20m}`` (as :func:`xharm.to_landsat` takes it).
    methods
        Methods of :func:`xharm.to_landsat`; ``"mgan"`` runs ``model`` (default: the bundled
        starter).
    model
        The MGAN model (name, folder or handle) for ``"mgan"``.
    valid
        The Sentinel-2 clear mask, given to every method as a user would pass it.
    compute
        Compute each product (one pass each); else lazy.

    Returns
    -------
    dict
        ``{method: product}``, the product's ``valid`` coordinate dropped.
    """
    if unknown := [m for m in methods if m not in METHODS]:
        raise SensorError(describe(f"unknown method(s) {unknown}", expected=", ".join(METHODS)))
    out = {}
    for m in methods:
        kw: dict[str, Any] = {"model": model} if m == "mgan" else {"method": m}
        pred = to_landsat(s2, valid=valid, **kw).drop_vars("valid", errors="ignore")
        out[m] = pred.compute() if compute else pred
    return out


def coregistered_target(ps: Any) -> tuple[xr.DataArray, xr.DataArray]:
    """``(Landsat cube on the S2-registered geometry, its clear mask)`` of a simulated pair series.

    Each date's Landsat image is co-registered to the Sentinel-2 red band regridded to 30 m
    (:func:`xharm.core.coregister.coregister`, the MGAN paper's "warping"), so the target
    carries Landsat's radiometry, not its geolocation error. Dates with under 10 % of pixels
    clear in both sensors cannot be registered: they are masked out (they would give no
    training patch anyway; their ``coreg_dx`` / ``coreg_dy`` are NaN). The training
    recipe's target (:mod:`xharm.recipe`) and the ``"l8_coreg"`` reference.
    """
    t = ps.s2_10m.time.values
    l8 = ps.l8.assign_coords(time=t)  # Landsat passes 20 min before Sentinel-2 on each day
    clear = mask_to_grid(ps.s2_valid, l8.odc.geobox) & ps.l8_valid.assign_coords(time=t)
    ok = np.flatnonzero(clear.mean(("y", "x")).values >= 0.1)
    out = l8.astype("float32") * np.nan
    dx, dy = np.full(len(t), np.nan), np.full(len(t), np.nan)
    if len(ok):
        ref = s2_to_30m(ps.s2_10m.sel(band=["B04"]), geobox=l8.odc.geobox).isel(time=ok)
        moved = coregister(l8.isel(time=ok), ref, bands=("B4", "B04"), valid=clear.isel(time=ok))
        out[ok] = moved.values
        dx[ok], dy[ok] = moved.coreg_dx.values, moved.coreg_dy.values
    out = out.assign_coords(coreg_dx=("time", dx), coreg_dy=("time", dy))
    valid = clear & out.notnull().all("band")
    return out, valid


def tra_product(series: Any, exclude: Sequence[int] = (), *, on: str = "resample") -> xr.DataArray:
    """TRA (per-pixel time-series regression, Shang & Zhu 2019) of a simulated pair series.

    The per-pixel regression baseline, fitted per pixel and band on the scene's own Landsat
    observations co-registered onto the Sentinel-2 grid (:func:`coregistered_target`: the
    data the MGAN's training recipe uses as its target, geometry removed) and applied to
    every Sentinel-2 date. ``on="resample"`` regresses on the Sentinel-2 dates regridded to
    30 m (``method="tra"`` of :func:`xharm.to_landsat`, as published); ``on="hls_psf"`` on
    the geometry-aware physical baseline (Landsat's PSF already in), the strongest
    regression a user could build from the same data. Unlike the MGAN and the physical
    baselines it needs Landsat data of the same place (at least 4 clear same-day pairs per
    pixel, else Landsat interpolated in time; a pixel without enough pairs keeps its
    input). Against the ``"l8_coreg"`` reference it is scored on the data it was fitted to
    (in sample).

    Parameters
    ----------
    series
        A :class:`xharm.simulate.PairSeries`.
    exclude
        Indices of dates whose Landsat image the fit must not see (e.g. the Sentinel-2-only
        date of crop mapping v2); they are still adjusted.
    on
        ``"resample"`` or ``"hls_psf"``: the Sentinel-2 product regressed.

    Returns
    -------
    xarray.DataArray
        Lazy as the inputs, on the 30 m grid, its ``valid`` coordinate dropped.
    """
    from .baselines.tra import apply_tra, fit_tra

    if on not in ("resample", "hls_psf"):
        raise SensorError(describe("unknown TRA input", expected="'resample' or 'hls_psf'", found=on))
    moved, both = coregistered_target(series)
    if len(exclude):
        seen = np.ones(both.sizes["time"], bool)
        seen[list(exclude)] = False
        both = both & xr.DataArray(seen, dims="time", coords={"time": both.time})
    l8 = moved.drop_vars(["coreg_dx", "coreg_dy"])
    s2 = {10: series.s2_10m, 20: series.s2_20m}
    if on == "resample":
        out = to_landsat(s2, method="tra", valid=series.s2_valid, l8=l8, l8_valid=both)
        return out.drop_vars("valid", errors="ignore")
    physics = to_landsat(s2, method="hls_psf", valid=series.s2_valid)
    clear = physics.coords["valid"]
    physics = physics.drop_vars("valid")
    coef = fit_tra(physics, l8.sel(band=physics.band.values), s2_valid=clear, l8_valid=both)
    out = apply_tra(physics, coef)
    out.attrs.update(harmonization_method="tra_psf")
    return out


def parcel_pixels(s2_10m: xr.DataArray, geobox: Any) -> dict[str, xr.DataArray]:
    """``{"all", "interior", "edge"}`` boolean ``(y, x)`` masks on ``geobox`` of a simulated scene.

    An **edge** pixel's footprint holds more than one parcel (field, forest or lake area) of
    the simulated landscape (:func:`xharm.downstream.rasterize.parcel_labels`, the same
    definition as crop mapping v2). An **interior** pixel is neither an edge pixel nor next
    to one (no parcel boundary within 30 m of its footprint: Landsat's PSF, sigma about
    12 m, does not reach across one). Pixels next to an edge are in neither set.

    Examples
    --------
    >>> from xharm import simulate
    >>> ps = simulate.pair_series(n_dates=1, size_km=1.2, seed=3, lazy=False, cloud_cover=0.0)
    >>> m = parcel_pixels(ps.s2_10m, ps.l8.odc.geobox)
    >>> bool((m["interior"] & m["edge"]).any()), m["edge"].dims
    (False, ('y', 'x'))
    """
    from .downstream.rasterize import parcel_labels

    edge = parcel_labels(s2_10m, geobox, lazy=False)["edge"]
    e = edge.values.astype(bool)
    near = e.copy()
    near[1:] |= e[:-1]
    near[:-1] |= e[1:]
    wide = near.copy()
    wide[:, 1:] |= near[:, :-1]
    wide[:, :-1] |= near[:, 1:]
    keep = [c for c in edge.coords if c in ("y", "x", "spatial_ref")]
    edge = edge.drop_vars([c for c in edge.coords if c not in keep]).astype(bool)
    return {"all": edge.copy(data=np.ones_like(e)), "interior": edge.copy(data=~wide), "edge": edge}


def score_series(
    series: Any,
    methods: Sequence[str] = ("resample", "hls", "mgan"),
    *,
    model: Any = None,
    references: Sequence[str] = ("truth", "l8"),
    extra: Mapping[str, xr.DataArray] | None = None,
    pixels: Sequence[str] = ("all",),
    predictions: Mapping[str, xr.DataArray] | None = None,
) -> dict[Any, tuple[pd.DataFrame, pd.DataFrame]]:
    """Run ``methods`` on a simulated pair series and score them against its references.

    Every method gets the Sentinel-2 clear mask. ``"truth"`` is scored on the pixels clear in
    Sentinel-2, ``"l8"`` (the Landsat-8 observation of the same day) and ``"l8_coreg"`` (the
    same, co-registered onto the Sentinel-2 grid) on the pixels clear in both sensors
    (:data:`REFERENCES`).

    Parameters
    ----------
    series
        A :class:`xharm.simulate.PairSeries` (``s2_10m``, ``s2_20m``, ``s2_valid``, ``l8``,
        ``l8_valid``, ``l8_truth``).
    methods, model
        As :func:`run_methods`.
    references
        Keys of :data:`REFERENCES`.
    extra
        Further products on the same grid and dates to score beside the methods (e.g. an
        oracle), scored against ``"l8"`` only.
    pixels
        Pixel sets of :data:`PIXEL_SETS` (:func:`parcel_pixels`); with more than one, the
        keys of the result are ``(reference, pixels)``.
    predictions
        The products of ``methods`` when already computed (``run_methods``): not run again.

    Returns
    -------
    dict
        ``{reference: (overall, per_band)}`` as :func:`score_table` (``{(reference,
        pixels): ...}`` for several pixel sets).
    """
    if unknown := [r for r in references if r not in REFERENCES]:
        raise SensorError(describe(f"unknown reference(s) {unknown}", expected=", ".join(REFERENCES)))
    if unknown := [p for p in pixels if p not in PIXEL_SETS]:
        raise SensorError(describe(f"unknown pixel set(s) {unknown}", expected=", ".join(PIXEL_SETS)))
    preds = (
        dict(predictions)
        if predictions is not None
        else run_methods({10: series.s2_10m, 20: series.s2_20m}, methods, model=model, valid=series.s2_valid)
    )
    first = next(iter(preds.values()))
    bands, t = first["band"].values.tolist(), series.s2_10m.time.values
    s2_clear = mask_to_grid(series.s2_valid, first.odc.geobox)
    sets = parcel_pixels(series.s2_10m, first.odc.geobox) if pixels != ("all",) else None
    out: dict[Any, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for ref in references:
        more: dict[str, xr.DataArray] = {}
        if ref in ("truth", "target"):
            cube = series.l8_truth if ref == "truth" else series.target
            ref_cube, clear = cube.sel(band=bands).assign_coords(time=t), s2_clear
        elif ref == "l8":
            clear = s2_clear & series.l8_valid.assign_coords(time=t)
            ref_cube = series.l8.sel(band=bands).assign_coords(time=t)
            more = {k: v.sel(band=bands) for k, v in (extra or {}).items()}
        else:
            moved, both = coregistered_target(series)
            ref_cube, clear = moved.sel(band=bands).drop_vars(["coreg_dx", "coreg_dy"]), s2_clear & both
        for pix in pixels:
            mask = clear if sets is None else clear & sets[pix]
            key = ref if len(pixels) == 1 else (ref, pix)
            out[key] = score_table({**preds, **more}, ref_cube, mask)
    return out


def table_iv(
    seeds: Sequence[int],
    methods: Sequence[str] = ("resample", "hls", "mgan"),
    *,
    model: Any = None,
    size_km: float = 6.0,
    n_dates: int = 6,
    references: Sequence[str] = ("truth", "l8"),
    extra: Callable[[int, Any], Mapping[str, xr.DataArray]] | None = None,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Table IV on simulated held-out scenes: :func:`score_series` per seed, averaged over seeds.

    ``extra(seed, series)`` may return further products of that scene to score against
    ``"l8"`` (e.g. an oracle).

    Returns
    -------
    dict
        ``{reference: (overall, per_band)}``, the means over seeds; ``overall`` also has the
        standard deviation over seeds of each score in columns ``<metric>_sd``.
    """

    runs = []
    for seed in seeds:
        ps = pair_series(n_dates=n_dates, size_km=size_km, seed=seed, lazy=False)
        more = extra(seed, ps) if extra is not None else None
        runs.append(score_series(ps, methods, model=model, references=references, extra=more))
    out = {}
    for ref in references:
        rows = pd.concat([r[ref][0] for r in runs])
        overall = rows.groupby(level=0, sort=False).mean()
        sd = rows.groupby(level=0, sort=False).std(ddof=1).add_suffix("_sd") if len(runs) > 1 else None
        per_band = pd.concat([r[ref][1] for r in runs]).groupby(level=[0, 1], sort=False).mean()
        out[ref] = (overall if sd is None else overall.join(sd), per_band)
    return out


#: The methods of Table IV v2: the plain regrid, HLS, the geometry-aware physical baseline, the model.
TABLE_IV_V2_METHODS: tuple[str, ...] = ("resample", "hls", "hls_psf", "mgan")
#: Table IV v2's per-pixel regression rows: ``{row: what TRA regresses}`` (:func:`tra_product`).
TRA_ROWS = {"tra": "resample", "tra_psf": "hls_psf"}
#: The physical baselines a learned model must beat (:func:`goal_check`).
PHYSICAL: tuple[str, ...] = ("hls", "hls_psf")


def table_iv_v2(
    seeds: Mapping[str | None, Sequence[int]],
    methods: Sequence[str] = TABLE_IV_V2_METHODS,
    *,
    model: Any = None,
    size_km: float = 6.0,
    n_dates: int = 6,
    references: Sequence[str] = ("target", "truth", "l8_coreg"),
    pixels: Sequence[str] = tuple(PIXEL_SETS),
    log: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Table IV v2: every method on held-out simulated scenes per landscape archetype, one row per score.

    The protocol of "learn radiometry, not geometry": the primary reference is the
    registered Landsat product ``"target"`` (Landsat's radiometry, its processor's
    systematic behaviour included, and its PSF on the Sentinel-2 grid, without the random
    errors of one acquisition), then the bias-free surface ``"truth"`` and the Landsat
    observation co-registered onto the Sentinel-2 grid (``"l8_coreg"``); pixel sets all / parcel
    interiors / parcel edges (:func:`parcel_pixels`). ``"hls_psf"`` is the geometry-aware
    physical baseline; for a physics-anchored model (``ModelSpec.anchored``) it is also the
    model's physics part alone, so the MGAN - ``hls_psf`` difference is what the learned
    correction adds.

    Parameters
    ----------
    seeds
        ``{archetype: seeds}`` (:data:`xharm.simulate.landscape.ARCHETYPES`; ``None`` the
        default landscape). Use fresh seeds, never training or selection ones.
    methods, model
        As :func:`run_methods`; ``"tra"`` and ``"tra_psf"`` are :func:`tra_product` on the
        plain regrid and on ``hls_psf`` (fitted on the scene's own Landsat dates: give them a
        series of 8 or more dates).
    size_km, n_dates
        Scene size and number of dates.
    references, pixels
        Keys of :data:`REFERENCES` and :data:`PIXEL_SETS`.
    log
        Called with one line per scene.

    Returns
    -------
    pandas.DataFrame
        Tidy: columns ``archetype``, ``seed``, ``reference``, ``pixels``, ``method``, the
        overall :data:`METRICS` and ``rmse_<band>`` per band. :func:`summarize` gives mean
        +- sd over seeds, :func:`goal_check` the issue's criteria.
    """
    rows = []
    for arche, arche_seeds in seeds.items():
        for seed in arche_seeds:
            ps = pair_series(n_dates=n_dates, size_km=size_km, seed=int(seed), lazy=False, archetype=arche)
            own = [m for m in methods if m not in TRA_ROWS]
            preds = run_methods({10: ps.s2_10m, 20: ps.s2_20m}, own, model=model, valid=ps.s2_valid)
            for m in (m for m in methods if m in TRA_ROWS):
                preds[m] = tra_product(ps, on=TRA_ROWS[m]).compute()
            res = score_series(ps, methods, references=references, pixels=pixels, predictions=preds)
            for ref in references:
                for pix in pixels:
                    overall, per_band = res[ref if len(pixels) == 1 else (ref, pix)]
                    rmse = per_band["rmse"].unstack()
                    for method in overall.index:
                        row = {"archetype": arche or "default", "seed": int(seed), "reference": ref}
                        row.update(pixels=pix, method=method, **overall.loc[method].to_dict())
                        row.update({f"rmse_{b}": float(v) for b, v in rmse.loc[method].items()})
                        rows.append(row)
            if log is not None:
                log(f"{arche or 'default'} seed {seed}: done")
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, by: Sequence[str] = ("reference", "pixels", "method")) -> pd.DataFrame:
    """Mean and sd over seeds (and archetypes unless in ``by``) of a :func:`table_iv_v2` table.

    Examples
    --------
    >>> df = pd.DataFrame({"reference": ["truth"] * 2, "pixels": ["all"] * 2, "method": ["hls"] * 2,
    ...                    "seed": [1, 2], "sam": [1.0, 3.0]})
    >>> summarize(df)["sam"].iloc[0], summarize(df)["sam_sd"].iloc[0]
    (np.float64(2.0), np.float64(1.4142135623730951))
    """
    scores = [c for c in table.columns if c in METRICS or c.startswith("rmse_")]
    g = table.groupby(list(by), sort=False)[scores]
    return g.mean().join(g.std(ddof=1).add_suffix("_sd"))


def goal_check(
    table: pd.DataFrame, method: str = "mgan", *, reference: str = "target", pixels: str = "all"
) -> dict[str, Any]:
    """The criteria of "learn radiometry": does ``method`` beat both physical baselines?

    Returns a dict: ``wins`` (per archetype and seed, the overall :data:`METRICS` on which
    ``method`` beats *both* ``hls`` and ``hls_psf``), ``every_seed_every_metric`` (bool),
    and ``sam_ratio`` / ``rmse_ratio``: the mean over scenes of ``method`` divided by the
    mean of the better physical baseline (goal: <= 0.75).
    """
    sub = table[(table.reference == reference) & (table.pixels == pixels)]
    wins, everything = {}, True
    for (arche, seed), scene in sub.groupby(["archetype", "seed"], sort=False):
        overall = scene.set_index("method")[list(METRICS)]
        won = set(METRICS)
        for base in PHYSICAL:
            won &= set(better_than(overall, method, base))
        wins[f"{arche}/{seed}"] = [m for m in METRICS if m in won]
        everything &= len(won) == len(METRICS)
    means = sub.groupby("method")[["sam", "rmse"]].mean()
    best = {m: min(means.loc[b, m] for b in PHYSICAL) for m in ("sam", "rmse")}
    return {
        "wins": wins,
        "every_seed_every_metric": bool(everything),
        "sam_ratio": float(means.loc[method, "sam"] / best["sam"]),
        "rmse_ratio": float(means.loc[method, "rmse"] / best["rmse"]),
    }


def better_than(overall: pd.DataFrame, method: str, baseline: str) -> list[str]:
    """The overall scores (of :data:`METRICS`) on which ``method`` beats ``baseline``; ties and NaN lose.

    Examples
    --------
    >>> df = pd.DataFrame({"sam": [1.0, 2.0], "psnr": [30.0, 31.0]}, index=["a", "b"])
    >>> better_than(df, "a", "b")
    ['sam']
    """
    won = []
    for m in (c for c in overall.columns if c in METRICS):
        a, b = overall.loc[method, m], overall.loc[baseline, m]
        if np.isfinite(a) and np.isfinite(b) and a != b and (a < b) == (m in LOWER_BETTER):
            won.append(m)
    return won


def markdown(df: pd.DataFrame, fmt: str = "{:.4f}") -> str:
    """A DataFrame as a Markdown table (row labels of MultiIndex joined by '/').

    Examples
    --------
    >>> print(markdown(pd.DataFrame({"sam": [1.0]}, index=["hls"])))
    |  | sam |
    |---|---|
    | hls | 1.0000 |
    """
    flat = df.copy()
    flat.columns = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in flat.columns]
    names = ["/".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in flat.index]
    head = ["", *flat.columns]
    body = [[n, *(fmt.format(v) for v in values)] for n, values in zip(names, flat.to_numpy(), strict=True)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


# --------------------------------------------------------------------------- stored products


@dataclass
class Evaluation:
    """Scores of a prediction against a reference (Table IV of Sedona et al. 2021)."""

    overall: pd.DataFrame
    per_band: pd.DataFrame
    n_dates: int
    unmatched: list[str]
    valid_fraction: float
    reference: str = ""
    masks: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``overall`` {method: {metric: value}}, ``per_band`` {method: {band: {...}}}."""
        per_band: dict[str, dict[str, dict[str, float]]] = {}
        for (method, band), row in self.per_band.iterrows():
            per_band.setdefault(str(method), {})[str(band)] = {k: float(v) for k, v in row.items()}
        return {
            "overall": {str(m): {k: float(v) for k, v in r.items()} for m, r in self.overall.iterrows()},
            "per_band": per_band,
            "n_dates": self.n_dates,
            "unmatched_dates": self.unmatched,
            "valid_fraction": self.valid_fraction,
            "reference": self.reference,
            "masks": list(self.masks),
            "notes": list(self.notes),
        }

    def to_frame(self) -> pd.DataFrame:
        """One long table: a row per (method, band), ``band == "all"`` for the overall scores."""
        overall = self.overall.reset_index(names="method").assign(band="all")
        per_band = self.per_band.reset_index()
        table = pd.concat([overall, per_band], ignore_index=True)
        cols = ["method", "band", *self.overall.columns]
        return table[cols]

    def __str__(self) -> str:
        fmt = lambda v: f"{v:.4f}"  # noqa: E731
        head = f"reference: {self.reference}\n" if self.reference else ""
        head += f"masks applied: {', '.join(self.masks) if self.masks else 'none'}\n"
        head += "".join(f"note: {n}\n" for n in self.notes)
        return (
            head + f"{self.n_dates} date(s) scored, {self.valid_fraction:.1%} of their pixels valid"
            " (finite in both cubes and clear in every mask)"
            + (
                f"; {len(self.unmatched)} prediction date(s) without a reference date"
                if self.unmatched
                else ""
            )
            + "\n\n"
            + self.overall.to_string(float_format=fmt)
            + "\n\nPer band:\n"
            + self.per_band.to_string(float_format=fmt)
            + "\n\n"
            + metric_legend()
        )


def metric_legend() -> str:
    """One line per metric: its unit and which direction is better (for printed score tables)."""
    return "\n".join(f"  {m:<6} {note}" for m, note in METRIC_NOTES.items())


def _match(times: np.ndarray, ref_times: np.ndarray, tolerance: pd.Timedelta) -> np.ndarray:
    """Index of the nearest ``ref_times`` for each of ``times`` (-1: none within ``tolerance``)."""
    t = times.astype("datetime64[ns]").astype("int64")
    r = ref_times.astype("datetime64[ns]").astype("int64")
    if len(r) == 0:
        return np.full(len(t), -1)
    d = np.abs(t[:, None] - r[None, :])
    idx = d.argmin(axis=1)
    return np.where(d[np.arange(len(t)), idx] <= tolerance.value, idx, -1)


def _on_dates(obj: xr.DataArray, times: np.ndarray, tolerance: pd.Timedelta, what: str) -> xr.DataArray:
    idx = _match(times, obj["time"].values, tolerance)
    if (idx < 0).any():
        raise EmptyDataError(
            describe(
                f"{what} has no date near {np.datetime_as_string(times[idx < 0][0], unit='m')}",
                expected=f"a date within {tolerance}",
                fix="pass a larger --tolerance",
            )
        )
    return obj.isel(time=idx).assign_coords(time=times)


def score_stores(
    pred_store: str | os.PathLike[str],
    ref_store: str | os.PathLike[str],
    *,
    pred_group: str | None = None,
    pred_var: str = VAR,
    ref_group: str | None = "l8",
    ref_var: str | None = None,
    valid: Sequence[str] = (),
    valid_store: str | os.PathLike[str] | None = None,
    tolerance: str | pd.Timedelta = "1D",
    name: str | None = None,
) -> Evaluation:
    """Score a harmonized cube against a reference cube, both in Zarr stores.

    Each prediction date is compared with the nearest reference date within
    ``tolerance`` (prediction dates without one are skipped and listed); the reference
    is cut to the prediction's bands. Pixels count where both are finite in every band
    and every ``valid`` mask is True. Scores: :func:`xharm.evaluate.score_table`.

    Parameters
    ----------
    pred_store, pred_group, pred_var
        The prediction (e.g. the output of ``xharm harmonize``).
    ref_store, ref_group, ref_var
        The reference on the same 30 m grid. ``ref_var=None`` picks it: ``truth`` when the
        group has one (the registered clear-sky Landsat truth of ``xharm simulate``
        stores), else ``reflectance`` (an observation); the choice is reported in
        :attr:`Evaluation.reference`.
    valid, valid_store
        Masks ``"GROUP/VAR"`` read from ``valid_store`` (default ``ref_store``), on any
        nested grid, matched to the prediction dates like the reference. Besides these,
        the clear masks stored beside each cube are always applied: the prediction's
        ``valid`` variable (``xharm harmonize --valid`` writes it) and, when the reference
        is an observation, the boolean ``*valid`` variables of its group (``l8_valid``).
        :attr:`Evaluation.masks` lists every mask used.
    name
        Row label of the tables; default the prediction's ``harmonization_method``.
    """
    tol = timedelta(tolerance, "tolerance (--tolerance)")
    ref_names = set(map(str, open_group(ref_store, ref_group).data_vars))
    if ref_var is None:
        ref_var = "truth" if "truth" in ref_names else VAR
    where = f"{ref_group}/{ref_var}" if ref_group else ref_var
    reference = where + (" (clear-sky truth)" if ref_var == "truth" else " (an observation)")
    valid = list(valid)
    if ref_var != "truth":  # an observation: its own clear masks (clouds, fill) apply
        valid += [spec for spec in clear_masks(ref_store, ref_group) if spec not in valid]
    own = (f"{pred_group}/" if pred_group else "") + "valid"  # the mask a harmonize job writes
    pred_masks = [spec for spec in clear_masks(pred_store, pred_group) if spec == own]
    pred, ref = open_cube(pred_store, pred_group, pred_var), open_cube(ref_store, ref_group, ref_var)
    bands = [str(b) for b in pred["band"].values]
    have = [str(b) for b in ref["band"].values]
    if missing := [b for b in bands if b not in have]:
        raise MissingBandError(
            describe(f"the reference lacks band(s) {', '.join(missing)}", expected=bands, found=have)
        )
    check_same_grid(pred, ref, names=("the prediction", "the reference"))
    idx = _match(pred["time"].values, ref["time"].values, tol)
    unmatched = [str(np.datetime_as_string(t, unit="m")) for t in pred["time"].values[idx < 0]]
    if (idx >= 0).sum() == 0:
        raise EmptyDataError(
            describe(
                "no prediction date has a reference date",
                expected=f"dates within {tol}",
                found=f"{len(unmatched)} unmatched dates",
                fix="check the stores, or pass a larger --tolerance",
            )
        )
    pred = pred.isel(time=np.flatnonzero(idx >= 0))
    times = pred["time"].values
    ref = _on_dates(ref.sel(band=bands), times, tol, "the reference")
    ok = pred.notnull().all("band") & ref.notnull().all("band")
    gbox = pred.odc.geobox
    sources = [(valid_store or ref_store, spec) for spec in valid] + [(pred_store, m) for m in pred_masks]
    for store, spec in sources:
        m = _on_dates(open_mask(store, spec), times, tol, f"mask {spec}")
        m = mask_to_grid(m.transpose("time", "y", "x"), gbox)
        ok = ok & xr.DataArray(m.data, dims=("time", "y", "x"), coords={"time": times})
    label = name or str(pred.attrs.get("harmonization_method", pred_group or "prediction"))
    pred, ref, ok = canonical_only(pred), canonical_only(ref), canonical_only(ok)
    overall, per_band = score_table({label: pred}, ref, ok)
    masks = tuple(f"{spec} (of {Path(store).name})" for store, spec in sources)
    notes: tuple[str, ...] = ()
    if not sources:
        notes = (
            "no clear mask of the prediction was applied: pixels that were cloudy in its input are "
            "scored too (harmonize with --valid, or pass --valid GROUP/VAR, e.g. s2_20m/s2_valid)",
        )
    fraction = float(ok.mean().compute())
    return Evaluation(overall, per_band, len(times), unmatched, fraction, reference, masks, notes)


# --------------------------------------------------------------------------- real L2A patches


def read_bigearthnet(folder: str | os.PathLike[str]) -> tuple[dict[int, xr.DataArray], dict[str, float]]:
    """One BigEarthNet-S2 patch (Sentinel-2 L2A, 1.2 km, 10/20/60 m GeoTIFFs) and angles for it.

    BigEarthNet keeps no angle metadata: the sun zenith comes from the acquisition time and
    the patch centre (:func:`xharm.baselines.solar.solar_zenith`), the view is taken as
    nadir (MSI looks at most 10.3 degrees off nadir), the sun azimuth as 150 degrees (it does
    not enter the BRDF normalization at a nadir view).

    Returns
    -------
    tuple
        ``({10: cube, 20: cube}, angles)``: the canonical cubes and the ``angles=`` mapping of
        :func:`xharm.to_landsat`.
    """
    import json

    from .baselines.solar import centre_lonlat, solar_zenith
    from .io import read_sentinel2

    folder = Path(folder)
    meta = json.loads(next(folder.glob("*_labels_metadata.json")).read_text())
    t = np.datetime64(meta["acquisition_date"].replace(" ", "T"))
    plat = "sentinel-2a" if folder.name.startswith("S2A") else "sentinel-2b"
    s2 = read_sentinel2(folder, time=str(t), platform=plat, add_offset_dn=0)
    lon, lat = centre_lonlat(s2[10.0].odc.geobox)
    sz = float(np.asarray(solar_zenith(t, lat, lon)))
    angles = {"sun_zenith": sz, "sun_azimuth": 150.0, "view_zenith": 0.0, "view_azimuth": 0.0}
    return {10: s2[10.0], 20: s2[20.0]}, angles


def real_l2a_check(root: str | os.PathLike[str], model: Any = None) -> pd.DataFrame:
    """How an MGAN behaves on real Sentinel-2 L2A patches, next to the physical baselines.

    Runs ``to_landsat`` (the MGAN, ``method="hls"`` and ``method="hls_psf"``) on every
    BigEarthNet patch folder under ``root`` (:func:`read_bigearthnet`; 1.2 km patches are
    smaller than one model patch and are padded). No Landsat reference exists for them, so
    this is a safety check, not a score: how far the learned output strays from physics.

    Returns
    -------
    pandas.DataFrame
        One row per patch and band: ``patch``, ``date``, ``band``, ``median_vs_hls`` and
        ``median_vs_hls_psf`` (median |MGAN - baseline|), ``negative_pct`` (% of pixels where
        the MGAN is negative and HLS positive), ``limited_pct`` / ``outside_pct`` / ``sun_pct``
        (% of pixels with quality bit 1 / 2 / 4, anchored models; NaN otherwise),
        ``sun_zenith`` (degrees, from the acquisition time) and ``hls_median`` (the band's
        median HLS reflectance).

    Raises
    ------
    EmptyDataError
        No patch folder (``S2*``) under ``root``.
    """
    folders = sorted(p for p in Path(root).glob("S2*") if p.is_dir())
    if not folders:
        raise EmptyDataError(
            describe("no BigEarthNet patch folder", expected="folders S2*_MSIL2A_* with band GeoTIFFs",
                     found=str(root))
        )  # fmt: skip
    rows = []
    for folder in folders:
        cubes, angles = read_bigearthnet(folder)
        out = to_landsat(cubes, model=model, angles=angles).compute()
        hls = to_landsat(cubes, method="hls", angles=angles).compute()
        psf = to_landsat(cubes, method="hls_psf", angles=angles).compute()
        quality = out.coords["quality"] if "quality" in out.coords else None
        for band in [str(b) for b in out["band"].values]:
            o, h, p = (a.sel(band=band) for a in (out, hls, psf))
            rows.append(
                {
                    "patch": folder.name,
                    "date": str(np.datetime_as_string(out["time"].values[0], unit="D")),
                    "band": band,
                    "median_vs_hls": float(abs(o - h).median()),
                    "median_vs_hls_psf": float(abs(o - p).median()),
                    "negative_pct": 100 * float(((o < 0) & (h > 0)).mean()),
                    "limited_pct": np.nan if quality is None else 100 * float(((quality & 1) > 0).mean()),
                    "outside_pct": np.nan if quality is None else 100 * float(((quality & 2) > 0).mean()),
                    "sun_pct": np.nan if quality is None else 100 * float(((quality & 4) > 0).mean()),
                    "sun_zenith": float(angles["sun_zenith"]),
                    "hls_median": float(h.median()),
                }
            )
    return pd.DataFrame(rows)
