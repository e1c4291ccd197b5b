"""One MGAN training step and one evaluation step, as pure functions.

``train_step(state, batch) -> (state, metrics)`` updates the generator and the
discriminator simultaneously from one generator forward pass:

* G: ``l1_weight * L1(G(x), y) + L_G^Ra`` (eqs. 2 and 4), plus, when
  ``sam_weight > 0``, ``sam_weight * SAM(G(x), y)`` (mean spectral angle in radians,
  taken in reflectance units: prediction and target are un-normalized with the
  target's ``(scale, offset)`` first), D held fixed;
* D: ``L_D^Ra`` (eq. 3) on ``G(x)`` with the gradient stopped;

both through DiffAugment with the same per-patch transform for real and fake.
With ``input_holes > 0`` that share of patches gets a masked-out rectangle in its
inputs (:func:`xharm.models.augment.input_holes`, the way masked clouds reach the
generator at inference) and the L1 and angle terms skip the pixels under it.
Random numbers (dropout, augmentation) derive from ``(state.key, step, patch id)``,
so they do not depend on how the batch is split over devices. With ``axis_name``
(inside ``pmap``, see :mod:`xharm.train.parallel`) gradients and metrics are
averaged over devices with ``lax.pmean`` and the relativistic means are global.

A batch is a dict keyed by the groups of ``cfg.model.spec()``: ``"s2_10m"`` (N, 3P, 3P, 4),
``"s2_20m"`` (N, 1.5P, 1.5P, 2), ``"l8"`` (N, P, P, 6), normalized float32, and ``"id"``
(N,) int32 patch indices.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax

from ..exceptions import ConfigError, describe
from ..models.augment import diff_augment, input_holes
from ..models.losses import (
    l1_loss,
    relativistic_d_loss,
    relativistic_g_loss,
    spectral_angle,
    spectral_angle_loss,
)
from ..models.mgan import apply_groups, condition_30m
from ..spec import ANCHOR_GROUP
from .config import TrainConfig
from .state import STREAM_PRNG, GANState, make_models, make_optimizers

__all__ = [
    "Batch",
    "Metrics",
    "TargetNorm",
    "as_target_norm",
    "check_target_norm",
    "jit_eval_step",
    "jit_train_step",
    "make_eval_step",
    "make_train_step",
    "patch_keys",
]

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
TargetNorm = tuple[tuple[float, ...], tuple[float, ...]]  # per output band (scale, offset)


def patch_keys(key_data: jax.Array, step: jax.Array, ids: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-patch (dropout keys, augmentation keys) for ``step``: threefry keys folded with the patch ids."""
    step_key = jax.random.fold_in(jax.random.wrap_key_data(key_data, impl=STREAM_PRNG), step)
    keys = jax.vmap(lambda i: jax.random.fold_in(step_key, i))(ids)
    drop = jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys)
    aug = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    return drop, aug


def make_train_step(
    cfg: TrainConfig, devices: int = 1, axis_name: str | None = None, target_norm: TargetNorm | None = None
) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
    """Build the pure ``train_step(state, batch) -> (state, metrics)`` for ``cfg``.

    ``devices`` sets the learning rate (scaled linearly, see
    :meth:`TrainConfig.learning_rate_for`); ``axis_name`` is the ``pmap`` axis, or None
    on one device. ``target_norm`` is the ``(scale, offset)`` per output band that
    brings normalized Landsat values back to reflectance (``x * scale + offset``); the
    spectral-angle term needs it (``cfg.sam_weight > 0``), and with it the metrics
    include ``g_sam`` (mean spectral angle of the batch, radians).

    Examples
    --------
    >>> from xharm.train.config import TrainConfig
    >>> from xharm.train.state import create_state
    >>> step = jax.jit(make_train_step(TrainConfig.preset("tiny")))
    """
    check_target_norm(cfg, target_norm)
    gen, disc = make_models(cfg)
    g_tx, d_tx = make_optimizers(cfg, devices)
    spec = cfg.model.spec()  # the batch's group names come from the model's spec
    in10, in20, out = spec.inputs[0].name, spec.inputs[1].name, spec.output.name
    anchor = ANCHOR_GROUP if spec.anchored else None

    def _mean(tree):  # type: ignore[no-untyped-def]
        return lax.pmean(tree, axis_name) if axis_name is not None else tree

    def train_step(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
        x10, x20, y = batch[in10], batch[in20], batch[out]
        phys = batch[anchor] if anchor else None
        drop_keys, aug_keys = patch_keys(state.key, state.step, batch["id"])
        keep = None
        if cfg.input_holes > 0:
            hole_keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(aug_keys)
            x10, x20, keep = input_holes(x10, x20, hole_keys, cfg.input_holes)
            if phys is not None:  # the physical baseline of a masked input is missing too (0)
                phys = phys * keep[..., None]
        m = cfg.model.skip_margin()
        if m:  # the K x K skip reads zero padding there: not part of what the model is asked
            p = y.shape[1]
            ring = jnp.zeros((p, p)).at[m : p - m, m : p - m].set(1.0)
            keep = ring[None] if keep is None else keep * ring[None]

        def aug(a: jax.Array) -> jax.Array:
            return diff_augment(a, aug_keys, cfg.augment)

        cond = aug(condition_30m(x10, x20))
        real = aug(y)
        n = y.shape[0]

        def d_logits(d_params, d_stats, fake, update_stats):  # type: ignore[no-untyped-def]
            both_c = jnp.concatenate([cond, cond])
            both_y = jnp.concatenate([real, aug(fake)])
            out = disc.apply(
                {"params": d_params, "batch_stats": d_stats},
                both_c,
                both_y,
                update_stats=update_stats,
                mutable=["batch_stats"],
            )
            logits, new_vars = out
            return logits[:n], logits[n:], new_vars["batch_stats"]

        def g_loss_fn(g_params):  # type: ignore[no-untyped-def]
            fake = gen.apply({"params": g_params}, x10, x20, drop_keys, physics=phys)
            real_logits, fake_logits, _ = d_logits(state.d_params, state.d_stats, fake, False)
            l1 = l1_loss(fake, y, keep=keep)
            adv = relativistic_g_loss(real_logits, fake_logits, axis_name)
            loss = cfg.l1_weight * l1 + adv
            sam = jnp.zeros(())
            if target_norm is not None:
                scale, offset = (jnp.asarray(v, jnp.float32) for v in target_norm)
                sam = spectral_angle_loss(fake * scale + offset, y * scale + offset, keep)
                if cfg.sam_weight > 0:
                    loss = loss + cfg.sam_weight * sam
            return loss, (fake, l1, adv, sam)

        (g_loss, (fake, l1, g_adv, g_sam)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
            state.g_params
        )
        fake = lax.stop_gradient(fake)

        def d_loss_fn(d_params):  # type: ignore[no-untyped-def]
            real_logits, fake_logits, stats = d_logits(d_params, state.d_stats, fake, True)
            loss = relativistic_d_loss(real_logits, fake_logits, axis_name)
            return loss, (stats, jnp.mean(real_logits), jnp.mean(fake_logits))

        (d_loss, (d_stats, d_real, d_fake)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            state.d_params
        )
        g_grads, d_grads = _mean((g_grads, d_grads))
        g_upd, g_opt = g_tx.update(g_grads, state.g_opt, state.g_params)
        d_upd, d_opt = d_tx.update(d_grads, state.d_opt, state.d_params)
        new_state = state.replace(  # type: ignore[attr-defined]
            step=state.step + 1,
            g_params=optax.apply_updates(state.g_params, g_upd),
            d_params=optax.apply_updates(state.d_params, d_upd),
            d_stats=d_stats,
            g_opt=g_opt,
            d_opt=d_opt,
        )
        metrics = {
            "g_loss": g_loss,
            "g_l1": l1,
            "g_adv": g_adv,
            "d_loss": d_loss,
            "d_real": d_real,
            "d_fake": d_fake,
        }
        if target_norm is not None:
            metrics["g_sam"] = g_sam
        return new_state, _mean(metrics)

    return train_step


def make_eval_step(cfg: TrainConfig) -> Callable[..., Metrics]:
    """``eval_step(g_params, batch, scale, offset, weight) -> sums`` for validation metrics.

    The generator runs without dropout; prediction and target are brought back to
    physical units with ``x * scale + offset`` (per output band) before the metrics.
    ``weight`` (N,) is 1 for real patches and 0 for padding. Returns weighted sums:
    ``abs`` (|err|), ``sq`` (err^2), ``sam`` (spectral angle in radians, per pixel),
    ``pixels`` and ``values`` counts; :func:`xharm.train.loop.evaluate` turns them into
    mean L1, RMSE and SAM.
    """
    gen, _ = make_models(cfg)
    spec = cfg.model.spec()
    inputs, out = [g.name for g in spec.inputs], spec.output.name

    def eval_step(g_params, batch: Batch, scale, offset, weight) -> Metrics:  # type: ignore[no-untyped-def]
        pred = apply_groups(gen, g_params, [batch[g] for g in inputs])
        pred = pred * scale + offset
        y = batch[out] * scale + offset
        err = pred - y
        angle = spectral_angle(pred, y)
        w = weight[:, None, None]
        pixels_per_patch = angle.shape[1] * angle.shape[2]
        return {
            "abs": jnp.sum(jnp.abs(err) * w[..., None]),
            "sq": jnp.sum(err**2 * w[..., None]),
            "sam": jnp.sum(angle * w),
            "pixels": jnp.sum(weight) * pixels_per_patch,
            "values": jnp.sum(weight) * pixels_per_patch * err.shape[-1],
        }

    return eval_step


def _step_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the fields the steps do not read reset, so compiled steps are shared."""
    return dataclasses.replace(
        cfg,
        epochs=1,
        max_steps=None,
        devices=None,
        seed=0,
        prng="rbg",
        val_fraction=0.0,
        checkpoint_every=1,
        keep_checkpoints=1,
        progress=False,
    )


@functools.lru_cache(maxsize=8)
def _jit_train_step(
    cfg: TrainConfig, devices: int, target_norm: TargetNorm | None
) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
    return jax.jit(make_train_step(cfg, devices=devices, target_norm=target_norm))


def jit_train_step(
    cfg: TrainConfig, devices: int = 1, target_norm: TargetNorm | None = None
) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
    """``jax.jit`` of :func:`make_train_step` on one device, cached per step-relevant config."""
    return _jit_train_step(_step_config(cfg), devices, as_target_norm(target_norm))


def check_target_norm(cfg: TrainConfig, target_norm: TargetNorm | None) -> None:
    """Raise :class:`ConfigError` unless ``target_norm`` fits ``cfg``: required by the
    spectral-angle term (``sam_weight > 0``), one scale and one offset per output band."""
    if cfg.sam_weight > 0 and target_norm is None:
        raise ConfigError(
            describe(
                "sam_weight > 0 needs the target normalization (scale, offset): angles are in reflectance",
                fix="pass the Landsat norm stats (norm=, or stored with the patches), or set sam_weight=0",
            )
        )
    if target_norm is not None and any(len(v) != cfg.model.out_bands for v in target_norm):
        raise ConfigError(
            describe(
                "target_norm must have one scale and one offset per output band",
                expected=cfg.model.out_bands,
                found=[len(v) for v in target_norm],
            )
        )


def as_target_norm(value: Any) -> TargetNorm | None:
    """``(scale, offset)`` sequences as a hashable tuple of float tuples (None stays None)."""
    if value is None:
        return None
    scale, offset = value
    return tuple(float(v) for v in scale), tuple(float(v) for v in offset)


@functools.lru_cache(maxsize=8)
def _jit_eval_step(cfg: TrainConfig) -> Callable[..., Metrics]:
    return jax.jit(make_eval_step(cfg))


def jit_eval_step(cfg: TrainConfig) -> Callable[..., Metrics]:
    """``jax.jit`` of :func:`make_eval_step`, cached per step-relevant config."""
    return _jit_eval_step(_step_config(cfg))
