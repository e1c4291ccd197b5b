"""Tests of xharm.simulate.spectra: every spectrum against physics known independently."""

from __future__ import annotations

import numpy as np
import prosail
import pytest

from xharm.simulate import spectra as sp

WL = sp.WAVELENGTHS


def at(r: np.ndarray, nm: float) -> float:
    return float(r[int(nm - 400)])


def test_grid_is_1nm_400_2500() -> None:
    assert WL[0] == 400 and WL[-1] == 2500 and np.all(np.diff(WL) == 1.0)


def test_canopy_matches_a_direct_prosail_run() -> None:
    c = sp.CANOPIES["wheat"]
    got = sp.canopy_spectrum(c, 3.0, 45.0, 0.1)
    soil = c.soil_brightness * (
        (1 - c.soil_moisture) * prosail.spectral_lib.soil.rsoil1
        + c.soil_moisture * prosail.spectral_lib.soil.rsoil2
    )
    want = prosail.run_prosail(
        c.n, 45.0, c.car, 0.1, c.cw, c.cm, 3.0, c.lidfa, c.hspot, 35.0, 0.0, 0.0,
        ant=c.ant, prospect_version="D", rsoil0=soil,
    )  # fmt: skip
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_canopy_red_edge_and_lai_response() -> None:
    c = sp.CANOPIES["maize"]
    low, high = sp.canopy_spectrum(c, 0.5, 50.0), sp.canopy_spectrum(c, 5.0, 50.0)
    assert at(high, 670) < 0.05 < 0.3 < at(high, 860)  # chlorophyll well, NIR plateau
    assert at(high, 860) > at(low, 860) and at(high, 670) < at(low, 670)
    np.testing.assert_array_equal(
        sp.canopy_spectrum(c, 0.0, 50.0), sp.soil_spectrum(c.soil_brightness, c.soil_moisture)
    )


def test_soil_is_the_prosail_linear_mixture() -> None:
    dry, wet = prosail.spectral_lib.soil.rsoil1, prosail.spectral_lib.soil.rsoil2
    np.testing.assert_allclose(sp.soil_spectrum(1.2, 0.25), 1.2 * (0.75 * dry + 0.25 * wet))
    assert np.all(sp.soil_spectrum(1.0, 1.0) <= sp.soil_spectrum(1.0, 0.0) + 1e-12)


def test_pure_water_absorption_matches_literature() -> None:
    a = sp._absorption("Segelstein")
    # pure water: ~0.0145 m-1 at 440 nm (Pope & Fry 1997 ~0.0064-0.015), 2.8 at 760, ~36 at 1000 nm
    assert 0.003 < at(a, 440) < 0.03
    assert 2.0 < at(a, 760) < 3.5
    assert 25 < at(a, 1000) < 50


def test_water_is_dark_and_bluegreen() -> None:
    r = sp.water_spectrum()
    assert at(r, 490) > at(r, 670) > at(r, 860)
    assert at(r, 860) < 0.003 and at(r, 1610) < 1e-4
    turbid = sp.water_spectrum(0.6, 0.4, 0.03)
    assert at(turbid, 670) > at(r, 670)  # particles brighten red


def test_snow_art_model() -> None:
    fine, coarse = sp.snow_spectrum(100.0), sp.snow_spectrum(1000.0)
    assert at(fine, 500) > 0.9 and at(fine, 1610) < 0.15  # bright VIS, ice absorption in SWIR
    assert at(coarse, 1030) < at(fine, 1030)  # larger grains absorb more (Warren 1982)
    np.testing.assert_allclose(at(fine, 500), at(coarse, 500), atol=0.02)


def test_earthlib_materials() -> None:
    asphalt, sidewalk = sp.material_spectra("asphalt"), sp.material_spectra("sidewalk")
    assert asphalt.shape[1] == WL.size and asphalt.min() >= 0
    assert asphalt[:, 200].mean() < sidewalk[:, 200].mean()  # fresh/old asphalt darker than concrete
    with pytest.raises(KeyError):
        sp.material_spectra("unobtainium")


def test_library_groups_and_determinism() -> None:
    a = sp.library(n_vegetation=10, n_soil=3, n_other=2, seed=3)
    b = sp.library(n_vegetation=10, n_soil=3, n_other=2, seed=3)
    np.testing.assert_array_equal(a.spectra, b.spectra)
    assert set(a.groups) == {"vegetation", "soil", "water", "snow", "urban", "bare"}
    assert a.select("water").shape[0] == 2 and np.isfinite(a.spectra).all()
