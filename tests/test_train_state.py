"""Training state: creation and widening to more 20 m input bands."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from xharm.exceptions import ConfigError
from xharm.models.mgan import Discriminator, Generator, condition_30m, count_params
from xharm.train.config import TrainConfig
from xharm.train.state import create_state, grow_state
from xharm.train.step import jit_train_step

OLD = TrainConfig.preset("tiny").with_overrides(["model.residual=true", 'model.output_activation="linear"'])
NEW = OLD.with_overrides(
    ["model.bands_20m=3", 'model.s2_20m_bands=["B11", "B8A", "B12"]', "model.skip_kernel=5"]
)


def _batch(cfg: TrainConfig, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = cfg.model.input_shapes()
    b = {g: rng.uniform(-0.5, 0.5, (4, *s[g])).astype(np.float32) for g in ("s2_10m", "s2_20m", "l8")}
    b["id"] = np.arange(4, dtype=np.int32)
    return b


@pytest.fixture(scope="module")
def trained():
    # two real steps, so that no Adam moment is zero (the residual U-Net's last layer starts at 0)
    step = jit_train_step(OLD)
    state, _ = step(create_state(OLD), _batch(OLD))
    state, _ = step(state, _batch(OLD, 4))
    return jax.device_get(state)


def test_widened_networks_compute_what_the_old_ones_did(trained):
    wide = grow_state(trained, OLD, NEW)
    b = _batch(OLD, 1)
    x10, x20_old = jnp.asarray(b["s2_10m"]), jnp.asarray(b["s2_20m"])
    b8a = jnp.asarray(np.random.default_rng(2).uniform(0, 1, (*x20_old.shape[:-1], 1)), jnp.float32)
    x20_new = jnp.concatenate([x20_old[..., :1], b8a, x20_old[..., 1:]], axis=-1)  # B11, B8A, B12
    g_old = Generator(OLD.model).apply({"params": trained.g_params}, x10, x20_old)
    g_new = Generator(NEW.model).apply({"params": wide.g_params}, x10, x20_new)
    np.testing.assert_allclose(g_new, g_old, atol=1e-5)
    y = jnp.asarray(b["l8"])
    d_old = Discriminator(OLD.model).apply(
        {"params": trained.d_params, "batch_stats": trained.d_stats}, condition_30m(x10, x20_old), y
    )
    d_new = Discriminator(NEW.model).apply(
        {"params": wide.d_params, "batch_stats": wide.d_stats}, condition_30m(x10, x20_new), y
    )
    np.testing.assert_allclose(d_new, d_old, atol=1e-5)
    assert int(wide.step) == int(trained.step)
    np.testing.assert_array_equal(wide.key, trained.key)


def test_adam_moments_come_along_and_new_band_starts_at_zero(trained):
    wide = grow_state(trained, OLD, NEW)
    k_old = np.asarray(trained.g_params["head_20m"]["kernel"])
    k_new = np.asarray(wide.g_params["head_20m"]["kernel"])
    np.testing.assert_array_equal(k_new[..., [0, 2], :], k_old)
    assert not k_new[..., 1, :].any()
    mu_old = np.asarray(jax.tree_util.tree_leaves(trained.g_opt)[1])  # (count, mu, nu) of the flat Adam
    mu_new = np.asarray(jax.tree_util.tree_leaves(wide.g_opt)[1])
    skip_old, skip_new = (np.asarray(t.g_params["skip"]["kernel"]) for t in (trained, wide))
    assert skip_old.shape == (1, 1, 6, 6) and skip_new.shape == (5, 5, 7, 6)
    added = k_new[..., 1, :].size + skip_new.size - skip_old.size  # head_20m row, grown skip
    assert mu_new.size == mu_old.size + added == count_params(wide.g_params)
    assert not skip_new[:, :, 5].any()  # B8A is input 5 here
    np.testing.assert_allclose(
        skip_new[1:4, 1:4, [0, 1, 2, 3, 4, 6]].sum(axis=(0, 1)), skip_old[0, 0], atol=1e-6
    )
    assert not skip_new[0].any() and not skip_new[:, 4].any()  # outside the footprint
    assert np.abs(mu_old).sum() > 0
    np.testing.assert_allclose(np.abs(mu_new).sum(), np.abs(mu_old).sum(), rtol=1e-6)  # only zeros added
    # new second moments start at the tensor's mean (zeros would make the first steps ~16x lr)
    _, unravel = ravel_pytree(wide.g_params)
    nu_new = unravel(jax.tree_util.tree_leaves(wide.g_opt)[2])
    nu_head = np.asarray(nu_new["head_20m"]["kernel"])
    _, unravel_old = ravel_pytree(trained.g_params)
    nu_old_head = np.asarray(unravel_old(jax.tree_util.tree_leaves(trained.g_opt)[2])["head_20m"]["kernel"])
    np.testing.assert_allclose(nu_head[..., 1, :], nu_old_head.mean(), rtol=1e-5)
    assert nu_head[..., 1, :].min() > 0
    nu_skip = np.asarray(nu_new["skip"]["kernel"])
    assert (nu_skip[:, :, [0, 1, 2, 3, 4, 6]] > 0).all()
    # and the widened state trains
    state, metrics = jit_train_step(NEW)(wide, _batch(NEW, 3))
    assert int(state.step) == int(trained.step) + 1 and np.isfinite(float(metrics["g_loss"]))


def test_only_added_20m_bands_are_accepted(trained):
    with pytest.raises(ConfigError, match="only add"):
        grow_state(trained, OLD, OLD.with_overrides(["model.features=16"]))
    with pytest.raises(ConfigError, match="only add"):  # B8A would be dropped
        grow_state(grow_state(trained, OLD, NEW), NEW, OLD)
    with pytest.raises(ConfigError, match="only add"):  # a smaller skip
        grow_state(grow_state(trained, OLD, NEW), NEW, NEW.with_overrides(["model.skip_kernel=3"]))
