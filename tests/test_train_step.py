"""The pure train step: updates, metrics, determinism, batch-order invariance."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from xharm.exceptions import ConfigError
from xharm.train.config import TrainConfig
from xharm.train.state import create_state
from xharm.train.step import jit_eval_step, jit_train_step, make_train_step

CFG = TrainConfig.preset("tiny")


def batch(n: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = CFG.model.input_shapes()
    b = {g: rng.uniform(-0.5, 0.5, (n, *s[g])).astype(np.float32) for g in ("s2_10m", "s2_20m", "l8")}
    b["id"] = np.arange(10, 10 + n, dtype=np.int32)
    return b


def leaves_equal(a, b, atol=0.0) -> bool:
    return all(
        np.allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def test_step_updates_everything_and_is_deterministic():
    st = create_state(CFG)
    step = jit_train_step(CFG)
    b = batch()
    s1, m1 = step(st, b)
    s2, _ = step(st, b)
    assert int(s1.step) == 1
    assert leaves_equal(s1, s2)
    assert set(m1) == {"g_loss", "g_l1", "g_adv", "d_loss", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in m1.values())
    np.testing.assert_allclose(
        float(m1["g_loss"]), float(CFG.l1_weight * m1["g_l1"] + m1["g_adv"]), rtol=1e-6
    )
    for before, after in ((st.g_params, s1.g_params), (st.d_params, s1.d_params)):
        changed = [
            not np.array_equal(x, y)
            for x, y in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after))
        ]
        assert all(changed)  # every G and D tensor moved
    # the first Adam step moves each weight by at most the learning rate
    delta = max(
        float(np.abs(np.asarray(x) - np.asarray(y)).max())
        for x, y in zip(jax.tree_util.tree_leaves(st.g_params), jax.tree_util.tree_leaves(s1.g_params))
    )
    assert delta <= CFG.learning_rate * 1.0001
    # the spectral-norm state advanced
    assert not leaves_equal(st.d_stats, s1.d_stats)
    # a next step uses new random draws (step is folded into the keys)
    s3, m3 = step(s1, b)
    assert int(s3.step) == 2 and float(m3["g_l1"]) != float(m1["g_l1"])


def test_step_does_not_depend_on_batch_order():
    """Dropout and augmentation follow the patch id, not its position in the batch."""
    st = create_state(CFG)
    step = jit_train_step(CFG)
    b = batch()
    perm = np.array([2, 0, 3, 1])
    shuffled = {k: v[perm] for k, v in b.items()}
    s1, m1 = step(st, b)
    s2, m2 = step(st, shuffled)
    assert leaves_equal(s1.g_params, s2.g_params, atol=1e-6)
    assert leaves_equal(s1.d_params, s2.d_params, atol=1e-6)
    np.testing.assert_allclose(float(m1["d_loss"]), float(m2["d_loss"]), rtol=1e-5)


def test_eval_step_metrics_by_hand():
    st = create_state(CFG)
    b = batch(3)
    ev = jit_eval_step(CFG)
    scale, offset = np.full(6, 0.5, np.float32), np.full(6, 0.2, np.float32)
    out = ev(st.g_params, b, scale, offset, np.array([1, 1, 0], np.float32))
    from xharm.models.mgan import Generator

    pred = np.asarray(Generator(CFG.model).apply({"params": st.g_params}, b["s2_10m"], b["s2_20m"]))[:2]
    pred = pred * 0.5 + 0.2
    y = b["l8"][:2] * 0.5 + 0.2
    np.testing.assert_allclose(float(out["abs"]), np.abs(pred - y).sum(), rtol=1e-4)
    np.testing.assert_allclose(float(out["sq"]), ((pred - y) ** 2).sum(), rtol=1e-4)
    cos = (pred * y).sum(-1) / np.linalg.norm(pred, axis=-1) / np.linalg.norm(y, axis=-1)
    np.testing.assert_allclose(float(out["sam"]), np.arccos(np.clip(cos, -1, 1)).sum(), rtol=1e-3)
    assert float(out["pixels"]) == 2 * 32 * 32 and float(out["values"]) == 2 * 32 * 32 * 6


def test_spectral_angle_term():
    norm = ((0.5,) * 6, (0.2,) * 6)  # reflectance = x * 0.5 + 0.2
    st, b = create_state(CFG), batch()
    # weight 0 with the norm: the angle is reported but not part of the loss
    _, m0 = jit_train_step(CFG, 1, norm)(st, b)
    assert set(m0) == {"g_loss", "g_l1", "g_adv", "d_loss", "d_real", "d_fake", "g_sam"}
    np.testing.assert_allclose(
        float(m0["g_loss"]), float(CFG.l1_weight * m0["g_l1"] + m0["g_adv"]), rtol=1e-6
    )
    assert 0.0 < float(m0["g_sam"]) < np.pi / 2
    cfg = CFG.with_overrides(["sam_weight=50"])
    s1, m1 = jit_train_step(cfg, 1, norm)(st, b)
    np.testing.assert_allclose(float(m1["g_sam"]), float(m0["g_sam"]), rtol=1e-6)  # same forward pass
    np.testing.assert_allclose(
        float(m1["g_loss"]), float(cfg.l1_weight * m1["g_l1"] + m1["g_adv"] + 50 * m1["g_sam"]), rtol=1e-6
    )
    s0, _ = jit_train_step(CFG, 1, norm)(st, b)
    assert not leaves_equal(s0.g_params, s1.g_params)  # the term changes the generator update ...
    assert leaves_equal(s0.d_params, s1.d_params)  # ... and not the discriminator's


def test_spectral_angle_term_needs_the_target_norm():
    cfg = CFG.with_overrides(["sam_weight=1"])
    with pytest.raises(ConfigError, match="target normalization"):
        make_train_step(cfg)
    with pytest.raises(ConfigError, match="one scale and one offset per output band"):
        make_train_step(cfg, target_norm=((1.0,) * 3, (0.0,) * 3))


def test_input_holes_change_the_generator_update_only_through_g():
    st, b = create_state(CFG), batch()
    cfg = CFG.with_overrides(["input_holes=1.0"])
    s1, m1 = jit_train_step(cfg)(st, b)
    s0, m0 = jit_train_step(CFG)(st, b)
    assert all(np.isfinite(float(v)) for v in m1.values())
    assert float(m1["g_l1"]) != float(m0["g_l1"])  # holes in the input, fewer pixels scored
    assert not leaves_equal(s0.g_params, s1.g_params)
    s1b, _ = jit_train_step(cfg)(st, b)
    assert leaves_equal(s1, s1b)  # holes follow the patch keys: deterministic


def test_step_with_b8a_in_the_20m_input():
    # a third 20 m band widens the generator's 20 m head and the discriminator's condition
    cfg = CFG.with_overrides(["model.bands_20m=3", 'model.s2_20m_bands=["B8A", "B11", "B12"]'])
    rng = np.random.default_rng(2)
    s = cfg.model.input_shapes()
    b = {g: rng.uniform(-0.5, 0.5, (4, *s[g])).astype(np.float32) for g in ("s2_10m", "s2_20m", "l8")}
    b["id"] = np.arange(4, dtype=np.int32)
    st = create_state(cfg)
    assert st.g_params["head_20m"]["kernel"].shape[-2] == 3
    s1, m1 = jit_train_step(cfg)(st, b)
    assert int(s1.step) == 1 and all(np.isfinite(float(v)) for v in m1.values())


def test_spatial_skip_leaves_the_patch_rim_out_of_the_pixel_losses():
    cfg = CFG.with_overrides(
        ["model.residual=true", 'model.output_activation="linear"', "model.skip_kernel=9"]
    )
    assert cfg.model.skip_margin() == 1
    st = create_state(cfg)
    step = jit_train_step(cfg)
    b = batch()
    rim = dict(b)
    rim["l8"] = b["l8"].copy()
    rim["l8"][:, 0] += 0.3  # only the outer row and column change
    rim["l8"][:, :, -1] -= 0.3
    _, m1 = step(st, b)
    _, m2 = step(st, rim)
    assert float(m1["g_l1"]) == pytest.approx(float(m2["g_l1"]), rel=1e-6)
    inner = dict(b)
    inner["l8"] = b["l8"].copy()
    inner["l8"][:, 5, 5] += 0.3
    _, m3 = step(st, inner)
    assert float(m3["g_l1"]) != pytest.approx(float(m1["g_l1"]), rel=1e-6)
