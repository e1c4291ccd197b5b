"""Sharpening throughput: ``xharm.sharpen`` (engine) vs the bare jitted network vs bicubic.

    python benchmarks/bench_sharpen.py [--size 960] [--model dsen2-starter] [--repeat 3]

Reports 10 m output Mpx/s (all six 20 m bands) for

* ``engine``: ``xharm.sharpen(cubes, method="dsen2")`` on an in-memory scene, computed with
  Dask's threaded scheduler (patch cutting, halos, normalization, stitching included);
* ``bare``: the jitted network alone on the very patches the engine cuts (same count,
  same size, same batch size), already normalized and in memory;
* ``hpf`` / ``bicubic``: ``xharm.sharpen(cubes, method="hpf" / "bicubic")`` (an
  HPF-anchored model computes ``hpf`` as its physics input, so ``engine`` includes it).

Ratios are against ``bare`` measured in the same run; the first call of each is a
warm-up (JIT compile) and not timed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=960, help="scene side in 10 m px")
    p.add_argument("--model", default="dsen2-starter")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    a = p.parse_args()

    import dask

    from xharm.engine.tiling import TileSpec
    from xharm.sharpening import sharpen
    from xharm.sharpening.api import DSen2Handle
    from xharm.sharpening.data import scene_to_cubes
    from xharm.sharpening.mtf import degrade

    rng = np.random.default_rng(0)
    n = a.size
    base = np.cumsum(np.cumsum(rng.normal(size=(n, n)), 0), 1)
    base = (base - base.min()) / np.ptp(base) * 0.3 + 0.05
    scene = {10: np.stack([base * (0.8 + 0.1 * i) for i in range(4)]).astype(np.float32)}
    scene[20] = degrade(np.stack([base * (0.9 + 0.05 * i) for i in range(6)]), 2).astype(np.float32)
    cubes = scene_to_cubes(scene)
    mpx = n * n / 1e6

    def timed(fn) -> float:
        fn()
        best = float("inf")
        for _ in range(a.repeat):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best

    handle = DSen2Handle.of(a.model)
    spec = handle.spec()
    tile = TileSpec.from_spec(spec)
    predict = handle.load()
    n_patches = (tile.padded(n) // tile.keep) ** 2
    xs = {
        g.name: rng.random((n_patches, g.patch, g.patch, len(g.bands)), dtype=np.float32) for g in spec.inputs
    }

    def bare() -> None:
        for i in range(0, n_patches, a.batch_size):
            predict({k: v[i : i + a.batch_size] for k, v in xs.items()})

    with dask.config.set(scheduler="threads"):
        t_engine = timed(lambda: sharpen(cubes, model=a.model, batch_size=a.batch_size).values)
        t_bic = timed(lambda: sharpen(cubes, method="bicubic").values)
        t_hpf = timed(lambda: sharpen(cubes, method="hpf").values)
    t_bare = timed(bare)
    print(f"scene {n} x {n} px at 10 m ({mpx:.2f} Mpx), {n_patches} patches of {spec.output.patch} px")
    print(f"model {a.model}: input groups {', '.join(xs)}")
    for name, t in (
        ("bare network", t_bare),
        ("xharm.sharpen dsen2", t_engine),
        ("xharm.sharpen hpf", t_hpf),
        ("xharm.sharpen bicubic", t_bic),
    ):
        print(f"{name:<24} {mpx / t:8.3f} Mpx/s   {t:7.2f} s   x{t_bare / t:.2f} of bare")
    if spec.anchored:  # the engine also computes the network's physics input (hpf, whole dates)
        ref = t_bare + t_hpf
        kept = ref / t_engine
        print(f"{'bare network + hpf':<24} {mpx / ref:8.3f} Mpx/s   {ref:7.2f} s   engine x{kept:.2f} of it")


if __name__ == "__main__":
    main()
