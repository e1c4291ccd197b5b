"""Clouds, cirrus and cloud shadows per date, with Sentinel-2 SCL and Landsat QA_PIXEL.

Cloud fields are thresholded power-law noise on a periodic domain (so advection is a
roll). A same-day Landsat acquisition, ``gap`` minutes before Sentinel-2, sees the same
weather regime (cover, cloud height) but the field advected by the wind over ``gap``
and partly decorrelated: ``n_L8 = r roll(n_S2) + sqrt(1 - r^2) n_new`` with
``r = exp(-gap / tau)`` (``tau`` = cloud decorrelation time, 30 min by default).
Shadows are the opacity field projected by ``h tan(sza)`` away from the sun.

Mask conventions follow ``shared/reference/SENSORS.md``: SCL classes (B.2) and the
QA_PIXEL bits (B.1): 1 dilated cloud, 2 cirrus, 3 cloud, 4 shadow, 5 snow, 6 clear,
7 water, 8-9 / 10-11 / 12-13 / 14-15 cloud / shadow / snow / cirrus confidence.
Clear land encodes as 21824 and clear water as 21952, as in real C2 L2 products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .landscape import fractal_noise

__all__ = [
    "SCL_INVALID",
    "Weather",
    "cloud_layers",
    "diffuse_fraction",
    "draw_weather",
    "qa_pixel_layer",
    "scl_layer",
]

#: SCL classes excluded by the usual S2 validity mask.
SCL_INVALID = (0, 1, 3, 8, 9, 10)


@dataclass(frozen=True)
class Weather:
    """Weather of one date (shared by both sensors).

    Attributes
    ----------
    cover, cirrus
        Fractions of the scene under (thick) cloud and under cirrus.
    height_m
        Cloud base height for shadow projection.
    wind_ms, wind_dir
        Cloud advection speed (m/s) and direction (deg, the way clouds move, from north).
    soil_moisture
        Topsoil moisture fraction of the date (bare fields).
    aot
        Aerosol optical thickness at 550 nm.
    """

    cover: float
    cirrus: float
    height_m: float
    wind_ms: float
    wind_dir: float
    soil_moisture: float
    aot: float


def draw_weather(seed: int, date_index: int, cloud_cover: float | None = None) -> Weather:
    """Draw the weather of a date; ``cloud_cover`` fixes the cover when given.

    Examples
    --------
    >>> draw_weather(0, 1) == draw_weather(0, 1), draw_weather(0, 1, cloud_cover=0.0).cover
    (True, 0.0)
    """
    rng = np.random.default_rng([seed, date_index, 7])
    cover = 0.0 if rng.random() < 0.3 else float(rng.uniform(0.03, 0.45))
    cirrus = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.05, 0.3))
    w = Weather(
        cover=cover if cloud_cover is None else float(cloud_cover),
        cirrus=cirrus if cloud_cover is None else float(cloud_cover) / 2,
        height_m=float(rng.uniform(800, 3000)),
        wind_ms=float(rng.uniform(2, 12)),
        wind_dir=float(rng.uniform(0, 360)),
        soil_moisture=float(rng.uniform(0.1, 0.8)),
        aot=float(rng.uniform(0.05, 0.3)),
    )
    return w


def _field(shape: tuple[int, int], rng: np.random.Generator, coarsen: int) -> np.ndarray:
    return fractal_noise(shape, rng, beta=3.2, coarsen=coarsen)


def _opacity(n: np.ndarray, cover: float, soft: float = 0.6) -> np.ndarray:
    if cover <= 0:
        return np.zeros_like(n)
    q = float(np.quantile(n[::4, ::4], 1.0 - cover))
    return np.clip((n - q) / soft + 0.5 * (n > q), 0.0, 1.0).astype("float32")


def cloud_layers(
    shape: tuple[int, int],
    resolution: float,
    weather: Weather,
    seed: int,
    date_index: int,
    *,
    role: str,
    sun_zenith: float,
    sun_azimuth: float,
    gap_minutes: float = 20.0,
    tau_minutes: float = 30.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thick-cloud opacity, cirrus opacity and shadow strength (each 0..1) on the fine grid.

    Parameters
    ----------
    role
        ``"s2"`` (reference time) or ``"l8"`` (``gap_minutes`` earlier).

    Examples
    --------
    >>> w = Weather(0.3, 0.0, 1500.0, 5.0, 90.0, 0.3, 0.1)
    >>> op, ci, sh = cloud_layers((120, 120), 10.0, w, 0, 0, role="s2", sun_zenith=40, sun_azimuth=150)
    >>> 0.2 < float((op > 0.5).mean()) < 0.4, float(ci.max())
    (True, 0.0)
    """
    coarsen = max(1, int(80 / resolution))
    n = _field(shape, np.random.default_rng([seed, date_index, 11]), coarsen)
    c = _field(shape, np.random.default_rng([seed, date_index, 12]), coarsen)
    if role == "l8":
        r = float(np.exp(-gap_minutes / tau_minutes))
        d = weather.wind_ms * gap_minutes * 60.0 / resolution
        dy = round(d * np.cos(np.radians(weather.wind_dir)))  # north-moving: rows go up earlier
        dx = round(-d * np.sin(np.radians(weather.wind_dir)))
        n_new = _field(shape, np.random.default_rng([seed, date_index, 13]), coarsen)
        c_new = _field(shape, np.random.default_rng([seed, date_index, 14]), coarsen)
        n = r * np.roll(n, (dy, dx), axis=(0, 1)) + np.sqrt(1 - r * r) * n_new
        c = r * np.roll(c, (dy, dx), axis=(0, 1)) + np.sqrt(1 - r * r) * c_new
    op = _opacity(n, weather.cover)
    ci = 0.3 * _opacity(c, weather.cirrus, soft=1.0)
    d = weather.height_m * np.tan(np.radians(sun_zenith)) / resolution
    az = np.radians(sun_azimuth)
    drow, dcol = round(d * np.cos(az)), round(-d * np.sin(az))
    sh = np.roll(op, (drow, dcol), axis=(0, 1)) * (1.0 - op)
    return op, ci, sh.astype("float32")


def diffuse_fraction(wavelength_nm: np.ndarray, aot: float, sun_zenith: float) -> np.ndarray:
    """Share of diffuse sky light in global irradiance: what still lights a cloud shadow.

    ``1 - exp(-(tau_R / 2 + 0.8 tau_a) / mu0)`` with Rayleigh depth
    ``tau_R = 0.008569 l^-4 (1 + 0.0113 l^-2 + 0.00013 l^-4)`` (l in um; Hansen & Travis
    1974) and aerosol depth ``tau_a = aot (l / 0.55)^-1.3``.

    Examples
    --------
    >>> d = diffuse_fraction(np.array([490.0, 865.0]), 0.1, 30.0)
    >>> bool(d[0] > d[1])
    True
    """
    lam = np.asarray(wavelength_nm, dtype="float64") / 1000.0
    tau_r = 0.008569 * lam**-4 * (1 + 0.0113 * lam**-2 + 0.00013 * lam**-4)
    tau_a = aot * (lam / 0.55) ** -1.3
    mu0 = np.cos(np.radians(sun_zenith))
    return 1.0 - np.exp(-(tau_r / 2.0 + 0.8 * tau_a) / mu0)


def scl_layer(
    opacity: np.ndarray, cirrus: np.ndarray, shadow: np.ndarray, water: np.ndarray, ndvi: np.ndarray
) -> np.ndarray:
    """Sentinel-2 scene classification from (20 m) layers.

    9 cloud high (opacity >= 0.6), 8 medium (>= 0.3), 10 thin cirrus (>= 0.08), 3 shadow
    (>= 0.3), 6 water, 4 vegetation (NDVI > 0.35), 5 not vegetated. Thin cloud below 0.3
    opacity stays unflagged, as Sen2Cor misses it too.

    Examples
    --------
    >>> z = np.zeros((1, 3), "float32")
    >>> scl_layer(np.array([[0.9, 0.4, 0.0]]), z, z, np.zeros((1, 3), bool), np.array([[0, 0, 0.8]])).tolist()
    [[9, 8, 4]]
    """
    scl = np.where(ndvi > 0.35, 4, 5).astype("uint8")
    scl[water] = 6
    scl[shadow >= 0.3] = 3
    scl[cirrus >= 0.08] = 10
    scl[opacity >= 0.3] = 8
    scl[opacity >= 0.6] = 9
    return scl


def qa_pixel_layer(
    opacity: np.ndarray, cirrus: np.ndarray, shadow: np.ndarray, water: np.ndarray
) -> np.ndarray:
    """Landsat C2 QA_PIXEL (uint16) from (30 m) layers.

    Examples
    --------
    >>> z = np.zeros((1, 2), "float32")
    >>> qa_pixel_layer(z, z, z, np.array([[False, True]])).tolist()
    [[21824, 21952]]
    """
    cloud = opacity >= 0.4
    dilated = ndimage.binary_dilation(cloud, iterations=3) & ~cloud
    cir = cirrus >= 0.08
    shad = (shadow >= 0.3) & ~cloud
    conf_cloud = np.where(cloud, 3, np.where(opacity >= 0.2, 2, 1)).astype("uint16")
    qa = np.zeros(opacity.shape, dtype="uint16")
    qa |= dilated.astype("uint16") << 1
    qa |= cir.astype("uint16") << 2
    qa |= cloud.astype("uint16") << 3
    qa |= shad.astype("uint16") << 4
    qa |= (~cloud & ~dilated).astype("uint16") << 6
    qa |= (water & ~cloud).astype("uint16") << 7
    qa |= conf_cloud << 8
    qa |= np.where(shad, 3, 1).astype("uint16") << 10
    qa |= np.uint16(1) << 12
    qa |= np.where(cir, 3, 1).astype("uint16") << 14
    return qa
