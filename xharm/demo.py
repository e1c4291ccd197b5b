"""``xharm demo``: the whole job on the embedded default data, end to end.

Simulates a small paired Sentinel-2 / Landsat-8 series (:mod:`xharm.simulate`),
harmonizes the Sentinel-2 dates to Landsat-8-like 30 m images with every available
method, scores each against the registered Landsat-8 product and the bias-free truth
(Table IV of Sedona et al. 2021, v2 references: :mod:`xharm.evaluate`),
writes the results to Zarr and draws quicklooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from . import simulate
from .core.cube import canonical_only
from .core.grid import mask_to_grid
from .evaluate import HEADERS, LOWER_BETTER, METRIC_NOTES, better_than, run_methods, score_table
from .io.zarr import write_groups

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """What :func:`run_demo` produced."""

    out: Path
    zarr: Path
    quicklook: Path
    overall: pd.DataFrame
    per_band: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


def _default_model() -> str | None:
    """The bundled default model's name, when the package ships it (else None: baselines only)."""
    from .zoo.registry import DEFAULT_MODEL, available

    return DEFAULT_MODEL if DEFAULT_MODEL in available() else None


def _rgb(cube: xr.DataArray, bands: list[str], gain: float = 3.5) -> np.ndarray:
    img = np.stack([np.asarray(cube.sel(band=b).values, dtype="float64") for b in bands], axis=-1)
    return np.clip(np.nan_to_num(img * gain, nan=1.0), 0, 1)


def _quicklook(
    path: Path, series: Any, preds: dict[str, xr.DataArray], date_index: int, clear: np.ndarray
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s2 = series.s2_10m.isel(time=date_index)
    ref = series.target.isel(time=date_index)
    panels: list[tuple[str, xr.DataArray, list[str], list[str]]] = [
        ("Sentinel-2 10 m", s2, ["B04", "B03", "B02"], ["B08", "B04", "B03"]),
        ("Landsat-8 product 30 m", ref, ["B4", "B3", "B2"], ["B5", "B4", "B3"]),
    ]
    panels += [(name.upper(), p.isel(time=date_index), ["B4", "B3", "B2"], ["B5", "B4", "B3"])
               for name, p in preds.items()]  # fmt: skip
    best = "mgan" if "mgan" in preds else "hls"
    pred = preds[best].isel(time=date_index)
    err = abs(pred - pred.copy(data=ref.sel(band=pred["band"].values).values)).mean("band")
    fig, axes = plt.subplots(
        2, len(panels) + 1, figsize=(3.2 * (len(panels) + 1), 7.4), layout="constrained", squeeze=False
    )
    for col, (title, cube, tc, fc) in enumerate(panels):
        axes[0, col].imshow(_rgb(cube, tc))
        axes[0, col].set_title(f"{title}\ntrue colour", fontsize=9)
        axes[1, col].imshow(_rgb(cube, fc, gain=2.0))
        axes[1, col].set_title(f"{title}\nfalse colour (NIR, red, green)", fontsize=9)
    im = axes[0, -1].imshow(err.values, cmap="magma", vmin=0, vmax=0.03)
    axes[0, -1].set_title(f"|{best.upper()} - Landsat-8 product|, mean over bands", fontsize=9)
    fig.colorbar(im, ax=axes[0, -1], fraction=0.046, label="reflectance")
    cloudy = int(np.argmin(clear))  # the mask panel shows the cloudiest date, not the clear one above
    when = str(series.s2_10m.time.values[cloudy])[:10]
    axes[1, -1].imshow(series.s2_valid.isel(time=cloudy).values, cmap="gray", vmin=0, vmax=1)
    if clear[cloudy] < 1:
        note = f"S2 clear mask, {when}\n(cloudiest date: {clear[cloudy]:.0%} clear; white = clear)"
    else:
        note = "S2 clear mask\n(no clouds on any date)"
    axes[1, -1].set_title(note, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    date = str(series.s2_10m.time.values[date_index])[:10]
    fig.suptitle(f"xharm demo: Sentinel-2 -> Landsat-8-like, {date} (clearest date)", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write_zarr(path: Path, series: Any, preds: dict[str, xr.DataArray]) -> None:
    cubes = {"s2_10m": series.s2_10m, "s2_20m": series.s2_20m, "l8_target": series.target,
             "l8_truth": series.l8_truth, **preds}  # fmt: skip
    write_groups(path, {name: canonical_only(c) for name, c in cubes.items()})


def run_demo(
    out: str | Path = "xharm-demo",
    *,
    size_km: float = 3.0,
    n_dates: int = 4,
    seed: int = 2021,
    model: str | None = "auto",
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo: simulate, harmonize with each method, score, write Zarr and PNG.

    Parameters
    ----------
    out
        Output folder (created); holds ``demo.zarr``, ``quicklook.png``, ``scores.csv``.
    size_km, n_dates, seed
        The simulated scene (see :func:`xharm.simulate.pair_series`).
    model
        Harmonization model for the MGAN row: ``"auto"`` uses the bundled starter model
        when the package ships one; ``None`` runs the baselines only.
    progress
        Show a progress bar.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_name = _default_model() if model == "auto" else model
    timings: dict[str, float] = {}
    steps = ["simulate", *_methods_names(model_name), "score", "write"]
    bar = tqdm(total=len(steps), desc="xharm demo", disable=not progress, unit="step")

    def step(name: str) -> None:
        bar.set_postfix_str(name)

    t0 = time.perf_counter()
    step("simulate")
    series = simulate.pair_series(n_dates=n_dates, size_km=size_km, seed=seed, lazy=False)
    timings["simulate"] = time.perf_counter() - t0
    bar.update()

    preds: dict[str, xr.DataArray] = {}
    s2 = {10: series.s2_10m, 20: series.s2_20m}
    for name in _methods_names(model_name):
        step(name)
        t = time.perf_counter()
        preds |= run_methods(s2, [name], model=model_name, valid=series.s2_valid)
        timings[name] = time.perf_counter() - t
        bar.update()

    step("score")
    t = time.perf_counter()
    bands = next(iter(preds.values()))["band"].values.tolist()  # B2..B7: no S2 60 m input, no B1
    s2_times = series.s2_10m.time.values
    target = series.target.sel(band=bands).assign_coords(time=s2_times)
    valid = mask_to_grid(series.s2_valid, target.odc.geobox)
    overall, per_band = score_table(preds, target, valid)
    vs_truth, _ = score_table(preds, series.l8_truth.sel(band=bands).assign_coords(time=s2_times), valid)
    timings["score"] = time.perf_counter() - t
    bar.update()

    step("write")
    t = time.perf_counter()
    zarr_path, png = out / "demo.zarr", out / "quicklook.png"
    _write_zarr(zarr_path, series, preds)
    clear = valid.mean(("y", "x")).values
    _quicklook(png, series, preds, int(np.argmax(clear)), clear)
    overall.to_csv(out / "scores.csv")
    per_band.to_csv(out / "scores_per_band.csv")
    timings["write"] = time.perf_counter() - t
    bar.update()
    bar.close()

    files = {
        zarr_path: f"Zarr store, groups {', '.join(['s2_10m', 's2_20m', 'l8_target', 'l8_truth', *preds])}",
        png: "quicklook: true/false colour of each method, error map, S2 clear mask",
        out / "scores.csv": "overall scores, one row per method",
        out / "scores_per_band.csv": "scores per method and band",
    }
    report = _report(overall, per_band, vs_truth, series, valid, model_name, n_dates, size_km, seed)
    report += ["", "Wrote:", *(f"  {p}  ({what})" for p, what in files.items())]
    spent = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    report.append(f"Time: {time.perf_counter() - t0:.1f} s in total ({spent})")
    for line in report:
        echo(line)
    return DemoResult(out, zarr_path, png, overall, per_band, timings)


_DESCRIPTIONS = {
    "resample": "Sentinel-2 regridded to 30 m, nothing else (the 'do nothing' reference)",
    "hls": "NASA HLS v2.0: 30 m regrid, BRDF normalisation, bandpass adjustment",
    "hls_psf": "HLS with Landsat's optical blur (PSF): the physics the MGAN starts from",
    "mgan": "the neural model (multispectral GAN after Sedona et al. 2021)",
}


def _report(
    overall: pd.DataFrame,
    per_band: pd.DataFrame,
    vs_truth: pd.DataFrame,
    series: Any,
    valid: xr.DataArray,
    model_name: str | None,
    n_dates: int,
    size_km: float,
    seed: int,
) -> list[str]:
    """The demo's printed summary: what was run, labelled score tables, claims computed from them."""
    fmt = lambda v: f"{v:.4f}"  # noqa: E731
    s2_clear = float(series.s2_valid.mean())
    lines = [
        "",
        f"Simulated {n_dates} dates of same-day Sentinel-2 / Landsat-8 pairs over {size_km:g} km x "
        f"{size_km:g} km (seed {seed});",
        f"{s2_clear:.0%} of the Sentinel-2 pixels are clear (no cloud or shadow).",
        "Each method turns the Sentinel-2 images into Landsat-8-like 30 m images:",
        *(f"  {name:<9} {_DESCRIPTIONS.get(name, '')}" for name in overall.index),
        "",
        "Scores of each method against the Landsat-8 product (Landsat-8's surface reflectance of the",
        "same day, clear sky, registered onto the Sentinel-2 grid: what a merged series should look like),",
        f"on the pixels clear in Sentinel-2: {float(valid.mean()):.0%} of all 30 m pixels over all dates.",
        "Each score is averaged over dates (and over bands in the overall table).",
        "",
        "Overall:",
        overall.rename(columns=HEADERS).to_string(float_format=fmt),
        "",
        "Per band (Landsat-8 bands B2 blue .. B7 SWIR-2):",
        per_band.rename(columns=HEADERS).to_string(float_format=fmt),
        "",
        "Overall, against the bias-free truth instead (the surface in Landsat-8's bands, no atmospheric",
        "correction at all: what no product delivers; a model that learns Landsat's product gains less",
        "here):",
        vs_truth.rename(columns=HEADERS).to_string(float_format=fmt),
        "",
        "What the scores mean:",
        *(f"  {HEADERS[m]:<12} {note}" for m, note in METRIC_NOTES.items()),
        "",
        "From this run:",
    ]
    for m in overall.columns:
        col = overall[m].dropna()
        if col.empty:
            lines.append(f"  {HEADERS[m]:<12} not defined on this run (no window free of invalid pixels)")
            continue
        best = col.idxmin() if m in LOWER_BETTER else col.idxmax()
        lines.append(f"  {HEADERS[m]:<12} best: {best} ({col[best]:.4f})")
    names = list(overall.index)
    challenger = "mgan" if "mgan" in names else "hls"
    for baseline in ("hls", "hls_psf") if challenger == "mgan" else ("resample",):
        if challenger in names and baseline in names:
            better = better_than(overall, challenger, baseline)
            scored = [m for m in overall.columns if np.isfinite(overall.loc[[challenger, baseline], m]).all()]
            lines.append(
                f"  {challenger} is better than {baseline} on {len(better)} of {len(scored)} overall scores"
                + (f" ({', '.join(HEADERS[m] for m in better)})" if better else "")
                + "."
            )
    if model_name is None:
        lines.append("  (no bundled MGAN model in this install: baselines only)")
    else:
        lines.append(
            f"  MGAN model: {model_name}, a small model trained on a CPU on simulated pairs;"
            " its scores on held-out scenes,\n  against both references, are in docs/model_card.md."
        )
    return lines


def _methods_names(model: str | None) -> list[str]:
    return ["resample", "hls", "hls_psf"] + (["mgan"] if model is not None else [])
