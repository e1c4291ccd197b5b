"""Why a product maps crops better or worse: class separability of its parcel-interior pixels.

For each seed (the crop mapping v2 scenes: central-European archetype, 4.8 km, the paper's
dates plus the Sentinel-2-only one) and product, every band of every date is a feature; the
features of the parcel-interior 30 m pixels (``xharm.downstream.parcel_labels``) are
standardized, and the script prints the mean within-class variance, the variance of the class
means (between) and their ratio (higher: classes easier to tell apart), with the RMSE
against the registered Landsat product (``target``). The rows ``smoothN`` are the physics
part plus the MGAN's correction smoothed by a Gaussian of N px (30 m): how much of the
correction's pixel-level detail costs separability and how much of it buys RMSE.

Run::

    python examples/reports/crop_separability.py                 # seeds 301 302, bundled starter
    python examples/reports/crop_separability.py --seeds 301 --model runs/x/model
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from crop_mapping_v2 import smooth_nan  # the same blur as its --smooth-correction rows

from xharm import simulate
from xharm.downstream import parcel_labels
from xharm.evaluate import run_methods

DATES = ["2021-04-04", "2021-04-20", "2021-05-06", "2021-07-03", "2021-09-27", "2021-10-13"]
L8 = ["B2", "B3", "B4", "B5", "B6", "B7"]


def _separability(a: np.ndarray, labels: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    """Mean within-class variance and between/within ratio of standardized features."""
    x = a.reshape(-1, *a.shape[-2:])[:, keep].T
    y = labels[keep]
    classes = [c for c in np.unique(y) if (y == c).sum() > 200]
    x, y = x[np.isin(y, classes)], y[np.isin(y, classes)]
    x = (x - x.mean(0)) / x.std(0)
    within = float(np.mean([x[y == c].var(0).mean() for c in classes]))
    between = float(np.array([x[y == c].mean(0) for c in classes]).var(0).mean())
    return within, between / within


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[301, 302])
    p.add_argument("--model", default=None, help="MGAN model (default: the bundled one)")
    p.add_argument("--sigmas", type=float, nargs="+", default=[1, 2, 4, 8])
    args = p.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    print("| seed | product | RMSE vs target | within-class variance | between / within |")
    print("|---|---|---|---|---|")
    for seed in args.seeds:
        ps = simulate.pair_series(dates=DATES, size_km=4.8, seed=seed, cloud_cover=0.05,
                                  archetype="central_europe", lazy=False)  # fmt: skip
        preds = run_methods({10: ps.s2_10m, 20: ps.s2_20m}, ["hls", "hls_psf", "mgan"], model=args.model,
                            valid=ps.s2_valid)  # fmt: skip
        lab = parcel_labels(ps.s2_10m, preds["hls"].odc.geobox)
        target = ps.target.sel(band=L8).transpose("time", "band", "y", "x").values
        cubes = {m: c.transpose("time", "band", "y", "x").values for m, c in preds.items()}
        cubes["target"] = target
        cubes["truth"] = ps.l8_truth.sel(band=L8).transpose("time", "band", "y", "x").values
        phys = cubes["hls_psf"]
        for s in args.sigmas:
            cubes[f"smooth{s:g}"] = phys + smooth_nan(cubes["mgan"] - phys, s)
        ok = np.isfinite(target).all((0, 1)) & np.isfinite(cubes["hls"]).all((0, 1))
        for name, a in cubes.items():
            rmse = float(np.sqrt(np.nanmean((a - target)[:, :, ok] ** 2)))
            within, ratio = _separability(a, lab["labels"].values, ok & ~lab["edge"].values)
            print(f"| {seed} | {name} | {rmse:.5f} | {within:.4f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
