"""TRA: planted per-pixel linear relations are recovered; pairing and fallback rules."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox

from xharm.baselines.tra import SOURCE_DIRECT, SOURCE_INTERPOLATED, SOURCE_NONE, apply_tra, fit_tra
from xharm.core.cube import make_cube
from xharm.exceptions import GridError, MissingBandError

GBOX = GeoBox.from_bbox((600000, 4999800, 600180, 4999980), "EPSG:32632", resolution=30)  # 6 x 6
BANDS = ["B2", "B3", "B4", "B5", "B6", "B7"]


def _cube(data: np.ndarray, days: list[str], chunks: dict | None = None) -> xr.DataArray:
    arr = da.from_array(data, chunks=chunks) if chunks else data
    return make_cube(arr, geobox=GBOX, bands=BANDS[: data.shape[1]], sensor="landsat-8", time=days)


def _planted(rng: np.random.Generator, nb: int = 6) -> tuple[np.ndarray, np.ndarray]:
    slope = rng.uniform(0.8, 1.2, (nb, 6, 6))
    intercept = rng.uniform(-0.02, 0.02, (nb, 6, 6))
    return slope, intercept


def test_recovers_planted_relation_direct_pairs(compute_counter) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    slope, intercept = _planted(rng)
    s2_days = [f"2021-{m:02d}-{d:02d}T10:30" for m in (5, 6, 7, 8) for d in (3, 13, 23)]
    # Landsat the same day or one day later (10:11 local vs 10:30)
    l8_days = [
        f"2021-{m:02d}-{d + (i % 2):02d}T10:11" for m in (5, 6, 7, 8) for i, d in enumerate((3, 13, 23))
    ]
    x = rng.uniform(0.02, 0.5, (12, 6, 6, 6))
    y = (slope[None] * x.astype("float64") + intercept[None]).astype("float32")
    s2 = _cube(x.astype("float32"), s2_days, chunks={"time": 5, "band": 6, "y": 3, "x": 6})
    l8 = _cube(y, l8_days, chunks={"time": 4, "band": 3, "y": 6, "x": 2})
    # a few clouds on both sides, still >= 4 pairs everywhere
    ms = np.ones((12, 6, 6), bool)
    ms[::3, :2] = False
    ml = np.ones((12, 6, 6), bool)
    ml[1::4, 3:] = False
    tmpl = s2.isel(band=0, drop=True)
    coef = fit_tra(
        s2,
        l8,
        s2_valid=xr.DataArray(ms, dims=tmpl.dims, coords=tmpl.coords),
        l8_valid=xr.DataArray(ml, dims=tmpl.dims, coords=l8.isel(band=0, drop=True).coords),
    )
    out = apply_tra(s2, coef)
    assert compute_counter.calls == 0  # lazy until asked
    assert out.chunks is not None and coef["slope"].chunks is not None
    coef = coef.compute()
    np.testing.assert_allclose(coef["slope"].values, slope, atol=1e-6)
    np.testing.assert_allclose(coef["intercept"].values, intercept, atol=1e-6)
    assert (coef["source"] == SOURCE_DIRECT).all()
    # every pixel of every date is predicted, clouds or not
    np.testing.assert_allclose(out.values, (slope[None] * x + intercept[None]), atol=2e-6)
    assert out.dtype == np.float32 and out.dims == ("time", "band", "y", "x")
    assert coef["n_pairs"].dims == ("y", "x")
    # pairs per pixel: S2 clear and paired L8 clear; counted by hand
    n_expected = (ms & ml).sum(axis=0)
    np.testing.assert_array_equal(coef["n_pairs"].values, n_expected)


def test_chunked_equals_unchunked() -> None:
    rng = np.random.default_rng(2)
    days = [f"2021-06-{d:02d}" for d in (1, 5, 9, 13, 17, 21)]
    x = rng.uniform(0.05, 0.4, (6, 2, 6, 6)).astype("float32")
    y = (0.9 * x + 0.01 + rng.normal(0, 0.01, x.shape)).astype("float32")
    a = fit_tra(_cube(x, days), _cube(y, days))
    b = fit_tra(
        _cube(x, days, {"time": 2, "band": 1, "y": 2, "x": 3}),
        _cube(y, days, {"time": 3, "band": 2, "y": 3, "x": 3}),
    )
    xr.testing.assert_allclose(a, b.compute())


def test_fallback_interpolation_recovers_relation() -> None:
    """No L8 date within a day of any S2 date: Landsat is interpolated between bracketing dates."""
    rng = np.random.default_rng(3)
    slope, intercept = _planted(rng, nb=2)
    t_s2 = np.array([5.0, 12.0, 19.0, 26.0, 33.0])  # days after 2021-06-01
    t_l8 = np.array([0.0, 8.0, 16.0, 24.0, 32.0, 40.0])
    a = rng.uniform(0.05, 0.2, (2, 6, 6))
    b = rng.uniform(0.001, 0.005, (2, 6, 6))
    x = a[None] + b[None] * t_s2[:, None, None, None]  # S2 reflectance linear in time per pixel
    xl = a[None] + b[None] * t_l8[:, None, None, None]
    y = slope[None] * xl + intercept[None]  # so the interpolated L8 is exactly slope * x + intercept
    base = np.datetime64("2021-06-01T00:00", "ns")
    s2 = _cube(x.astype("float32"), [base + np.timedelta64(int(t * 86400), "s") for t in t_s2])
    l8 = _cube(
        y.astype("float64").astype("float32"), [base + np.timedelta64(int(t * 86400), "s") for t in t_l8]
    )
    coef = fit_tra(s2, l8)
    assert (coef["source"] == SOURCE_INTERPOLATED).all()
    assert (coef["n_pairs"] == 5).all()
    np.testing.assert_allclose(coef["slope"].values, slope, atol=1e-5)
    np.testing.assert_allclose(coef["intercept"].values, intercept, atol=1e-6)


def test_pairing_rules_by_hand() -> None:
    """Same day beats one day; two days apart never pairs; cloudy same-day L8 falls back to +-1 day."""
    days_s2 = ["2021-06-10", "2021-06-20", "2021-06-30", "2021-07-10", "2021-07-20"]
    days_l8 = [
        "2021-06-09",
        "2021-06-10",
        "2021-06-21",
        "2021-06-30",
        "2021-07-01",
        "2021-07-12",
        "2021-07-20",
    ]
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5])[:, None, None, None] * np.ones((5, 1, 6, 6))
    # L8 values tag which date was used: only the intended partners lie on y = 2x
    yv = np.array(
        [9.0, 0.2, 0.4, 0.6, 9.0, 0.8, 1.0]
    )  # 06-09 decoy, 06-10 ok, 06-21 ok, 06-30 ok, 07-01 decoy,
    y = yv[:, None, None, None] * np.ones((7, 1, 6, 6))  # 07-12 two days off (never paired), 07-20 ok
    ml = np.ones((7, 6, 6), bool)
    ml[3, 0, 0] = False  # pixel (0, 0): 06-30 cloudy -> pairs with 07-01 (decoy 9.0) instead
    l8 = _cube(y.astype("float32"), days_l8)
    tmpl = l8.isel(band=0, drop=True)
    coef = fit_tra(
        _cube(x.astype("float32"), days_s2), l8, l8_valid=xr.DataArray(ml, dims=tmpl.dims, coords=tmpl.coords)
    )
    assert int(coef["n_pairs"][1, 1]) == 4  # 07-10 has no partner (07-12 is two days away)
    assert float(coef["slope"][0, 1, 1]) == pytest.approx(2.0, abs=1e-6)
    assert float(coef["intercept"][0, 1, 1]) == pytest.approx(0.0, abs=1e-6)
    assert float(coef["slope"][0, 0, 0]) != pytest.approx(2.0, abs=1e-2)  # the decoy was used there


def test_unfitted_pixels_identity_or_nan() -> None:
    days = [f"2021-06-{d:02d}" for d in (1, 5, 9, 13, 17)]
    x = np.full((5, 1, 6, 6), 0.2, "float32") + np.arange(5, dtype="float32")[:, None, None, None] * 0.01
    y = 2 * x
    ms = np.ones((5, 6, 6), bool)
    ms[:, 2, 3] = False  # never clear
    s2 = _cube(x, days)
    tmpl = s2.isel(band=0, drop=True)
    valid = xr.DataArray(ms, dims=tmpl.dims, coords=tmpl.coords)
    ident = fit_tra(s2, _cube(y, days), s2_valid=valid)
    assert int(ident["source"][2, 3]) == SOURCE_NONE and float(ident["slope"][0, 2, 3]) == 1.0
    assert float(ident["intercept"][0, 2, 3]) == 0.0
    nan = fit_tra(s2, _cube(y, days), s2_valid=valid, unfitted="nan")
    assert np.isnan(float(nan["slope"][0, 2, 3])) and float(nan["slope"][0, 0, 0]) == pytest.approx(
        2.0, abs=1e-6
    )
    out = apply_tra(s2, nan)
    assert np.isnan(out.values[:, 0, 2, 3]).all()


def test_nan_counts_as_cloud() -> None:
    days = [f"2021-06-{d:02d}" for d in (1, 5, 9, 13, 17, 21)]
    rng = np.random.default_rng(5)
    x = rng.uniform(0.05, 0.4, (6, 1, 6, 6)).astype("float32")
    y = (1.1 * x.astype("float64") - 0.01).astype("float32")
    y[0, 0, 0, 0] = 5.0  # a gross outlier, but NaN in S2 on that date
    x[0, 0, 0, 0] = np.nan
    coef = fit_tra(_cube(x, days), _cube(y, days))
    assert float(coef["slope"][0, 0, 0]) == pytest.approx(1.1, abs=1e-6)
    assert int(coef["n_pairs"][0, 0]) == 5


def test_bad_inputs() -> None:
    days = ["2021-06-01"]
    s2 = _cube(np.zeros((1, 6, 6, 6), "float32"), days)
    with pytest.raises(MissingBandError, match="B7"):
        fit_tra(s2, _cube(np.zeros((1, 5, 6, 6), "float32"), days))
    other = GeoBox.from_bbox((600030, 4999800, 600210, 4999980), "EPSG:32632", resolution=30)
    l8 = make_cube(np.zeros((1, 6, 6, 6)), geobox=other, bands=BANDS, sensor="landsat-8", time=days)
    with pytest.raises(GridError, match="align"):
        fit_tra(s2, l8)
