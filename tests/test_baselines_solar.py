"""HLS v2.0 NBAR solar zenith: overpass-time model and solar position."""

from __future__ import annotations

import math

import numpy as np
import pytest
from odc.geo.geobox import GeoBox

from xharm.baselines.solar import (
    L8_ORBIT,
    S2_ORBIT,
    centre_lonlat,
    modelled_solar_zenith,
    nbar_solar_zenith,
    overpass_local_time,
    solar_zenith,
)
from xharm.exceptions import GridError


def _overpass_by_vectors(lat: float, inclination: float, ltdn: float) -> float:
    """Independent: walk the orbit as a unit vector in a sun-fixed frame and read its hour angle."""
    i = math.radians(inclination)

    # descending node on the -x axis; w < 0 is before the node (north of the equator);
    # bisect the orbit angle w at which the satellite is at latitude ``lat``
    def pos(w: float) -> tuple[float, float, float]:
        return (-math.cos(w), -math.sin(w) * math.cos(i), -math.sin(w) * math.sin(i))

    lo, hi = -math.pi / 2, 0.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if pos(mid)[2] < math.sin(math.radians(lat)) else (mid, hi)
    r = pos(0.5 * (lo + hi))
    ra = math.atan2(r[1], r[0])  # node at +-pi
    d_alpha = (ra - math.pi) if ra > 0 else (ra + math.pi)
    return ltdn + math.degrees(d_alpha) / 15.0


@pytest.mark.parametrize("lat", [0.0, 20.0, 45.0, 60.0, -35.0])
def test_overpass_time_matches_orbit_geometry(lat: float) -> None:
    if lat < 0:  # the vector walk above covers the northern half; use symmetry
        expected = 2 * S2_ORBIT[1] - _overpass_by_vectors(-lat, *S2_ORBIT)
    else:
        expected = _overpass_by_vectors(lat, *S2_ORBIT)
    assert overpass_local_time(lat, *S2_ORBIT) == pytest.approx(expected, abs=2e-3)


def test_solar_zenith_against_declination_and_hour_angle() -> None:
    # independent low-precision formula: cos z = sin(lat) sin(d) + cos(lat) cos(d) cos(h)
    t = np.datetime64("2021-06-21T10:00")
    lat, lon = 45.0, 10.0
    doy = 172
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365.0)
    eot_min = -1.5  # equation of time near the June solstice, minutes
    h = math.radians(15.0 * (10.0 + lon / 15.0 + eot_min / 60.0 - 12.0))
    phi = math.radians(lat)
    expected = math.degrees(
        math.acos(math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(h))
    )
    assert float(solar_zenith(t, lat, lon)) == pytest.approx(expected, abs=0.15)


def test_nbar_zenith_is_mean_of_the_two_overpasses() -> None:
    day = np.datetime64("2022-03-01")
    a = modelled_solar_zenith(day, 40.0, -100.0, L8_ORBIT)
    b = modelled_solar_zenith(day, 40.0, -100.0, S2_ORBIT)
    assert float(nbar_solar_zenith(day, 40.0, -100.0)) == pytest.approx(0.5 * (a + b), abs=1e-12)
    # the time of day of the stamp does not matter, only the calendar day
    assert float(nbar_solar_zenith(np.datetime64("2022-03-01T23:59"), 40.0, -100.0)) == pytest.approx(
        0.5 * (a + b), abs=1e-12
    )


def test_vectorised_over_dates() -> None:
    days = np.array(["2022-01-01", "2022-07-01"], dtype="datetime64[ns]")
    z = nbar_solar_zenith(days, 50.0, 5.0)
    assert z.shape == (2,)
    assert z[0] > z[1] + 30  # winter sun much lower at 50 N
    assert z[0] == pytest.approx(float(nbar_solar_zenith(days[0], 50.0, 5.0)))


def test_high_latitude_asks_for_override() -> None:
    with pytest.raises(GridError, match="nbar_sun_zenith"):
        nbar_solar_zenith(np.datetime64("2022-06-01"), 82.0, 10.0)


def test_centre_lonlat() -> None:
    gbox = GeoBox.from_bbox(
        (499980, -30, 500040, 30), "EPSG:32631", resolution=30
    )  # straddles the equator at 3 E
    lon, lat = centre_lonlat(gbox)
    assert lon == pytest.approx(3.0, abs=1e-3)
    assert lat == pytest.approx(0.0, abs=1e-3)


def test_matches_real_hls_granule_metadata(real_data) -> None:  # type: ignore[no-untyped-def]
    """NBAR_SOLAR_ZENITH written by NASA HLS v2.0 into two real granules (S30 and L30)."""
    rasterio = pytest.importorskip("rasterio")
    folder = real_data / "hls_v2_fmask_samples"
    if not folder.is_dir():
        pytest.skip("hls_v2_fmask_samples not present")
    for tif in sorted(folder.glob("*.Fmask.tif")):
        with rasterio.open(tif) as src:
            tags = src.tags()
            gbox = GeoBox(src.shape, src.transform, src.crs.to_string())
        expected = float(tags["NBAR_SOLAR_ZENITH"])
        sensing = tags["SENSING_TIME"].split(";")[0].strip().rstrip("Z")
        lon, lat = centre_lonlat(gbox)
        got = float(nbar_solar_zenith(np.datetime64(sensing[:19]), lat, lon))
        assert got == pytest.approx(expected, abs=0.01), tif.name
