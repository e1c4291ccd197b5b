"""MGAN generator / discriminator: shapes, parameter counts, head geometry, dropout."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xharm.models.mgan import (
    ConfigError,
    Discriminator,
    Generator,
    MGANConfig,
    box_kernel,
    condition_30m,
    count_params,
    sample_dropout,
    stack_10m,
)

KEY = jax.random.key(0, impl="rbg")


def _inputs(cfg: MGANConfig, n: int = 1):
    s = cfg.input_shapes()
    return (jnp.zeros((n, *s["s2_10m"])), jnp.zeros((n, *s["s2_20m"])), jnp.zeros((n, *s["l8"])))


def _conv(k: int, cin: int, cout: int, bias: bool = True) -> int:
    return k * k * cin * cout + (cout if bias else 0)


def expected_counts(cfg: MGANConfig) -> tuple[int, int]:
    """Parameter counts from the architecture description, by hand arithmetic."""
    f = [min(cfg.features * 2**i, cfg.max_features) for i in range(cfg.depth)]
    h = cfg.head_features
    g = _conv(5, cfg.bands_10m, h) + _conv(6, cfg.bands_20m, h)
    cin = 2 * h
    for fi in f:
        g += _conv(4, cin, fi)
        cin = fi
    for i in range(cfg.depth - 2, -1, -1):  # decoder: input = previous output (+ skip)
        g += _conv(4, cin, f[i])
        cin = 2 * f[i]
    g += _conv(4, cin, cfg.out_bands)
    fd = [min(cfg.disc_features * 2**i, cfg.disc_max_features) for i in range(cfg.disc_layers + 1)]
    d = _conv(4, 2 * cfg.out_bands, fd[0])
    for i in range(1, cfg.disc_layers + 1):
        d += _conv(4, fd[i - 1], fd[i], bias=False) + 2 * fd[i]  # SN conv + instance norm scale/bias
    d += _conv(4, fd[-1], 1, bias=False)
    return g, d


@pytest.mark.parametrize("name", ["full", "small", "tiny"])
def test_shapes_and_parameter_counts(name):
    cfg = MGANConfig.preset(name)
    x10, x20, y = _inputs(cfg)
    gv = jax.eval_shape(lambda: Generator(cfg).init(KEY, x10, x20))
    dv = jax.eval_shape(lambda: Discriminator(cfg).init(KEY, y, y))
    out = jax.eval_shape(lambda v: Generator(cfg).apply(v, x10, x20), gv)
    logits = jax.eval_shape(lambda v: Discriminator(cfg).apply(v, y, y), dv)
    p = cfg.patch30
    assert out.shape == (1, p, p, 6)
    side = p // 2**cfg.disc_layers
    assert logits.shape == (1, side, side, 1)
    g, d = expected_counts(cfg)
    assert count_params(gv["params"]) == g
    assert count_params(dv["params"]) == d
    if name == "full":  # pix2pix size: tens of millions
        assert g == 41_899_846 and d == 2_774_848
    if name == "small":
        assert g == 2_622_934 and d == 177_616


def test_tiny_forward_runs_and_is_finite():
    cfg = MGANConfig.tiny()
    rng = np.random.default_rng(0)
    s = cfg.input_shapes()
    x10 = jnp.asarray(rng.normal(size=(2, *s["s2_10m"])), jnp.float32)
    x20 = jnp.asarray(rng.normal(size=(2, *s["s2_20m"])), jnp.float32)
    gen = Generator(cfg)
    params = gen.init(KEY, x10, x20)["params"]
    y = gen.apply({"params": params}, x10, x20)
    assert y.shape == (2, 32, 32, 6)
    assert bool(jnp.all(jnp.abs(y) <= 1.0))  # tanh output
    # no dropout without keys: deterministic
    np.testing.assert_array_equal(y, gen.apply({"params": params}, x10, x20))
    keys = jax.random.split(jax.random.key(1), 2)
    y1 = gen.apply({"params": params}, x10, x20, keys)
    y2 = gen.apply({"params": params}, x10, x20, keys)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(y1, y)
    # each patch's output depends only on its own key and input
    y_first = gen.apply({"params": params}, x10[:1], x20[:1], keys[:1])
    np.testing.assert_allclose(y_first[0], y1[0], atol=1e-6)


def _support(cfg, head: str, i: int) -> np.ndarray:
    """Rows of the input that influence row ``i`` of a head's output (via the gradient)."""
    x10, x20, _ = _inputs(cfg)
    gen = Generator(cfg)
    params = gen.init(KEY, x10, x20)["params"]

    def f(a, b):
        _, state = gen.apply(
            {"params": params},
            a,
            b,
            capture_intermediates=lambda m, _: m.name == head,
            mutable=["intermediates"],
        )
        return state["intermediates"][head]["__call__"][0][0, i, 5, :].sum()

    g10, g20 = jax.grad(f, argnums=(0, 1))(x10, x20)
    g = g10 if head == "head_10m" else g20
    return np.flatnonzero(np.abs(np.asarray(g[0])).sum(axis=(1, 2)) > 0)


def test_head_receptive_fields_sit_on_the_30m_footprint():
    cfg = MGANConfig.tiny()
    for i in (0, 4, 7):
        rows = _support(cfg, "head_10m", i)  # 3i..3i+2 plus one neighbour each side
        assert rows.tolist() == [r for r in range(3 * i - 1, 3 * i + 4) if r >= 0]
    for i in (4, 7):
        m = i // 2
        rows = _support(cfg, "head_20m", i)
        expected = [3 * m, 3 * m + 1, 3 * m + 2] if i % 2 == 0 else [3 * m + 1, 3 * m + 2, 3 * m + 3]
        assert rows.tolist() == expected


def test_condition_30m_is_the_area_average():
    x10 = np.arange(6 * 6, dtype=np.float32).reshape(1, 6, 6, 1)
    x20 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], np.float32).reshape(1, 3, 3, 1)
    c = np.asarray(condition_30m(jnp.asarray(x10), jnp.asarray(x20)))
    assert c.shape == (1, 2, 2, 2)
    assert c[0, 0, 0, 0] == pytest.approx(np.mean([0, 1, 2, 6, 7, 8, 12, 13, 14]))
    # 30 m pixel (0, 0) covers 20 m pixel (0,0) fully, (0,1),(1,0) half, (1,1) a quarter: weights 4,2,2,1 / 9
    assert c[0, 0, 0, 1] == pytest.approx((4 * 1 + 2 * 2 + 2 * 4 + 1 * 5) / 9)
    assert c[0, 1, 1, 1] == pytest.approx((1 * 5 + 2 * 6 + 2 * 8 + 4 * 9) / 9)


def test_sample_dropout_rate_and_scale():
    keys = jax.random.split(jax.random.key(3), 4)
    x = jnp.ones((4, 64, 64, 8))
    y = np.asarray(sample_dropout(x, keys, 0.5, tag=0))
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs(y.mean() - 1.0) < 0.02
    other = np.asarray(sample_dropout(x, keys, 0.5, tag=1))
    assert (other != y).mean() > 0.3  # another tag, another mask
    np.testing.assert_array_equal(sample_dropout(x, keys, 0.0, tag=0), x)


def test_residual_generator_starts_at_the_30m_average_and_adds_the_skip_parameters():
    cfg = MGANConfig(**{**MGANConfig.tiny().to_dict(), "residual": True, "output_activation": "linear"})
    rng = np.random.default_rng(3)
    s = cfg.input_shapes()
    x10 = jnp.asarray(rng.normal(size=(2, *s["s2_10m"])), jnp.float32)
    x20 = jnp.asarray(rng.normal(size=(2, *s["s2_20m"])), jnp.float32)
    params = Generator(cfg).init(KEY, x10, x20)["params"]
    # at init: identity skip + a zero last U-Net layer -> exactly the area-averaged input
    out0 = Generator(cfg).apply({"params": params}, x10, x20)
    np.testing.assert_allclose(out0, condition_30m(x10, x20), atol=1e-6)
    g_plain, _ = expected_counts(MGANConfig.tiny())
    assert count_params(params) == g_plain + _conv(1, cfg.out_bands, cfg.out_bands)
    # the U-Net path is live: a non-zero last layer changes the output
    bumped = jax.tree_util.tree_map(lambda a: a, params)
    bumped["out"] = {**params["out"], "bias": jnp.full_like(params["out"]["bias"], 0.5)}
    out = Generator(cfg).apply({"params": bumped}, x10, x20)
    np.testing.assert_allclose(out - condition_30m(x10, x20), 0.5, atol=1e-5)


def test_nir_20m_option_pairs_b8a_with_b5_in_the_residual_skip():
    base = {**MGANConfig.tiny().to_dict(), "residual": True, "output_activation": "linear"}
    cfg = MGANConfig(**{**base, "bands_20m": 3, "s2_20m_bands": ("B8A", "B11", "B12")})
    assert cfg.input_bands() == ("B02", "B03", "B04", "B08", "B8A", "B11", "B12")
    s = cfg.input_shapes()
    assert s["s2_20m"] == (48, 48, 3)
    rng = np.random.default_rng(5)
    x10 = jnp.asarray(rng.normal(size=(2, *s["s2_10m"])), jnp.float32)
    x20 = jnp.asarray(rng.normal(size=(2, *s["s2_20m"])), jnp.float32)
    params = Generator(cfg).init(KEY, x10, x20)["params"]
    out0 = np.asarray(Generator(cfg).apply({"params": params}, x10, x20))
    cond = np.asarray(condition_30m(x10, x20))
    # B2-B4 <- B02-B04, B5 <- B8A (not B08), B6 <- B11, B7 <- B12
    np.testing.assert_allclose(out0, cond[..., [0, 1, 2, 4, 5, 6]], atol=1e-6)
    assert params["head_20m"]["kernel"].shape[-2] == 3 and params["skip"]["kernel"].shape[-2:] == (7, 6)
    # JSON lists come back as the same frozen config
    assert MGANConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # the paper's bands keep the identity map
    np.testing.assert_array_equal(MGANConfig().residual_map(), np.eye(6))


@pytest.mark.parametrize("k", [3, 7])
def test_spatial_skip_starts_as_the_area_average_and_is_a_linear_filter(k):
    base = {**MGANConfig.tiny().to_dict(), "residual": True, "output_activation": "linear"}
    cfg = MGANConfig(**{**base, "skip_kernel": k})
    rng = np.random.default_rng(k)
    s = cfg.input_shapes()
    x10 = jnp.asarray(rng.normal(size=(2, *s["s2_10m"])), jnp.float32)
    x20 = jnp.asarray(rng.normal(size=(2, *s["s2_20m"])), jnp.float32)
    params = Generator(cfg).init(KEY, x10, x20)["params"]
    assert params["skip"]["kernel"].shape == (k, k, 6, 6)
    out0 = Generator(cfg).apply({"params": params}, x10, x20)
    np.testing.assert_allclose(out0, condition_30m(x10, x20), atol=1e-5)
    # a one-tap kernel reads the 10 m pixel at its offset: output pixel i, tap (a, b) ->
    # 10 m pixel (3i + a - (k - 3) / 2, 3j + b - (k - 3) / 2), zero outside the patch
    kernel = np.zeros((k, k, 6, 6), np.float32)
    kernel[0, k - 1, 1, 2] = 1.0  # B03, top-right tap -> B4
    tap = {**params, "skip": {"kernel": jnp.asarray(kernel), "bias": jnp.zeros(6)}}
    tap["out"] = {**params["out"], "kernel": jnp.zeros_like(params["out"]["kernel"])}
    got = np.asarray(Generator(cfg).apply({"params": tap}, x10, x20))[..., 2]
    c = (k - 3) // 2
    padded = np.pad(np.asarray(x10[..., 1]), ((0, 0), (c, c), (c, c)))
    want = padded[:, 0 : 3 * s["l8"][0] : 3, k - 1 : k - 1 + 3 * s["l8"][1] : 3]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_box_kernel_and_stack_10m_give_the_30m_average():
    rng = np.random.default_rng(1)
    x10 = jnp.asarray(rng.normal(size=(1, 12, 12, 4)), jnp.float32)
    x20 = jnp.asarray(rng.normal(size=(1, 6, 6, 2)), jnp.float32)
    m = rng.normal(size=(6, 6)).astype(np.float32)
    conv = jax.lax.conv_general_dilated(
        stack_10m(x10, x20), jnp.asarray(box_kernel(m, 5)), (3, 3), ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )  # fmt: skip
    np.testing.assert_allclose(conv, condition_30m(x10, x20) @ m, atol=1e-5)
    np.testing.assert_array_equal(box_kernel(m, 1), m[None, None])


def test_discriminator_condition_has_every_input_band():
    cfg = MGANConfig(**{**MGANConfig.tiny().to_dict(), "bands_20m": 3, "s2_20m_bands": ("B8A", "B11", "B12")})
    x10, x20, y = _inputs(cfg, 2)
    cond = condition_30m(x10, x20)
    assert cond.shape[-1] == 7
    v = Discriminator(cfg).init(KEY, cond, y, update_stats=False)
    assert Discriminator(cfg).apply(v, cond, y).shape[0] == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patch30": 33},
        {"bands_20m": 3},  # count without names
        {"bands_20m": 3, "s2_20m_bands": ("B08", "B11", "B12")},  # B08 is a 10 m band
        {"s2_20m_bands": ("B11", "B11")},
        {"skip_kernel": 3},  # spatial skip without the residual
        {"skip_kernel": 4, "residual": True, "output_activation": "linear"},
        {"bands_20m": 1, "s2_20m_bands": ("B8A",), "residual": True, "output_activation": "linear"},
        {"patch30": 32, "depth": 6},
        {"dropout": 1.0},
        {"output_activation": "relu"},
        {"residual": True},  # tanh output with a residual skip
        {"residual": True, "output_activation": "linear", "bands_20m": 3},
    ],
)
def test_bad_config_raises(kwargs):
    with pytest.raises(ConfigError):
        MGANConfig(**kwargs)


def test_config_dict_round_trip():
    cfg = MGANConfig.small()
    assert MGANConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        MGANConfig.from_dict({"widht": 3})
    with pytest.raises(ConfigError):
        MGANConfig.preset("huge")


def test_model_train_zoo_never_import_xarray_or_dask():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "xharm"
    for pkg in ("models", "train", "zoo"):
        for path in (root / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.ImportFrom) and node.level:
                    names = [node.module or ""]
                    assert not (
                        node.level >= 2
                        and (node.module or "").split(".")[0]
                        in {
                            "core",
                            "engine",
                            "cube",
                            "pipeline",
                            "apply",
                            "tiling",
                            "pairs",
                            "accessor",
                            "preprocess",
                            "grid",
                            "qa",
                        }
                    ), f"{path}: imports the xarray layer ({node.module})"
                bad = [n for n in names if n.split(".")[0] in {"xarray", "dask", "distributed"}]
                assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("h,w", [(48, 48), (96, 96), (6, 9), (7, 11), (15, 12)])
def test_polyphase_head_equals_the_input_dilated_convolution(h, w):
    """The 20 m head in polyphase form computes what the paper's dilated convolution does (issue 20)."""
    from xharm.models.mgan import polyphase_head_20m

    rng = np.random.default_rng(h * w)
    x = jnp.asarray(rng.normal(size=(2, h, w, 3)).astype(np.float32))
    k = jnp.asarray(rng.normal(size=(6, 6, 3, 5)).astype(np.float32))
    b = jnp.asarray(rng.normal(size=(5,)).astype(np.float32))
    dilated = jax.lax.conv_general_dilated(
        x, k, (3, 3), ((1, 3), (1, 3)), lhs_dilation=(2, 2), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(polyphase_head_20m(x, k, b), dilated + b, atol=2e-5, rtol=1e-5)


def test_head_20m_keeps_the_parameters_of_the_dilated_convolution():
    cfg = MGANConfig.tiny()
    s = cfg.input_shapes()
    params = Generator(cfg).init(
        jax.random.PRNGKey(0), jnp.zeros((1, *s["s2_10m"])), jnp.zeros((1, *s["s2_20m"]))
    )
    head = params["params"]["head_20m"]
    assert head["kernel"].shape == (6, 6, cfg.bands_20m, cfg.head_features)
    assert head["bias"].shape == (cfg.head_features,)
