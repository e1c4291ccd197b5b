"""dense_series: date merging, precedence rules, masks, laziness, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from xharm.core.cube import make_cube
from xharm.dense import dense_series
from xharm.exceptions import CRSError, DimensionError, GridError, MissingBandError

BANDS = ["B2", "B3", "B4", "B5", "B6", "B7"]
GRID = GeoBox((4, 4), Affine(30, 0, 600000, 0, -30, 5000120), "EPSG:32632")
D = pd.Timestamp("2021-06-01 10:00")
L8_T = [D, D + pd.Timedelta("10D")]  # day 0 and day 10
S2_T = [D + pd.Timedelta("20min"), D + pd.Timedelta("3D")]  # day 0 (same day) and day 3


def _cube(times, base, sensor, platform, bands=BANDS, gbox=GRID):
    # value = base + 10 * date index + band index / 10: every value says where it came from
    t, b = len(times), len(bands)
    data = base + 10 * np.arange(t)[:, None, None, None] + np.arange(b)[None, :, None, None] / 10
    data = np.broadcast_to(data, (t, b, *gbox.shape)).astype(np.float32)
    c = make_cube(data.copy(), geobox=gbox, bands=bands, sensor=sensor, time=times)
    c.attrs["platform"] = platform
    return c


def _mask(times, cloudy):
    m = np.ones((len(times), *GRID.shape), bool)
    for t, y, x in cloudy:
        m[t, y, x] = False
    return xr.DataArray(m, dims=("time", "y", "x"))


@pytest.fixture
def cubes():
    l8 = _cube(L8_T, 1.0, "landsat-8", "landsat-8", bands=["B1", *BANDS])
    s2 = _cube(S2_T, 100.0, "landsat-8", "sentinel-2b")
    # (0,0): cloudy in both on day 0;  (1,1): cloudy in L8 only on day 0;  (2,2): cloudy in S2 only on day 0
    # (3,3): cloudy on day 3 (S2) and on day 10 (L8)
    l8_valid = _mask(L8_T, [(0, 0, 0), (0, 1, 1), (1, 3, 3)])
    s2_valid = _mask(S2_T, [(0, 0, 0), (0, 2, 2), (1, 3, 3)])
    return l8, s2, l8_valid, s2_valid


def test_dates_sources_and_landsat_precedence(cubes):
    l8, s2, lv, sv = cubes
    out = dense_series(l8, s2, l8_valid=lv, s2_valid=sv)
    assert out.dims == ("time", "band", "y", "x")
    assert out.band.values.tolist() == BANDS
    np.testing.assert_array_equal(out.time.values, np.array([L8_T[0], S2_T[1], L8_T[1]], "datetime64[ns]"))
    assert out.source.values.tolist() == ["landsat-8+sentinel-2b", "sentinel-2b", "landsat-8"]
    assert out.odc.geobox == GRID
    b4 = out.sel(band="B4").values  # band index 2 in s2, 3 in l8 (B1 first): 0.2 / 0.3 offsets
    day0 = b4[0]
    assert np.isnan(day0[0, 0])  # both cloudy
    assert day0[1, 1] == np.float32(100.2)  # L8 cloudy: filled from same-day S2
    assert day0[2, 2] == np.float32(1.3)  # L8 clear wins
    assert day0[3, 0] == np.float32(1.3)
    assert b4[1][0, 0] == np.float32(110.2) and np.isnan(b4[1][3, 3])  # S2-only date, no fill in time
    assert b4[2][0, 0] == np.float32(11.3) and np.isnan(b4[2][3, 3])
    src = out.pixel_source.values
    assert src[0, 0, 0] == 0 and src[0, 1, 1] == 2 and src[0, 2, 2] == 1 and src[1, 0, 0] == 2
    np.testing.assert_array_equal(out.valid.values, src > 0)
    np.testing.assert_array_equal(out.valid.values, np.isfinite(out.values).all(1))
    assert out.obs_time.values[0, 1, 1] == np.datetime64(S2_T[0])
    assert np.isnat(out.obs_time.values[0, 0, 0])
    assert out.attrs["dense_series_same_day_pairs"] == 1


def test_nearest_clear_fills_from_neighbouring_dates(cubes):
    l8, s2, lv, sv = cubes
    out = dense_series(l8, s2, l8_valid=lv, s2_valid=sv, prefer="nearest-clear", max_day_gap=5)
    b4 = out.sel(band="B4").values
    # day 0, (0,0): both cloudy -> the nearest clear observation within 5 days is S2 on day 3
    assert b4[0, 0, 0] == np.float32(110.2)
    assert out.obs_time.values[0, 0, 0] == np.datetime64(S2_T[1])
    assert out.pixel_source.values[0, 0, 0] == 2
    assert b4[0, 2, 2] == np.float32(1.3) and b4[0, 1, 1] == np.float32(100.2)  # as with "landsat"
    # day 3, (3,3): S2 cloudy; nearest clear: the day-0 S2 value (20 min nearer than the L8 one)
    assert b4[1, 3, 3] == np.float32(100.2) and out.obs_time.values[1, 3, 3] == np.datetime64(S2_T[0])
    # day 10, (3,3): L8 cloudy, nothing clear within 5 days (day 3 is 7 days away)
    assert np.isnan(b4[2, 3, 3])
    # within 11 days: the day-3 S2 pixel is cloudy too; the day-0 S2 one is 20 min nearer than L8's
    wide = dense_series(l8, s2, l8_valid=lv, s2_valid=sv, prefer="nearest-clear", max_day_gap=11)
    assert wide.sel(band="B4").values[2, 3, 3] == np.float32(100.2)


def test_lazy_and_same_as_numpy(cubes, compute_counter):
    l8, s2, lv, sv = cubes
    lazy = dense_series(
        l8.chunk({"time": 1, "x": 2}),
        s2.chunk({"time": 1}),
        l8_valid=lv.chunk(),
        s2_valid=sv,
        prefer="nearest-clear",
    )
    assert compute_counter.calls == 0
    assert lazy.chunks is not None and lazy.pixel_source.chunks is not None
    eager = dense_series(l8, s2, l8_valid=lv, s2_valid=sv, prefer="nearest-clear")
    xr.testing.assert_identical(lazy.compute(), eager)


def test_masks_default_to_finite_values_and_valid_coord(cubes):
    l8, s2, _, _ = cubes
    l8 = l8.copy()
    l8[0, 3, 1, 1] = np.nan  # one band missing -> the pixel is not usable
    s2 = s2.assign_coords(valid=(("time", "y", "x"), _mask(S2_T, [(0, 1, 1)]).values))
    out = dense_series(l8, s2)
    assert out.pixel_source.values[0, 1, 1] == 0 and np.isnan(out.values[0, :, 1, 1]).all()
    assert out.pixel_source.values[0, 0, 0] == 1


def test_s2_mask_on_a_finer_grid(cubes):
    l8, s2, lv, _ = cubes
    g20 = GeoBox((6, 6), Affine(20, 0, 600000, 0, -20, 5000120), "EPSG:32632")
    m = np.ones((2, 6, 6), bool)
    m[0, 0, 0] = False  # one 20 m pixel: the 30 m pixel (0,0) is no longer fully clear
    from odc.geo.xr import xr_coords

    v20 = xr.DataArray(m, dims=("time", "y", "x"), coords={"time": S2_T, **xr_coords(g20)})
    lv = _mask(L8_T, [(0, 0, 0), (0, 1, 1)])
    out = dense_series(l8, s2, l8_valid=lv, s2_valid=v20)
    assert out.pixel_source.values[0, 0, 0] == 0 and out.pixel_source.values[0, 1, 1] == 2


def test_errors(cubes):
    l8, s2, lv, sv = cubes
    with pytest.raises(DimensionError, match="unknown prefer rule"):
        dense_series(l8, s2, prefer="newest")
    with pytest.raises(MissingBandError, match="lacks band"):
        dense_series(l8.sel(band=["B2", "B3"]), s2, bands=["B2", "B5"])
    with pytest.raises(DimensionError, match="unknown grid"):
        dense_series(l8, s2, grid="utm")
    shifted = GeoBox((4, 4), Affine(30, 0, 600030, 0, -30, 5000120), "EPSG:32632")
    with pytest.raises(GridError, match="not on the same pixel grid"):
        dense_series(l8, _cube(S2_T, 100.0, "landsat-8", "sentinel-2b", gbox=shifted))
    with pytest.raises(DimensionError, match="does not fit the cube's dates"):
        dense_series(l8, s2, l8_valid=lv.isel(time=[0]))
    with pytest.raises(DimensionError, match="not boolean"):
        dense_series(l8, s2, s2_valid=sv.astype(int))


def test_bands_landsat_lacks_are_left_out_with_a_warning(cubes):
    """Issue 18 item 6: an HLS output with B1 beside a Landsat cube read without B1 used to fail."""
    l8, _, lv, sv = cubes
    s2 = _cube(S2_T, 100.0, "landsat-8", "sentinel-2b", bands=["B1", *BANDS])
    with pytest.warns(UserWarning, match="B1"):
        out = dense_series(l8.sel(band=BANDS), s2, l8_valid=lv, s2_valid=sv)
    assert out.band.values.tolist() == BANDS and out.sizes["time"] == 3


def test_different_utm_zones_reprojected_onto_one_grid(cubes):
    """Issue 18 item 6: different UTM zones failed with a CRSError printing two WKT strings."""
    import pyproj
    from odc.geo import CRS

    l8, _, lv, _ = cubes
    l8 = l8.odc.assign_crs(CRS(pyproj.CRS("EPSG:32632").to_wkt()))  # a CRS read as WKT, as from a file
    g33 = GRID.to_crs("EPSG:32633", resolution=30).pad(2)  # the same ground in the next zone, a margin
    s2 = _cube(S2_T, 100.0, "landsat-8", "sentinel-2b", gbox=g33)
    with pytest.raises(CRSError) as err:
        dense_series(l8, s2)
    text = str(err.value)
    assert (
        "EPSG:32632" in text and "EPSG:32633" in text and "PROJCRS" not in text and "grid='landsat'" in text
    )
    ones = xr.DataArray(np.ones((2, *g33.shape), bool), dims=("time", "y", "x"))
    out = dense_series(l8, s2, l8_valid=lv, s2_valid=ones, grid="landsat")
    assert out.odc.geobox == l8.odc.geobox and out.sizes["time"] == 3
    s2_only = out.isel(time=1)  # day 3: Sentinel-2 only, every value from the S2 cube (date index 1)
    assert str(s2_only.source.values) == "sentinel-2b"
    np.testing.assert_allclose(s2_only.sel(band="B2").values, 110.0)
    back = dense_series(l8, s2, l8_valid=lv, s2_valid=ones, grid="sentinel-2")
    assert back.odc.geobox == s2.odc.geobox
