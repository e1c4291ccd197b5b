"""Wald training of DSen2: pairs are degraded observed bands, the loop learns."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from xharm.exceptions import ConfigError
from xharm.models.dsen2 import DSen2Config
from xharm.sharpening.classic import hpf
from xharm.sharpening.mtf import degrade
from xharm.train.dsen2 import fit_dsen2, sample_batch, wald_pairs
from xharm.zoo.dsen2 import REFLECTANCE_SCALE


def _scene(seed=0, n=48):
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.cumsum(rng.normal(size=(n, n)), 0), 1)
    base = (base - base.min()) / np.ptp(base) * 0.3 + 0.05
    x10 = np.stack([base * (0.8 + 0.1 * i) for i in range(4)])
    x20 = degrade(np.stack([base * (0.9 + 0.05 * i) for i in range(6)]), 2)
    x60 = degrade(np.stack([base, base * 0.5]), 6)
    return {10: x10, 20: x20, 60: x60}


def test_wald_pairs_are_the_degraded_observations():
    s = _scene()
    x, y = wald_pairs(s, 2)
    np.testing.assert_allclose(y * REFLECTANCE_SCALE, np.moveaxis(s[20], 0, -1), rtol=1e-6)
    np.testing.assert_allclose(
        x["s2_20m"] * REFLECTANCE_SCALE, np.moveaxis(degrade(s[20], 2), 0, -1), rtol=1e-5
    )
    np.testing.assert_allclose(
        x["s2_10m"] * REFLECTANCE_SCALE, np.moveaxis(degrade(s[10], 2), 0, -1), rtol=1e-5
    )
    x6, y6 = wald_pairs(_scene(n=72), 6)
    assert x6["s2_10m"].shape[:2] == y6.shape[:2] == (12, 12) and x6["s2_60m"].shape[:2] == (2, 2)


def test_patches_stay_aligned_across_groups():
    s = _scene()
    pairs = [wald_pairs(s, 2)]
    b = sample_batch(pairs, DSen2Config.preset("tiny"), 8, 5, np.random.default_rng(0))
    assert (
        b["s2_10m"].shape == (5, 8, 8, 4)
        and b["s2_20m"].shape == (5, 4, 4, 6)
        and b["target"].shape == (5, 8, 8, 6)
    )
    # B05 target ~ proportional to the degraded guide: the patches come from the same place
    r = b["target"][..., 0].mean((1, 2)) / b["s2_10m"][..., 0].mean((1, 2))
    assert np.ptp(r) < 0.05


def test_hpf_anchor_is_the_classical_method_on_the_degraded_scene_and_keeps_gains_linear():
    s = _scene()
    x, y = wald_pairs(s, 2, anchor="hpf")
    ref = hpf(degrade(s[20], 2), degrade(s[10], 2), 2)
    np.testing.assert_allclose(x["physics"] * REFLECTANCE_SCALE, np.moveaxis(ref, 0, -1), atol=1e-6)
    assert x["physics"].shape == y.shape
    cfg = DSen2Config(blocks=1, features=8, anchor="hpf")
    b = sample_batch([(x, y)], cfg, 8, 6, np.random.default_rng(0), gain=2.0, band_gain=1.5)
    assert b["physics"].shape == b["target"].shape == (6, 8, 8, 6)
    # HPF is linear in its coarse band: the augmented anchor stays as close to the target as before
    plain = sample_batch([(x, y)], cfg, 8, 6, np.random.default_rng(0))
    gain = b["target"].mean((1, 2)) / plain["target"].mean((1, 2))
    np.testing.assert_allclose(b["physics"], plain["physics"] * gain[:, None, None, :], rtol=1e-5)


def test_loss_goes_down():
    cfg = DSen2Config.preset("tiny")
    _, hist = fit_dsen2([_scene(1)], cfg, steps=40, batch=4, patch=8, lr=3e-3, eval_every=20, log=None)
    assert hist.rows[-1][1] < hist.rows[0][1]


def _mean_correction(params, cfg, batch):
    import jax.numpy as jnp

    from xharm.models.dsen2 import DSen2

    pred = DSen2(cfg).apply({"params": params}, *(jnp.asarray(batch[g]) for g in cfg.groups))
    return float(np.mean(np.abs(np.asarray(pred) - batch["physics"])))


def test_correction_weight_keeps_an_anchored_net_near_physics_and_ema_averages():
    cfg = DSen2Config(blocks=1, features=8, anchor="hpf", bound=0.5)
    scene = _scene(4)
    scene[20] = 4 * scene[20] ** 2  # not linear in the 10 m bands: HPF leaves something to learn
    batch = sample_batch([wald_pairs(scene, 2, anchor="hpf")], cfg, 8, 8, np.random.default_rng(9))
    kw = dict(steps=30, batch=4, patch=8, lr=3e-3, eval_every=30, log=None)
    free, _ = fit_dsen2([scene], cfg, **kw)
    held, _ = fit_dsen2([scene], cfg, correction_weight=5.0, **kw)
    c_free, c_held = _mean_correction(free, cfg, batch), _mean_correction(held, cfg, batch)
    assert c_free > 1e-3 and c_held < 0.3 * c_free, (c_free, c_held)
    # an average that barely moves from the start (the anchor: zero correction) is what comes back
    frozen, _ = fit_dsen2([scene], cfg, ema=1 - 1e-9, **kw)
    assert _mean_correction(frozen, cfg, batch) < 1e-6
    with pytest.raises(ConfigError, match="anchored"):
        fit_dsen2([scene], DSen2Config.preset("tiny"), correction_weight=1.0, **kw)


def test_checkpoint_resume_equals_uninterrupted(tmp_path):
    """Orbax checkpoints + the sampler state: a run stopped after step 1, rerun to 12 == 12 steps straight."""
    import jax

    cfg = DSen2Config.preset("tiny")
    kw = dict(batch=2, patch=8, lr=3e-3, eval_every=3, log=None)
    full, h_full = fit_dsen2([_scene(2)], cfg, steps=12, **kw)
    fit_dsen2(
        [_scene(2)], cfg, steps=12, time_limit_s=0.0, checkpoint_dir=str(tmp_path), checkpoint_every=3, **kw
    )
    resumed, h_res = fit_dsen2(
        [_scene(2)], cfg, steps=12, checkpoint_dir=str(tmp_path), checkpoint_every=3, **kw
    )
    same = jax.tree_util.tree_map(lambda a, b: bool((np.asarray(a) == np.asarray(b)).all()), full, resumed)
    assert all(jax.tree_util.tree_leaves(same))
    assert [r[0] for r in h_full.rows] == [3, 6, 9, 12]
    assert [r[0] for r in h_res.rows] == [1, 3, 6, 9, 12]  # the stopped run's last row is kept
    assert h_res.rows[-1][1] == h_full.rows[-1][1]


PARALLEL = textwrap.dedent(
    """
    import jax, numpy as np, sys
    assert jax.local_device_count() == 2, jax.local_devices()
    sys.path.insert(0, {tests!r})
    from test_train_dsen2 import _scene
    from xharm.models.dsen2 import DSen2Config
    from xharm.train.dsen2 import fit_dsen2
    cfg = DSen2Config(blocks=1, features=8, anchor="hpf", bound=0.25)
    kw = dict(steps=3, batch=4, patch=8, lr=3e-3, eval_every=3, log=None)
    two, h2 = fit_dsen2([_scene(3)], cfg, devices=2, **kw)
    one, h1 = fit_dsen2([_scene(3)], cfg, devices=1, **kw)
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree_util.tree_leaves(two), jax.tree_util.tree_leaves(one)))
    print("MAXDIFF", diff, h2.rows[-1][1], h1.rows[-1][1])
    assert diff < 1e-5 and abs(h2.rows[-1][1] - h1.rows[-1][1]) < 1e-6
    try:
        fit_dsen2([_scene(3)], cfg, devices=2, **{{**kw, "batch": 3}})
    except Exception as err:
        assert type(err).__name__ == "ConfigError" and "devices" in str(err), err
    else:
        raise AssertionError("an odd batch over 2 devices was accepted")
    """
)


def test_pmap_over_two_devices_equals_one_device(tmp_path):
    """Data parallel (2 simulated CPU devices, pmap + pmean) == one device on the same global batches."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    code = PARALLEL.format(tests=str(Path(__file__).parent))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "MAXDIFF" in res.stdout
