"""The DSen2 network: shapes, the residual on the upsampled input, presets of the paper."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xharm.models.dsen2 import DSen2, DSen2Config, upsample
from xharm.models.mgan import ConfigError, count_params


def _params(cfg: DSen2Config, patch: int = 24):
    s = cfg.input_shapes(patch)
    xs = [jnp.zeros((1, *s[g])) for g in cfg.groups]
    return jax.eval_shape(lambda: DSen2(cfg).init(jax.random.key(0), *xs))["params"]


def test_paper_sizes():
    """DSen2: 6 blocks x 128 features; VDSen2: 32 x 256 (Lanaras et al. 2018)."""
    n_dsen2 = count_params(_params(DSen2Config.preset("paper")))
    # head conv (10 -> 128) + 6 blocks x 2 convs (128 -> 128) + last conv (128 -> 6), 3x3 + bias
    expected = (9 * 10 * 128 + 128) + 12 * (9 * 128 * 128 + 128) + (9 * 128 * 6 + 6)
    assert n_dsen2 == expected
    assert count_params(_params(DSen2Config.preset("very_deep"))) > 30 * n_dsen2 / 2
    assert count_params(_params(DSen2Config.preset("small"))) < 100_000


@pytest.mark.parametrize("scale", [2, 6])
def test_zero_last_conv_returns_the_upsampled_coarse_input(scale):
    cfg = DSen2Config.preset("tiny", scale)
    s = cfg.input_shapes(24)
    rng = np.random.default_rng(0)
    xs = [jnp.asarray(rng.random((2, *s[g])), jnp.float32) for g in cfg.groups]
    params = DSen2(cfg).init(jax.random.key(0), *xs)["params"]
    last = max(k for k in params if k.startswith("Conv_"))
    params = {**params, last: jax.tree_util.tree_map(jnp.zeros_like, params[last])}
    out = DSen2(cfg).apply({"params": params}, *xs)
    np.testing.assert_allclose(out, upsample(xs[-1], scale), atol=1e-6)
    assert out.shape == (2, 24, 24, len(cfg.out_bands))


def test_bilinear_upsampling_is_area_aligned():
    x = jnp.arange(4.0).reshape(1, 1, 4, 1)
    up = np.asarray(upsample(x, 2))[0, 0, :, 0]
    np.testing.assert_allclose(up[1:-1], [0.25, 0.75, 1.25, 1.75, 2.25, 2.75])


def test_config_round_trip_and_errors():
    cfg = DSen2Config.preset("small", 6)
    assert DSen2Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError):
        DSen2Config(scale=3)
    with pytest.raises(ConfigError):
        cfg.input_shapes(20)


@pytest.mark.parametrize("scale", [2, 6])
def test_hpf_anchor_starts_at_the_anchor_and_stays_within_the_bound(scale):
    cfg = DSen2Config(scale=scale, blocks=1, features=8, anchor="hpf", bound=0.05)
    assert cfg.groups[-1] == "physics"
    s = cfg.input_shapes(24)
    assert s["physics"] == (24, 24, len(cfg.out_bands))
    rng = np.random.default_rng(1)
    xs = [jnp.asarray(rng.random((2, *s[g])), jnp.float32) for g in cfg.groups]
    params = DSen2(cfg).init(jax.random.key(0), *xs)["params"]
    np.testing.assert_array_equal(DSen2(cfg).apply({"params": params}, *xs), xs[-1])  # untrained: physics
    big = jax.tree_util.tree_map(lambda a: a + 50.0, params)  # a wildly wrong correction
    dev = np.abs(np.asarray(DSen2(cfg).apply({"params": big}, *xs)) - np.asarray(xs[-1]))
    assert 0.04 < dev.max() <= 0.05 + 1e-6


def test_anchor_config_errors():
    with pytest.raises(ConfigError, match="anchor"):
        DSen2Config(anchor="bicubic")
    with pytest.raises(ConfigError, match="bound"):
        DSen2Config(bound=0.1)  # a bound needs the HPF anchor
    cfg = DSen2Config(anchor="hpf", bound=0.25)
    assert DSen2Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="number of DSen2 inputs"):
        s = cfg.input_shapes(24)
        DSen2(cfg).init(jax.random.key(0), *(jnp.zeros((1, *s[g])) for g in cfg.groups[:2]))
