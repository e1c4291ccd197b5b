"""MGAN throughput on this machine: training (patches/s) and generator inference (patches/s).

For each config (default: ``small`` and ``full``, 128 px at 30 m), the script times
``--steps`` training steps on one device after one warm-up (compile) step, and
``--steps`` generator forward passes. Ratios are printed against the small-config
inference measured in the same run.

Run::

    python benchmarks/bench_train.py                      # small + full
    python benchmarks/bench_train.py --configs small --train-batch 16
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from xharm.models.mgan import Generator, count_params
from xharm.train.config import TrainConfig
from xharm.train.state import create_state
from xharm.train.step import jit_train_step


def _batch(cfg: TrainConfig, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    s = cfg.model.input_shapes()
    b = {g: rng.uniform(-0.5, 0.5, (n, *s[g])).astype(np.float32) for g in ("s2_10m", "s2_20m", "l8")}
    b["id"] = np.arange(n, dtype=np.int32)
    return b


def bench(name: str, train_batch: int, infer_batch: int, steps: int) -> dict[str, float]:
    cfg = TrainConfig.preset(name)
    t0 = time.perf_counter()
    state = create_state(cfg)
    jax.block_until_ready(state)
    t_init = time.perf_counter() - t0

    step = jit_train_step(cfg)
    b = _batch(cfg, train_batch)
    t0 = time.perf_counter()
    state, m = step(state, b)
    jax.block_until_ready(m)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        state, m = step(state, b)
    jax.block_until_ready((state, m))
    train = steps * train_batch / (time.perf_counter() - t0)

    gen = Generator(cfg.model)
    fwd = jax.jit(lambda p, a, c: gen.apply({"params": p}, a, c))
    bi = _batch(cfg, infer_batch)
    x10, x20 = jnp.asarray(bi["s2_10m"]), jnp.asarray(bi["s2_20m"])
    jax.block_until_ready(fwd(state.g_params, x10, x20))
    t0 = time.perf_counter()
    for _ in range(steps):
        out = fwd(state.g_params, x10, x20)
    jax.block_until_ready(out)
    infer = steps * infer_batch / (time.perf_counter() - t0)
    return {
        "g_params": count_params(state.g_params),
        "d_params": count_params(state.d_params),
        "init_s": t_init,
        "compile_s": t_compile,
        "train": train,
        "infer": infer,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["small", "full"])
    ap.add_argument("--train-batch", type=int, default=8, help="patches per training step")
    ap.add_argument("--infer-batch", type=int, default=16, help="patches per generator call")
    ap.add_argument("--steps", type=int, default=3, help="timed steps / calls per config")
    args = ap.parse_args()
    print(
        f"backend {jax.default_backend()}, {jax.local_device_count()} device(s): "
        f"{jax.devices()[0].device_kind}"
    )
    results = {n: bench(n, args.train_batch, args.infer_batch, args.steps) for n in args.configs}
    ref_name = "small" if "small" in results else args.configs[0]
    ref = results[ref_name]["infer"]
    print(
        f"\n{'config':<7} {'G params':>11} {'D params':>10} {'init s':>7} {'compile s':>9} "
        f"{'train p/s':>10} {'infer p/s':>10} {'train/ref':>10} {'infer/ref':>10}"
    )
    for n, r in results.items():
        print(
            f"{n:<7} {r['g_params']:>11,} {r['d_params']:>10,} {r['init_s']:>7.1f} {r['compile_s']:>9.1f} "
            f"{r['train']:>10.2f} {r['infer']:>10.2f} {r['train'] / ref:>10.3f} {r['infer'] / ref:>10.3f}"
        )
    print(
        f"(ref = {ref_name} generator inference, {ref:.2f} patches/s; 128 px at 30 m, batch "
        f"{args.train_batch} train / {args.infer_batch} inference)"
    )


if __name__ == "__main__":
    main()
