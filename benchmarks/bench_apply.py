"""Patch-engine overhead on the path the CLI runs: ``jobs.harmonize`` against the bare generator.

A synthetic Sentinel-2 L2A store (smooth random reflectance, spatially chunked as a tiled
product is; :func:`bench_memory._make_store`) is harmonized by :func:`xharm.jobs.harmonize`
(what ``xharm harmonize`` runs: Zarr read and decode, normalize, patch, predict, stitch,
denormalize, write, digests) and compared, in the same run, with the bare jitted generator
at its best on the very patches the job cuts (batch size and 1-2 callers tuned, last batch
padded): :mod:`bench_end_to_end` does the timing (3 runs, min / median, fresh outputs,
same thread count, CPU seconds and load averages printed). Peak memory over dates and
scene sizes: ``bench_memory.py``.

(It used to time a toy 4-convolution net through ``harmonize_zarr``, a path the CLI does
not take.)

Usage: ``python benchmarks/bench_apply.py [--size-km 10] [--dates 2] [--src-chunk 1024] [--runs 3]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    import bench_end_to_end
    import bench_memory

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-km", type=float, default=10.0)
    ap.add_argument("--dates", type=int, default=2)
    ap.add_argument("--src-chunk", type=int, default=1024, help="input chunk side at 10 m")
    ap.add_argument("--model", default="mgan-starter")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="xharm-apply-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / f"s2_{args.size_km:g}km_{args.dates}d_seed0.zarr"  # the name bench_end_to_end reuses
    bench_memory._make_store(str(src), args.size_km, args.dates, args.src_chunk)
    print(f"synthetic store: {args.size_km:g} km, {args.dates} dates, input chunks {args.src_chunk} px")
    scene = ["--size-km", f"{args.size_km:g}", "--dates", str(args.dates), "--model", args.model]
    bench_end_to_end.main([*scene, "--runs", str(args.runs), "--workdir", str(work), "--reuse-input"])


if __name__ == "__main__":
    main()
