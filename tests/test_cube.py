"""Canonical cube: normalization at the edge, round trips, and clear errors on bad input."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from xharm.core import cube as xc
from xharm.core.sensors import get_sensor
from xharm.exceptions import (
    CRSError,
    DimensionError,
    DuplicateBandError,
    EmptyDataError,
    GridError,
    MissingBandError,
    SensorError,
    UnitsError,
    UnknownBandError,
    XharmError,
)

GBOX = GeoBox.from_bbox((600000, 4999880, 600120, 5000000), "EPSG:32632", resolution=10)
TIMES = np.array(["2021-06-01", "2021-06-11"], dtype="datetime64[ns]")


def coded(nt: int = 2, nb: int = 3) -> np.ndarray:
    """Values that encode (t, b, y, x): 1000*t + 100*b + y + x/100, in reflectance-like units."""
    t, b, y, x = np.meshgrid(
        np.arange(nt), np.arange(nb), np.arange(GBOX.shape[0]), np.arange(GBOX.shape[1]), indexing="ij"
    )
    return ((1000 * t + 100 * b + y + x / 100) / 1e4).astype("float32")


def odc_stac_dataset(names=("B02", "B03", "B04"), dask_chunks=None) -> xr.Dataset:
    data = coded(nb=len(names))
    coords = dict(xr_coords(GBOX))
    coords["time"] = TIMES
    ds = xr.Dataset(
        {n: (("time", "y", "x"), data[:, i]) for i, n in enumerate(names)},
        coords=coords,
        attrs={"platform": "sentinel-2b"},
    )
    return ds.chunk(dask_chunks) if dask_chunks else ds


def stackstac_array() -> xr.DataArray:
    """A stackstac-like DataArray: (time, band, y, x), CRS in attrs, common_name coord, no spatial_ref."""
    coords = {k: v for k, v in xr_coords(GBOX).items() if k in ("y", "x")}
    return xr.DataArray(
        da.from_array(coded(), chunks=(1, 1, 6, 6)),
        dims=("time", "band", "y", "x"),
        coords={**coords, "time": TIMES, "band": ["blue", "green", "red"]},
        attrs={"crs": "epsg:32632", "transform": tuple(GBOX.affine)[:6]},
    )


def test_make_cube_is_canonical():
    cube = xc.make_cube(coded(), geobox=GBOX, bands=["B02", "green", "B4"], sensor="sentinel-2b", time=TIMES)
    assert cube.dims == xc.DIMS and cube.dtype == np.float32
    assert cube.band.values.tolist() == ["B02", "B03", "B04"]
    assert cube.common_name.values.tolist() == ["blue", "green", "red"]
    assert xc.validate(cube) == GBOX
    assert cube.attrs["sensor"] == "sentinel-2b"


def test_odc_stac_dataset_to_canonical_and_back_is_identical():
    ds = odc_stac_dataset()
    cube = xc.to_canonical(ds)
    assert cube.dims == xc.DIMS and cube.attrs["sensor"] == "sentinel-2b"
    np.testing.assert_array_equal(cube.values, coded())  # the values encode their own position
    xr.testing.assert_identical(xc.from_canonical(cube), ds)


def test_stackstac_array_with_common_names():
    cube = xc.to_canonical(stackstac_array(), "sentinel-2a")
    assert isinstance(cube.data, da.Array)
    assert cube.band.values.tolist() == ["B02", "B03", "B04"]
    assert xc.geobox_of(cube) == GBOX
    assert "crs" not in cube.attrs and "transform" not in cube.attrs


def test_without_time_round_trips_without_time():
    ds = odc_stac_dataset().isel(time=0, drop=True)
    cube = xc.to_canonical(ds, time="2021-06-01")
    assert cube.sizes["time"] == 1 and cube.time.values[0] == np.datetime64("2021-06-01")
    back = xc.from_canonical(cube)
    assert "time" not in back.dims
    xr.testing.assert_identical(back, ds)


def test_any_dim_order_and_lat_lon_names_are_normalized():
    cube = xc.to_canonical(odc_stac_dataset())
    shuffled = cube.transpose("x", "band", "time", "y")
    again = xc.to_canonical(shuffled)
    xr.testing.assert_identical(again, cube)


def test_band_selection_orders_bands():
    cube = xc.to_canonical(odc_stac_dataset(), bands=["red", "B02"])
    assert cube.band.values.tolist() == ["B04", "B02"]


def test_to_canonical_is_lazy(compute_counter):
    ds = odc_stac_dataset(dask_chunks={"time": 1, "y": 6, "x": 6})
    cube = xc.to_canonical(ds)
    xc.from_canonical(cube)
    xc.validate(cube)
    assert compute_counter.calls == 0
    assert isinstance(cube.data, da.Array)


def test_decode_dn_with_sensor_scaling():
    dn = xr.DataArray(
        np.array([[[[0, 7273], [43636, 10000]]]], "uint16"),
        dims=("time", "band", "y", "x"),
        coords={"band": ["SR_B4"], "y": [15.0, -15.0], "x": [15.0, 45.0], "time": TIMES[:1]},
    )
    cube = xc.to_canonical(dn, "landsat-8", crs="EPSG:32643", decode=True)
    expected = np.array([np.nan, 7273 * 2.75e-5 - 0.2, 43636 * 2.75e-5 - 0.2, 10000 * 2.75e-5 - 0.2])
    np.testing.assert_allclose(cube.values.ravel(), expected, rtol=1e-6, atol=1e-7)
    assert cube.band.values.tolist() == ["B4"]


# --------------------------------------------------------------------------- properties

NAMINGS = {
    "ids": ["B02", "B03", "B04", "B08"],
    "short ids": ["B2", "B3", "B4", "B8"],
    "common": ["blue", "green", "red", "nir"],
    "mixed case": ["b02", "Green", "RED", "b8"],
}


@settings(max_examples=25, deadline=None)
@given(
    naming=st.sampled_from(sorted(NAMINGS)),
    perm=st.permutations(range(4)),
    chunk=st.sampled_from([None, 3, 5]),
    layout=st.sampled_from(["dataset", "dataarray"]),
)
def test_any_accepted_naming_gives_the_same_canonical_cube(naming, perm, chunk, layout):
    reference = xc.to_canonical(odc_stac_dataset(NAMINGS["ids"]))
    names = [NAMINGS[naming][i] for i in perm]
    ds = odc_stac_dataset(NAMINGS["ids"]).rename(dict(zip(NAMINGS["ids"], NAMINGS[naming], strict=True)))
    ds = ds[names]
    if chunk:
        ds = ds.chunk({"x": chunk, "y": chunk})
    obj = ds if layout == "dataset" else ds.to_dataarray("band")
    cube = xc.to_canonical(obj, bands=NAMINGS["ids"])
    xr.testing.assert_identical(cube.compute(), reference)


@settings(max_examples=25, deadline=None)
@given(
    nt=st.integers(1, 3),
    names=st.lists(st.sampled_from(get_sensor("s2b").band_ids), min_size=1, max_size=5, unique=True),
    with_time=st.booleans(),
    names_as=st.sampled_from(["id", "common_name"]),
)
def test_dataset_canonical_dataset_round_trip(nt, names, with_time, names_as):
    rng = np.random.default_rng(len(names) * 10 + nt)
    coords = dict(xr_coords(GBOX))
    dims: tuple[str, ...] = ("y", "x")
    shape: tuple[int, ...] = tuple(GBOX.shape)
    if with_time:
        coords["time"] = np.arange(nt).astype("datetime64[D]").astype("datetime64[ns]")
        dims, shape = ("time", *dims), (nt, *shape)
    sensor = get_sensor("s2b")
    keys = [n if names_as == "id" else sensor.band(n).common_name for n in names]
    ds = xr.Dataset(
        {k: (dims, rng.random(shape).astype("float32")) for k in keys},
        coords=coords,
        attrs={"sensor": "sentinel-2b", "platform": "sentinel-2b", "note": "kept"},
    )
    cube = xc.to_canonical(ds)
    back = xc.from_canonical(cube, names=names_as)
    xr.testing.assert_identical(back, ds)


# --------------------------------------------------------------------------- bad input


def _without_crs(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.drop_vars("spatial_ref")
    for dim in ("x", "y"):
        ds[dim].attrs = {}
    return ds


def _cube():
    return xc.to_canonical(odc_stac_dataset())


BAD_INPUTS = {
    "missing band": (
        lambda: xc.to_canonical(odc_stac_dataset(), bands=["B02", "B08"]),
        MissingBandError,
        "band(s) B08 missing",
    ),
    "unknown band name": (
        lambda: xc.to_canonical(odc_stac_dataset(("B02", "B13"))),
        UnknownBandError,
        "band 'B13' is not a band of sentinel-2b",
    ),
    "duplicated band": (
        lambda: xc.to_canonical(odc_stac_dataset(("B02", "blue"))),
        DuplicateBandError,
        "band B02 (blue) appears twice",
    ),
    "no CRS": (lambda: xc.to_canonical(_without_crs(odc_stac_dataset())), CRSError, "the input has no CRS"),
    "non-regular grid": (
        lambda: xc.to_canonical(
            odc_stac_dataset().assign_coords(
                x=GBOX.coords["x"].values + np.r_[0, 0, 0, 3.0, 0, 0, 0, 0, 0, 0, 0, 0]
            )
        ),
        GridError,
        "the x coordinate is not a regular grid",
    ),
    "mismatched CRS between cubes": (
        lambda: xc.check_same_grid(_cube(), _cube().odc.assign_crs("EPSG:32633"), names=("s2", "l8")),
        CRSError,
        "s2 and l8 are in different CRSs",
    ),
    "different grids": (
        lambda: xc.check_same_grid(_cube(), _cube().isel(x=slice(1, None)), names=("s2", "l8")),
        GridError,
        "s2 and l8 are not on the same pixel grid",
    ),
    "uint16 DN where reflectance is expected": (
        lambda: xc.to_canonical((odc_stac_dataset() * 1e4).astype("uint16")),
        UnitsError,
        "the input holds uint16 values (digital numbers)",
    ),
    "integer cube given to validate": (
        lambda: xc.validate(_cube().astype("uint16")),
        UnitsError,
        "the cube holds uint16 values, not reflectance",
    ),
    "all-NaN cube": (
        lambda: xc.to_canonical(odc_stac_dataset() * np.nan),
        EmptyDataError,
        "every pixel of the cube is NaN",
    ),
    "zero-size cube": (
        lambda: xc.to_canonical(odc_stac_dataset().isel(time=slice(0, 0))),
        EmptyDataError,
        "the cube is empty",
    ),
    "wrong dim order (validate)": (
        lambda: xc.validate(_cube().transpose("band", "time", "y", "x")),
        DimensionError,
        "the cube is not in canonical dim order",
    ),
    "missing time (validate)": (
        lambda: xc.validate(_cube().isel(time=0)),
        DimensionError,
        "the cube is not in canonical dim order",
    ),
    "extra dim": (
        lambda: xc.to_canonical(_cube().expand_dims(member=2)),
        DimensionError,
        "unexpected dimensions",
    ),
    "no band dim": (
        lambda: xc.to_canonical(odc_stac_dataset()["B02"], "s2b"),
        DimensionError,
        "no band dimension",
    ),
    "10 m and 20 m bands in one Dataset": (
        lambda: xc.to_canonical(
            xr.merge([odc_stac_dataset(("B02",)), odc_stac_dataset(("B11",)).rename(x="x20", y="y20")])
        ),
        DimensionError,
        "band variables have different dims",
    ),
    "unknown sensor": (
        lambda: xc.to_canonical(odc_stac_dataset(), "MODIS"),
        SensorError,
        "unknown sensor 'MODIS'",
    ),
    "sensor not given and not in attrs": (
        lambda: xc.to_canonical(odc_stac_dataset().drop_attrs()),
        SensorError,
        "cannot tell which sensor the data comes from",
    ),
    "NumPy array instead of xarray": (
        lambda: xc.to_canonical(coded(), "s2b"),
        DimensionError,
        "xharm works on xarray objects",
    ),
    "required band missing (validate)": (
        lambda: xc.validate(_cube(), bands=["B02", "B08"], what="S2 10 m cube"),
        MissingBandError,
        "the S2 10 m cube lacks band(s) B08",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_a_clear_xharm_error(case):
    fn, exc, first_line = BAD_INPUTS[case]
    with pytest.raises(exc) as err:
        fn()
    assert isinstance(err.value, XharmError)
    msg = str(err.value)
    assert msg.splitlines()[0].startswith(first_line), msg
    assert "expected:" in msg or "fix:" in msg, msg


def test_errors_are_catchable_as_builtins():
    with pytest.raises(KeyError):
        xc.to_canonical(odc_stac_dataset(("B02", "B13")))
    with pytest.raises(ValueError):
        xc.to_canonical(_without_crs(odc_stac_dataset()))


def test_validation_of_a_dask_cube_computes_nothing(compute_counter):
    ds = odc_stac_dataset(dask_chunks={"time": 1})
    with pytest.raises(MissingBandError):
        xc.to_canonical(ds, bands=["B08"])
    assert compute_counter.calls == 0
