"""Losses against hand-computed values (eqs. 2-4 of Sedona et al. 2021)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xharm.models.losses import l1_loss, relativistic_d_loss, relativistic_g_loss


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
