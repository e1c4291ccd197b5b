"""Percentile clip + mean/max normalization: exact on NumPy, documented approximation on Dask."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox

from xharm.cube import make_cube
from xharm.exceptions import EmptyDataError
from xharm.preprocess import compute_norm_stats, denormalize, fit_spec_norm, normalize
from xharm.spec import mgan_spec

G = GeoBox.from_bbox((600000, 4999400, 600600, 5000000), "EPSG:32632", resolution=10)  # 60 x 60


def _cube(seed=0, chunks=None):
    rng = np.random.default_rng(seed)
    data = np.stack([rng.gamma(2.0, 0.05, (3, 60, 60)), rng.uniform(0.1, 0.6, (3, 60, 60))], axis=1)
    data[0, 0, :5, :5] = np.nan
    data[1, 1, 10:20, 10:20] = 5.0  # outliers under a "cloud"
    cube = make_cube(
        data.astype(np.float32), geobox=G, bands=["B02", "B11"], sensor="S2B", time=["2021-01-01"] * 3
    )
    return cube.chunk(chunks) if chunks else cube


def _valid():
    v = np.ones((3, 60, 60), bool)
    v[1, 10:20, 10:20] = False
    return xr.DataArray(v, dims=("time", "y", "x"))


def _expected(cube, valid, q=(1, 99)):
    x = cube.values
    out = []
    for c in range(x.shape[1]):
        v = x[:, c][valid & np.isfinite(x[:, c])].astype(np.float64)
        lo, hi = np.percentile(v, q)
        cl = np.clip(v, lo, hi)
        m = cl.mean()
        out.append((lo, hi, m, max(cl.max() - m, m - cl.min())))
    return np.array(out)


def test_exact_on_numpy_valid_pixels_only():
    cube, valid = _cube(), _valid()
    s = compute_norm_stats(cube, valid=valid)
    exp = _expected(cube, valid.values)
    np.testing.assert_allclose(np.array([s.low, s.high, s.mean, s.scale]).T, exp, rtol=1e-9)
    assert s.high[1] < 1.0  # the masked outliers did not count


def test_dask_is_approximate_within_one_bin():
    cube, valid = _cube(chunks={"y": 25, "x": 17}), _valid()
    s = compute_norm_stats(cube, valid=valid.chunk({"y": 30}), bins=20000, value_range=(-0.5, 1.5))
    exp = _expected(cube, valid.values)
    bin_width = 2.0 / 20000
    np.testing.assert_allclose(s.low, exp[:, 0], atol=bin_width)
    np.testing.assert_allclose(s.high, exp[:, 1], atol=bin_width)
    np.testing.assert_allclose(s.mean, exp[:, 2], atol=bin_width)
    np.testing.assert_allclose(s.scale, exp[:, 3], atol=2 * bin_width)


def test_normalize_denormalize_lazy_round_trip(compute_counter):
    cube = _cube(chunks={"y": 30})
    s = compute_norm_stats(_cube(), valid=_valid())
    calls = compute_counter.calls
    n = normalize(cube, s)
    back = denormalize(n, s)
    assert compute_counter.calls == calls and n.chunks is not None and n.dtype == np.float32
    nv = n.values
    assert np.nanmax(np.abs(nv)) <= 1 + 1e-6  # absmax scale maps into [-1, 1]
    lo, hi = np.array(s.low)[:, None, None], np.array(s.high)[:, None, None]
    np.testing.assert_allclose(back.values, np.clip(cube.values, lo, hi), atol=1e-6)
    assert np.isnan(back.values[0, 0, :5, :5]).all()
    assert back.attrs["sensor"] == cube.attrs["sensor"]


def test_max_scale_and_errors():
    cube = _cube()
    s = compute_norm_stats(cube, scale="max", q=(0, 100))
    assert s.scale[0] == pytest.approx(float(np.nanmax(cube.values[:, 0])))
    with pytest.raises(EmptyDataError):
        compute_norm_stats(cube, valid=xr.DataArray(np.zeros((3, 60, 60), bool), dims=("time", "y", "x")))


def test_fit_spec_norm():
    spec = mgan_spec(16)
    cube = make_cube(
        np.random.default_rng(1).random((1, 2, 60, 60)), geobox=G, bands=["B11", "B12"], sensor="S2B"
    )
    fitted = fit_spec_norm(spec, {"s2_20m": cube})
    assert fitted.norm_for("s2_20m").bands == ("B11", "B12") and fitted.norm_for("l8") is None
