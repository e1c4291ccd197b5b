"""Classical sharpening baselines: bicubic and regression-weighted high-pass injection."""

from __future__ import annotations

import numpy as np

from xharm.sharpening.classic import bicubic, hpf
from xharm.sharpening.mtf import degrade


def test_hpf_recovers_a_band_that_is_a_mix_of_the_guides():
    rng = np.random.default_rng(0)
    g = np.cumsum(rng.normal(size=(4, 24, 24)), axis=-1) * 0.01 + 0.2
    truth = np.stack([0.5 * g[0] + 0.3 * g[3] + 0.01, 1.2 * g[2]])
    y = degrade(truth, 2)
    out = hpf(y, g, 2)
    np.testing.assert_allclose(out, truth, atol=1e-5)
    assert np.abs(bicubic(y, 2) - truth).max() > 1e-3  # bicubic cannot


def test_nan_propagates_to_its_footprint_only():
    rng = np.random.default_rng(1)
    g = rng.random((4, 12, 12))
    y = degrade(g[:2], 2)
    y[0, 2, 2] = np.nan
    for out in (hpf(y[None], g[None], 2)[0], bicubic(y, 2)):
        assert np.isnan(out[:, 4:6, 4:6]).all()
        assert np.isfinite(out[:, :3]).all()
