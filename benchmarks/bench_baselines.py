"""Throughput of the HLS baseline against the memory-bandwidth limit, measured in one run.

Reference: a bare NumPy ``slope * x + offset`` pass over exactly the arrays HLS reads
(10 m B02/B03/B04 and 20 m B8A/B11/B12), in memory, single thread, into a preallocated
output (``np.multiply(..., out=); out += offset``) -- the least work any per-pixel method
can do with that data. Measured: the full HLS method (30 m regrid + BRDF c-factor +
bandpass, :func:`xharm.baselines.to_landsat`) on the same data held as a chunked Dask cube,
``.compute()`` into memory, with the threaded scheduler (all cores) and the synchronous
one (one core); plus the NumPy-input path. The goal (HLS within 3x of the bare pass) is
judged thread for thread: against the bare pass over the same Dask chunks with the same
scheduler (a 2-thread HLS against a 1-thread reference flattered it).

Usage::

    python benchmarks/bench_baselines.py [--size 1830] [--dates 4] [--chunk 915] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import dask.array as da
import numpy as np
from odc.geo.geobox import GeoBox

from xharm.baselines import to_landsat
from xharm.core.cube import make_cube


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1830, help="10 m pixels per side (multiple of 6)")
    ap.add_argument("--dates", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=1830, help="10 m chunk side (multiple of 6)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, nt = args.size, args.dates
    side = n * 10.0
    bbox = (600000.0, 5000040.0 - side, 600000.0 + side, 5000040.0)
    g10 = GeoBox.from_bbox(bbox, "EPSG:32632", resolution=10)
    g20 = GeoBox.from_bbox(bbox, "EPSG:32632", resolution=20)
    rng = np.random.default_rng(0)
    x10 = rng.uniform(0.0, 0.5, (nt, 3, n, n)).astype("float32")
    x20 = rng.uniform(0.0, 0.5, (nt, 3, n // 2, n // 2)).astype("float32")
    days = [f"2021-06-{d + 1:02d}" for d in range(nt)]
    angles = {
        "sun_zenith": list(np.linspace(30, 45, nt)),
        "sun_azimuth": 150.0,
        "view_zenith": list(np.linspace(1, 9, nt)),
        "view_azimuth": 100.0,
    }
    mb = (x10.nbytes + x20.nbytes) / 2**20
    print(f"input: {nt} dates, 10 m {n}x{n} + 20 m {n // 2}x{n // 2}, 3 bands each = {mb:.0f} MiB float32")
    print(f"cores: {os.cpu_count()}, chunks: (1, 3, {args.chunk}, {args.chunk}) at 10 m")

    # reference: bare slope * x + offset over the same arrays
    s10 = np.array([0.9778, 1.0053, 0.9765], "float32")[None, :, None, None]
    o10 = np.array([-0.004, -0.0009, 0.0009], "float32")[None, :, None, None]
    s20 = np.array([0.9983, 0.9987, 1.003], "float32")[None, :, None, None]
    o20 = np.array([-0.0001, -0.0011, -0.0012], "float32")[None, :, None, None]

    def bare() -> None:
        y10 = np.empty_like(x10)
        y20 = np.empty_like(x20)
        np.multiply(x10, s10, out=y10)
        y10 += o10
        np.multiply(x20, s20, out=y20)
        y20 += o20

    def bare_expr() -> None:
        _ = x10 * s10 + o10
        _ = x20 * s20 + o20

    c = args.chunk
    if c % 6 or n % 6:
        raise SystemExit("--size and --chunk must be multiples of 6 (whole 60 m blocks per chunk)")
    b10, b20 = ["B02", "B03", "B04"], ["B8A", "B11", "B12"]
    d10 = make_cube(da.from_array(x10, chunks=(1, 3, c, c)), geobox=g10, bands=b10, sensor="S2B", time=days,
                    attrs=angles)  # fmt: skip
    d20 = make_cube(da.from_array(x20, chunks=(1, 3, c // 2, c // 2)), geobox=g20, bands=b20, sensor="S2B",
                    time=days, attrs=angles)  # fmt: skip
    n10 = make_cube(x10, geobox=g10, bands=b10, sensor="S2B", time=days, attrs=angles)
    n20 = make_cube(x20, geobox=g20, bands=b20, sensor="S2B", time=days, attrs=angles)

    def hls_dask(scheduler: str) -> Callable[[], object]:
        return lambda: to_landsat(d10, d20, method="hls").compute(scheduler=scheduler)

    def hls_numpy() -> None:
        to_landsat(n10, n20, method="hls")

    def graph_only() -> None:
        to_landsat(d10, d20, method="hls")

    def resample_dask() -> None:
        to_landsat(d10, d20, method="resample").compute(scheduler="threads")

    def bare_dask(scheduler: str) -> Callable[[], object]:
        """The bare pass over the same Dask chunks and scheduler as HLS: thread for thread."""
        y10, y20 = d10.data * s10 + o10, d20.data * s20 + o20
        return lambda: da.compute(y10, y20, scheduler=scheduler)

    bare()  # warm up
    hls_dask("threads")()
    t_ref = best(bare, args.repeat)
    t_expr = best(bare_expr, args.repeat)
    t_threads = best(bare_dask("threads"), args.repeat)
    t_sync = best(bare_dask("synchronous"), args.repeat)
    results = {
        "hls, Dask threads": best(hls_dask("threads"), args.repeat),
        "hls, Dask synchronous": best(hls_dask("synchronous"), args.repeat),
        "hls, NumPy input": best(hls_numpy, args.repeat),
        "resample only, Dask threads": best(resample_dask, args.repeat),
        "hls graph construction only": best(graph_only, args.repeat),
    }
    print(f"\n{'run':<32}{'seconds':>9}{'MiB/s':>9}{'x bare':>9}")
    print(f"{'bare slope*x+offset (in place)':<32}{t_ref:>9.3f}{mb / t_ref:>9.0f}{1.0:>9.2f}")
    print(f"{'bare slope*x+offset (expr)':<32}{t_expr:>9.3f}{mb / t_expr:>9.0f}{t_expr / t_ref:>9.2f}")
    for name, t in results.items():
        print(f"{name:<32}{t:>9.3f}{mb / t:>9.0f}{t / t_ref:>9.2f}")
    print(f"{'bare pass, Dask threads':<32}{t_threads:>9.3f}{mb / t_threads:>9.0f}{t_threads / t_ref:>9.2f}")
    print(f"{'bare pass, Dask synchronous':<32}{t_sync:>9.3f}{mb / t_sync:>9.0f}{t_sync / t_ref:>9.2f}")
    ratio = results["hls, Dask threads"] / t_threads
    ratio1 = results["hls, Dask synchronous"] / t_sync
    print(f"\nthread for thread (same chunks, same scheduler; {_load()}):")
    print(f"HLS / bare pass, Dask threads ({os.cpu_count()} cores): {ratio:.2f}x (goal <= 3x): "
          f"{'met' if ratio <= 3 else 'NOT met'}")  # fmt: skip
    print(f"HLS / bare pass, one thread: {ratio1:.2f}x")


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
