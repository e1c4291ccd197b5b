"""Benchmark: xharm.metrics on a (time, band, y, x) cube vs a per-image reference loop.

The reference computes the same metrics image by image with the libraries a user would
loop over (sewar: SAM, ERGAS, RMSE, UIQI; scikit-image: PSNR, SSIM) on the cube held
in memory. xharm computes all of them in one Dask pass over chunks generated lazily, so
the cube is never held whole. Times are measured with the data already in memory on
both sides, after one warm-up call of each on a small cube (xharm's Numba kernels load
from their on-disk cache once per process: about 1 s on first use, printed separately);
peak memory separately with ``tracemalloc`` (NumPy allocations, every thread): xharm
from the lazy cube, the reference as its per-image peak plus both cubes.

Run: ``python benchmarks/bench_metrics.py [--time 6 --band 6 --size 1024 --chunk 512]``
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import dask
import dask.array as da
import numpy as np
import sewar.full_ref as sw
import xarray as xr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from xharm.metrics import metrics

DIMS = ("time", "band", "y", "x")


def make_pair(shape: tuple[int, ...], chunk: int) -> tuple[xr.DataArray, xr.DataArray]:
    """Lazy reflectance-like float32 pair: ref in [0.05, 0.95], pred = ref + noise + bias."""
    chunks = (1, shape[1], chunk, chunk)
    rs = da.random.RandomState(42)
    ref = (0.05 + 0.9 * rs.random_sample(shape, chunks=chunks)).astype(np.float32)
    pred = (ref + 0.02 * rs.standard_normal(shape, chunks=chunks) + 0.01).astype(np.float32)
    return xr.DataArray(pred, dims=DIMS), xr.DataArray(ref, dims=DIMS)


def reference_loop(pred: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """The same metrics with sewar / scikit-image, one image at a time."""
    nt, nb = pred.shape[:2]
    out = {n: np.empty((nt, nb)) for n in ("rmse", "uiqi", "psnr", "ssim")}
    out |= {"sam": np.empty(nt), "ergas": np.empty(nt)}
    for t in range(nt):
        r_hwc, p_hwc = np.moveaxis(ref[t], 0, -1), np.moveaxis(pred[t], 0, -1)
        out["sam"][t] = sw.sam(r_hwc, p_hwc)
        out["ergas"][t] = sw.ergas(r_hwc, p_hwc, r=1.0)
        for b in range(nb):
            r, p = ref[t, b], pred[t, b]
            out["rmse"][t, b] = sw.rmse(r, p)
            out["uiqi"][t, b] = sw.uqi(r, p, ws=32)
            out["psnr"][t, b] = peak_signal_noise_ratio(r, p, data_range=1.0)
            out["ssim"][t, b] = structural_similarity(
                r, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", type=int, default=6)
    ap.add_argument("--band", type=int, default=6)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--chunk", type=int, default=512)
    args = ap.parse_args()
    shape = (args.time, args.band, args.size, args.size)
    pred, ref = make_pair(shape, args.chunk)
    cube_mb = np.prod(shape) * 4 / 2**20
    print(f"cube {shape} float32 = {cube_mb:.0f} MiB per array; chunks {pred.chunks and pred.data.chunksize}")
    print(f"threads: {os.cpu_count()} cores visible, dask threaded scheduler")

    # warm-up on a small cube: Numba's one-time start (and cache load) for xharm, imports for the reference
    small_p, small_r = make_pair((1, args.band, 64, 64), 64)
    t0 = time.perf_counter()
    metrics(small_p, small_r).compute(scheduler="threads")
    t_first = time.perf_counter() - t0
    reference_loop(small_p.values, small_r.values)

    # timing, both sides with the data already in memory (persisted chunks / NumPy arrays)
    pred_mem, ref_mem = dask.persist(pred, ref)
    t0 = time.perf_counter()
    ds = metrics(pred_mem, ref_mem).compute(scheduler="threads")
    t_x = time.perf_counter() - t0
    t0 = time.perf_counter()  # thread for thread: the reference loop runs on one thread
    metrics(pred_mem, ref_mem).compute(scheduler="synchronous")
    t_x1 = time.perf_counter() - t0
    p_np, r_np = pred_mem.values, ref_mem.values
    del pred_mem, ref_mem
    t0 = time.perf_counter()
    expected = reference_loop(p_np, r_np)
    t_ref = time.perf_counter() - t0

    # memory: reference on the in-memory cubes; xharm straight from the lazy (never whole) cube
    tracemalloc.start()
    reference_loop(p_np[:1], r_np[:1])
    _, peak_ref = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_ref_total = peak_ref + p_np.nbytes + r_np.nbytes  # the loop needs both cubes in memory
    del p_np, r_np
    tracemalloc.start()
    metrics(pred, ref).compute(scheduler="threads")
    _, peak_x = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    for name in ("sam", "ergas", "rmse", "psnr", "ssim"):
        rel = np.max(np.abs(ds[name].values - expected[name]) / np.abs(expected[name]))
        print(f"  {name:6s} max rel. diff vs reference: {rel:.1e}")
    rel = np.max(np.abs(ds["uiqi"].values - expected["uiqi"]))
    print(f"  uiqi   max abs. diff vs sewar.uqi: {rel:.1e} (sewar's uqi is not eq. 8; see docs/metrics.md)")
    print(f"xharm first call in this process (64 x 64 warm-up): {t_first:.2f} s (Numba start and cache load)")
    print(f"xharm metrics():             {t_x:7.2f} s   peak {peak_x / 2**20:7.0f} MiB (lazy input)")
    print(
        f"reference loop (data given):  {t_ref:7.2f} s   peak {peak_ref_total / 2**20:7.0f} MiB (with cubes)"
    )
    print(f"xharm metrics(), one thread: {t_x1:7.2f} s")
    print(f"speed ratio reference / xharm, thread for thread (1 / 1): {t_ref / t_x1:7.2f}x")
    print(f"speed ratio reference (1 thread) / xharm ({os.cpu_count()} threads): {t_ref / t_x:7.2f}x")
    print("load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"memory ratio reference / xharm: {peak_ref_total / peak_x:7.2f}x")


if __name__ == "__main__":
    main()
