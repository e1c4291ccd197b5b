"""Closed-form start of the spatial residual skip: recovers a known linear filter."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xharm.exceptions import ConfigError
from xharm.models.mgan import Generator
from xharm.train.config import TrainConfig
from xharm.train.data import PatchSet
from xharm.train.linear import fit_skip, skip_windows, with_skip
from xharm.train.state import create_state

CFG = TrainConfig.preset("tiny").with_overrides(
    ["model.residual=true", 'model.output_activation="linear"', "model.skip_kernel=5"]
)


def test_fit_recovers_the_filter_the_generator_applies():
    rng = np.random.default_rng(0)
    s = CFG.model.input_shapes()
    x = {g: rng.normal(size=(4, *s[g])).astype(np.float32) for g in ("s2_10m", "s2_20m")}
    k_true = rng.normal(0, 0.1, (5, 5, 6, 6)).astype(np.float32)
    b_true = rng.normal(0, 0.1, 6).astype(np.float32)
    state = with_skip(create_state(CFG), k_true, b_true)  # U-Net output zeroed: a linear model
    y = np.asarray(Generator(CFG.model).apply({"params": state.g_params}, x["s2_10m"], x["s2_20m"]))
    ps = PatchSet({**x, "l8": y}, normalized=True)
    kernel, bias = fit_skip(ps, CFG.model, ridge=1e-9)
    np.testing.assert_allclose(kernel, k_true, atol=1e-4)
    np.testing.assert_allclose(bias, b_true, atol=1e-4)
    # the windows are what the convolution reads: window . kernel == generator output inside
    w = skip_windows(x["s2_10m"], x["s2_20m"], 5)
    inner = w @ k_true.reshape(-1, 6) + b_true
    np.testing.assert_allclose(inner, y[:, 1:-1, 1:-1], atol=1e-4)


def test_with_skip_keeps_the_unet_body():
    st = create_state(CFG)
    k = np.zeros((5, 5, 6, 6), np.float32)
    new = with_skip(st, k, np.zeros(6, np.float32))
    assert not np.asarray(new.g_params["out"]["kernel"]).any()
    for name in ("down_0", "head_10m", "head_20m"):
        np.testing.assert_array_equal(new.g_params[name]["kernel"], st.g_params[name]["kernel"])
    kept = with_skip(st, k, np.zeros(6, np.float32), reset_output=False)
    jax.tree_util.tree_map(np.testing.assert_array_equal, kept.g_params["out"], st.g_params["out"])


def test_bad_use_is_refused():
    s = CFG.model.input_shapes()
    arrays = {g: jnp.zeros((1, *s[g])) for g in s}
    with pytest.raises(ConfigError, match="normalized"):
        fit_skip(PatchSet(arrays), CFG.model)
    plain = TrainConfig.preset("tiny").model
    with pytest.raises(ConfigError, match="spatial residual skip"):
        fit_skip(PatchSet(arrays, normalized=True), plain)
    with pytest.raises(ConfigError, match="does not fit"):
        with_skip(create_state(CFG), np.zeros((3, 3, 6, 6), np.float32), np.zeros(6, np.float32))
