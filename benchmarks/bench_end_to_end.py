"""The product end to end: ``xharm harmonize`` (the job API) against the bare generator at its best.

1. Simulates a ``--size-km`` x ``--size-km``, ``--dates``-date S2 series into a Zarr store
   (``xharm simulate`` layout; not timed). ``--reuse-input`` reuses a store left in
   ``--workdir`` by an earlier run with the same arguments (inputs only: outputs are always
   written afresh, each run into a new folder, and deleted after).
2. Times :func:`xharm.jobs.harmonize` (what ``xharm harmonize`` runs) ``--runs`` times, each
   in a fresh process on Dask's local threads. The model is loaded and compiled for a full
   batch before the clock starts; everything else (Zarr read and decode, normalize, patch,
   predict, stitch, write, digests) is timed. The outputs' content digests are printed:
   every run computed the same output. ``--before DIR`` times the job of another checkout
   (e.g. ``git worktree add /tmp/before <commit>``) in the same way, interleaved with this
   one, so both see the same machine load. ``--also hls_psf`` times a job of that baseline
   the same way: for a physics-anchored model, the share of the job that is its physics part.
3. Times the bare jitted generator (``zoo.load`` predictor: no Dask, no I/O) on the very
   patches the job cuts from date 0, at its best: every batch size of ``--bare-batches``
   (the last batch padded, as the job pads it) with 1 and 2 concurrent callers (XLA's
   intra-op threads alone do not fill the cores on this model), ``--runs`` times each;
   the best configuration's median is the reference. Same process thread count as the job.
4. Prints min and median seconds, km^2/s (scene area x dates per second) and
   job / bare throughput, with the load average next to every figure.

Usage::

    python benchmarks/bench_end_to_end.py [--size-km 20] [--dates 6] [--model mgan-starter]
        [--chunk 512] [--batch 16] [--in-flight 2] [--runs 3] [--before DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _warm_up(model: str, batch: int) -> None:
    """Load and compile the model for a full batch (as a long job would have done long ago)."""
    from xharm.engine.apply import load_predict_fn
    from xharm.zoo import ZooHandle

    fn = load_predict_fn(ZooHandle.of(model))
    fn({g.name: np.zeros((batch, g.patch, g.patch, g.n_bands), np.float32) for g in fn.spec.inputs})


def _job(args: argparse.Namespace) -> dict:
    """Child process: one harmonize job into a fresh store; seconds, shape, digest, peak RSS."""
    import inspect

    from xharm import jobs

    _warm_up(args.model, args.batch)
    kw = {"in_flight": args.in_flight} if "in_flight" in inspect.signature(jobs.harmonize).parameters else {}
    t0, c0 = time.perf_counter(), time.process_time()
    if args.method != "mgan":
        out = jobs.harmonize(args.src, args.dst, method=args.method, chunk=args.chunk, **kw)
    else:
        out = jobs.harmonize(args.src, args.dst, method="mgan", model=args.model, chunk=args.chunk,
                             batch_size=args.batch, **kw)  # fmt: skip
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    values = np.nan_to_num(out.values.astype(np.float32), nan=-9.0)
    digest = hashlib.blake2b(np.round(values, 5).tobytes(), digest_size=6).hexdigest()
    return {"seconds": secs, "cpu": cpu, "shape": list(out.shape), "digest": digest, "rss": _peak_rss_mib()}


def _bare(args: argparse.Namespace) -> dict:
    """Child process: the patches the job cuts from date 0, then the bare generator on them."""
    from xharm import zoo
    from xharm.engine.apply import apply_model
    from xharm.io.zarr import open_cube
    from xharm.pipeline import with_physics

    spec, predict = zoo.load(zoo.resolve(args.model))
    cubes = {g: open_cube(args.src, g).isel(time=[0]) for g in ("s2_10m", "s2_20m")}
    cubes = with_physics(cubes, spec)  # an anchored model also takes its physics part, as the job does
    patches: list[dict[str, np.ndarray]] = []

    def record(batch: dict[str, np.ndarray]) -> np.ndarray:
        patches.append({k: np.array(v) for k, v in batch.items()})
        n = len(next(iter(batch.values())))
        return np.zeros((n, spec.output.patch, spec.output.patch, spec.output.n_bands), np.float32)

    # batch 1: every patch exactly once, no padding in the record
    apply_model(cubes, spec, record, chunks={"time": 1, "y": args.chunk, "x": args.chunk},
                batch_size=1).compute(scheduler="sync")  # fmt: skip
    stack = {k: np.concatenate([p[k] for p in patches]) for k in patches[0]}
    n = len(next(iter(stack.values())))
    rows = []
    for b in (int(x) for x in args.bare_batches.split(",")):
        batches = []
        for i in range(0, n, b):  # the last batch padded to b, as the job pads it
            part = {k: v[i : i + b] for k, v in stack.items()}
            m = len(next(iter(part.values())))
            pad = ((0, b - m), (0, 0), (0, 0), (0, 0))
            batches.append({k: np.pad(v, pad, mode="edge") for k, v in part.items()})
        predict(batches[0])  # compile this shape outside the timings
        for callers in (1, 2):
            secs, cpus = [], []
            for _ in range(args.runs):
                t0, c0 = time.perf_counter(), time.process_time()
                parts = [batches[j::callers] for j in range(callers)]
                threads = [threading.Thread(target=_run_all, args=(predict, part)) for part in parts]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                secs.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            rows.append({"batch": b, "callers": callers, "min": min(secs), "median": statistics.median(secs),
                         "cpu": statistics.median(cpus)})  # fmt: skip
    return {"patches": n, "rows": rows}


def _run_all(predict, batches: list) -> None:
    for b in batches:
        predict(b)


def _seam_model(args: argparse.Namespace, work: Path, src: Path) -> tuple[Path, dict[str, int]]:
    """The model with ``--seam-buffer`` as its stitching buffer (a copy of its folder, the spec's
    ``seam_buffer`` set, its seam error measured on a 5.76 km scene), and patches per date."""
    from xharm import simulate, zoo
    from xharm.engine.seams import seam_error
    from xharm.engine.tiling import TileSpec
    from xharm.io.zarr import open_cube
    from xharm.pipeline import with_physics
    from xharm.zoo.io import write_model_files

    spec, predict = zoo.load(zoo.resolve(args.model))
    ps = simulate.scene("2021-06-15", size_km=5.76, seed=3, cloud_cover=0.0)
    cubes = {
        k: v.compute() for k, v in with_physics({"s2_10m": ps.s2_10m, "s2_20m": ps.s2_20m}, spec).items()
    }
    err = max(seam_error(cubes, spec, predict, args.seam_buffer, shift=s) for s in (None, 10))
    ref = max(seam_error(cubes, spec, predict, spec.buffer_px, shift=s) for s in (None, 10))
    folder = work / f"model_seam{args.seam_buffer}"
    write_model_files(folder, predict.params, spec.with_seam_buffer(args.seam_buffer, err))
    print(f"seam error (max |a - b| of two tilings, 2 shifts): buffer {args.seam_buffer} px: {err:.4f}; "
          f"the spec's {spec.buffer_px} px: {ref:.4f}")  # fmt: skip
    h = open_cube(src, "s2_10m").sizes["y"] // 3
    counts = {}
    for key, b in (("default", spec.buffer_px), ("seam", args.seam_buffer)):
        tile = TileSpec.from_spec(spec, buffer=b)
        counts[key] = (tile.padded(h) // tile.keep) ** 2
    print(f"patches per date: {counts['default']} (buffer {spec.buffer_px}) -> {counts['seam']}")
    return folder, counts


def _child(argv: list[str], code: Path = ROOT) -> dict:
    """Run this script's stage in a fresh process with ``code`` first on the path; its JSON line."""
    env = {**os.environ, "PYTHONPATH": str(code) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", __file__, *argv], stdout=subprocess.PIPE, env=env, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {argv[:2]} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-km", type=float, default=20.0)
    ap.add_argument("--dates", type=int, default=6)
    ap.add_argument("--model", default="mgan-starter")
    ap.add_argument("--chunk", type=int, default=512, help="output chunk side in 30 m px (--chunk)")
    ap.add_argument("--batch", type=int, default=16, help="the job's batch size (--batch-size)")
    ap.add_argument("--in-flight", type=int, default=2, help="the job's regions in flight")
    ap.add_argument("--bare-batches", default="16,32,64")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before", help="another checkout whose job is timed alongside (a before figure)")
    ap.add_argument("--workdir", help="where the input store goes (default: a temp folder)")
    ap.add_argument("--reuse-input", action="store_true", help="reuse the input store of --workdir")
    ap.add_argument("--seam-buffer", type=int, help="also time the model with this stitching buffer (px)")
    ap.add_argument("--also", action="append", default=[], metavar="METHOD",
                    help="also time a job with this baseline method (e.g. hls_psf: the anchored "
                    "model's physics part alone), interleaved")  # fmt: skip
    ap.add_argument("--_method", dest="method", default="mgan", help=argparse.SUPPRESS)
    ap.add_argument("--_stage", dest="stage", help=argparse.SUPPRESS)
    ap.add_argument("--_src", dest="src", help=argparse.SUPPRESS)
    ap.add_argument("--_dst", dest="dst", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage in ("job", "bare"):
        print(json.dumps(_job(args) if args.stage == "job" else _bare(args)))
        return

    from xharm import simulate

    work = Path(args.workdir or tempfile.mkdtemp(prefix="xharm-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"s2_{args.size_km:g}km_{args.dates}d_seed{args.seed}.zarr"
    if not (args.reuse_input and src.exists()):
        shutil.rmtree(src, ignore_errors=True)
        t0 = time.perf_counter()
        simulate.to_zarr(str(src), n_dates=args.dates, size_km=args.size_km, seed=args.seed)
        print(f"simulated {args.size_km:g} km x {args.size_km:g} km x {args.dates} dates in "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    common = ["--chunk", str(args.chunk), "--batch", str(args.batch),
              "--in-flight", str(args.in_flight), "--runs", str(args.runs), "--_src", str(src),
              "--bare-batches", args.bare_batches]  # fmt: skip
    variants = {"job": (ROOT, args.model, "mgan")}
    if args.before:
        variants["job (before)"] = (Path(args.before).resolve(), args.model, "mgan")
    for method in args.also:
        variants[f"job ({method})"] = (ROOT, args.model, method)
    patches_per_date = {}
    if args.seam_buffer is not None:
        folder, patches_per_date = _seam_model(args, work, src)
        variants[f"job (seam {args.seam_buffer})"] = (ROOT, str(folder), "mgan")
    runs: dict[str, list[dict]] = {k: [] for k in variants}
    for r in range(args.runs):  # interleaved: every variant sees the same load
        for name, (code, model, method) in variants.items():
            dst = work / f"out_{len(runs[name])}_{r}_{os.getpid()}_{abs(hash(name))}.zarr"
            stage = ["--_stage", "job", "--_dst", str(dst), "--model", model, "--_method", method]
            res = _child([*stage, *common], code)
            shutil.rmtree(dst, ignore_errors=True)
            res["load"] = _load()
            runs[name].append(res)
            print(f"{name:<14} run {r + 1}: {res['seconds']:7.2f} s (CPU {res.get('cpu', 0):6.1f} s)  "
                  f"digest {res['digest']}  peak RSS {res['rss']:.0f} MiB  ({res['load']})",
                  flush=True)  # fmt: skip
    bare = _child(["--_stage", "bare", "--model", args.model, *common])
    bare_load = _load()
    best = min(bare["rows"], key=lambda row: row["median"])
    n0 = bare["patches"]
    print(
        f"\nbare generator on the {n0} patches of date 0 ({bare_load}); seconds min / median of {args.runs}:"
    )
    for row in bare["rows"]:
        mark = "  <- best" if row is best else ""
        print(f"  batch {row['batch']:>3}, {row['callers']} caller(s): {row['min']:6.2f} / "
              f"{row['median']:6.2f} s = {n0 / row['median']:7.1f} patches/s "
              f"(CPU {row['cpu']:.1f} s){mark}")  # fmt: skip
    bare_secs = best["median"] * args.dates  # every date has the same patch grid
    t, _, y, x = runs["job"][0]["shape"]
    area = args.size_km**2 * args.dates
    print(f"\n{args.size_km:g} km x {args.size_km:g} km x {args.dates} dates ({t * y * x / 1e6:.2f} Mpx "
          f"out), chunk {args.chunk}, batch {args.batch}, in flight {args.in_flight}, "
          f"{os.cpu_count()} CPUs:")  # fmt: skip
    head = ("variant", "min s", "median s", "km2/s (med)", "job/bare (med)", "job/bare (min)")
    print(f"{head[0]:<14}{head[1]:>8}{head[2]:>10}{head[3]:>13}{head[4]:>16}{head[5]:>16}")
    for name, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        lo, med = min(secs), statistics.median(secs)
        scale = (
            patches_per_date.get("seam", n0) / patches_per_date.get("default", n0) if "seam" in name else 1
        )
        print(f"{name:<14}{lo:>8.2f}{med:>10.2f}{area / med:>13.1f}{scale * bare_secs / med:>16.3f}"
              f"{scale * best['min'] * args.dates / lo:>16.3f}")  # fmt: skip
    print(f"{'bare (best)':<14}{best['min'] * args.dates:>8.2f}{bare_secs:>10.2f}{area / bare_secs:>13.1f}")
    print("CPU seconds (load-independent: what the other jobs on the machine cannot take), median:")
    for name, rs in runs.items():
        cpu = statistics.median(r["cpu"] for r in rs)
        scale = (
            patches_per_date.get("seam", n0) / patches_per_date.get("default", n0) if "seam" in name else 1
        )
        print(f"  {name:<14}{cpu:8.1f} s  bare / job CPU: {scale * best['cpu'] * args.dates / cpu:.3f}")
    print(f"  {'bare (best)':<14}{best['cpu'] * args.dates:8.1f} s")
    for name, rs in runs.items():
        digests = {r["digest"] for r in rs}
        agree = "runs agree" if len(digests) == 1 else "runs differ"
        print(f"{name}: output digests {sorted(digests)} ({agree})")
    print(f"load at the end: {_load()}")


if __name__ == "__main__":
    main()
