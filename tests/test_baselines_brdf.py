"""BRDF kernels and the HLS c-factor against independent evaluations of the formulas."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox

from xharm.baselines.brdf import BRDF_COEFFICIENTS, c_factor, li_sparse_r, nbar, ross_thick
from xharm.core.cube import make_cube
from xharm.exceptions import MissingBandError

# HLS coefficient table (SENSORS.md §A.3), typed here again: (f_iso, f_geo, f_vol)
TABLE = {
    "B02": (0.0774, 0.0079, 0.0372),
    "B03": (0.1306, 0.0178, 0.0580),
    "B04": (0.1690, 0.0227, 0.0574),
    "B05": (0.2085, 0.0256, 0.0845),
    "B06": (0.2316, 0.0273, 0.1003),
    "B07": (0.2599, 0.0294, 0.1197),
    "B8A": (0.3093, 0.0330, 0.1535),
    "B08": (0.3093, 0.0330, 0.1535),
    "B11": (0.3430, 0.0453, 0.1154),
    "B12": (0.2658, 0.0387, 0.0639),
}


def _dirs(sz: float, vz: float, raa: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Unit vectors to the sun (azimuth 0) and to the sensor (azimuth raa)."""
    ts, tv, p = math.radians(sz), math.radians(vz), math.radians(raa)
    s = (math.sin(ts), 0.0, math.cos(ts))
    v = (math.sin(tv) * math.cos(p), math.sin(tv) * math.sin(p), math.cos(tv))
    return s, v


def ross_ref(sz: float, vz: float, raa: float) -> float:
    s, v = _dirs(sz, vz, raa)
    cos_xi = sum(a * b for a, b in zip(s, v))
    xi = math.acos(max(-1.0, min(1.0, cos_xi)))
    return ((math.pi / 2 - xi) * cos_xi + math.sin(xi)) / (s[2] + v[2]) - math.pi / 4


def li_ref(sz: float, vz: float, raa: float) -> float:
    """LiSparse-R with h/b = 2, b/r = 1 from the ground-projected shadow geometry (Lucht et al. 2000)."""
    s, v = _dirs(sz, vz, raa)
    ps = (s[0] / s[2], s[1] / s[2])  # where the sun ray through a crown at unit height hits the ground
    pv = (v[0] / v[2], v[1] / v[2])
    dist = math.hypot(ps[0] - pv[0], ps[1] - pv[1])
    cross = ps[0] * pv[1] - ps[1] * pv[0]
    sec_s, sec_v = 1 / s[2], 1 / v[2]
    cos_t = max(-1.0, min(1.0, 2.0 * math.sqrt(dist**2 + cross**2) / (sec_s + sec_v)))
    t = math.acos(cos_t)
    overlap = (t - math.sin(t) * math.cos(t)) * (sec_s + sec_v) / math.pi
    cos_xi = sum(a * b for a, b in zip(s, v))
    return overlap - sec_s - sec_v + 0.5 * (1 + cos_xi) * sec_s * sec_v


ANGLES = [
    (0.0, 0.0, 0.0),
    (30.0, 0.0, 0.0),
    (35.0, 8.0, 20.0),
    (45.0, 10.0, 160.0),
    (60.0, 5.0, 95.0),
    (25.0, 25.0, 0.0),
]


@pytest.mark.parametrize("sz,vz,raa", ANGLES)
def test_kernels_match_independent_geometry(sz: float, vz: float, raa: float) -> None:
    assert float(ross_thick(sz, vz, raa)) == pytest.approx(ross_ref(sz, vz, raa), abs=1e-12)
    assert float(li_sparse_r(sz, vz, raa)) == pytest.approx(li_ref(sz, vz, raa), abs=1e-12)


def test_kernel_hand_values() -> None:
    # nadir sun and view: both kernels vanish
    assert float(ross_thick(0, 0, 0)) == pytest.approx(0.0, abs=1e-15)
    assert float(li_sparse_r(0, 0, 0)) == pytest.approx(0.0, abs=1e-15)
    # hot spot (sz = vz, raa = 0): K_vol = (pi/2)/(2 cos t) - pi/4, K_geo = sec^2 t - sec t
    t = math.radians(40.0)
    assert float(ross_thick(40, 40, 0)) == pytest.approx(math.pi / 4 / math.cos(t) - math.pi / 4, abs=1e-12)
    assert float(li_sparse_r(40, 40, 0)) == pytest.approx(1 / math.cos(t) ** 2 - 1 / math.cos(t), abs=1e-12)
    # sz = 30, nadir view, worked by hand: cos t = 2 tan30 / (sec30 + 1)
    assert float(li_sparse_r(30, 0, 0)) == pytest.approx(-0.6982225, abs=1e-6)


def test_kernels_reciprocal() -> None:
    assert float(li_sparse_r(50, 20, 70)) == pytest.approx(float(li_sparse_r(20, 50, 70)), abs=1e-12)
    assert float(ross_thick(50, 20, 70)) == pytest.approx(float(ross_thick(20, 50, 70)), abs=1e-12)


def test_coefficient_table() -> None:
    for band, triplet in TABLE.items():
        assert BRDF_COEFFICIENTS[band] == triplet


@pytest.mark.parametrize("band", sorted(TABLE))
@pytest.mark.parametrize("sz,raa", [(20.0, 0.0), (41.5, 137.0), (63.0, 300.0)])
def test_c_factor_is_one_at_nadir_with_the_nbar_sun_angle(band: str, sz: float, raa: float) -> None:
    assert float(c_factor(band, sz, 0.0, raa, sz)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("band", ["B02", "B8A", "B12"])
def test_c_factor_hand_value(band: str) -> None:
    iso, geo, vol = TABLE[band]
    sz, vz, raa, sz_n = 38.0, 9.0, 110.0, 33.0
    f_obs = iso + vol * ross_ref(sz, vz, raa) + geo * li_ref(sz, vz, raa)
    f_ref = iso + vol * ross_ref(sz_n, 0, 0) + geo * li_ref(sz_n, 0, 0)
    assert float(c_factor(band, sz, vz, raa, sz_n)) == pytest.approx(f_ref / f_obs, rel=1e-12)


def test_unknown_band_raises() -> None:
    with pytest.raises(MissingBandError, match="B09"):
        c_factor("B09", 30, 0, 0, 30)


def _cube(chunks: bool = False) -> xr.DataArray:
    gbox = GeoBox.from_bbox((600000, 4999860, 600120, 4999980), "EPSG:32632", resolution=30)
    data = np.stack([np.full((4, 4), 0.1), np.full((4, 4), 0.3)])[None].repeat(2, axis=0)
    arr = da.from_array(data, chunks=(1, 1, 2, 2)) if chunks else data
    return make_cube(arr, geobox=gbox, bands=["B04", "B8A"], sensor="S2A", time=["2021-06-01", "2021-07-01"])


def test_nbar_on_cube_per_date_angles() -> None:
    cube = _cube()
    angles = {
        "sun_zenith": xr.DataArray([30.0, 40.0], dims="time", coords={"time": cube.time}),
        "sun_azimuth": 150.0,
        "view_zenith": xr.DataArray([5.0, 9.0], dims="time", coords={"time": cube.time}),
        "view_azimuth": 100.0,
    }
    out = nbar(cube, angles, 35.0)
    assert out.dtype == np.float32 and out.dims == cube.dims
    for it, (sz, vz) in enumerate([(30.0, 5.0), (40.0, 9.0)]):
        for ib, (band, rho) in enumerate([("B04", 0.1), ("B8A", 0.3)]):
            iso, geo, vol = TABLE[band]
            f_obs = iso + vol * ross_ref(sz, vz, -50.0) + geo * li_ref(sz, vz, -50.0)
            f_ref = iso + vol * ross_ref(35.0, 0, 0) + geo * li_ref(35.0, 0, 0)
            np.testing.assert_allclose(out.values[it, ib], rho * f_ref / f_obs, rtol=1e-6)


def test_nbar_per_pixel_angles_lazy_and_equal_to_numpy(compute_counter) -> None:  # type: ignore[no-untyped-def]
    cube = _cube(chunks=True)
    sz = xr.DataArray(
        np.linspace(20, 50, 32).reshape(2, 4, 4),
        dims=("time", "y", "x"),
        coords={"time": cube.time, "y": cube.y, "x": cube.x},
    ).chunk({"y": 2})
    angles = {"sun_zenith": sz, "sun_azimuth": 140.0, "view_zenith": 7.0, "view_azimuth": 280.0}
    out = nbar(cube, angles, 30.0)
    assert compute_counter.calls == 0
    assert out.chunks is not None
    eager = nbar(_cube(), {**angles, "sun_zenith": sz.compute()}, 30.0)
    np.testing.assert_allclose(out.values, eager.values, rtol=1e-6)


def test_nbar_missing_angle() -> None:
    with pytest.raises(MissingBandError, match="view_azimuth"):
        nbar(_cube(), {"sun_zenith": 30, "sun_azimuth": 0, "view_zenith": 0}, 30.0)
