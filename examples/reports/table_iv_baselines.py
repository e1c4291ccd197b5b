"""Table-IV-style scores of the baselines on simulated Sentinel-2 / Landsat-8 pairs.

Runs ``resample`` (the paper's "original Sentinel-2" row), ``hls`` and ``tra`` from
:func:`xharm.baselines.to_landsat` on a :func:`xharm.simulate.pair_series` and scores
each against the simulator's Landsat-8 truth (clear, nadir-normalised surface at the S2
date) with :func:`xharm.metrics.metrics`: per-band RMSE, UIQI, PSNR and the spectral
SAM / ERGAS, over pixels that are clear in the S2 mask (brought to 30 m). HLS is run
twice: with the HLS v2.0 NBAR solar-zenith rule, and with the truth's own reference
solar zenith (``attrs["nbar_sun_zenith"]`` of the simulated cubes), which isolates the
method from the choice of normalisation angle.

Usage::

    python examples/reports/table_iv_baselines.py [--dates 24] [--size-km 2.4] [--seed 0] [--window 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr

from xharm import simulate
from xharm.baselines import to_landsat
from xharm.metrics import metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dates", type=int, default=24)
    ap.add_argument("--size-km", type=float, default=2.4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=32, help="UIQI window (the paper's 32)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    ps = simulate.pair_series(n_dates=args.dates, size_km=args.size_km, seed=args.seed, lazy=False)
    print(
        f"simulated {args.dates} dates, {args.size_km} km, seed {args.seed} "
        f"({ps.l8.sizes['y']}x{ps.l8.sizes['x']} px at 30 m) in {time.perf_counter() - t0:.1f} s"
    )
    s2 = (ps.s2_10m, ps.s2_20m)
    ref_zenith = float(ps.s2_10m.attrs["nbar_sun_zenith"])
    runs = {
        "resample": dict(method="resample"),
        "hls (v2.0 NBAR zenith)": dict(method="hls"),
        f"hls (NBAR zenith {ref_zenith:g})": dict(method="hls", nbar_sun_zenith=ref_zenith),
        "tra": dict(method="tra", l8=ps.l8, l8_valid=ps.l8_valid),
    }
    rows = {}
    for name, kw in runs.items():
        t = time.perf_counter()
        pred = to_landsat(*s2, valid=ps.s2_valid, **kw)  # type: ignore[arg-type]
        valid = pred["valid"]
        ref = ps.l8_truth.sel(band=pred.band.values)
        pred = pred.drop_vars("valid")
        scores = metrics(pred, ref, which=("sam", "ergas", "rmse", "uiqi", "psnr"), dim=("time", "y", "x"),
                         valid=valid, window=args.window, degrees=True)  # fmt: skip
        rows[name] = scores.compute()
        print(f"  {name}: {time.perf_counter() - t:.1f} s, clear fraction {float(valid.mean()):.2f}")
    _table(rows)


def _table(rows: dict[str, xr.Dataset]) -> None:
    bands = [str(b) for b in next(iter(rows.values()))["rmse"].band.values]
    for metric, fmt in (("rmse", "{:.4f}"), ("uiqi", "{:.3f}"), ("psnr", "{:.2f}")):
        print(f"\n{metric.upper()} per band (L8 band ids) and mean over bands")
        print(f"{'method':<28}" + "".join(f"{b:>9}" for b in bands) + f"{'mean':>9}")
        for name, ds in rows.items():
            vals = [float(ds[metric].sel(band=b)) for b in bands]
            print(
                f"{name:<28}"
                + "".join(f"{fmt.format(v):>9}" for v in vals)
                + f"{fmt.format(np.mean(vals)):>9}"
            )
    print(f"\n{'method':<28}{'SAM (deg)':>11}{'ERGAS':>9}")
    for name, ds in rows.items():
        print(f"{name:<28}{float(ds['sam']):>11.3f}{float(ds['ergas']):>9.3f}")


if __name__ == "__main__":
    main()
