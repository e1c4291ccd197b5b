"""DiffAugment: identical transforms for real and fake, geometry, differentiability."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from xharm.exceptions import ConfigError
from xharm.models.augment import AugmentConfig, diff_augment, input_holes

KEYS = jax.random.split(jax.random.key(7), 6)
RNG = np.random.default_rng(0)
REAL = jnp.asarray(RNG.uniform(-1, 1, (6, 16, 16, 6)), jnp.float32)
FAKE = jnp.asarray(RNG.uniform(-1, 1, (6, 16, 16, 6)), jnp.float32)


def test_same_keys_same_transform_for_real_and_fake():
    """T is affine per patch (T x = L x + c): one transform gives T(r) - T(f) = T(r - f) - T(0)."""
    cfg = AugmentConfig()
    lhs = diff_augment(REAL, KEYS, cfg) - diff_augment(FAKE, KEYS, cfg)
    rhs = diff_augment(REAL - FAKE, KEYS, cfg) - diff_augment(jnp.zeros_like(REAL), KEYS, cfg)
    np.testing.assert_allclose(lhs, rhs, atol=1e-5)
    other = jax.random.split(jax.random.key(8), 6)
    lhs2 = diff_augment(REAL, KEYS, cfg) - diff_augment(FAKE, other, cfg)
    assert np.abs(np.asarray(lhs2 - rhs)).max() > 0.1  # different keys: different transforms


def test_same_key_same_geometry_whatever_the_band_count():
    cfg = AugmentConfig(policy=("translation", "cutout"))
    a = diff_augment(jnp.ones((6, 16, 16, 6)), KEYS, cfg)
    b = diff_augment(jnp.ones((6, 16, 16, 12)), KEYS, cfg)
    np.testing.assert_array_equal(a[..., 0], b[..., 0])


def test_translation_is_an_integer_shift_with_zero_fill():
    cfg = AugmentConfig(policy=("translation",), translation=0.25)
    x = np.asarray(REAL)
    out = np.asarray(diff_augment(REAL, KEYS, cfg))
    seen = set()
    for n in range(6):
        matches = []
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                exp = np.zeros_like(x[n])
                ys, yd = (
                    (slice(0, 16 - dy), slice(dy, 16)) if dy >= 0 else (slice(-dy, 16), slice(0, 16 + dy))
                )
                xs, xd = (
                    (slice(0, 16 - dx), slice(dx, 16)) if dx >= 0 else (slice(-dx, 16), slice(0, 16 + dx))
                )
                exp[yd, xd] = x[n][ys, xs]
                if np.array_equal(exp, out[n]):
                    matches.append((dy, dx))
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 1  # per-patch shifts


def test_cutout_zeroes_one_square():
    cfg = AugmentConfig(policy=("cutout",), cutout=0.25)  # 4 px
    out = np.asarray(diff_augment(jnp.ones((6, 16, 16, 2)), KEYS, cfg))
    for n in range(6):
        zero = out[n, ..., 0] == 0
        np.testing.assert_array_equal(out[n, ..., 1] == 0, zero)
        rows, cols = np.flatnonzero(zero.any(1)), np.flatnonzero(zero.any(0))
        assert 0 < len(rows) <= 4 and 0 < len(cols) <= 4
        assert zero.sum() == len(rows) * len(cols)  # a (clipped) rectangle
        assert np.all(zero[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def test_colour_keeps_the_patch_mean_without_brightness():
    cfg = AugmentConfig(policy=("color",), brightness=0.0)
    out = diff_augment(REAL, KEYS, cfg)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), REAL.mean(axis=(1, 2, 3)), atol=1e-5)
    assert float(jnp.abs(out - REAL).max()) > 0.05
    cfg_b = AugmentConfig(policy=("color",), saturation=0.0, contrast=0.0, brightness=0.2)
    shift = np.asarray(diff_augment(REAL, KEYS, cfg_b) - REAL)
    for n in range(6):  # one offset for every band and pixel, within +-0.2
        assert np.ptp(shift[n]) < 1e-5 and abs(shift[n].mean()) <= 0.2


def test_differentiable_gradient_check():
    cfg = AugmentConfig()
    x = REAL[:2, :8, :8, :3]
    check_grads(lambda a: diff_augment(a, KEYS[:2], cfg), (x,), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)
    g = jax.grad(lambda a: jnp.sum(diff_augment(a, KEYS[:2], cfg) ** 2))(x)
    assert float(jnp.abs(g).sum()) > 0


def test_disabled_or_zero_strength_is_identity():
    np.testing.assert_array_equal(diff_augment(REAL, KEYS, AugmentConfig(enabled=False)), REAL)
    np.testing.assert_allclose(diff_augment(REAL, KEYS, AugmentConfig(strength=0.0)), REAL, atol=1e-6)


def test_config():
    assert AugmentConfig.from_dict(AugmentConfig(strength=0.5).to_dict()) == AugmentConfig(strength=0.5)
    with pytest.raises(ConfigError):
        AugmentConfig(policy=("colour",))


def test_input_holes_cover_the_same_ground_in_both_inputs():
    keys = jax.random.split(jax.random.key(3), 8)
    x10, x20 = jnp.ones((8, 48, 48, 4)), jnp.ones((8, 24, 24, 2))
    a, b, keep = input_holes(x10, x20, keys, probability=1.0)
    keep = np.asarray(keep)
    for i in range(8):
        hole30 = keep[i] == 0
        assert 0 < hole30.sum() <= 8 * 8  # one rectangle, sides up to half the 16 px patch
        ys, xs = np.nonzero(hole30)
        assert hole30.sum() == (np.ptp(ys) + 1) * (np.ptp(xs) + 1)  # a rectangle
        # at 10 m: exactly the 3 x 3 blocks of the 30 m hole, in every band
        np.testing.assert_array_equal(np.asarray(a[i, ..., 0]) == 0, np.kron(hole30, np.ones((3, 3), bool)))
        assert bool((a[i] == 0).all(-1).sum() == 9 * hole30.sum())
        # at 20 m: the pixels whose top-left corner lies in the hole
        idx = (np.arange(24) * 2) // 3
        np.testing.assert_array_equal(np.asarray(b[i, ..., 0]) == 0, hole30[idx][:, idx])
    # same keys -> same holes; probability 0 -> untouched
    _, _, keep2 = input_holes(x10 * 2, x20, keys, probability=1.0)
    np.testing.assert_array_equal(keep, np.asarray(keep2))
    a0, b0, k0 = input_holes(x10, x20, keys, probability=0.0)
    assert bool((a0 == x10).all() and (b0 == x20).all() and (k0 == 1).all())
    # about the requested share of patches gets a hole
    many = jax.random.split(jax.random.key(4), 400)
    _, _, k = input_holes(jnp.ones((400, 48, 48, 1)), jnp.ones((400, 24, 24, 1)), many, probability=0.3)
    share = float((np.asarray(k).min((1, 2)) == 0).mean())
    assert 0.22 < share < 0.38
