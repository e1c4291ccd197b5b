"""The shared validation layer: scalar arguments, the reflectance rule, grids, masks, paths."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import pytest
from odc.geo.geobox import GeoBox

from xharm import validate as v
from xharm.core.cube import check_same_grid, make_cube, validate
from xharm.exceptions import ArgumentError, CRSError, DimensionError, GridError, StorageError, UnitsError


def _cube(values=None, *, crs="EPSG:32632", shape=(2, 1, 6, 6), time=("2021-06-01", "2021-06-06")):
    g = GeoBox.from_bbox(
        (600000, 5000000, 600000 + 10 * shape[3], 5000000 + 10 * shape[2]), crs, resolution=10
    )
    data = np.full(shape, 0.1, np.float32) if values is None else values
    return make_cube(data, geobox=g, bands=["B02"], sensor="sentinel-2a", time=list(time))


# --------------------------------------------------------------------------- scalars


@pytest.mark.parametrize("bad", [0, -3, 2.7, "16", True, None, float("nan"), 1e400])
def test_positive_int_refuses(bad):
    with pytest.raises(ArgumentError):
        v.positive_int(bad, "batch_size")


def test_positive_int_accepts_whole_floats_and_numpy_ints():
    assert v.positive_int(np.int64(4), "n") == 4 and v.positive_int(8.0, "n") == 8


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "abc", None, False])
def test_positive_float_refuses(bad):
    with pytest.raises(ArgumentError):
        v.positive_float(bad, "size_km")


@pytest.mark.parametrize("bad", ["abc", "-1D", None])
def test_timedelta_refuses(bad):
    with pytest.raises(ArgumentError):
        v.timedelta(bad, "tolerance")


# --------------------------------------------------------------------------- reflectance rule


@pytest.mark.parametrize("scale, word", [(100, "x 100"), (10000, "x 10000")])
def test_scaled_reflectance_is_a_units_error(scale, word):
    block = np.random.default_rng(0).uniform(0.02, 0.5, (1, 4, 8, 8)).astype(np.float32) * scale
    with pytest.raises(UnitsError, match=word):
        v.reflectance_block(block)


def test_negative_everywhere_is_a_units_error():
    with pytest.raises(UnitsError, match="negative"):
        v.reflectance_block(np.full((1, 1, 4, 4), -0.5, np.float32))


def test_nodata_zeros_inf_and_outliers_become_nan():
    x = np.full((1, 2, 4, 4), 0.2, np.float32)
    x[0, :, 0, 0] = 0.0  # every band 0: no-data fill
    x[0, 0, 1, 1] = 0.0  # one band 0: a real (dark) value, kept
    x[0, 0, 2, 2] = np.inf
    x[0, 1, 3, 3] = -np.inf
    x[0, 0, 3, 0] = -0.9  # below REFLECTANCE_MIN
    out = v.reflectance_block(x)
    assert np.isnan(out[0, :, 0, 0]).all() and out[0, 0, 1, 1] == 0.0
    assert np.isnan(out[0, 0, 2, 2]) and np.isnan(out[0, 1, 3, 3]) and np.isnan(out[0, 0, 3, 0])
    assert np.isfinite(out).sum() == x.size - 5


def test_the_units_share_counts_finite_values_only():
    """Infinities and NaN are no-data, not evidence of other units: a band that is 70 %
    +-inf and NaN and otherwise reflectance passes (the rest NaN); 60 % DN values do not."""
    x = np.full((1, 2, 10, 10), 0.2, np.float32)
    x[0, 0, :3] = np.inf
    x[0, 0, 3:5] = -np.inf
    x[0, 0, 5:7] = np.nan
    out = v.reflectance_block(x)
    assert np.isfinite(out[0, 0]).sum() == 30 and np.isfinite(out[0, 1]).all()
    x[0, 1, :6] = 5000.0
    with pytest.raises(UnitsError, match="60% of band 1"):
        v.reflectance_block(x)


def test_check_reflectance_is_lazy_on_dask(compute_counter):
    cube = _cube(da.from_array(np.full((2, 1, 6, 6), 40.0, np.float32), chunks=(1, 1, 6, 6)))
    out = v.check_reflectance(cube, "S2 cube")
    assert compute_counter.calls == 0
    with pytest.raises(UnitsError):
        out.compute()


# --------------------------------------------------------------------------- grids and time


def test_south_up_is_refused_with_the_flip():
    cube = _cube().isel(y=slice(None, None, -1))
    with pytest.raises(GridError, match=r"isel\(y=slice"):
        v.check_grid(cube, "cube")


def test_x_decreasing_is_refused():
    with pytest.raises(GridError, match="west to east"):
        v.check_grid(_cube().isel(x=slice(None, None, -1)), "cube")


def test_single_pixel_is_too_small():
    with pytest.raises(GridError, match="too small"):
        v.check_grid(_cube(shape=(2, 1, 1, 1)), "cube")


def test_geographic_crs_label_says_reproject_to_utm():
    cube = _cube().odc.assign_crs("EPSG:4326")  # an EPSG:4326 label on a metre grid
    with pytest.raises(CRSError, match="reproject to UTM"):
        validate(cube)


def test_reprojected_geographic_cube_says_reproject_to_utm():
    cube = _cube().isel(time=0, band=0).odc.reproject("EPSG:4326")  # dims latitude/longitude
    with pytest.raises(CRSError, match="reproject to UTM"):
        validate(cube.expand_dims(time=1, band=["B02"]).transpose("time", "band", ...))


@pytest.mark.parametrize("time", [[0, 1], ["a", "b"]])
def test_time_must_hold_dates(time):
    cube = _cube().assign_coords(time=time)
    with pytest.raises(DimensionError, match="does not hold dates"):
        v.check_time(cube, "cube")


def test_crs_errors_name_epsg_codes_not_wkt():
    a, b = _cube(), _cube(crs="EPSG:32633")
    with pytest.raises(CRSError) as err:
        check_same_grid(a, b)
    assert "EPSG:32632" in str(err.value) and "EPSG:32633" in str(err.value) and len(str(err.value)) < 400


def test_grid_mismatch_message_is_short():
    a, b = _cube(), _cube(shape=(2, 1, 7, 7))
    with pytest.raises(GridError) as err:
        check_same_grid(a, b)
    assert "EPSG:32632 6 x 6 px" in str(err.value) and len(str(err.value)) < 400


# --------------------------------------------------------------------------- masks


def _mask(cube, **isel):
    return (cube.isel(band=0, drop=True) > -1).isel(**isel)


def test_mask_with_a_subset_of_dates_is_refused():
    cube = _cube()
    with pytest.raises(DimensionError, match="lacks 1 of the cube's 2 dates"):
        v.align_mask(_mask(cube, time=[0]), cube)


def test_mask_on_other_dates_is_refused():
    cube = _cube()
    other = _mask(cube).assign_coords(time=np.array(["2020-01-01", "2020-02-01"], dtype="datetime64[ns]"))
    with pytest.raises(DimensionError, match="lacks 2"):
        v.align_mask(other, cube)


def test_mask_is_aligned_by_label():
    cube = _cube()
    mask = _mask(cube).isel(time=[1, 0])  # same dates, other order
    mask[0] = False  # the second date
    out = v.align_mask(mask, cube)
    assert out["time"].values.tolist() == cube["time"].values.tolist()
    assert bool(out[0].all()) and not bool(out[1].any())


def test_mask_cut_short_is_refused():
    cube = _cube()
    with pytest.raises(GridError, match="does not cover"):
        v.align_mask(_mask(cube, y=slice(0, 3)), cube)


def test_mask_must_be_boolean():
    cube = _cube()
    with pytest.raises(DimensionError, match="not a clear mask"):
        v.align_mask(cube.isel(band=0, drop=True), cube)


# --------------------------------------------------------------------------- paths


def test_output_equal_to_or_inside_the_input_is_refused(tmp_path):
    src = tmp_path / "s.zarr"
    src.mkdir()
    for dst in (src, src / "out.zarr", tmp_path):
        with pytest.raises(ArgumentError, match="input store"):
            v.check_output_path(dst, inputs={"input store": src})


def test_output_under_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StorageError, match="is a file"):
        v.check_writable_file(f / "out.zarr", "output")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_output_in_a_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="no write permission"):
            v.check_writable_file(ro / "out.zarr", "output")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("value", [float("nan"), 95.0, -1.0])
def test_sun_zenith_out_of_range(value):
    with pytest.raises(UnitsError, match="sun_zenith"):
        v.check_angle(np.array([30.0, value]), "sun_zenith")


def test_crs_from_wkt_is_named_by_code_or_name_not_wkt():
    import re

    import pyproj
    from odc.geo import CRS

    wkt = re.sub(r',ID\["EPSG",\d+\]\]$', "]", pyproj.CRS("EPSG:32632").to_wkt())  # no authority id
    custom = CRS(wkt.replace("UTM zone 32N", "custom").replace("500000", "500001"))
    assert len(str(custom)) > 1000  # what the messages used to print
    assert v.crs_name(CRS(wkt)) == "EPSG:32632"
    assert v.crs_name(custom) == "'WGS 84 / custom' (no EPSG code)"
    a = _cube()
    b = a.odc.assign_crs(custom)
    with pytest.raises(CRSError) as err:
        check_same_grid(a, b)
    assert len(str(err.value)) < 400 and "WGS 84 / custom" in str(err.value)
