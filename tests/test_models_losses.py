"""Losses against hand-computed values (eqs. 2-4 of Sedona et al. 2021)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xharm.models.losses import (
    l1_loss,
    masked_mean,
    relativistic_d_loss,
    relativistic_g_loss,
    spectral_angle_loss,
)


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def test_l1_hand_values():
    p = jnp.array([[1.0, -2.0], [0.5, 0.0]])
    t = jnp.array([[0.0, 2.0], [0.5, 1.0]])
    assert float(l1_loss(p, t)) == pytest.approx((1 + 4 + 0 + 1) / 4)
    assert float(l1_loss(p, t, weight=100.0)) == pytest.approx(150.0)


def test_relativistic_losses_hand_values():
    real = jnp.array([1.0, 3.0])  # mean 2
    fake = jnp.array([0.0, -2.0])  # mean -1
    # D: -mean log sigmoid(real + 1) - mean log(1 - sigmoid(fake - 2))
    #  = mean softplus(-[2, 4]) + mean softplus([-2, -4])
    d = 0.5 * (softplus(-2) + softplus(-4)) + 0.5 * (softplus(-2) + softplus(-4))
    assert float(relativistic_d_loss(real, fake)) == pytest.approx(d, rel=1e-6)
    # G: -mean log(1 - sigmoid(real + 1)) - mean log sigmoid(fake - 2)
    g = 0.5 * (softplus(2) + softplus(4)) + 0.5 * (softplus(2) + softplus(4))
    assert float(relativistic_g_loss(real, fake)) == pytest.approx(g, rel=1e-6)


def test_equal_logits_give_two_log_two():
    z = jnp.full((3, 4, 4, 1), 0.7)
    assert float(relativistic_d_loss(z, z)) == pytest.approx(2 * math.log(2), rel=1e-6)
    assert float(relativistic_g_loss(z, z)) == pytest.approx(2 * math.log(2), rel=1e-6)


def test_stable_for_extreme_logits():
    real = jnp.array([500.0, -500.0])
    fake = jnp.array([-800.0, 900.0])
    for fn in (relativistic_d_loss, relativistic_g_loss):
        value, grad = jax.value_and_grad(fn, argnums=(0, 1))(real, fake)
        assert np.isfinite(float(value))
        assert all(np.isfinite(np.asarray(g)).all() for g in grad)
    # a perfect discriminator: D loss ~ 0, G loss large
    r, f = jnp.array([100.0, 100.0]), jnp.array([-100.0, -100.0])
    assert float(relativistic_d_loss(r, f)) == pytest.approx(0.0, abs=1e-6)
    assert float(relativistic_g_loss(r, f)) == pytest.approx(400.0, rel=1e-6)


def test_axis_name_gives_global_relativistic_means():
    """Split over a named axis: the mean of per-shard losses equals the loss of the whole batch."""
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.normal(size=(4, 3, 3, 1)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(4, 3, 3, 1)) - 1, jnp.float32)
    for fn in (relativistic_d_loss, relativistic_g_loss):
        whole = fn(real, fake)
        shards = jax.vmap(lambda a, b, fn=fn: fn(a, b, axis_name="d"), axis_name="d")(
            real.reshape(2, 2, 3, 3, 1), fake.reshape(2, 2, 3, 3, 1)
        )
        assert float(jnp.mean(shards)) == pytest.approx(float(whole), rel=1e-6)
        no_axis = jax.vmap(fn)(real.reshape(2, 2, 3, 3, 1), fake.reshape(2, 2, 3, 3, 1))
        assert abs(float(jnp.mean(no_axis)) - float(whole)) > 1e-4  # local means differ


def test_spectral_angle_hand_values():
    p = jnp.array([[[1.0, 0.0, 0.0], [2.0, 2.0, 0.0]], [[0.0, 3.0, 0.0], [0.1, 0.2, 0.3]]])
    t = jnp.array([[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], [[0.0, 0.0, 5.0], [0.2, 0.4, 0.6]]])
    # 45 deg, 0 (same direction, other length), 90 deg, 0
    expected = (math.pi / 4 + 0.0 + math.pi / 2 + 0.0) / 4
    assert float(spectral_angle_loss(p, t)) == pytest.approx(expected, abs=1e-6)
    # opposite spectra: 180 deg (atan2 keeps the obtuse side, unlike asin of the cross term)
    assert float(spectral_angle_loss(-t[:1, :1], t[:1, :1])) == pytest.approx(math.pi, abs=1e-6)


def test_spectral_angle_is_accurate_for_dark_pixels_in_float32():
    """Water-like reflectances near 0.01: the angle must not be swamped by float32 rounding."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0.002, 0.03, (500, 6))
    p = t * (1 + rng.normal(0, 0.02, t.shape))
    cos = (p * t).sum(-1) / np.linalg.norm(p, axis=-1) / np.linalg.norm(t, axis=-1)
    exact = np.arccos(np.clip(cos, -1, 1)).mean()
    got = float(spectral_angle_loss(jnp.asarray(p, jnp.float32), jnp.asarray(t, jnp.float32)))
    assert got == pytest.approx(exact, rel=1e-3)


def test_spectral_angle_gradient_is_finite_when_parallel():
    t = jnp.array([[0.02, 0.03, 0.05, 0.3, 0.2, 0.1]])
    for p in (t, 2.0 * t, t + 1e-7):
        g = jax.grad(lambda q: spectral_angle_loss(q, t))(p)
        assert bool(jnp.all(jnp.isfinite(g)))
    # away from parallel the gradient turns p towards t: a small step lowers the angle
    p = t.at[0, 0].set(0.1)
    g = jax.grad(lambda q: spectral_angle_loss(q, t))(p)
    assert float(spectral_angle_loss(p - 1e-3 * g / jnp.linalg.norm(g), t)) < float(spectral_angle_loss(p, t))


def test_masked_losses_skip_the_pixels_under_a_hole():
    rng = np.random.default_rng(1)
    p = jnp.asarray(rng.uniform(0.01, 0.4, (2, 4, 4, 3)), jnp.float32)
    t = jnp.asarray(rng.uniform(0.01, 0.4, (2, 4, 4, 3)), jnp.float32)
    keep = np.ones((2, 4, 4), np.float32)
    keep[0, :2] = 0  # half of the first patch is a hole
    err = np.abs(np.asarray(p) - np.asarray(t)).mean(-1)
    expected = 0.5 * (err[0, 2:].mean() + err[1].mean())  # per-patch means, then the mean
    assert float(l1_loss(p, t, weight=2.0, keep=jnp.asarray(keep))) == pytest.approx(2 * expected, rel=1e-5)
    # whatever the prediction does under the hole, the losses do not change
    p2 = p.at[0, :2].set(5.0)
    for loss in (l1_loss, spectral_angle_loss):
        assert float(loss(p2, t, keep=jnp.asarray(keep))) == pytest.approx(
            float(loss(p, t, keep=jnp.asarray(keep)))
        )
    # all-ones keep = the plain mean
    ones = jnp.ones((2, 4, 4))
    assert float(spectral_angle_loss(p, t, ones)) == pytest.approx(float(spectral_angle_loss(p, t)), rel=1e-6)
    assert float(masked_mean(jnp.ones((1, 2, 2)), jnp.zeros((1, 2, 2)))) == 0.0  # an all-hole patch adds 0
