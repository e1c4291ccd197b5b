"""The full-size MGAN on GPUs: generator inference and training patches/s, and pmap scaling.

Needs a JAX GPU backend (``pip install 'xharm[gpu]'``); without a visible GPU it says so
and exits with status 2 (nothing is measured on the CPU under this name).

* Inference: the paper-width generator (``MGANConfig.full()``, 128 px at 30 m), jitted,
  patches/s for each batch size of ``--infer-batches``.
* Training: one train step (generator + discriminator, the package's ``jit_train_step``),
  local batch 16 as in the paper, patches/s on one device.
* Scaling: the ``pmap`` step (:func:`xharm.train.parallel.make_parallel_step`) over 1, 2,
  4, ... visible devices, global batch = devices x 16; speed-up and efficiency against
  one device.

The paper (Sedona et al. 2021, Sec. V) reports one epoch in 175 s on one A100 and 12-14 s
on 16 GPUs (14x on JUWELS-Booster A100s, ~90 % efficiency; 12x on DEEP-ESB V100s); it does
not give the epoch's patch count, so pass ``--epoch-patches N`` to turn patches/s into
seconds per epoch, and compare speed-ups and efficiencies directly.

Usage::

    python benchmarks/bench_gpu.py [--steps 20] [--infer-batches 16,64,128] [--epoch-patches N]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

PAPER = {"epoch_s_1gpu_a100": 175.0, "epoch_s_16gpu": (12.0, 14.0), "speedup_16": (12.0, 14.0)}


def _gpus() -> list:
    import jax

    try:
        return list(jax.devices("gpu"))
    except RuntimeError:
        return []


def _batch(cfg, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    s = cfg.model.input_shapes()
    b = {g: rng.uniform(-0.5, 0.5, (n, *s[g])).astype(np.float32) for g in ("s2_10m", "s2_20m", "l8")}
    b["id"] = np.arange(n, dtype=np.int32)
    return b


def _rate(fn, n_patches: int, steps: int) -> float:
    import jax

    jax.block_until_ready(fn())  # compile
    t0 = time.perf_counter()
    out = None
    for _ in range(steps):
        out = fn()
    jax.block_until_ready(out)
    return steps * n_patches / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--infer-batches", default="16,64,128")
    ap.add_argument("--local-batch", type=int, default=16)
    ap.add_argument("--epoch-patches", type=int, help="training patches per epoch (for seconds per epoch)")
    args = ap.parse_args()
    gpus = _gpus()
    if not gpus:
        msg = "bench_gpu: no GPU visible to JAX (jax.devices('gpu') is empty); nothing measured. "
        print(msg + "Install xharm[gpu] (jax[cuda12]) on a GPU node and run it there.", file=sys.stderr)
        return 2
    import jax
    import jax.numpy as jnp

    from xharm.models.mgan import Generator
    from xharm.train.config import TrainConfig
    from xharm.train.parallel import make_parallel_step, replicate
    from xharm.train.state import create_state
    from xharm.train.step import jit_train_step

    print(f"{len(gpus)} GPU(s): {gpus[0].device_kind}; jax {jax.__version__}")
    cfg = TrainConfig.preset("full")
    state = create_state(cfg)
    gen = Generator(cfg.model)
    fwd = jax.jit(lambda p, a, c: gen.apply({"params": p}, a, c))
    print("\ninference (full-size generator, 128 px at 30 m):")
    for b in (int(x) for x in args.infer_batches.split(",")):
        bi = _batch(cfg, b)
        x10, x20 = jnp.asarray(bi["s2_10m"]), jnp.asarray(bi["s2_20m"])
        rate = _rate(lambda x10=x10, x20=x20: fwd(state.g_params, x10, x20), b, args.steps)
        print(f"  batch {b:>4}: {rate:9.1f} patches/s")

    lb = args.local_batch
    step = jit_train_step(cfg)
    one = _batch(cfg, lb)
    holder = {"s": state}

    def train_one():
        holder["s"], m = step(holder["s"], one)
        return m

    single = _rate(train_one, lb, args.steps)
    print(f"\ntraining, 1 device, batch {lb}: {single:.1f} patches/s")
    counts = [n for n in (1, 2, 4, 8, 16) if n <= len(gpus)]
    print("\npmap scaling (global batch = devices x local batch):")
    print(f"{'devices':>8}{'patches/s':>12}{'speed-up':>10}{'efficiency':>12}")
    base = None
    for n in counts:
        devs = gpus[:n]
        cfg_n = TrainConfig.preset("full")
        pstep = make_parallel_step(cfg_n, devs)
        rep = {"s": replicate(create_state(cfg_n, devices=n), devs)}
        batch = _batch(cfg_n, n * lb)

        def train_n(pstep=pstep, rep=rep, batch=batch):
            rep["s"], m = pstep(rep["s"], batch)
            return m

        rate = _rate(train_n, n * lb, args.steps)
        base = base or rate
        print(f"{n:>8}{rate:>12.1f}{rate / base:>10.2f}{rate / base / n:>12.0%}")
        if args.epoch_patches:
            print(f"{'':>8}  one epoch of {args.epoch_patches} patches: {args.epoch_patches / rate:.1f} s")
    print(f"\npaper: one epoch {PAPER['epoch_s_1gpu_a100']:.0f} s on 1 A100, 12-14 s on 16 GPUs "
          "(speed-up 14x A100 / 12x V100)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
