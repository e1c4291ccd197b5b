"""HLS bandpass adjustment: exact slope * x + offset per band and platform, platform never guessed."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox

from xharm.baselines.bandpass import apply_bandpass, bandpass_coefficients, platforms_of
from xharm.core.cube import make_cube
from xharm.exceptions import DimensionError, SensorError

# SENSORS.md §A.2, typed again here: MSI band -> (slope, offset) per platform
HLS = {
    "S2A": {
        "B01": (0.9959, -0.0002),
        "B02": (0.9778, -0.0040),
        "B03": (1.0053, -0.0009),
        "B04": (0.9765, 0.0009),
        "B8A": (0.9983, -0.0001),
        "B11": (0.9987, -0.0011),
        "B12": (1.0030, -0.0012),
    },
    "S2B": {
        "B01": (0.9959, -0.0002),
        "B02": (0.9778, -0.0040),
        "B03": (1.0075, -0.0008),
        "B04": (0.9761, 0.0010),
        "B8A": (0.9966, 0.0000),
        "B11": (1.0000, -0.0003),
        "B12": (0.9867, 0.0004),
    },
    "S2C": {
        "B01": (1.003, -0.0),
        "B02": (0.9851, -0.0027),
        "B03": (1.0038, -0.0009),
        "B04": (0.9718, 0.0011),
        "B8A": (0.9995, -0.0003),
        "B11": (0.9994, -0.0007),
        "B12": (0.991, 0.0004),
    },
}
BANDS = ["B01", "B02", "B03", "B04", "B8A", "B11", "B12"]
GBOX = GeoBox.from_bbox((600000, 4999860, 600120, 4999980), "EPSG:32632", resolution=30)


def _uniform(values: list[float], platform: str, nt: int = 1, dask: bool = False) -> xr.DataArray:
    data = np.broadcast_to(np.asarray(values, "float32")[None, :, None, None], (nt, len(values), 4, 4)).copy()
    arr = da.from_array(data, chunks=(1, 2, 2, 4)) if dask else data
    times = [f"2021-06-{d + 1:02d}" for d in range(nt)]
    return make_cube(arr, geobox=GBOX, bands=BANDS[: len(values)], sensor=platform, time=times)


@pytest.mark.parametrize("platform", ["S2A", "S2B", "S2C"])
def test_uniform_scene_gives_slope_x_plus_offset(platform: str) -> None:
    x = [0.031, 0.052, 0.083, 0.094, 0.31, 0.22, 0.14]
    out = apply_bandpass(_uniform(x, platform))
    for i, band in enumerate(BANDS):
        slope, offset = HLS[platform][band]
        expected = np.float32(np.float32(slope) * np.float32(x[i]) + np.float32(offset))
        np.testing.assert_array_equal(out.sel(band=band).values, expected)
    assert out.dtype == np.float32


def test_b08_takes_nir_coefficients_and_red_edge_unadjusted() -> None:
    slope, offset = bandpass_coefficients(["sentinel-2b"], ["B08", "B05", "B8A"])
    assert slope.tolist() == [[0.9966, 1.0, 0.9966]]
    assert offset.tolist() == [[0.0, 0.0, 0.0]]


def test_per_date_platform_coordinate() -> None:
    cube = _uniform([0.1, 0.1], "S2A", nt=3).assign_coords(
        platform=("time", ["sentinel-2a", "sentinel-2b", "sentinel-2c"])
    )
    out = apply_bandpass(cube)
    got = out.sel(band="B02").isel(y=0, x=0).values
    exp = [
        np.float32(np.float32(HLS[p]["B02"][0]) * np.float32(0.1) + np.float32(HLS[p]["B02"][1])) for p in HLS
    ]
    np.testing.assert_array_equal(got, exp)
    assert out.attrs["bandpass_platforms"] == ["sentinel-2a", "sentinel-2b", "sentinel-2c"]


def test_explicit_platform_overrides_attrs() -> None:
    cube = _uniform([0.2, 0.2, 0.2], "S2A")
    out = apply_bandpass(cube, platform="S2B")
    slope, offset = HLS["S2B"]["B03"]
    np.testing.assert_allclose(out.sel(band="B03").values, slope * 0.2 + offset, rtol=1e-6)


def test_generic_platform_is_refused() -> None:
    cube = _uniform([0.1], "S2A")
    cube.attrs["platform"] = "sentinel-2"
    cube.attrs["sensor"] = "sentinel-2"
    with pytest.raises(SensorError, match="sentinel-2a, sentinel-2b or sentinel-2c"):
        apply_bandpass(cube)
    cube.attrs.clear()
    with pytest.raises(SensorError, match="platform"):
        platforms_of(cube)


def test_landsat_platform_is_refused() -> None:
    with pytest.raises(SensorError):
        apply_bandpass(_uniform([0.1], "S2A"), platform="landsat-8")


def test_wrong_number_of_platforms() -> None:
    with pytest.raises(DimensionError, match="one per date"):
        apply_bandpass(_uniform([0.1], "S2A", nt=2), platform=["S2A", "S2B", "S2C"])


def test_lazy_and_equal_to_numpy(compute_counter) -> None:  # type: ignore[no-untyped-def]
    x = [0.031, 0.052, 0.083, 0.094, 0.31, 0.22, 0.14]
    lazy = apply_bandpass(_uniform(x, "S2C", nt=2, dask=True))
    assert compute_counter.calls == 0 and lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, apply_bandpass(_uniform(x, "S2C", nt=2)).values)
