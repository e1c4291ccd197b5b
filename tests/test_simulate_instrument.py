"""Tests of xharm.simulate.instrument, including the physics checks against HLS and spechomo."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from xharm.core.sensors import get_sensor, hls_bandpass
from xharm.simulate import instrument as ss
from xharm.simulate.spectra import WAVELENGTHS, library

REFCUBES = Path(__file__).resolve().parents[2] / "shared" / "data" / "derived" / "spechomo_refcubes"


@pytest.fixture(scope="module")
def lib():  # type: ignore[no-untyped-def]
    return library(seed=0)


def test_band_matrix_rows_and_centres() -> None:
    s = get_sensor("sentinel-2a")
    bands = ("B02", "B03", "B04", "B8A", "B11", "B12")
    w = ss.band_matrix("sentinel-2a", bands)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    centroid = w @ WAVELENGTHS
    for b, c in zip(bands, centroid, strict=True):
        lo, hi = s.band(b).wavelength
        assert lo - 10 < c < hi + 10, b


def test_integrate_step_spectrum() -> None:
    step = (WAVELENGTHS >= 1000).astype(float)[None, :]
    out = ss.integrate(step, "landsat-8", ["B5", "B6", "B7"])
    np.testing.assert_allclose(out[0], [0.0, 1.0, 1.0], atol=1e-12)


def test_psf_gives_the_documented_mtf_at_nyquist() -> None:
    # a cosine at the 30 m Nyquist frequency (period 60 m) on the 10 m grid, crest on the output pixel centres
    x = (np.arange(600) + 0.5) * 10.0
    field = np.tile(np.cos(2 * np.pi * (x - 15.0) / 60.0), (30, 1))
    for mtf in (0.2, 0.27, 0.4):
        out = ss.observe(field, 10.0, 30.0, ss.psf_sigma("landsat-8", 30.0, mtf))
        amp = np.abs(out[5, 10:-10]).mean()
        # discrete 3-sample box has MTF 2/3 at Nyquist, the continuous one sinc(1/2) = 0.637
        assert amp == pytest.approx(mtf * (2 / 3) / np.sinc(0.5), abs=0.02)


def test_misregistration_moves_content() -> None:
    field = np.zeros((60, 60), "float32")
    field[:, 30] = 1.0
    field2 = np.zeros((60, 60), "float32")
    field2[30, :] = 1.0
    east = ss.observe(field, 10.0, 10.0, 0.0, (4.0, 0.0))
    north = ss.observe(field2, 10.0, 10.0, 0.0, (0.0, 7.0))
    cols = np.arange(60)
    assert (east[10] * cols).sum() / east[10].sum() == pytest.approx(30.4, abs=1e-4)
    assert (north[:, 10] * cols).sum() / north[:, 10].sum() == pytest.approx(30 - 0.7, abs=1e-4)


def test_box_average_nests_exactly() -> None:
    f = np.random.default_rng(0).random((2, 12, 12)).astype("float32")
    np.testing.assert_allclose(
        ss.observe(f, 10.0, 20.0, 0.0), f.reshape(2, 6, 2, 6, 2).mean((2, 4)), rtol=1e-6
    )


def test_noise_follows_snr() -> None:
    snr, rho_ref = ss.SNR["landsat"]["B4"]
    x = np.full((1, 400, 400), rho_ref, "float32")
    y = ss.add_noise(x, "landsat-8", ["B4"], np.random.default_rng(1))
    assert float((y - x).std()) == pytest.approx(rho_ref / snr, rel=0.03)
    assert abs(float((y - x).mean())) < 1e-4


def test_ross_li_kernels_known_values() -> None:
    assert ss._kernels(0.0, 0.0, 0.0) == pytest.approx((0.0, 0.0), abs=1e-12)
    # RossThick in the hot spot: ((pi/2) cos 0 + sin 0) / (2 cos 30) - pi/4
    kv, _ = ss._kernels(30.0, 30.0, 0.0)
    assert kv == pytest.approx((np.pi / 2) / (2 * np.cos(np.radians(30))) - np.pi / 4)
    assert ss.brdf_factor("sentinel-2a", "B04", 35.0, 0.0, 0.0, 35.0) == pytest.approx(1.0)
    assert ss.brdf_factor("sentinel-2a", "B05", 35.0, 0.0, 0.0, 35.0) == pytest.approx(1.0)


def test_encode_decode_product_conventions() -> None:
    rho = np.array([0.0, 1.0, 0.1234, np.nan])
    assert ss.encode(rho, "sentinel-2b").tolist() == [1000, 11000, 2234, 0]
    assert ss.encode(np.array([0.0, 1.0]), "landsat-8").tolist() == [7273, 43636]  # SENSORS.md B.1
    back = ss.decode(ss.encode(rho, "landsat-8"), "landsat-8")
    np.testing.assert_allclose(back[:3], rho[:3], atol=2.75e-5 / 2 + 1e-7)
    assert np.isnan(back[3])


def test_solar_zenith() -> None:
    assert ss.solar_zenith(0.0, 80, 12.0) == pytest.approx(0.0, abs=1.5)  # equinox, equator, noon
    assert ss.solar_zenith(48.0, 80, 12.0) == pytest.approx(48.0, abs=1.5)
    assert ss.solar_zenith(48.0, 172, 12.0) == pytest.approx(48.0 - 23.44, abs=0.5)


def test_physics_hls_bandpass(lib) -> None:  # type: ignore[no-untyped-def]
    """Regression over the spectral library reproduces the HLS coefficients."""
    for platform in ("sentinel-2a", "sentinel-2b"):
        fit = ss.fit_bandpass(lib.spectra, platform, "landsat-8")
        for msi, (oli, slope, offset) in hls_bandpass(platform).items():
            assert fit[msi][0] == oli
            assert fit[msi][1] == pytest.approx(slope, abs=0.03), (platform, msi)
            assert fit[msi][2] == pytest.approx(offset, abs=0.01), (platform, msi)


def _read_envi(stem: str) -> np.ndarray:
    hdr = (REFCUBES / f"{stem}.hdr").read_text()
    n = {k: int(re.search(rf"^{k}\s*=\s*(\d+)", hdr, re.M).group(1)) for k in ("samples", "lines", "bands")}  # type: ignore[union-attr]
    assert re.search(r"^data type\s*=\s*2", hdr, re.M) and re.search(r"^interleave\s*=\s*bsq", hdr, re.M)
    raw = np.fromfile(REFCUBES / f"{stem}.bsq", dtype="<i2")
    return raw.reshape(n["bands"], n["lines"] * n["samples"]).astype("float64")


def test_physics_spechomo_refcubes(lib) -> None:  # type: ignore[no-untyped-def]
    """Slopes fitted on real airborne spectra (spechomo) agree with ours within 0.03."""
    if not REFCUBES.is_dir():
        pytest.skip(f"spechomo refcubes not found at {REFCUBES}")
    s2 = _read_envi("refcube__Sentinel-2A__MSI__nclust50__nsamp1000")
    l8 = _read_envi("refcube__Landsat-8__OLI_TIRS__nclust50__nsamp1000")
    s2_order = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
    l8_order = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    ours = ss.fit_bandpass(lib.spectra, "sentinel-2a", "landsat-8")
    for msi, (oli, slope, _) in ours.items():
        x, y = s2[s2_order.index(msi)], l8[l8_order.index(oli)]
        ok = (x != -9999) & (y != -9999)
        ref_slope = np.polyfit(x[ok] / 1e4, y[ok] / 1e4, 1)[0]
        assert slope == pytest.approx(ref_slope, abs=0.03), msi


def test_per_band_mtf_is_measured_by_the_psf() -> None:
    """Each band's PSF gives its own MTF at Nyquist; the band average is the published figure."""
    x = (np.arange(600) + 0.5) * 10.0
    field = np.tile(np.cos(2 * np.pi * (x - 15.0) / 60.0), (30, 1))
    bands = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
    mtf = [ss.mtf_nyquist("landsat-8", b, 30.0) for b in bands]
    assert np.mean(mtf) == pytest.approx(ss.MTF_NYQUIST[("landsat", 30.0)])
    assert mtf == sorted(mtf, reverse=True) and mtf[0] - mtf[-1] > 0.03  # diffraction: SWIR softer
    for b, m in zip(bands, mtf, strict=True):
        out = ss.observe(field, 10.0, 30.0, ss.psf_sigma("landsat-8", 30.0, band=b))
        assert np.abs(out[5, 10:-10]).mean() == pytest.approx(m * (2 / 3) / np.sinc(0.5), abs=0.02), b
    s2 = [ss.mtf_nyquist("sentinel-2a", b, 20.0) for b in ("B05", "B8A", "B12")]
    assert s2[0] > s2[1] > s2[2]
