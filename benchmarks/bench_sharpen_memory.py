"""Peak memory and time of ``xharm sharpen`` (the Zarr -> Zarr job) against the scene size.

For each scene size a fresh child process writes a synthetic Sentinel-2 L1C store (10 m
B02 B03 B04 B08 and the six 20 m bands, one date, chunked ``--src-chunk`` px at 10 m as a
tiled product is), then another fresh child runs :func:`xharm.jobs.sharpen` on it (the
path the CLI runs) and reports its own peak RSS (``VmHWM``). With ``--before DIR`` (a
checkout of an earlier commit, e.g. ``git worktree add /tmp/before HEAD~3``) the job also
runs from that code, case by case in the same run.

Usage::

    python benchmarks/bench_sharpen_memory.py [--sizes 10,20,40] [--method dsen2|hpf|bicubic]
        [--model dsen2-starter] [--chunk 1024] [--src-chunk 1024] [--consistent] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_memory import _peak_rss_mib  # the same peak-RSS probe as the harmonize job's benchmark

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

X0, Y0 = 500040.0, 5400000.0  # on the 60 m lattice, as S2 tiles are
B10 = ["B02", "B03", "B04", "B08"]
B20 = ["B05", "B06", "B07", "B8A", "B11", "B12"]


def _make_store(path: str, size_km: float, src_chunk: int) -> None:
    """A synthetic S2 L1C store of one date: smooth random fields, 10 m bands a mix of them."""
    import dask.array as da
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from xharm.core.cube import make_cube
    from xharm.io.zarr import write_cube

    n10 = round(size_km * 1000 / 60) * 6  # whole 60 m cells: the 10 m and 20 m grids nest
    attrs = {"processing_level": "L1C", "product": "synthetic S2 L1C (bench_sharpen_memory)"}
    for name, res, bands, chunk in (("s2_10m", 10, B10, src_chunk), ("s2_20m", 20, B20, src_chunk // 2)):
        n = n10 * 10 // res
        rs = da.random.RandomState(1)
        base = rs.uniform(0.05, 0.35, size=(1, 1, n, n), chunks=(1, 1, chunk, chunk))
        data = da.concatenate([base * (0.8 + 0.05 * i) + 0.01 * i for i in range(len(bands))], axis=1)
        gbox = GeoBox((n, n), Affine(res, 0.0, X0, 0.0, -res, Y0), "EPSG:32633")
        cube = make_cube(data.astype(np.float32), geobox=gbox, bands=bands, sensor="sentinel-2a",
                         time=["2021-06-01"], attrs=attrs)  # fmt: skip
        write_cube(cube, path, group=name, mode="a" if name != "s2_10m" else "w")


def _job(src: str, dst: str, method: str, model: str | None, chunk: int, consistent: bool) -> dict:
    from xharm import jobs

    t0 = time.perf_counter()
    out = jobs.sharpen(src, dst, method=method, model=model, chunk=chunk, consistent=consistent)
    return {"seconds": time.perf_counter() - t0, "shape": list(out.shape), "rss": _peak_rss_mib()}


def _child(argv: list[str], code: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, __file__, *argv, "--_code", str(code)], stdout=subprocess.PIPE, env=env, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {argv[:2]} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,20,40", help="scene sides in km")
    ap.add_argument("--method", default="dsen2")
    ap.add_argument("--model", default=None, help="default: the bundled dsen2-starter")
    ap.add_argument("--chunk", type=int, default=1024, help="output chunk side (10 m px), as --chunk")
    ap.add_argument("--src-chunk", type=int, default=1024, help="input chunk side at 10 m (20 m: half)")
    ap.add_argument("--consistent", action="store_true", help="with the consistency projection")
    ap.add_argument("--before", help="a checkout of an earlier commit: run its job too, same cases")
    ap.add_argument("--workdir")
    ap.add_argument("--_stage", dest="stage", help=argparse.SUPPRESS)
    ap.add_argument("--_src", dest="src", help=argparse.SUPPRESS)
    ap.add_argument("--_dst", dest="dst", help=argparse.SUPPRESS)
    ap.add_argument("--_km", dest="km", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--_code", dest="code", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.code:
        sys.path.insert(0, args.code)  # the child imports xharm from the code it was started for
    if args.stage == "make":
        _make_store(args.src, args.km, args.src_chunk)
        print(json.dumps({"ok": True}))
        return
    if args.stage == "job":
        print(json.dumps(_job(args.src, args.dst, args.method, args.model, args.chunk, args.consistent)))
        return

    sizes = [float(x) for x in args.sizes.split(",")]
    codes = {"now": ROOT, **({"before": Path(args.before).resolve()} if args.before else {})}
    work = Path(args.workdir or tempfile.mkdtemp(prefix="xharm-sharpen-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"xharm sharpen --method {args.method}{' --consistent' if args.consistent else ''} "
          f"(model {args.model or 'default'}), output chunk "
          f"{args.chunk} px, input chunks {args.src_chunk} px at 10 m, 1 date; {os.cpu_count()} CPUs; "
          f"load {load}")  # fmt: skip
    print(f"{'km':>6}{'code':>8}{'seconds':>10}{'peak RSS MiB':>14}")
    rss: dict[tuple[str, float], float] = {}
    for km in sizes:
        src = work / f"in_{km:g}km.zarr"
        shutil.rmtree(src, ignore_errors=True)
        _child(["--_stage", "make", "--_src", str(src), "--_km", str(km), "--src-chunk", str(args.src_chunk)])
        for name, code in codes.items():
            dst = work / f"out_{km:g}km_{name}.zarr"
            shutil.rmtree(dst, ignore_errors=True)
            argv_job = ["--_stage", "job", "--_src", str(src), "--_dst", str(dst), "--method", args.method,
                        "--chunk", str(args.chunk)]  # fmt: skip
            argv_job += ["--model", args.model] if args.model else []
            argv_job += ["--consistent"] if args.consistent else []
            res = _child(argv_job, code)
            rss[(name, km)] = res["rss"]
            print(f"{km:>6g}{name:>8}{res['seconds']:>10.1f}{res['rss']:>14.0f}", flush=True)
            shutil.rmtree(dst, ignore_errors=True)
        shutil.rmtree(src, ignore_errors=True)
    lo, hi = min(sizes), max(sizes)
    for name in codes:
        print(f"{name}: RSS({hi:g} km) / RSS({lo:g} km) = {rss[(name, hi)] / rss[(name, lo)]:.3f}")
    print("load", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
