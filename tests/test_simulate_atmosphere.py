"""Tests of xharm.simulate.atmosphere: the TOA model, its inversion and the per-product processors."""

from __future__ import annotations

import numpy as np
import pytest

from xharm import simulate
from xharm.exceptions import ProductError
from xharm.simulate import atmosphere as atm
from xharm.simulate import instrument as ss


def test_inversion_with_the_true_aerosol_is_exact() -> None:
    rng = np.random.default_rng(0)
    rho = rng.uniform(0.01, 0.5, (3, 40, 40)).astype("float32")
    aot = atm.aerosol_field((40, 40), 0.2, 0, 1)
    wl = np.array([490.0, 865.0, 2200.0])
    toa = atm.level1(rho, wl, (35.0, 5.0, 120.0), aot, 30.0)
    env = atm.environment(rho, 30.0)
    for b in range(3):
        back = ss.surface_reflectance(toa[b], wl[b], 35.0, 5.0, 120.0, aot=aot, env=env[b])
        np.testing.assert_allclose(back, rho[b], atol=2e-5)
    # the atmosphere brightens blue most, and blue TOA depends on the neighbourhood (adjacency)
    assert (toa[0] - rho[0]).mean() > (toa[2] - rho[2]).mean()


def test_aerosol_error_gives_a_spectral_reflectance_dependent_residual() -> None:
    rho = np.array([0.02, 0.1, 0.4], "float32")
    res = {}
    for wl in (490.0, 2200.0):
        toa = ss.toa_reflectance(rho, wl, 35.0, aot=0.2)
        res[wl] = ss.surface_reflectance(toa, wl, 35.0, aot=0.27) - rho
    # too much aerosol: dark targets come out too dark; bright ones gain through the transmittance
    assert res[490.0][0] < -0.002 and res[490.0][2] > res[490.0][0] + 0.005
    assert np.abs(res[490.0]).max() > 3 * np.abs(res[2200.0]).max()  # spectral (lambda^-1.3)


def test_haze_differs_between_overpasses_and_is_smooth() -> None:
    (a2, v2), (a8, v8) = (atm.haze_field((200, 200), 10.0, 3, 1, r) for r in ("s2", "l8"))
    assert a2.max() > 0 and v2.max() > 0  # this date has both layers
    assert 0.2 < np.corrcoef(a2.ravel(), a8.ravel())[0, 1] < 0.99
    assert 0.2 < np.corrcoef(v2.ravel(), v8.ravel())[0, 1] < 0.99
    # smooth at > 200 m: neighbouring 10 m pixels nearly equal
    assert np.abs(np.diff(v2, axis=1)).mean() < 0.02 * v2.std() * 10


def test_processors_differ_and_the_systematic_part_is_deterministic() -> None:
    aot = np.full((60, 60), 0.15, "float32")
    swir = np.full((60, 60), 0.1, "float32")
    s2 = atm.retrieve_aot(swir, aot, atm.PROCESSORS["sen2cor"], 20.0, None)
    l8 = atm.retrieve_aot(swir, aot, atm.PROCESSORS["lasrc"], 20.0, None)
    assert s2.mean() == pytest.approx(0.15 + 0.03, abs=1e-4) and l8.mean() == pytest.approx(0.14, abs=1e-4)
    bright = atm.retrieve_aot(swir + 0.1, aot, atm.PROCESSORS["sen2cor"], 20.0, None)
    assert bright.mean() > s2.mean()  # the dark-target assumption fails on bright scenes
    noisy = atm.retrieve_aot(swir, aot, atm.PROCESSORS["sen2cor"], 20.0, np.random.default_rng(1))
    assert noisy.std() > 0


def test_level1_and_targets() -> None:
    kw = dict(size_km=1.2, seed=5, cloud_cover=0.0)
    l2 = simulate.scene("2021-07-01", **kw)
    l1 = simulate.scene("2021-07-01", level="L1", **kw)
    assert l1.s2_10m.attrs["product"] == "simulated S2 L1C"
    assert l1.l8.attrs["product"] == "simulated L8 C2 L1TP"
    blue = float((l1.s2_10m.sel(band="B02") - l2.s2_10m.sel(band="B02")).mean())
    assert blue > 0.02  # path radiance
    # the target: Landsat's processor's systematic radiometry on the registered truth
    d = (l2.l8_target - l2.l8_truth).mean(("time", "y", "x")).values
    assert 0 < np.abs(d).max() < 0.02
    flat = simulate.scene("2021-07-01", atmosphere=0.0, **kw)
    np.testing.assert_array_equal(flat.l8_target.values, flat.l8_truth.values)
    q = simulate.scene("2021-07-01", level="L1", quantize=True, **kw).l8.values
    dn = (q + 0.1) / 2e-5
    np.testing.assert_allclose(dn, np.round(dn), atol=0.05)
    with pytest.raises(ProductError):
        simulate.scene("2021-07-01", level="L3", **kw)


def test_clouds_are_no_surface_for_adjacency_or_retrieval():
    """Clear pixels of cloudy dates stay near the truth in both Level-2 products.

    Found after the v2 merge: bright clouds entered the adjacency environment and the aerosol
    retrieval as if they were surface; on cloudy dates the clear pixels of Landsat came out
    +0.09..+0.135 too bright in B2 and those of Sentinel-2 -0.07..-0.115 too dark (seed 8).
    """
    from xharm.core.grid import mask_to_grid
    from xharm.evaluate import run_methods
    from xharm.simulate import pair_series

    ps = pair_series(n_dates=4, size_km=3.0, seed=8, lazy=False)
    assert float(ps.s2_valid.mean(("y", "x")).min()) < 0.5  # the scene has cloudy dates
    s2 = run_methods({10: ps.s2_10m, 20: ps.s2_20m}, ["resample"], valid=ps.s2_valid)["resample"]
    t = ps.s2_10m.time.values
    truth = ps.l8_truth.sel(band=s2.band.values).assign_coords(time=t)
    l8 = ps.l8.sel(band=s2.band.values).assign_coords(time=t)
    s2_bias = (s2 - truth).where(mask_to_grid(ps.s2_valid, s2.odc.geobox)).mean(("y", "x"))
    l8_bias = (l8 - truth).where(ps.l8_valid.assign_coords(time=t)).mean(("y", "x"))
    assert float(abs(s2_bias.sel(band="B2")).max()) < 0.04
    assert float(abs(l8_bias.sel(band="B2")).max()) < 0.04
