"""Tests of xharm.simulate.phenology against the calendar definitions."""

from __future__ import annotations

import numpy as np

from xharm.simulate import phenology as ph


def test_spring_crops_are_bare_before_sowing_and_after_harvest() -> None:
    for crop in ("maize", "soybean", "sugarbeet"):
        c = ph.CALENDARS[crop]
        assert ph.lai(crop, c.sow - 1) == 0.0
        assert ph.lai(crop, c.harvest + 1) == 0.0
        assert ph.lai(crop, (c.t_up + c.t_down) / 2) > 0.8 * c.lai_max


def test_double_logistic_value_at_inflection() -> None:
    c = ph.CALENDARS["deciduous"]
    # at t_up the rising logistic is 1/2 and the falling one ~0
    want = c.lai_min + (c.lai_max - c.lai_min) * (0.5 - 1 / (1 + np.exp(-(c.t_up - c.t_down) / c.w_down)))
    np.testing.assert_allclose(ph.lai("deciduous", c.t_up), want)


def test_shift_and_scale_per_field() -> None:
    assert ph.lai("maize", 175, shift=10) < ph.lai("maize", 175)
    np.testing.assert_allclose(ph.lai("maize", 220, scale=0.5), 0.5 * ph.lai("maize", 220), rtol=1e-6)
    out = ph.lai("wheat", 150, shift=np.array([0.0, 5.0]), scale=np.array([1.0, 0.9]))
    assert out.shape == (2,)


def test_mowing_cuts_grassland() -> None:
    before, after = ph.lai("grassland", 149), ph.lai("grassland", 151)
    assert after < 0.6 * before


def test_greenness_and_pigments() -> None:
    g = ph.greenness("wheat", np.arange(100, 260))
    assert np.all(np.diff(g) <= 0) and g[0] > 0.99 and g[-1] < 0.01
    cab, brown = ph.pigments("maize", np.array([1.0, 0.0]))
    np.testing.assert_allclose(cab, [ph.CALENDARS["maize"].cab_max, 5.0])
    np.testing.assert_allclose(brown, [0.0, 0.8])
