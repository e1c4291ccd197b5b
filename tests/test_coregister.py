"""xharm.core.coregister: the drawn Landsat shift of simulated pairs is found and undone."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from xharm import simulate
from xharm.core.coregister import coregister, estimate_shift
from xharm.core.grid import s2_to_30m
from xharm.exceptions import DimensionError


@pytest.fixture(scope="module")
def pairs():
    ps = simulate.pair_series(
        n_dates=4, size_km=2.4, seed=11, cloud_cover=0.0, start="2021-05-01", end="2021-09-15"
    )
    ref = s2_to_30m(ps.s2_10m.sel(band=["B04"]).compute())
    l8 = ps.l8.compute()
    # the S2 30 m grid is the L8 grid of the simulator; dates: L8 passes 20 min earlier
    return ps, l8.assign_coords(time=ref.time.values), ref


def test_estimate_recovers_a_known_shift():
    rng = np.random.default_rng(1)
    ref = ndimage.gaussian_filter(rng.random((80, 80)), 1.5)
    moved = ndimage.shift(ref, (-0.1, 0.2), order=3, mode="reflect")  # 6 m east, 3 m north at 30 m
    dx, dy = estimate_shift(moved, ref, 30.0)
    assert dx == pytest.approx(6.0, abs=0.5) and dy == pytest.approx(3.0, abs=0.5)


def test_drawn_misregistration_is_found_within_1_5_m_and_undone(pairs):
    ps, l8, ref = pairs
    out = coregister(l8, ref, bands=("B4", "B04"))
    drawn = np.stack([ps.l8.misregistration_dx.values, ps.l8.misregistration_dy.values], 1)
    found = np.stack([out.coreg_dx.values, out.coreg_dy.values], 1)
    assert np.abs(drawn).max() > 2.0
    np.testing.assert_array_less(np.abs(found - drawn), 1.5)
    # after co-registration what is left is within the estimator's own precision (1.5 m)
    again = coregister(out.fillna(out.mean()), ref, bands=("B4", "B04"))
    assert np.abs(again.coreg_dx.values).max() < 1.5 and np.abs(again.coreg_dy.values).max() < 1.5
    assert "coregistered_to" in out.attrs and out.dims == l8.dims
    inner = out.isel(y=slice(2, -2), x=slice(2, -2))
    assert np.isfinite(inner.values).all()


def test_refuses_other_dates_and_empty_masks(pairs):
    _, l8, ref = pairs
    with pytest.raises(DimensionError, match="numbers of dates"):
        coregister(l8.isel(time=[0]), ref, bands=("B4", "B04"))
    nothing = (l8.sel(band="B4") * 0).astype(bool)
    with pytest.raises(DimensionError, match="too few valid pixels"):
        coregister(l8, ref, bands=("B4", "B04"), valid=nothing)
