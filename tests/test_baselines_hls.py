"""HLS v2.0 method end to end: regrid + BRDF + bandpass on small cubes with known values."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from pyproj import Transformer

from xharm.baselines.brdf import c_factor
from xharm.baselines.hls import harmonize
from xharm.baselines.solar import nbar_solar_zenith
from xharm.core.cube import make_cube
from xharm.exceptions import MissingBandError, SensorError

BBOX = (600000, 4999860, 600180, 4999980)  # 180 m x 120 m, whole 60 m blocks
G10 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=10)
G20 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=20)
G60 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=60)
DAYS = ["2021-06-01T10:30", "2021-07-15T10:30"]
# SENSORS.md §A.2 (slope, offset), typed again: L8 output band -> per platform
BP = {
    "S2A": {"B2": (0.9778, -0.0040), "B3": (1.0053, -0.0009), "B4": (0.9765, 0.0009), "B5": (0.9983, -0.0001),
            "B6": (0.9987, -0.0011), "B7": (1.0030, -0.0012), "B1": (0.9959, -0.0002)},
    "S2B": {"B2": (0.9778, -0.0040), "B3": (1.0075, -0.0008), "B4": (0.9761, 0.0010), "B5": (0.9966, 0.0000),
            "B6": (1.0000, -0.0003), "B7": (0.9867, 0.0004), "B1": (0.9959, -0.0002)},
    "S2C": {"B2": (0.9851, -0.0027), "B3": (1.0038, -0.0009), "B4": (0.9718, 0.0011), "B5": (0.9995, -0.0003),
            "B6": (0.9994, -0.0007), "B7": (0.991, 0.0004), "B1": (1.003, -0.0)},
}  # fmt: skip
X10 = {"B02": 0.0625, "B03": 0.09375, "B04": 0.078125, "B08": 0.375}
X20 = {"B05": 0.15, "B8A": 0.34375, "B11": 0.25, "B12": 0.1875}
FEEDS = {"B2": "B02", "B3": "B03", "B4": "B04", "B5": "B8A", "B6": "B11", "B7": "B12"}


def _uniform(platform: str, dask: bool = False, nt: int = 2, **attrs) -> tuple[xr.DataArray, xr.DataArray]:  # type: ignore[no-untyped-def]
    def cube(vals: dict[str, float], gbox: GeoBox) -> xr.DataArray:
        data = np.broadcast_to(
            np.asarray(list(vals.values()), "float32")[None, :, None, None], (nt, len(vals), *gbox.shape)
        ).copy()
        arr = da.from_array(data, chunks=(1, 2, 6, 9)) if dask else data
        return make_cube(arr, geobox=gbox, bands=list(vals), sensor=platform, time=DAYS[:nt], attrs=attrs)

    return cube(X10, G10), cube(X20, G20)


def _x(band: str) -> float:
    return {**X10, **X20}[FEEDS[band]]


@pytest.mark.parametrize("platform", ["S2A", "S2B", "S2C"])
def test_uniform_scene_without_brdf_is_slope_x_plus_offset(platform: str) -> None:
    c10, c20 = _uniform(platform)
    out = harmonize(c10, c20, brdf=False)
    assert out.band.values.tolist() == ["B2", "B3", "B4", "B5", "B6", "B7"]
    assert out.common_name.values.tolist() == ["blue", "green", "red", "nir08", "swir16", "swir22"]
    assert out.shape == (2, 6, 4, 6) and out.dtype == np.float32
    for band, (slope, offset) in BP[platform].items():
        if band == "B1":
            continue
        np.testing.assert_allclose(out.sel(band=band).values, slope * _x(band) + offset, rtol=0, atol=6e-8)
    assert out.attrs["sensor"] == "landsat-8"
    assert out.attrs["harmonization_method"] == "hls"
    assert out.attrs["brdf"] is False
    assert out.odc.geobox == GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=30)


def test_nadir_view_at_the_nbar_sun_angle_is_bandpass_only() -> None:
    angles = {"sun_zenith": 33.0, "sun_azimuth": 140.0, "view_zenith": 0.0, "view_azimuth": 0.0}
    c10, c20 = _uniform("S2B", **angles)
    out = harmonize(c10, c20, nbar_sun_zenith=33.0)
    for band, (slope, offset) in BP["S2B"].items():
        if band != "B1":
            np.testing.assert_allclose(out.sel(band=band).values, slope * _x(band) + offset, atol=6e-8)


def test_brdf_then_bandpass_with_per_date_attrs_angles() -> None:
    attrs = {
        "sun_zenith": [30.0, 45.0],
        "sun_azimuth": [150.0, 160.0],
        "view_zenith": 8.0,
        "view_azimuth": 290.0,
    }
    c10, c20 = _uniform("S2A", **attrs)
    out = harmonize(c10, c20, nbar_sun_zenith=[35.0, 40.0])
    for it in range(2):
        for band, (slope, offset) in BP["S2A"].items():
            if band == "B1":
                continue
            c = float(c_factor(FEEDS[band], attrs["sun_zenith"][it], 8.0, 290.0 - attrs["sun_azimuth"][it],
                               [35.0, 40.0][it]))  # fmt: skip
            assert c != pytest.approx(1.0, abs=1e-3)
            np.testing.assert_allclose(
                out.sel(band=band).values[it], slope * c * _x(band) + offset, rtol=2e-6
            )
    assert out.attrs["nbar_sun_zenith"] == [35.0, 40.0]


def test_default_nbar_zenith_is_hls_rule_at_cube_centre() -> None:
    c10, c20 = _uniform("S2B", sun_zenith=30.0, sun_azimuth=150.0, view_zenith=5.0, view_azimuth=100.0)
    out = harmonize(c10, c20)
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(600090.0, 4999920.0)
    expected = [float(nbar_solar_zenith(np.datetime64(d), lat, lon)) for d in DAYS]
    np.testing.assert_allclose(out.attrs["nbar_sun_zenith"], expected, atol=1e-9)


def test_angle_dataarrays_on_a_coarse_grid_are_interpolated() -> None:
    c10, c20 = _uniform("S2B")
    g60 = G60
    yy = xr.DataArray(g60.coords["y"].values, dims="y")
    sz = (30.0 + 0.0 * yy + xr.DataArray(np.arange(3.0), dims="x")).assign_coords(
        y=g60.coords["y"].values, x=g60.coords["x"].values
    )
    angles = {"sun_zenith": sz, "sun_azimuth": 150.0, "view_zenith": 5.0, "view_azimuth": 100.0}
    out = harmonize(c10, c20, angles=angles, nbar_sun_zenith=30.0)
    # sun zenith grows 1 deg per 60 m to the east: at 30 m pixel centres it is 30 + (x - x0_60) / 60
    x30 = out.x.values
    sz30 = 30.0 + (x30 - g60.coords["x"].values[0]) / 60.0
    slope, offset = BP["S2B"]["B4"]
    expected = (
        slope * np.array([float(c_factor("B04", s, 5.0, -50.0, 30.0)) for s in sz30]) * X10["B04"] + offset
    )
    np.testing.assert_allclose(out.sel(band="B4").values[0, 0], expected, rtol=2e-6)


def test_regrid_uses_block_means() -> None:
    rng = np.random.default_rng(0)
    c10, c20 = _uniform("S2A", nt=1)
    c10 = c10.copy(data=rng.uniform(0.0, 0.5, c10.shape).astype("float32"))
    out = harmonize(c10, c20, brdf=False)
    blocks = c10.sel(band="B04").values[0].astype("float64").reshape(4, 3, 6, 3).mean(axis=(1, 3))
    slope, offset = BP["S2A"]["B4"]
    np.testing.assert_allclose(out.sel(band="B4").values[0], slope * blocks + offset, atol=1e-7)


def test_nir_from_b08_and_coastal_from_b01() -> None:
    c10, c20 = _uniform("S2C", nt=1)
    c60 = make_cube(np.full((1, 1, 2, 3), 0.046875), geobox=G60, bands=["B01"], sensor="S2C", time=DAYS[:1])
    out = harmonize({10: c10, 20: c20, 60: c60}, nir="B08", brdf=False)
    assert out.band.values.tolist() == ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    assert out.attrs["source_bands"] == ["B01", "B02", "B03", "B04", "B08", "B11", "B12"]
    slope, offset = BP["S2C"]["B5"]  # B08 adjusted with the HLS NIR (B8A) pair
    np.testing.assert_allclose(out.sel(band="B5").values, slope * X10["B08"] + offset, atol=6e-8)
    slope, offset = BP["S2C"]["B1"]
    np.testing.assert_allclose(out.sel(band="B1").values, slope * 0.046875 + offset, atol=6e-8)


def test_per_date_platform_coordinate() -> None:
    c10, c20 = _uniform("S2A")
    plat = ("time", ["sentinel-2a", "sentinel-2b"])
    out = harmonize(c10.assign_coords(platform=plat), c20.assign_coords(platform=plat), brdf=False)
    for it, p in enumerate(["S2A", "S2B"]):
        slope, offset = BP[p]["B3"]
        np.testing.assert_allclose(out.sel(band="B3").values[it], slope * X10["B03"] + offset, atol=6e-8)
    assert out.attrs["bandpass_platforms"] == ["sentinel-2a", "sentinel-2b"]


def test_missing_angles_and_platform_raise_early() -> None:
    c10, c20 = _uniform("S2A")
    with pytest.raises(MissingBandError, match="brdf=False"):
        harmonize(c10, c20)
    c10.attrs["platform"] = "sentinel-2"
    c20.attrs["platform"] = "sentinel-2"
    harmonize(c10, c20, brdf=False)  # attrs['sensor'] still names the satellite: no guess needed
    c20.attrs["sensor"] = "sentinel-2b"
    with pytest.raises(SensorError, match="disagree"):
        harmonize(c10, c20, brdf=False)
    c20.attrs["sensor"] = "sentinel-2a"
    generic = ("time", ["sentinel-2", "sentinel-2"])  # a per-date coordinate that names no satellite
    with pytest.raises(SensorError, match="platform"):
        harmonize(c10.assign_coords(platform=generic), c20, brdf=False)
    with pytest.raises(MissingBandError, match="B11"):
        harmonize(c10, c20.sel(band=["B8A", "B12"]), brdf=False, platform="S2A")


def test_lazy_and_equal_to_numpy(compute_counter) -> None:  # type: ignore[no-untyped-def]
    angles = {"sun_zenith": 41.0, "sun_azimuth": 150.0, "view_zenith": 6.0, "view_azimuth": 100.0}
    lazy = harmonize(*_uniform("S2B", dask=True, **angles))
    assert compute_counter.calls == 0
    assert lazy.chunks is not None
    eager = harmonize(*_uniform("S2B", **angles))
    np.testing.assert_array_equal(lazy.values, eager.values)
