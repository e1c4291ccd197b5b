"""One evaluation module: run harmonization methods on pairs and score them (Table IV style).

Everything in xharm that compares methods goes through here: the demo, ``xharm evaluate``
(stored products, :func:`xharm.jobs.evaluate`), checkpoint selection in ``xharm train
--select`` and the report scripts.

- :func:`score_table`: scores of several predictions against one reference on the valid
  pixels (SAM, ERGAS, RMSE, UIQI, PSNR, SSIM), overall and per band;
- :func:`run_methods`: ``to_landsat`` with each method on the same inputs and mask;
- :func:`score_series`: both on a simulated pair series, against its references (the
  registered truth and/or the Landsat observation), with the right masks;
- :func:`table_iv`: that over several held-out scenes, averaged; :func:`markdown` prints it;
- :func:`better_than`: which overall scores one method wins over another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .exceptions import SensorError, describe
from .grid import mask_to_grid
from .metrics import DEFAULT_METRICS, metrics
from .pipeline import METHODS, to_landsat

__all__ = [
    "HEADERS",
    "LOWER_BETTER",
    "METRICS",
    "METRIC_NOTES",
    "REFERENCES",
    "better_than",
    "markdown",
    "run_methods",
    "score_series",
    "score_table",
    "table_iv",
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
    "truth": "the Landsat-8 truth (clear-sky, registered, BRDF-normalised), on pixels clear in Sentinel-2",
    "l8": "the simulated Landsat-8 observation of the same day, on pixels clear in both sensors",
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


def score_series(
    series: Any,
    methods: Sequence[str] = ("resample", "hls", "mgan"),
    *,
    model: Any = None,
    references: Sequence[str] = ("truth", "l8"),
    extra: Mapping[str, xr.DataArray] | None = None,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Run ``methods`` on a simulated pair series and score them against its references.

    Every method gets the Sentinel-2 clear mask. ``"truth"`` is scored on the pixels clear in
    Sentinel-2, ``"l8"`` (the Landsat-8 observation of the same day) on the pixels clear in
    both sensors (:data:`REFERENCES`).

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

    Returns
    -------
    dict
        ``{reference: (overall, per_band)}`` as :func:`score_table`.
    """
    if unknown := [r for r in references if r not in REFERENCES]:
        raise SensorError(describe(f"unknown reference(s) {unknown}", expected=", ".join(REFERENCES)))
    preds = run_methods({10: series.s2_10m, 20: series.s2_20m}, methods, model=model, valid=series.s2_valid)
    first = next(iter(preds.values()))
    bands, t = first["band"].values.tolist(), series.s2_10m.time.values
    s2_clear = mask_to_grid(series.s2_valid, first.odc.geobox)
    out = {}
    for ref in references:
        if ref == "truth":
            out[ref] = score_table(preds, series.l8_truth.sel(band=bands).assign_coords(time=t), s2_clear)
        else:
            both = s2_clear & series.l8_valid.assign_coords(time=t)
            ref_cube = series.l8.sel(band=bands).assign_coords(time=t)
            more = {k: v.sel(band=bands) for k, v in (extra or {}).items()}
            out[ref] = score_table({**preds, **more}, ref_cube, both)
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
    from .simulate import pair_series

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
