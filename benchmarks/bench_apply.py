"""Patch-engine overhead: full Zarr -> Zarr pipeline vs the bare model on the same patches.

(a) the bare jitted JAX ``PredictFn`` over a pre-cut stack of N patches (batches of B);
(b) ``harmonize_zarr``: read Zarr -> normalize -> cut patches -> predict -> stitch ->
    denormalize -> write Zarr, on a scene whose tiling gives exactly the same N patches.
Prints (b)/(a) throughput (goal >= 0.85), and the peak RSS of the pipeline for T=2 and
T=8 time steps of the same scene, each in a fresh process (goal RSS(8) <= 1.2 x RSS(2)).

The model is a small MGAN-shaped conv net in JAX (two input heads -> 30 m, two convs);
JAX is used only here, never by ``import xharm``.

Usage: ``python benchmarks/bench_apply.py [--patch30 64] [--tiles 4] [--t 2] [--batch 16]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_predict(spec, width: int = 32, seed: int = 0):
    """A jitted JAX PredictFn shaped like the MGAN heads (NumPy in, NumPy out)."""
    import jax
    import jax.numpy as jnp

    c10, c20, cout = (len(g.bands) for g in (*spec.inputs, spec.output))
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    glorot = jax.nn.initializers.glorot_uniform()
    params = {
        "h10": glorot(k[0], (3, 3, c10, width)),  # 10 m head: stride 3 -> 30 m
        "h20": glorot(k[1], (3, 3, c20, width)),  # 20 m head: x2 nearest, stride 3 -> 30 m
        "c1": glorot(k[2], (3, 3, 2 * width, width)),
        "c2": glorot(k[3], (3, 3, width, cout)),
    }

    def conv(x, w, stride=1):
        return jax.lax.conv_general_dilated(
            x, w, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    @jax.jit
    def net(p, x10, x20):
        a = jax.nn.relu(conv(x10, p["h10"], 3))
        b = jax.nn.relu(conv(jnp.repeat(jnp.repeat(x20, 2, 1), 2, 2), p["h20"], 3))
        z = jax.nn.relu(conv(jnp.concatenate([a, b], -1), p["c1"]))
        return jnp.tanh(conv(z, p["c2"]))

    names = [g.name for g in spec.inputs]

    def predict(batch):
        return np.asarray(net(params, batch[names[0]], batch[names[1]]))

    return predict


def _spec(patch30: int):
    from xharm.spec import NormStats, mgan_spec

    spec = mgan_spec(patch30)
    norm = {
        g.name: NormStats(
            g.bands,
            (0.0,) * len(g.bands),
            (0.6,) * len(g.bands),
            (0.2,) * len(g.bands),
            (0.4,) * len(g.bands),
        )
        for g in spec.groups
    }
    return spec.with_norm(norm)


def _write_scene(path: Path, spec, side30: int, nt: int) -> None:
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from xharm.core.cube import make_cube
    from xharm.io.zarr import write_cube

    rng = np.random.default_rng(0)
    for g in spec.inputs:
        n = int(side30 * 30 / g.resolution)
        gbox = GeoBox((n, n), Affine(g.resolution, 0, 600000.0, 0, -g.resolution, 5000000.0), "EPSG:32632")
        for t in range(nt):  # written one date at a time: the source is never whole in memory
            data = rng.random((1, len(g.bands), n, n), dtype=np.float32) * 0.5
            cube = make_cube(data, geobox=gbox, bands=g.bands, sensor="S2A", time=[f"2021-01-{t + 1:02d}"])
            if t == 0:
                write_cube(cube, path, group=g.name, mode="a")
            else:
                cube.to_dataset(name="reflectance").drop_vars(
                    ["band", "common_name", "spatial_ref", "y", "x"]
                ).to_zarr(path, group=g.name, append_dim="time", consolidated=False)


def prepare(
    patch30: int, tiles: int, nt: int, batch: int, workdir: Path, stack: bool = True, width: int = 32
):
    """Write the source scene (untimed); returns (spec, src, side, predict, pre-cut stack)."""
    from xharm.engine.tiling import TileSpec

    spec = _spec(patch30)
    side = tiles * TileSpec.from_spec(spec).keep
    src = workdir / "src.zarr"
    _write_scene(src, spec, side, nt)
    predict = make_predict(spec, width=width)
    n = nt * tiles * tiles if stack else batch
    rng = np.random.default_rng(1)
    pre = {g.name: rng.random((n, g.patch, g.patch, len(g.bands)), dtype=np.float32) for g in spec.inputs}
    predict({k: v[:batch] for k, v in pre.items()})  # compile for the batch shape outside the timings
    return spec, src, side, predict, pre


def time_pipeline(spec, src: Path, dst: Path, side: int, predict, batch: int) -> float:
    """(b): harmonize_zarr, Zarr -> Zarr, threaded scheduler."""
    import dask

    from xharm.jobs import harmonize_zarr

    with dask.config.set(scheduler="threads"):
        t0 = time.perf_counter()
        harmonize_zarr(src, dst, spec, predict, chunks={"time": 1, "y": side, "x": side}, batch_size=batch)
        return time.perf_counter() - t0


def time_bare(predict, stack: dict, batch: int) -> float:
    """(a): the bare PredictFn over the pre-cut stack."""
    n = len(next(iter(stack.values())))
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        predict({k: v[i : i + batch] for k, v in stack.items()})
    return time.perf_counter() - t0


def _rss_mb() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch30", type=int, default=64)
    ap.add_argument("--tiles", type=int, default=8, help="kept patch centres per side")
    ap.add_argument("--t", type=int, default=4, help="time steps for the throughput run")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=32, help="conv width of the benchmark net")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:  # one pipeline run in a fresh process, for its peak RSS
        with tempfile.TemporaryDirectory() as d:
            spec, src, side, predict, _ = prepare(
                a.patch30, a.tiles, a.child, a.batch, Path(d), False, a.width
            )
            base = _rss_mb()
            peak = [base]
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], _rss_mb())
                    time.sleep(0.002)

            th = threading.Thread(target=sample)
            th.start()
            time_pipeline(spec, src, Path(d) / "dst.zarr", side, predict, a.batch)
            stop.set()
            th.join()
        print(
            json.dumps(
                {
                    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "before_mb": base,
                    "peak_mb": peak[0],
                }
            )
        )
        return
    with tempfile.TemporaryDirectory() as d:
        spec, src, side, predict, stack = prepare(a.patch30, a.tiles, a.t, a.batch, Path(d), True, a.width)
        ta, tb = [], []
        for r in range(a.repeat):  # interleaved, best of each (the machine may be shared)
            ta.append(time_bare(predict, stack, a.batch))
            tb.append(time_pipeline(spec, src, Path(d) / f"dst{r}.zarr", side, predict, a.batch))
    n = a.t * a.tiles * a.tiles
    ta, tb = min(ta), min(tb)
    print(
        f"N={n} patches (patch30={a.patch30}, width={a.width}, batch={a.batch}, T={a.t}); best of {a.repeat}"
    )
    print(f"(a) bare PredictFn : {n / ta:8.2f} patches/s  ({ta:.3f} s)")
    print(f"(b) full pipeline  : {n / tb:8.2f} patches/s  ({tb:.3f} s)")
    print(f"(b)/(a) throughput : {ta / tb:.3f}   (goal >= 0.85)")
    rss = {}
    for t in (2, 8):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(t),
            "--patch30",
            str(a.patch30),
            "--tiles",
            str(a.tiles),
        ]
        cmd += ["--width", str(a.width), "--batch", str(a.batch)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        rss[t] = r["peak_mb"]
        print(
            f"T={t}: peak RSS during the pipeline {r['peak_mb']:.0f} MB (before it {r['before_mb']:.0f} MB; "
            f"process high-water mark incl. setup {r['maxrss_mb']:.0f} MB)"
        )
    print(f"RSS(T=8) / RSS(T=2): {rss[8] / rss[2]:.3f}   (goal <= 1.2)")


if __name__ == "__main__":
    main()
