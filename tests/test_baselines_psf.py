"""xharm.baselines.psf and method="hls_psf": Landsat's PSF on the Sentinel-2 grid."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from odc.geo.geobox import GeoBox

from xharm import simulate
from xharm.baselines import to_landsat
from xharm.baselines.psf import extra_sigma, match_landsat_psf
from xharm.core.cube import make_cube
from xharm.core.sensors import psf_sigma
from xharm.evaluate import score_series

BBOX = (600000, 4999640, 600360, 5000000)
G10 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=10)
G20 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=20)
ANGLES = {"sun_zenith": 35.0, "sun_azimuth": 150.0, "view_zenith": 4.0, "view_azimuth": 100.0}


def _cubes(x10: np.ndarray, x20: np.ndarray):  # type: ignore[no-untyped-def]
    t = ["2021-06-01T10:30"] * x10.shape[0]
    c10 = make_cube(x10, geobox=G10, bands=["B02", "B03", "B04", "B08"], sensor="S2A", time=t, attrs=ANGLES)
    c20 = make_cube(x20, geobox=G20, bands=["B8A", "B11", "B12"], sensor="S2A", time=t, attrs=ANGLES)
    return c10, c20


def test_extra_sigma_is_the_quadrature_difference_of_published_psfs() -> None:
    for band, lband, res in (("B02", "B2", 10.0), ("B8A", "B5", 20.0), ("B12", "B7", 20.0)):
        want = np.sqrt(
            psf_sigma("landsat-8", 30.0, band=lband) ** 2 - psf_sigma("sentinel-2a", res, band=band) ** 2
        )
        assert extra_sigma(band, res) == pytest.approx(want)
    assert 10.0 < extra_sigma("B04", 10.0) < 13.0  # OLI ~12 m, MSI 10 m ~4 m


def test_blur_keeps_flat_fields_mass_and_nan_and_is_lazy_and_chunk_independent() -> None:
    rng = np.random.default_rng(0)
    x10 = rng.uniform(0.05, 0.4, (2, 4, 36, 36)).astype("float32")
    x10[0, :, 10, 10] = np.nan
    c10, _ = _cubes(x10, np.zeros((2, 3, 18, 18), "float32"))
    eager = match_landsat_psf(c10)
    assert np.isnan(eager.values[0, :, 10, 10]).all() and np.isfinite(eager.values[1]).all()
    assert np.isfinite(eager.values[0, :, 9, 10]).all()  # the NaN does not spread
    lazy = match_landsat_psf(c10.chunk({"y": 12, "x": 12, "band": 1}))
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_allclose(lazy.values, eager.values, atol=1e-6, equal_nan=True)
    flat = match_landsat_psf(c10.copy(data=np.full_like(x10, 0.3)))
    np.testing.assert_allclose(flat.values, 0.3, atol=1e-6)
    # a Gaussian blur (edges repeated) keeps the interior mean and lowers the variance
    assert eager.values[1].std() < x10[1].std()
    assert "B04" in eager.attrs["xharm_psf"]


def test_cloudy_inputs_do_not_bleed_into_clear_pixels() -> None:
    rng = np.random.default_rng(1)
    x10 = rng.uniform(0.05, 0.3, (1, 4, 36, 36)).astype("float32")
    x20 = rng.uniform(0.05, 0.3, (1, 3, 18, 18)).astype("float32")
    valid = np.ones((1, 18, 18), bool)
    valid[0, :6, :6] = False  # a cloud in the corner (20 m mask)
    c10, c20 = _cubes(x10, x20)
    mask = c20.isel(band=0).drop_vars(["band", "common_name"], errors="ignore").copy(data=valid)
    a = to_landsat(c10, c20, method="hls_psf", valid=mask, brdf=False)
    cloudy10, cloudy20 = x10.copy(), x20.copy()
    cloudy10[0, :, :12, :12] = 0.9  # bright cloud where the mask says so
    cloudy20[0, :, :6, :6] = 0.9
    c10b, c20b = _cubes(cloudy10, cloudy20)
    b = to_landsat(c10b, c20b, method="hls_psf", valid=mask, brdf=False)
    np.testing.assert_allclose(a.values, b.values, equal_nan=True)
    assert a.attrs["harmonization_method"] == "hls_psf"


def test_hls_psf_is_closer_to_the_registered_truth_than_hls_on_a_simulated_scene() -> None:
    ps = simulate.pair_series(n_dates=2, size_km=1.8, seed=5, lazy=False, cloud_cover=0.0)
    overall, _ = score_series(ps, ["hls", "hls_psf"], references=["truth"])["truth"]
    assert overall.loc["hls_psf", "rmse"] < overall.loc["hls", "rmse"]
    assert overall.loc["hls_psf", "ssim"] > overall.loc["hls", "ssim"]
