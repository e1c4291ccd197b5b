"""Peak memory of ``xharm harmonize`` (the MGAN job): flat in the number of dates and the scene size.

For each case a fresh child process writes a synthetic Sentinel-2 L2A store (10 m B02-B08
and 20 m B8A/B11/B12, spatially chunked as a tiled product is: ``--src-chunk`` px at 10 m,
half that at 20 m), then another fresh child runs :func:`xharm.jobs.harmonize` on it (the
path the CLI runs) and reports its own peak RSS (``VmHWM``: Python, JAX, the model, the job).
Memory is the claim, so load on the machine does not matter; the input values do not either
(smooth random reflectance).

Cases: T = 2, 8, 24 dates on a ``--base-km`` scene, and 10, 40, 60 km scenes with 2 dates.
Prints RSS(T=24) / RSS(T=2) and RSS(60 km) / RSS(10 km) (goal <= 1.2 each).

Usage::

    python benchmarks/bench_memory.py [--chunk 512] [--src-chunk 1024] [--dates 2,8,24]
        [--sizes 10,40,60] [--base-km 10] [--workdir DIR] [--model mgan-starter]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

X0, Y0 = 500040.0, 5400000.0  # on the 60 m lattice, as S2 tiles are


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no /proc/self/status (Linux only)")


def _make_store(path: str, size_km: float, dates: int, src_chunk: int, seed: int = 0) -> None:
    """A synthetic S2 L2A store: smooth random reflectance, chunked ``src_chunk`` px at 10 m."""
    import dask.array as da
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from xharm.core.cube import make_cube
    from xharm.io.zarr import write_cube

    n10 = round(size_km * 1000 / 60) * 6  # whole 60 m cells: 10 m and 20 m grids nest
    times = [np.datetime64("2021-04-01") + np.timedelta64(5 * i, "D") for i in range(dates)]
    attrs = {"processing_level": "L2A", "product": "synthetic S2 L2A (bench_memory)"}
    for name, res, bands, chunk in (
        ("s2_10m", 10, ["B02", "B03", "B04", "B08"], src_chunk),
        ("s2_20m", 20, ["B8A", "B11", "B12"], src_chunk // 2),
    ):
        n = n10 * 10 // res
        rs = da.random.RandomState(seed)
        data = rs.uniform(0.02, 0.4, size=(dates, len(bands), n, n), chunks=(1, len(bands), chunk, chunk))
        gbox = GeoBox((n, n), Affine(res, 0.0, X0, 0.0, -res, Y0), "EPSG:32632")
        cube = make_cube(data.astype(np.float32), geobox=gbox, bands=bands, sensor="sentinel-2a",
                         time=times, attrs=attrs)  # fmt: skip
        # per-date angles, as the readers attach them (the anchored starter's physics part needs them)
        angles = {"sun_zenith": 35.0, "sun_azimuth": 150.0, "view_zenith": 5.0, "view_azimuth": 100.0}
        cube = cube.assign_coords({k: ("time", np.full(dates, v)) for k, v in angles.items()})
        write_cube(cube, path, group=name, mode="a" if name != "s2_10m" else "w")


def _job(src: str, dst: str, model: str, chunk: int, batch: int) -> dict:
    from xharm import jobs

    t0 = time.perf_counter()
    out = jobs.harmonize(src, dst, method="mgan", model=model, chunk=chunk, batch_size=batch)
    return {"seconds": time.perf_counter() - t0, "shape": list(out.shape), "rss": _peak_rss_mib()}


def _child(argv: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, __file__, *argv], stdout=subprocess.PIPE, env=env, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {argv[:2]} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mgan-starter")
    ap.add_argument("--chunk", type=int, default=512, help="output chunk side (30 m px), as --chunk")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--src-chunk", type=int, default=1024, help="input chunk side at 10 m (20 m: half)")
    ap.add_argument("--dates", default="2,8,24")
    ap.add_argument("--sizes", default="10,40,60")
    ap.add_argument("--base-km", type=float, default=10.0)
    ap.add_argument("--workdir")
    ap.add_argument("--_stage", dest="stage", help=argparse.SUPPRESS)
    ap.add_argument("--_src", dest="src", help=argparse.SUPPRESS)
    ap.add_argument("--_dst", dest="dst", help=argparse.SUPPRESS)
    ap.add_argument("--_km", dest="km", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--_t", dest="t", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage == "make":
        _make_store(args.src, args.km, args.t, args.src_chunk)
        print(json.dumps({"ok": True}))
        return
    if args.stage == "job":
        print(json.dumps(_job(args.src, args.dst, args.model, args.chunk, args.batch)))
        return

    dates = [int(x) for x in args.dates.split(",")]
    sizes = [float(x) for x in args.sizes.split(",")]
    cases = [(args.base_km, t) for t in dates] + [(km, min(dates)) for km in sizes]
    cases = list(dict.fromkeys(cases))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="xharm-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"MGAN job ({args.model}), output chunk {args.chunk} px, input chunks {args.src_chunk} px "
          f"at 10 m; {os.cpu_count()} CPUs; {_load()}")  # fmt: skip
    print(f"{'km':>6}{'dates':>7}{'seconds':>10}{'peak RSS MiB':>14}")
    rss: dict[tuple[float, int], float] = {}
    for km, t in cases:
        src, dst = work / f"in_{km:g}km_{t}.zarr", work / f"out_{km:g}km_{t}.zarr"
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(dst, ignore_errors=True)
        _child(["--_stage", "make", "--_src", str(src), "--_km", str(km), "--_t", str(t),
                "--src-chunk", str(args.src_chunk)])  # fmt: skip
        res = _child(["--_stage", "job", "--_src", str(src), "--_dst", str(dst), "--model", args.model,
                      "--chunk", str(args.chunk), "--batch", str(args.batch)])  # fmt: skip
        rss[(km, t)] = res["rss"]
        print(f"{km:>6g}{t:>7}{res['seconds']:>10.1f}{res['rss']:>14.0f}", flush=True)
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(dst, ignore_errors=True)
    t_lo, t_hi = min(dates), max(dates)
    k_lo, k_hi = min(sizes), max(sizes)
    print(f"\nRSS(T={t_hi}) / RSS(T={t_lo}) at {args.base_km:g} km: "
          f"{rss[(args.base_km, t_hi)] / rss[(args.base_km, t_lo)]:.3f}  (goal <= 1.2)")  # fmt: skip
    print(f"RSS({k_hi:g} km) / RSS({k_lo:g} km) at T={t_lo}: "
          f"{rss[(k_hi, t_lo)] / rss[(k_lo, t_lo)]:.3f}  (goal <= 1.2)")  # fmt: skip
    print(_load())


if __name__ == "__main__":
    main()
