"""Tests of xharm.simulate.geometry: the per-date misregistration and its recovery."""

from __future__ import annotations

import numpy as np
import pytest

from xharm import simulate
from xharm.exceptions import XharmError
from xharm.simulate import geometry as geo
from xharm.simulate import instrument as ss


def test_resolve_accepts_shift_distribution_or_zero() -> None:
    assert geo.resolve_misregistration(None) == geo.Misregistration()
    assert geo.resolve_misregistration(0) == (0.0, 0.0)
    assert geo.resolve_misregistration([6, -4]) == (6.0, -4.0)
    m = geo.Misregistration(sigma_m=5.6)
    assert geo.resolve_misregistration(m) is m
    for bad in ("east", (1.0,), (1.0, float("nan")), 3.0, geo.Misregistration(sigma_m=-1.0)):
        with pytest.raises(geo.MisregistrationError) as e:
            geo.resolve_misregistration(bad)
        assert isinstance(e.value, XharmError) and isinstance(e.value, ValueError)


def test_distribution_matches_the_published_ce90() -> None:
    """2000 draws: zero mean, 2.8 m per axis, 90 % of radial errors below 6 m (GRI era)."""
    d = np.array([geo.draw_shift(geo.Misregistration(), 3, i) for i in range(2000)])
    assert np.all(np.abs(d.mean(axis=0)) < 0.2)
    np.testing.assert_allclose(d.std(axis=0), geo.GRI_SIGMA_M, rtol=0.06)
    assert np.percentile(np.hypot(d[:, 0], d[:, 1]), 90) == pytest.approx(6.0, rel=0.06)


def test_pair_series_draws_a_shift_per_date() -> None:
    kw = dict(n_dates=4, size_km=0.6, seed=2, clouds=False)
    a = simulate.pair_series(**kw)
    dx, dy = a.l8.misregistration_dx.values, a.l8.misregistration_dy.values
    assert np.unique(dx).size == 4 and np.unique(dy).size == 4  # a new draw per date
    b = simulate.pair_series(**kw)
    np.testing.assert_array_equal(b.l8.misregistration_dx.values, dx)  # deterministic per seed
    np.testing.assert_array_equal(b.l8.values, a.l8.values)
    fixed = simulate.pair_series(**kw, misregistration=(6.0, -4.0))
    assert fixed.l8.misregistration_dx.values.tolist() == [6.0] * 4
    off = simulate.pair_series(**kw, misregistration=0)
    assert not off.l8.misregistration_dx.values.any() and not off.l8.misregistration_dy.values.any()
    legacy = simulate.pair_series(**kw, misregistration_m=(6.0, -4.0))
    np.testing.assert_array_equal(legacy.l8.values, fixed.l8.values)
    np.testing.assert_array_equal(off.s2_10m.values, a.s2_10m.values)  # S2 is the reference grid


def _phase_shift(ref: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """``(dx, dy)`` in metres (east, north) by which ``moving`` (30 m) is displaced from ``ref``.

    Both images are high-passed first (minus a 60 m Gaussian), so the haze and
    atmospheric-correction differences, smooth at > 200 m, do not pull the peak.
    """
    from scipy import ndimage
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    ref, moving = ref[3:-3, 3:-3].astype("float64"), moving[3:-3, 3:-3].astype("float64")
    ref, moving = ref - ndimage.gaussian_filter(ref, 2.0), moving - ndimage.gaussian_filter(moving, 2.0)
    w = window("hann", ref.shape)
    sh, _, _ = phase_cross_correlation(
        (ref - ref.mean()) * w, (moving - moving.mean()) * w, upsample_factor=100, normalization=None
    )
    return -float(sh[1]) * 30.0, float(sh[0]) * 30.0


@pytest.fixture(scope="module")
def clear_series() -> simulate.PairSeries:
    return simulate.pair_series(n_dates=12, size_km=2.4, seed=11, cloud_cover=0.0,
                                start="2021-05-01", end="2021-09-15")  # fmt: skip


def _estimates(ps: simulate.PairSeries) -> np.ndarray:
    """Phase correlation of L8 B4 against S2 B04 taken to 30 m with Landsat's PSF."""
    sigma = ss.psf_sigma("landsat-8", 30.0, band="B4")
    out = []
    for t in range(ps.l8.sizes["time"]):
        ref = ss.observe(ps.s2_10m.sel(band="B04").values[t], 10.0, 30.0, sigma)
        out.append(_phase_shift(ref, ps.l8.sel(band="B4").values[t]))
    return np.array(out)


def test_phase_correlation_recovers_the_drawn_shift(clear_series: simulate.PairSeries) -> None:
    """Each date's drawn shift is recovered within 1.5 m from the S2 / L8 pair alone."""
    est = _estimates(clear_series)
    l8 = clear_series.l8
    drawn = np.stack([l8.misregistration_dx.values, l8.misregistration_dy.values], 1)
    assert np.abs(drawn).max() > 2.0  # shifts of a few metres, not all zero
    np.testing.assert_array_less(np.abs(est - drawn), 1.5)


def test_mean_shift_over_dates_is_zero(clear_series: simulate.PairSeries) -> None:
    """No systematic (learnable) offset: the phase-correlated mean over 12 dates is within 1 m of 0."""
    est = _estimates(clear_series)
    assert np.all(np.abs(est.mean(axis=0)) < 1.0), est.mean(axis=0)
