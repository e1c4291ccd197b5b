"""The product end to end: a simulated S2 series harmonized Zarr -> Zarr, MGAN and HLS.

1. Simulates a ``--size-km`` x ``--size-km``, ``--dates``-date S2/L8 series into a Zarr store
   (``xharm simulate`` layout; not timed in the figures).
2. Runs :func:`xharm.jobs.harmonize` (what ``xharm harmonize`` runs) for each method, each
   in a fresh process on Dask's threaded scheduler, and reports wall time, km^2/s (scene
   area x dates per second), output Mpx/s (30 m pixels x dates, all 6 bands) and the
   process's peak RSS (``VmHWM``: Python, JAX, the model and the job). The MGAN model is
   loaded and compiled for a full batch before the clock starts (``load_predict_fn``);
   everything else (Zarr read, normalize, patch, predict, stitch, write, compiles for
   other batch sizes) is timed.
3. Times the bare jitted generator (``zoo.load`` predictor, no Dask, no I/O) on the very
   patches the MGAN job cuts from the first date (recorded through the patch engine),
   and prints the ratio of the job's throughput to it (1.0 = no pipeline overhead).

Usage::

    python benchmarks/bench_end_to_end.py [--size-km 20] [--dates 6] [--model mgan-starter]
        [--chunk 512] [--batch 16] [--methods mgan,hls] [--workdir DIR] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _stage(args: argparse.Namespace) -> None:
    """Child process: one harmonize job; prints a JSON line."""
    from xharm import jobs

    if args.method == "mgan":
        _warm_up(args.model, args.batch)
    t0 = time.perf_counter()
    model = args.model if args.method == "mgan" else None
    out = jobs.harmonize(args.src, args.dst, method=args.method, model=model, chunk=args.chunk,
                         batch_size=args.batch, overwrite=True)  # fmt: skip
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "shape": list(out.shape), "rss": _peak_rss_mib()}))


def _peak_rss_mib() -> float:
    """This process's peak RSS: ``VmHWM`` (per address space, so exact after fork + exec), else getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm_up(model: str, batch: int) -> None:
    """Load and compile the model for a full batch (as a long job would have done long ago)."""
    from xharm.engine.apply import load_predict_fn
    from xharm.zoo import ZooHandle

    handle = ZooHandle.of(model)
    fn = load_predict_fn(handle)
    fn({g.name: np.zeros((batch, g.patch, g.patch, g.n_bands), np.float32) for g in fn.spec.inputs})


def _bare(args: argparse.Namespace) -> dict:
    """Child process: the patches of date 0 through the engine, then the bare generator on them."""
    from xharm import zoo
    from xharm.engine.apply import apply_model
    from xharm.io.zarr import open_cube
    from xharm.spec import ModelSpec

    folder = zoo.resolve(args.model)
    spec = ModelSpec.from_json((folder / "spec.json").read_text())
    _, predict = zoo.load(folder)
    cubes = {"s2_10m": open_cube(args.src, "s2_10m"), "s2_20m": open_cube(args.src, "s2_20m")}
    cubes = {k: v.isel(time=[0]) for k, v in cubes.items()}
    batches: list[dict[str, np.ndarray]] = []

    def record(batch: dict[str, np.ndarray]) -> np.ndarray:
        batches.append({k: np.array(v) for k, v in batch.items()})
        n = len(next(iter(batch.values())))
        return np.zeros((n, spec.output.patch, spec.output.patch, spec.output.n_bands), np.float32)

    chunks = {"time": 1, "y": args.chunk, "x": args.chunk}
    apply_model(cubes, spec, record, chunks=chunks, batch_size=args.batch).compute(scheduler="sync")
    n = sum(len(next(iter(b.values()))) for b in batches)
    for b in batches:  # compile every batch shape first
        predict(b)
    t0 = time.perf_counter()
    for b in batches:
        predict(b)
    secs = time.perf_counter() - t0
    return {"patches_per_date": n, "seconds": secs, "patches_per_s": n / secs}


def _child(argv: list[str]) -> dict:
    """Run this script in a fresh process; its JSON result (the last stdout line)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, __file__, *argv], stdout=subprocess.PIPE, env=env, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {argv[:2]} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-km", type=float, default=20.0)
    ap.add_argument("--dates", type=int, default=6)
    ap.add_argument("--model", default="mgan-starter")
    ap.add_argument("--tiny", action="store_true", help="random-weight tiny model (mechanics only)")
    ap.add_argument("--chunk", type=int, default=512, help="output chunk side in 30 m px")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--methods", default="mgan,hls")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", help="where the stores go (default: a temp folder)")
    ap.add_argument("--_stage", dest="stage", help=argparse.SUPPRESS)
    ap.add_argument("--_method", dest="method", help=argparse.SUPPRESS)
    ap.add_argument("--_src", dest="src", help=argparse.SUPPRESS)
    ap.add_argument("--_dst", dest="dst", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage == "job":
        return _stage(args)
    if args.stage == "bare":
        print(json.dumps(_bare(args)))
        return None

    if args.tiny:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from uncertainty_check import tiny_model

        args.model = tiny_model()
    from xharm import simulate

    work = Path(args.workdir or tempfile.mkdtemp(prefix="xharm-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "s2.zarr"
    t0 = time.perf_counter()
    simulate.to_zarr(str(src), n_dates=args.dates, size_km=args.size_km, seed=args.seed)
    print(f"simulated {args.size_km:g} km x {args.size_km:g} km, {args.dates} dates into {src} "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    common = [
        "--model",
        args.model,
        "--chunk",
        str(args.chunk),
        "--batch",
        str(args.batch),
        "--_src",
        str(src),
    ]
    rows = {}
    for method in args.methods.split(","):
        res = _child(
            ["--_stage", "job", "--_method", method, "--_dst", str(work / f"{method}.zarr"), *common]
        )
        t, _, y, x = res["shape"]
        rows[method] = {
            "seconds": res["seconds"],
            "km2_per_s": args.size_km**2 * t / res["seconds"],
            "out_mpx_per_s": t * y * x / 1e6 / res["seconds"],
            # the child's own VmHWM: Linux's getrusage/wait4 maxrss carry the parent's pre-exec peak over
            "peak_rss_mib": res["rss"],
            "shape": res["shape"],
        }
    print(f"\nZarr -> Zarr, Dask threads ({os.cpu_count()} CPUs), chunk {args.chunk} px, batch {args.batch}:")
    print(f"{'method':<8}{'seconds':>10}{'km2/s':>10}{'out Mpx/s':>12}{'peak RSS MiB':>14}")
    for m, r in rows.items():
        print(
            f"{m:<8}{r['seconds']:>10.2f}{r['km2_per_s']:>10.2f}{r['out_mpx_per_s']:>12.4f}{r['peak_rss_mib']:>14.0f}"
        )
    if "mgan" in rows:
        bare = _child(["--_stage", "bare", *common])
        total = bare["patches_per_date"] * args.dates
        bare_secs = total / bare["patches_per_s"]
        ratio = bare_secs / rows["mgan"]["seconds"]
        n0 = bare["patches_per_date"]
        print(f"\nbare jitted generator: {bare['patches_per_s']:.2f} patches/s on the {n0} patches of date 0 "
              f"-> {bare_secs:.2f} s for all {total} patches")  # fmt: skip
        print(f"end-to-end MGAN throughput / bare generator throughput: {ratio:.3f}")
        if "hls" in rows:
            print(f"HLS is {rows['mgan']['seconds'] / rows['hls']['seconds']:.1f}x faster than the MGAN job")
    return None


if __name__ == "__main__":
    main()
