"""Benchmark: a 20 km x 20 km, 6-date Sentinel-2 / Landsat-8 pair series on 2 threads.

Run: ``python benchmarks/bench_simulate.py [--size-km 20] [--dates 6] [--threads 2]``

Prints the wall time of building + computing the whole series (all cubes, masks,
labels), the target (< 120 s), and a reference measured in the same run: the time to
draw the same number of output values with ``numpy.random.Generator.random`` and
copy them once (a floor: writing the outputs, no physics). Ratios are printed next
to each figure.
"""

from __future__ import annotations

import argparse
import os
import time

import dask
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-km", type=float, default=20.0)
    ap.add_argument("--dates", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from xharm import simulate
    from xharm.simulate.render import _canopy_spectra

    t0 = time.perf_counter()
    _canopy_spectra()  # PROSAIL state grid (cached per process), part of the total below
    t_prosail = time.perf_counter() - t0

    t1 = time.perf_counter()
    ps = simulate.pair_series(n_dates=args.dates, size_km=args.size_km, seed=args.seed, lazy=True)
    with dask.config.set(scheduler="threads", num_workers=args.threads):
        out = ps.compute()
    t_series = time.perf_counter() - t1
    total = t_prosail + t_series

    n_values = sum(int(np.prod(v.shape)) for _, v in out)
    t2 = time.perf_counter()
    rng = np.random.default_rng(0)
    for _, v in out:
        a = rng.random(v.shape, dtype="float32")
        a.copy()
    t_ref = time.perf_counter() - t2

    print(f"machine: {os.cpu_count()} cpus visible, {args.threads} dask threads")
    print(
        f"scene: {args.size_km} km, {args.dates} dates, 10 m grid {out.s2_10m.shape[-2:]}, "
        f"{n_values / 1e6:.0f} M output values"
    )
    print(f"PROSAIL state grid        : {t_prosail:7.2f} s")
    print(f"series build + compute    : {t_series:7.2f} s")
    print(f"total                     : {total:7.2f} s   (target < 120 s: {total / 120:.2f} of budget)")
    print(f"reference (random fill)   : {t_ref:7.2f} s   ratio total/reference = {total / t_ref:.1f}x")
    print(f"per date                  : {t_series / args.dates:7.2f} s")


if __name__ == "__main__":
    main()
