"""Solar geometry for HLS v2.0 NBAR: modelled overpass time and solar zenith.

HLS v2.0 normalises every Sentinel-2 and Landsat observation to nadir view and one
solar zenith per tile and day: the mean of the solar zeniths modelled at the Landsat-8
and the Sentinel-2 overpass times over the tile-centre latitude (SENSORS.md §A.3,
reported per granule as ``NBAR_SOLAR_ZENITH``).

The overpass time model is Eq. 4 of Li, Zhang & Roy (2019), *Investigation of
Sentinel-2 bidirectional reflectance hot-spot sensing conditions*, IEEE TGRS 57(6),
3591-3598: a sun-synchronous satellite with inclination ``i`` crossing the equator
(descending) at mean local time ``T0`` passes latitude ``lat`` at local time

    T(lat) = T0 - asin(tan(lat) / tan(i)) / 15deg  [hours].

The solar zenith at that time is computed with the PSA algorithm of Blanco-Muriel,
Alarcon-Padilla, Lopez-Moratalla & Lara-Coira (2001), *Computing the solar vector*,
Solar Energy 70(5), 431-441 (ecliptic coordinates from elapsed days since J2000.0,
hour angle from Greenwich mean sidereal time, parallax correction), which is the
algorithm the HLS code uses; the implementation here is xharm's own, vectorised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import GridError, describe

__all__ = [
    "L8_ORBIT",
    "MAX_NBAR_LATITUDE",
    "S2_ORBIT",
    "centre_lonlat",
    "modelled_solar_zenith",
    "nbar_solar_zenith",
    "overpass_local_time",
    "solar_zenith",
]

#: Landsat-8 orbit: (inclination deg, mean local time of descending node h), SENSORS.md §A.3.
L8_ORBIT: tuple[float, float] = (98.2, 10.0 + 11.0 / 60.0)
#: Sentinel-2 orbit: (inclination deg, mean local time of descending node h).
S2_ORBIT: tuple[float, float] = (98.62, 10.5)
#: Above this tile-centre latitude HLS cannot model the overpass (nadir never gets there)
#: and uses the granule's mean observed solar zenith instead.
MAX_NBAR_LATITUDE = 81.3

_J2000 = np.datetime64("2000-01-01T12:00:00", "ns")
_EARTH_RADIUS_KM = 6371.01
_AU_KM = 149597890.0


def overpass_local_time(lat: Any, inclination: float, ltdn: float) -> Any:
    """Mean local solar time (hours) at which a descending sun-synchronous orbit passes ``lat``.

    Li, Zhang & Roy (2019) Eq. 4. ``lat`` in degrees (scalar or array).

    Examples
    --------
    >>> float(overpass_local_time(0.0, *S2_ORBIT))
    10.5
    >>> round(float(overpass_local_time(45.0, *S2_ORBIT)), 3)  # later in the north
    11.081
    """
    ratio = np.tan(np.radians(lat)) / np.tan(np.radians(inclination))
    return ltdn - np.degrees(np.arcsin(ratio)) / 15.0


def solar_zenith(time_utc: Any, lat: Any, lon: Any) -> Any:
    """Solar zenith angle (degrees) at UTC times and places, PSA algorithm.

    Parameters
    ----------
    time_utc
        ``numpy.datetime64`` scalar or array (UTC).
    lat, lon
        Degrees (north, east positive); broadcast against ``time_utc``.

    Examples
    --------
    >>> round(float(solar_zenith(np.datetime64("2021-03-20T12:00"), 0.0, 0.0)), 1)
    1.8
    """
    t = np.asarray(time_utc, dtype="datetime64[ns]")
    n = (t - _J2000) / np.timedelta64(1, "D")  # elapsed days since J2000.0 (float)
    hours = (t - t.astype("datetime64[D]")) / np.timedelta64(1, "h")
    omega = 2.1429 - 0.0010394594 * n
    mean_lon = 4.8950630 + 0.017202791698 * n
    mean_anom = 6.2400600 + 0.0172019699 * n
    ecl_lon = (
        mean_lon
        + 0.03341607 * np.sin(mean_anom)
        + 0.00034894 * np.sin(2 * mean_anom)
        - 0.0001134
        - 0.0000203 * np.sin(omega)
    )
    obliquity = 0.4090928 - 6.2140e-9 * n + 0.0000396 * np.cos(omega)
    right_asc = np.arctan2(np.cos(obliquity) * np.sin(ecl_lon), np.cos(ecl_lon))
    decl = np.arcsin(np.sin(obliquity) * np.sin(ecl_lon))
    gmst = 6.6974243242 + 0.0657098283 * n + hours
    hour_angle = np.radians(gmst * 15.0 + np.asarray(lon, dtype="float64")) - right_asc
    phi = np.radians(np.asarray(lat, dtype="float64"))
    cos_z = np.cos(phi) * np.cos(hour_angle) * np.cos(decl) + np.sin(decl) * np.sin(phi)
    zen = np.arccos(np.clip(cos_z, -1.0, 1.0))
    zen = zen + (_EARTH_RADIUS_KM / _AU_KM) * np.sin(zen)  # parallax
    return np.degrees(zen)


def modelled_solar_zenith(day: Any, lat: float, lon: float, orbit: tuple[float, float]) -> Any:
    """Solar zenith (deg) at the modelled overpass of ``orbit`` over ``(lat, lon)`` on ``day``.

    ``day`` is a calendar date (``datetime64``; the time of day is dropped) taken as the
    local date of the overpass, as HLS does with the granule's date.
    """
    d = np.asarray(day, dtype="datetime64[ns]").astype("datetime64[D]").astype("datetime64[ns]")
    local_h = overpass_local_time(lat, *orbit)
    utc_h = local_h - lon / 15.0
    t = d + (np.asarray(utc_h) * 3.6e12).astype("timedelta64[ns]")
    return solar_zenith(t, lat, lon)


def nbar_solar_zenith(day: Any, lat: float, lon: float) -> Any:
    """HLS v2.0 NBAR solar zenith (deg): mean of the modelled L8 and S2 overpass zeniths.

    Parameters
    ----------
    day
        Date(s) as ``datetime64`` (scalar or array); only the calendar day is used.
    lat, lon
        Tile (or cube) centre in degrees.

    Raises
    ------
    GridError
        Above :data:`MAX_NBAR_LATITUDE` (|lat| > 81.3), where no overpass can be modelled;
        pass ``nbar_sun_zenith=`` explicitly there (HLS uses the mean observed zenith).

    Examples
    --------
    >>> round(float(nbar_solar_zenith(np.datetime64("2024-05-07"), 29.3266, -106.4944)), 2)
    21.49
    """
    if abs(lat) > MAX_NBAR_LATITUDE:
        raise GridError(
            describe(
                f"the cube centre latitude {lat:.2f} is beyond the latitudes Landsat/Sentinel-2 nadir reach",
                expected=f"|lat| <= {MAX_NBAR_LATITUDE}",
                found=f"{lat:.4f}",
                fix="pass nbar_sun_zenith=<degrees> (HLS uses the mean observed solar zenith there)",
            )
        )
    return 0.5 * (
        modelled_solar_zenith(day, lat, lon, L8_ORBIT) + modelled_solar_zenith(day, lat, lon, S2_ORBIT)
    )


def centre_lonlat(geobox: Any) -> tuple[float, float]:
    """Longitude and latitude (deg) of a GeoBox's centre; metadata only."""
    lon, lat = geobox.extent.centroid.to_crs("EPSG:4326").coords[0]
    return float(lon), float(lat)
