"""Train DSen2 by the Wald protocol on real Sentinel-2 scenes (NumPy in, Flax params out).

Wald protocol (Lanaras et al. 2018, after Wald et al. 1997): with no 10 m truth for the
20 m bands, degrade *every* observed band by the scale factor with the sensor's MTF
(:func:`xharm.sharpening.mtf.degrade`) - 10 m -> 20 m, 20 m -> 40 m - and learn to recover
the observed 20 m bands from the degraded ones; at full resolution the same network
then maps 20 m -> 10 m, assuming the mapping is scale invariant. The 60 m network is
trained the same way at 6x (10 -> 60 m, 20 -> 120 m, 60 -> 360 m).

Scenes are ``{10: (C, H, W), 20: ..., 60: ...}`` reflectance arrays on nested grids.
Loss: L1 in DSen2's normalized units (reflectance / 0.2), as the paper. Optimizer:
Adam (the paper: lr 1e-4; the CPU starter uses a larger rate with cosine decay, see
the model card). A pure jitted ``train_step(params, opt_state, batch)``; this file
imports no xarray or Dask.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..exceptions import ConfigError, DimensionError, describe
from ..models.dsen2 import DSen2, DSen2Config
from ..sharpening.classic import hpf
from ..sharpening.mtf import DEFAULT_MTF, degrade
from ..spec import ANCHOR_GROUP
from ..zoo.dsen2 import REFLECTANCE_SCALE, init_params
from .checkpoint import Checkpointer
from .parallel import AXIS, replicate, resolve_devices, shard_batch, unreplicate

__all__ = ["FitHistory", "fit_dsen2", "make_train_step", "sample_batch", "wald_pairs"]

Scene = Mapping[int, np.ndarray]
_RES = {"s2_10m": 10, "s2_20m": 20, "s2_60m": 60}


def _crop(a: np.ndarray, m: int) -> np.ndarray:
    return a[..., : a.shape[-2] // m * m, : a.shape[-1] // m * m]


def wald_pairs(
    scene: Scene, scale: int, *, mtf: float = DEFAULT_MTF, anchor: str = "bilinear"
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Degraded inputs ``{group: (H_g, W_g, C)}`` and the target ``(H, W, C)`` of one scene.

    The target is the observed coarse band (20 m for ``scale=2``, 60 m for 6) and the
    inputs are all bands degraded by ``scale``; arrays are normalized (reflectance / 0.2).
    ``anchor="hpf"`` adds the group ``"physics"``: the classical high-pass injection
    (:func:`xharm.sharpening.classic.hpf`) of the degraded scene, on the target grid, with
    its regression fitted on the whole scene as :func:`xharm.sharpen` fits it on a whole date.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = {10: rng.random((4, 16, 16)), 20: rng.random((6, 8, 8))}
    >>> x, y = wald_pairs(scene, 2)
    >>> {k: v.shape for k, v in x.items()}, y.shape
    ({'s2_10m': (8, 8, 4), 's2_20m': (4, 4, 6)}, (8, 8, 6))
    """
    coarse = 20 if scale == 2 else 60
    groups = ("s2_10m", "s2_20m") if scale == 2 else ("s2_10m", "s2_20m", "s2_60m")
    # crop so that every grid degrades to whole pixels and all grids keep nesting
    n_coarse = min(scene[_RES[g]].shape[-2] * _RES[g] // (coarse * scale) for g in groups)
    m_coarse = min(scene[_RES[g]].shape[-1] * _RES[g] // (coarse * scale) for g in groups)
    if n_coarse < 2 or m_coarse < 2:
        raise DimensionError(
            describe("scene too small for the Wald protocol", found={k: v.shape for k, v in scene.items()})
        )
    inputs = {}
    for g in groups:
        f = coarse * scale // _RES[g]  # pixels of this grid per degraded-coarse pixel
        a = np.asarray(scene[_RES[g]], np.float64)[:, : n_coarse * f, : m_coarse * f]
        inputs[g] = np.moveaxis(degrade(a, scale, mtf=mtf), 0, -1).astype(np.float32) / REFLECTANCE_SCALE
    if anchor == "hpf":
        c = inputs[groups[-1]] * REFLECTANCE_SCALE
        est = hpf(
            np.moveaxis(c, -1, 0), np.moveaxis(inputs["s2_10m"] * REFLECTANCE_SCALE, -1, 0), scale, mtf=mtf
        )
        inputs[ANCHOR_GROUP] = np.moveaxis(est, 0, -1) / REFLECTANCE_SCALE
    ft = scale  # target (observed coarse) px per degraded-coarse px
    target = np.asarray(scene[coarse], np.float32)[:, : n_coarse * ft, : m_coarse * ft]
    return inputs, np.moveaxis(target, 0, -1) / REFLECTANCE_SCALE


def sample_batch(
    pairs: Sequence[tuple[Mapping[str, np.ndarray], np.ndarray]],
    config: DSen2Config,
    patch: int,
    n: int,
    rng: np.random.Generator,
    *,
    gain: float = 1.0,
    band_gain: float = 1.0,
) -> dict[str, np.ndarray]:
    """``n`` random patches (target side ``patch``) with random flips / 90 deg rotations.

    Radiometric augmentation (the Wald mapping is linear in reflectance, so scaled inputs
    have a scaled target): each patch is multiplied by a log-uniform factor in
    ``[1 / gain, gain]``, and each band by one in ``[1 / band_gain, band_gain]`` (the same
    factor for a coarse band as input and as target). ``1.0`` turns either off.

    Returns the network's inputs by group name and ``"target"``.
    """
    s = config.scale
    q = 6 if s == 6 else 2  # the degraded grid's coarsest input pixel in target px
    out: dict[str, list[np.ndarray]] = {g: [] for g in (*config.groups, "target")}
    for _ in range(n):
        x, y = pairs[int(rng.integers(len(pairs)))]
        hy, wy = y.shape[:2]
        i = int(rng.integers((hy - patch) // q + 1)) * q
        j = int(rng.integers((wy - patch) // q + 1)) * q
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        g0 = np.exp(rng.uniform(-np.log(gain), np.log(gain)))
        per = {
            gname: g0 * np.exp(rng.uniform(-np.log(band_gain), np.log(band_gain), x[gname].shape[-1]))
            for gname in config.groups
        }
        # the target and the HPF estimate scale with their coarse band (HPF is linear in it,
        # and invariant to a gain on the 10 m guide)
        per["target"] = per[config.coarse_group]
        if ANCHOR_GROUP in per:
            per[ANCHOR_GROUP] = per[config.coarse_group]
        # target px per group px: s2_10m 1, s2_20m 2 (scale 2) / ... (in the degraded world)
        for g in config.groups:
            r = {"s2_10m": 1, "s2_20m": 2, "s2_60m": 6, ANCHOR_GROUP: 1}[g]
            a = x[g][i // r : (i + patch) // r, j // r : (j + patch) // r]
            a = np.rot90(a[:, ::-1] if flip else a, k)
            out[g].append(a * per[g].astype(np.float32))
        t = y[i : i + patch, j : j + patch]
        out["target"].append(np.rot90(t[:, ::-1] if flip else t, k) * per["target"].astype(np.float32))
    return {g: np.ascontiguousarray(np.stack(v)) for g, v in out.items()}


def make_train_step(
    config: DSen2Config,
    tx: optax.GradientTransformation,
    devices: Sequence[jax.Device] | None = None,
    *,
    ema: float = 0.0,
    correction_weight: float = 0.0,
) -> Callable[..., Any]:
    """``step(params, (opt_state, ema_params), batch) -> (params, (opt_state, ema_params), loss)``, compiled.

    Loss: L1 to the target, plus, for an anchored network, ``correction_weight`` times the
    mean absolute correction (output minus its physical anchor): a correction then survives
    only where it lowers the L1 by more than that rate, so the network stays at physics
    where the data do not consistently say otherwise. ``ema``: decay of the exponential
    moving average of the parameters kept beside the optimizer state (0: a copy of them).

    One device: jitted. Several ``devices``: ``jax.pmap`` over them (the MGAN loop's axis,
    :data:`~xharm.train.parallel.AXIS`): parameters and optimizer state replicated, the batch
    split into one equal share per device (:func:`~xharm.train.parallel.shard_batch`),
    gradients and loss averaged with ``lax.pmean``, so a step equals the one-device step on
    the same global batch.
    """
    net = DSen2(config)

    if correction_weight and config.anchor == "bilinear":
        raise ConfigError(
            describe(
                "correction_weight needs an anchored network",
                expected="DSen2Config(anchor='hpf')",
                found=config.anchor,
            )
        )

    def loss_fn(params: Any, batch: Mapping[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        pred = jnp.asarray(net.apply({"params": params}, *(batch[g] for g in config.groups)))
        l1 = jnp.mean(jnp.abs(pred - batch["target"]))
        if not correction_weight:
            return l1, l1
        return l1 + correction_weight * jnp.mean(jnp.abs(pred - batch[ANCHOR_GROUP])), l1

    parallel = devices is not None and len(devices) > 1

    def step(params: Any, state: Any, batch: Mapping[str, jax.Array]) -> tuple[Any, Any, jax.Array]:
        opt_state, avg = state
        (_, l1), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch)
        if parallel:
            l1, grads = jax.lax.pmean((l1, grads), AXIS)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        avg = jax.tree_util.tree_map(lambda a, p: ema * a + (1.0 - ema) * p, avg, params) if ema else params
        return params, (opt_state, avg), l1

    if not parallel:
        return jax.jit(step)
    pstep = jax.pmap(step, axis_name=AXIS, devices=devices)
    n = len(devices)  # type: ignore[arg-type]

    def run(params: Any, opt_state: Any, batch: Mapping[str, Any]) -> tuple[Any, Any, jax.Array]:
        params, opt_state, loss = pstep(params, opt_state, shard_batch(batch, n))
        return params, opt_state, loss[0]

    return run


@dataclass
class FitHistory:
    """Training record: ``(step, train L1, validation L1 or NaN, seconds)`` rows."""

    rows: list[tuple[int, float, float, float]] = field(default_factory=list)


def _val_loss(config: DSen2Config, params: Any, val: dict[str, np.ndarray]) -> float:
    net = DSen2(config)
    pred = net.apply({"params": params}, *(jnp.asarray(val[g]) for g in config.groups))
    return float(jnp.mean(jnp.abs(pred - val["target"])))


def fit_dsen2(
    scenes: Sequence[Scene],
    config: DSen2Config,
    *,
    steps: int = 1000,
    batch: int = 16,
    patch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    val_scenes: Sequence[Scene] = (),
    eval_every: int = 100,
    time_limit_s: float | None = None,
    gain: float = 1.0,
    band_gain: float = 1.0,
    mtf: float = DEFAULT_MTF,
    init: Any = None,
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 500,
    devices: int | None = 1,
    ema: float = 0.0,
    correction_weight: float = 0.0,
    log: Callable[[str], None] | None = print,
) -> tuple[Any, FitHistory]:
    """Train a DSen2 network on ``scenes`` by the Wald protocol; returns ``(params, history)``.

    ``val_scenes`` (other places and dates) give a validation L1 every ``eval_every``
    steps; training stops early after ``time_limit_s`` seconds. ``gain`` / ``band_gain``:
    radiometric augmentation (:func:`sample_batch`); ``init``: parameters to continue from.

    ``checkpoint_dir``: Orbax checkpoints of parameters and optimizer state every
    ``checkpoint_every`` steps and at the end (:class:`~xharm.train.checkpoint.Checkpointer`),
    with the batch sampler's random state and the history beside them; a rerun with the same
    arguments resumes from the newest one and ends with the same parameters as an
    uninterrupted run.

    ``ema`` / ``correction_weight``: see :func:`make_train_step`; with ``ema`` the averaged
    parameters are validated and returned.

    ``devices``: local devices to train on, data-parallel (None: all); ``batch`` is the global
    batch and must split evenly over them. On CPU, simulate devices with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``.
    """
    devs = resolve_devices(devices)
    if batch % len(devs):
        raise ConfigError(
            describe(
                f"a batch of {batch} patches cannot be split over {len(devs)} devices",
                expected=f"a multiple of {len(devs)}",
                found=batch,
                fix="make the batch a multiple of the device count",
            )
        )
    pairs = [wald_pairs(s, config.scale, mtf=mtf, anchor=config.anchor) for s in scenes]
    rng = np.random.default_rng(seed)
    val = None
    if val_scenes:
        vpairs = [wald_pairs(s, config.scale, mtf=mtf, anchor=config.anchor) for s in val_scenes]
        val = sample_batch(vpairs, config, patch, 64, np.random.default_rng(seed + 1))
    params = init_params(config, patch, seed) if init is None else init
    sched = optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.01)
    tx = optax.adam(sched)
    opt_state = (tx.init(params), params)  # the optimizer's state and the parameters' average
    step_fn = make_train_step(config, tx, devs, ema=ema, correction_weight=correction_weight)
    hist = FitHistory()
    ckpt, start = None, 0
    if checkpoint_dir is not None:
        ckpt = Checkpointer(checkpoint_dir, every=checkpoint_every)
        start = ckpt.latest_step() or 0
        if start:
            restored = ckpt.restore({"params": params, "opt_state": opt_state}, start)  # type: ignore[arg-type]
            params, opt_state = restored["params"], restored["opt_state"]  # type: ignore[index]
            side = json.loads((Path(checkpoint_dir) / f"sampler_{start}.json").read_text())
            rng.bit_generator.state = side["rng"]
            hist.rows = [tuple(r) for r in side["rows"]]  # type: ignore[misc]
    n_dev = len(devs)
    if n_dev > 1:
        params, opt_state = replicate((params, opt_state), devs)

    def single() -> tuple[Any, Any]:
        return unreplicate((params, opt_state)) if n_dev > 1 else (params, opt_state)

    def final() -> Any:  # the parameters a run validates and returns: the average with ema
        p1, o1 = single()
        return o1[1] if ema else p1

    t0 = time.perf_counter() - (hist.rows[-1][3] if hist.rows else 0.0)
    running: list[float] = []
    for it in range(start + 1, steps + 1):
        b = sample_batch(pairs, config, patch, batch, rng, gain=gain, band_gain=band_gain)
        params, opt_state, loss = step_fn(params, opt_state, b)
        running.append(float(loss))
        last = it == steps or (time_limit_s is not None and time.perf_counter() - t0 > time_limit_s)
        if it % eval_every == 0 or last:
            v = _val_loss(config, final(), val) if val is not None else float("nan")
            row = (it, float(np.mean(running)), v, time.perf_counter() - t0)
            hist.rows.append(row)
            running = []
            if log is not None:
                log(f"step {row[0]:5d}  train L1 {row[1]:.5f}  val L1 {row[2]:.5f}  {row[3]:.0f} s")
        if ckpt is not None and (it % checkpoint_every == 0 or last):
            side = {"rng": rng.bit_generator.state, "rows": hist.rows}
            (Path(checkpoint_dir) / f"sampler_{it}.json").write_text(json.dumps(side))  # type: ignore[arg-type]
            p1, o1 = single()
            ckpt.save(it, {"params": p1, "opt_state": o1}, force=True)  # type: ignore[arg-type]
        if last:
            break
    if ckpt is not None:
        ckpt.close()
    return final(), hist
