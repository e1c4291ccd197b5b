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

from .core.cube import canonical_only, check_same_grid
from .core.grid import mask_to_grid
from .exceptions import EmptyDataError, MissingBandError, SensorError, describe
from .io.zarr import VAR, open_cube, open_group, open_mask
from .metrics import DEFAULT_METRICS, metrics
from .pipeline import METHODS, to_landsat
from .simulate import pair_series
from .validate import timedelta

__all__ = [
    "HEADERS",
    "LOWER_BETTER",
    "METRICS",
    "METRIC_NOTES",
    "REFERENCES",
    "Evaluation",
    "better_than",
    "markdown",
    "metric_legend",
    "run_methods",
    "score_series",
    "score_stores",
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
        for var in sorted(ref_names):
            spec = f"{ref_group}/{var}" if ref_group else var
            if var.endswith("valid") and spec not in valid and _is_mask(ref_store, ref_group, var):
                valid.append(spec)
    pred_masks: list[str] = []
    if "valid" in open_group(pred_store, pred_group).data_vars and _is_mask(pred_store, pred_group, "valid"):
        pred_masks.append((f"{pred_group}/" if pred_group else "") + "valid")
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


def _is_mask(store: str | os.PathLike[str], group: str | None, var: str) -> bool:
    da_ = open_group(store, group)[var]
    return bool(da_.dtype == bool and set(da_.dims) == {"time", "y", "x"})
