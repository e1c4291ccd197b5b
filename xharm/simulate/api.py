"""Public entry points: :func:`pair_series`, :func:`scene`, :func:`to_zarr`.

A pair series is ``n_dates`` same-day Sentinel-2 / Landsat-8 acquisitions of one
synthetic landscape on nested UTM grids (10, 20, 30 m; origin on a 60 m multiple).
Everything is drawn from ``numpy`` generators seeded by ``seed``: the same arguments
give the same arrays, lazily (Dask, one task per date) or eagerly.

Angles travel as non-index coordinates on ``time`` of each cube (degrees):
``sun_zenith``, ``sun_azimuth``, ``view_zenith``, ``view_azimuth``, ``relative_azimuth``.
The Landsat cube also carries ``misregistration_dx`` / ``misregistration_dy`` on ``time``:
the shift (m, east / north) of that date's Landsat image against Sentinel-2, drawn per
(scene, date) from a zero-mean distribution by default (:mod:`.geometry`).
``attrs['nbar_sun_zenith']`` is the solar zenith of the nadir reference geometry the
surface truth is defined at (BRDF-normalised reflectance, as HLS NBAR).
"""

from __future__ import annotations

import contextlib
import operator
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from ..core.cube import canonical_only, make_cube
from ..exceptions import GridError, ProductError, describe
from ..io.zarr import write_groups
from ..validate import check_writable_file, positive_float, positive_int
from .clouds import SCL_INVALID, draw_weather
from .geometry import Misregistration, draw_shift, resolve_misregistration
from .instrument import solar_zenith
from .landscape import CLASSES, Landscape, archetype_for, make_landscape
from .render import L8_BANDS, S2_10M, S2_20M, DateSpec, Geometry, RenderConfig, render_date
from .spectra import REFERENCE_SUN_ZENITH

__all__ = [
    "DEFAULT_CRS",
    "DEFAULT_ORIGIN",
    "PairSeries",
    "grids",
    "landscape_of",
    "pair_series",
    "scene",
    "to_zarr",
]

#: Upper-left corner (x, y) of the default grid, a multiple of 60 m (UTM 32N, ~48.7 N 9 E).
DEFAULT_ORIGIN = (499980.0, 5400000.0)
DEFAULT_CRS = "EPSG:32632"
#: Local solar time of the descending-node crossing: S2 10:30, L8 10:11 (SENSORS.md A.3).
_S2_SOLAR_HOUR, _L8_SOLAR_HOUR = 10.5, 10.18333
#: Half field of view (deg): MSI 290 km swath, OLI 185 km swath.
_S2_MAX_VZA, _L8_MAX_VZA = 10.3, 7.5
#: Scenes with more 10 m pixels than this are built lazily by default.
_LAZY_PIXELS = 1000 * 1000
_ANGLES = ("sun_zenith", "sun_azimuth", "view_zenith", "view_azimuth", "relative_azimuth")


@dataclass(frozen=True)
class PairSeries:
    """A simulated paired Sentinel-2 / Landsat-8 series (all xarray objects).

    Attributes
    ----------
    s2_10m, s2_20m
        Canonical S2 L2A-like cubes: B02, B03, B04, B08 at 10 m; B05-B07, B8A, B11, B12 at 20 m.
    l8
        Canonical Landsat-8 C2 L2-like cube, B1-B7 at 30 m, same footprint.
    l8_truth
        Landsat bands of the clear, nadir-normalised surface at the S2 date with the Landsat
        PSF (per band), on the S2-registered grid, without misregistration, noise, clouds,
        haze or atmospheric-correction error: the true surface at Landsat's resolution.
        Terrain shading (``forest_hills``) at Landsat's sun geometry stays in: neither
        Landsat's L2 processor nor HLS corrects topography.
    l8_target
        What a user harmonising a time series wants: ``l8_truth`` as Landsat's own processor
        (LaSRC-like) would deliver it - the clear nadir surface through the date's aerosol at
        the reference geometry and back with the processor's *systematic* AOT errors (bias,
        dark-target term), no per-date retrieval error, haze, noise or misregistration.
    scl
        ``(time, y, x)`` uint8 Sentinel-2 scene classification at 20 m.
    qa_pixel
        ``(time, y, x)`` uint16 Landsat QA_PIXEL at 30 m.
    s2_valid, l8_valid
        Boolean ``(time, y, x)``: SCL not in {0, 1, 3, 8, 9, 10} (20 m);
        ``QA_PIXEL & 0b11111 == 0`` (30 m).
    labels
        ``(y, x)`` uint8 land-cover / crop-type codes at 10 m; ``attrs['classes']`` maps
        ``"code"`` -> name.
    """

    s2_10m: xr.DataArray
    s2_20m: xr.DataArray
    l8: xr.DataArray
    l8_truth: xr.DataArray
    scl: xr.DataArray
    qa_pixel: xr.DataArray
    s2_valid: xr.DataArray
    l8_valid: xr.DataArray
    labels: xr.DataArray
    l8_target: xr.DataArray | None = None

    def __iter__(self):
        return ((f.name, getattr(self, f.name)) for f in fields(self))

    @property
    def target(self) -> xr.DataArray:
        """:attr:`l8_target` (always set by :func:`pair_series`)."""
        if self.l8_target is None:
            raise AttributeError("this PairSeries was built without l8_target")
        return self.l8_target

    def compute(self) -> PairSeries:
        """Load every layer into memory in one Dask pass (renders each date once)."""
        names = [f.name for f in fields(self)]
        values = dask.compute(*[getattr(self, n) for n in names])
        return PairSeries(**dict(zip(names, values, strict=True)))


def grids(
    size_km: float, origin: tuple[float, float] = DEFAULT_ORIGIN, crs: str = DEFAULT_CRS
) -> dict[int, GeoBox]:
    """Nested 10/20/30 m GeoBoxes of a square scene (side rounded to a multiple of 60 m).

    Examples
    --------
    >>> g = grids(3.0)
    >>> g[10].shape, g[20].shape, g[30].shape
    (Shape2d(x=300, y=300), Shape2d(x=150, y=150), Shape2d(x=100, y=100))
    """
    if origin[0] % 60 or origin[1] % 60:
        raise GridError(
            describe(
                "the grid origin must be a multiple of 60 m so 10/20/30 m pixels nest",
                expected="x and y divisible by 60",
                found=origin,
                fix="round the origin, e.g. (499980, 5400000)",
            )
        )
    n60 = max(1, round(size_km * 1000.0 / 60.0))
    side = n60 * 60.0
    x0, y1 = origin
    bbox = (x0, y1 - side, x0 + side, y1)
    return {r: GeoBox.from_bbox(bbox, crs, resolution=r) for r in (10, 20, 30)}


def _sun_azimuth(lat: float, doy: int, hour: float, sza: float) -> float:
    g = 2 * np.pi * (doy - 1) / 365.0
    dec = 0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
    phi, z = np.radians(lat), np.radians(sza)
    cos_a = (np.sin(dec) - np.sin(phi) * np.cos(z)) / (np.cos(phi) * np.sin(z))
    a = float(np.degrees(np.arccos(np.clip(cos_a, -1, 1))))
    return a if hour < 12 else 360.0 - a


def _geometry(lat: float, doy: int, hour: float, rng: np.random.Generator, max_vza: float) -> Geometry:
    sza = solar_zenith(lat, doy, hour)
    u = float(rng.uniform(-1, 1))  # cross-track position: east of track looks west and vice versa
    return Geometry(sza, _sun_azimuth(lat, doy, hour, sza), abs(u) * max_vza, 105.0 if u > 0 else 285.0)


def _dates(n_dates: int, start: str, end: str, dates: Sequence[Any] | None) -> pd.DatetimeIndex:
    if dates is not None:
        return pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    return pd.date_range(start, end, periods=n_dates).normalize()


_LANDSCAPE_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _cached_landscape(shape: tuple[int, int], seed: int, archetype: str | None) -> Landscape:
    return make_landscape(shape, seed=seed, archetype=archetype)


def _landscape(shape: tuple[int, int], seed: int, archetype: str | None = None) -> Landscape:
    """The landscape of a series, built once even when several date tasks ask at the same time."""
    with _LANDSCAPE_LOCK:
        return _cached_landscape(shape, seed, archetype)


def landscape_of(s2_10m: xr.DataArray) -> Landscape:
    """The landscape behind a simulated series, from its 10 m Sentinel-2 cube (nothing computes).

    The landscape is a pure function of the 10 m shape, the seed and the archetype, which the
    cube carries (``attrs['seed']``, ``attrs['archetype']``); it is built once and cached.

    Parameters
    ----------
    s2_10m
        ``PairSeries.s2_10m`` of :func:`pair_series`, uncropped (the shape fixes the landscape).

    Raises
    ------
    ProductError
        The cube was not made by :func:`pair_series` (no ``simulated`` / ``seed`` attrs).

    Examples
    --------
    >>> ps = pair_series(n_dates=1, size_km=0.6, seed=1)
    >>> land = landscape_of(ps.s2_10m)
    >>> bool((land.labels == ps.labels.values).all())
    True
    """
    attrs = getattr(s2_10m, "attrs", {})
    if attrs.get("simulated") != "xharm.simulate" or "seed" not in attrs:
        raise ProductError(
            describe(
                "the cube is not a simulated series: its landscape cannot be rebuilt",
                expected="PairSeries.s2_10m from xharm.simulate.pair_series (attrs simulated, seed)",
                found={k: attrs.get(k) for k in ("simulated", "seed", "archetype")},
                fix="pass the s2_10m cube of a simulated pair series, or bring your own label raster",
            )
        )
    shape = (int(s2_10m.sizes["y"]), int(s2_10m.sizes["x"]))
    return _landscape(shape, int(attrs["seed"]), attrs.get("archetype"))


def _render(
    shape: tuple[int, int], seed: int, spec: DateSpec, cfg: RenderConfig, archetype: str | None = None
) -> dict[str, np.ndarray]:
    return render_date(_landscape(shape, seed, archetype), spec, cfg)


def _labels(shape: tuple[int, int], seed: int, archetype: str | None = None) -> np.ndarray:
    return _landscape(shape, seed, archetype).labels


def _angle_coords(geoms: list[Geometry]) -> dict[str, tuple[str, np.ndarray]]:
    return {
        "sun_zenith": ("time", np.array([g.sun_zenith for g in geoms])),
        "sun_azimuth": ("time", np.array([g.sun_azimuth for g in geoms])),
        "view_zenith": ("time", np.array([g.view_zenith for g in geoms])),
        "view_azimuth": ("time", np.array([g.view_azimuth for g in geoms])),
        "relative_azimuth": ("time", np.array([g.relative_azimuth for g in geoms])),
    }


def _mask(data: Any, gbox: GeoBox, times: pd.DatetimeIndex, name: str, attrs: dict[str, Any]) -> xr.DataArray:
    coords: dict[Any, Any] = dict(xr_coords(gbox))
    coords["time"] = times.values.astype("datetime64[ns]")
    return xr.DataArray(data, dims=("time", "y", "x"), coords=coords, name=name, attrs=attrs)


def pair_series(
    n_dates: int = 6,
    size_km: float = 3.0,
    seed: int = 0,
    *,
    start: str = "2021-04-01",
    end: str = "2021-10-15",
    dates: Sequence[Any] | None = None,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    crs: str = DEFAULT_CRS,
    cloud_cover: float | None = None,
    lazy: bool | None = None,
    misregistration: tuple[float, float] | Misregistration | float | None = None,
    archetype: str | None = None,
    **options: Any,
) -> PairSeries:
    """Simulate a series of same-day Sentinel-2 / Landsat-8 pairs over one landscape.

    Parameters
    ----------
    n_dates
        Number of dates, evenly spread from ``start`` to ``end`` (ignored with ``dates``).
    size_km
        Side of the square scene (rounded to a multiple of 60 m).
    seed
        Seed of every random draw; same seed, same output.
    dates
        Explicit acquisition dates.
    origin, crs
        Upper-left grid corner (multiple of 60 m) and UTM CRS.
    cloud_cover
        Fix the thick-cloud fraction of every date (``0`` for clear skies); ``None`` draws it.
    lazy
        Build Dask arrays (one task per date); default: lazy above 10 km x 10 km.
    misregistration
        Landsat shift against Sentinel-2: ``None`` (default) draws it per date from the
        published zero-mean distribution (:class:`~xharm.simulate.geometry.Misregistration`,
        2.8 m per axis); a ``Misregistration`` draws from that one; ``(dx, dy)`` fixes it
        (metres east, north); ``0`` turns it off.
    archetype
        Landscape type, a key of :data:`~xharm.simulate.landscape.ARCHETYPES`
        (``"central_europe"``, ``"plains"``, ``"smallholder"``, ``"forest_hills"``,
        ``"peri_urban"``), ``"auto"`` to pick one from the seed, or ``None``
        (``"central_europe"``).
    **options
        Fields of :class:`~xharm.simulate.render.RenderConfig`: ``s2_platform``,
        ``l8_platform``, ``misregistration_m`` (legacy fixed shift), ``gap_minutes``,
        ``tau_minutes``, ``noise``,
        ``brdf``, ``atmosphere``, ``clouds``, ``quantize``, ``level`` (``"L2"`` or ``"L1"``),
        ``mtf_s2_10``, ``mtf_s2_20``, ``mtf_l8``.

    Returns
    -------
    PairSeries

    Examples
    --------
    >>> ps = pair_series(n_dates=2, size_km=0.6, seed=1)
    >>> ps.s2_10m.shape, ps.s2_20m.shape, ps.l8.shape, ps.scl.dtype.name
    ((2, 4, 60, 60), (2, 6, 30, 30), (2, 7, 20, 20), 'uint8')
    """
    legacy = options.pop("misregistration_m", None)
    mis = resolve_misregistration(legacy if legacy is not None else misregistration)
    cfg = replace(RenderConfig(seed=int(seed)), misregistration=mis, **options)
    arc = archetype_for(archetype, int(seed)).name  # validates before any work
    if cfg.level not in ("L1", "L2"):
        raise ProductError(describe("unknown processing level", expected=["L1", "L2"], found=cfg.level,
                                    fix='level="L2" (surface reflectance) or level="L1" (TOA)'))  # fmt: skip
    size_km = positive_float(size_km, "size_km (--size-km)", fix="the scene side in km, e.g. 3")
    if dates is None:
        n_dates = positive_int(n_dates, "n_dates (--dates)", fix="the number of dates, e.g. 6")
    g = grids(size_km, origin, crs)
    shape = tuple(g[10].shape)
    times = _dates(n_dates, start, end, dates)
    lat = float(g[10].extent.centroid.to_crs("EPSG:4326").coords[0][1])
    lon = float(g[10].extent.centroid.to_crs("EPSG:4326").coords[0][0])
    specs = []
    for i, t in enumerate(times):
        rng = np.random.default_rng([cfg.seed, i, 3])
        doy = int(t.day_of_year)
        specs.append(
            DateSpec(
                i,
                doy,
                draw_weather(cfg.seed, i, cloud_cover),
                _geometry(lat, doy, _S2_SOLAR_HOUR, rng, _S2_MAX_VZA),
                _geometry(lat, doy, _L8_SOLAR_HOUR, rng, _L8_MAX_VZA),
                draw_shift(mis, cfg.seed, i),
            )
        )
    utc = lambda h: pd.to_timedelta((h - lon / 15.0) * 3600.0, unit="s").round("s")  # noqa: E731
    t_s2 = times + utc(_S2_SOLAR_HOUR)
    t_l8 = t_s2 - pd.to_timedelta(cfg.gap_minutes, unit="min")

    token = dask.base.tokenize(shape, cfg, specs, arc)
    renders = [
        dask.delayed(_render, pure=True)(
            shape, cfg.seed, s, cfg, arc, dask_key_name=f"xharm-simulate-{token}-{i}"
        )
        for i, s in enumerate(specs)
    ]

    def stack(key: str, shp: tuple[int, ...], dtype: str) -> da.Array:
        parts = [
            da.from_delayed(
                dask.delayed(operator.getitem)(r, key, dask_key_name=f"{key}-{token}-{i}"), shp, dtype=dtype
            )
            for i, r in enumerate(renders)
        ]
        return da.stack(parts)

    ny, nx = shape
    common = {"nbar_sun_zenith": REFERENCE_SUN_ZENITH, "simulated": "xharm.simulate", "seed": int(seed),
              "archetype": arc}  # fmt: skip
    l1 = cfg.level == "L1"
    s2_attrs = {
        **common,
        "product": f"simulated S2 {'L1C' if l1 else 'L2A'}",
        "processing_baseline": "05.00",
        "processing_level": "L1C" if l1 else "L2A",
    }
    l8_attrs = {
        **common,
        "product": f"simulated L8 C2 {'L1TP' if l1 else 'L2'}",
        "processing_level": "L1" if l1 else "L2",
    }
    s2a = _angle_coords([s.s2 for s in specs])
    l8a = _angle_coords([s.l8 for s in specs])
    l8a["misregistration_dx"] = ("time", np.array([s.shift_m[0] for s in specs]))
    l8a["misregistration_dy"] = ("time", np.array([s.shift_m[1] for s in specs]))

    def cube(
        data: da.Array, gbox: GeoBox, bands: tuple[str, ...], sensor: str, tt: Any, attrs: dict, angles: dict
    ) -> xr.DataArray:
        c = make_cube(data, geobox=gbox, bands=bands, sensor=sensor, time=tt, attrs=attrs)
        return c.assign_coords(angles)

    s2_10 = cube(stack("s2_10m", (4, ny, nx), "float32"), g[10], S2_10M, cfg.s2_platform, t_s2, s2_attrs, s2a)
    s2_20 = cube(
        stack("s2_20m", (6, ny // 2, nx // 2), "float32"), g[20], S2_20M, cfg.s2_platform, t_s2, s2_attrs, s2a
    )
    l8 = cube(
        stack("l8", (7, ny // 3, nx // 3), "float32"), g[30], L8_BANDS, cfg.l8_platform, t_l8, l8_attrs, l8a
    )
    truth = cube(stack("l8_truth", (7, ny // 3, nx // 3), "float32"), g[30], L8_BANDS, cfg.l8_platform, t_s2,
                 {**common, "product": "simulated L8 truth (clear, NBAR, registered)"}, s2a)  # fmt: skip
    target_attrs = {**common, "product": "simulated L8 target (LaSRC radiometry, clear, NBAR, registered)"}
    target = cube(stack("l8_target", (7, ny // 3, nx // 3), "float32"), g[30], L8_BANDS, cfg.l8_platform,
                  t_s2, target_attrs, s2a)  # fmt: skip
    scl_d = stack("scl", (ny // 2, nx // 2), "uint8")
    qa_d = stack("qa_pixel", (ny // 3, nx // 3), "uint16")
    scl = _mask(
        scl_d, g[20], t_s2, "scl", {"platform": cfg.s2_platform, "invalid_classes": list(SCL_INVALID)}
    )
    qa = _mask(qa_d, g[30], t_l8, "qa_pixel", {"platform": cfg.l8_platform})
    s2_valid = _mask(
        ~da.isin(scl_d, list(SCL_INVALID)), g[20], t_s2, "s2_valid", {"rule": "SCL not in (0,1,3,8,9,10)"}
    )
    l8_valid = _mask((qa_d & 0b11111) == 0, g[30], t_l8, "l8_valid", {"rule": "QA_PIXEL & 0b11111 == 0"})
    lab = da.from_delayed(
        dask.delayed(_labels)(shape, cfg.seed, arc, dask_key_name=f"labels-{token}"), shape, "uint8"
    )
    labels = xr.DataArray(
        lab, dims=("y", "x"), coords=dict(xr_coords(g[10])), name="labels",
        attrs={"classes": {str(k): v for k, v in CLASSES.items()}},
    )  # fmt: skip
    out = PairSeries(s2_10, s2_20, l8, truth, scl, qa, s2_valid, l8_valid, labels, target)
    if lazy is None:
        lazy = ny * nx > _LAZY_PIXELS
    return out if lazy else out.compute()


def scene(date: Any = "2021-07-01", size_km: float = 3.0, seed: int = 0, **kwargs: Any) -> PairSeries:
    """One same-day pair (a :class:`PairSeries` with a single date).

    Examples
    --------
    >>> sc = scene("2021-06-15", size_km=0.6, seed=2, cloud_cover=0.0)
    >>> sc.s2_10m.sizes["time"], bool(sc.l8_valid.all())
    (1, True)
    """
    return pair_series(dates=[date], size_km=size_km, seed=seed, **kwargs)


def to_zarr(
    path: str,
    n_dates: int = 6,
    size_km: float = 3.0,
    seed: int = 0,
    *,
    progress: bool = False,
    overwrite: bool = False,
    **kwargs: Any,
) -> PairSeries:
    """Simulate a pair series and write it to a Zarr store, one group per grid.

    Groups: ``s2_10m`` (``reflectance``), ``s2_20m`` (``reflectance``, ``scl``,
    ``s2_valid``), ``l8`` (``reflectance``, ``truth``, ``target``, ``qa_pixel``, ``l8_valid``),
    ``labels`` (``labels`` at 10 m). Each keeps its ``spatial_ref`` (CRS) coordinate;
    metadata is consolidated at the root. Rendering runs once per date. ``progress=True``
    shows a progress bar over the rendering and writing tasks.

    An existing ``path`` is refused unless ``overwrite=True`` (then it is replaced).
    Arrays are written with zstd checksums (:func:`xharm.io.zarr.checksummed`).

    Returns
    -------
    PairSeries
        The lazy series that was written.

    Examples
    --------
    >>> import tempfile, os, xarray as xr
    >>> d = tempfile.mkdtemp()
    >>> _ = to_zarr(os.path.join(d, "sim.zarr"), n_dates=1, size_km=0.6)
    >>> xr.open_zarr(os.path.join(d, "sim.zarr"), group="l8")["reflectance"].shape
    (1, 7, 20, 20)
    """

    ps = pair_series(n_dates=n_dates, size_km=size_km, seed=seed, lazy=True, **kwargs)  # checks the args
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(
            describe(
                f"{path} already exists",
                fix="pass --overwrite (overwrite=True) to replace it, or choose another path",
            )
        )
    check_writable_file(path, "simulated store")
    groups = {
        "s2_10m": xr.Dataset({"reflectance": ps.s2_10m}),
        "s2_20m": xr.Dataset({"reflectance": ps.s2_20m, "scl": ps.scl, "s2_valid": ps.s2_valid}),
        "l8": xr.Dataset({"reflectance": ps.l8,
                          "truth": canonical_only(ps.l8_truth).assign_coords(time=ps.l8.time),
                          "target": canonical_only(ps.target).assign_coords(time=ps.l8.time),
                          "qa_pixel": ps.qa_pixel, "l8_valid": ps.l8_valid}),
        "labels": xr.Dataset({"labels": ps.labels}),
    }  # fmt: skip
    for name, ds in groups.items():
        ds.attrs = {"simulated": "xharm.simulate", "seed": int(seed), "group": name}
    write_groups(
        path,
        groups,
        attrs={"simulated": "xharm.simulate", "seed": int(seed)},
        progress=lambda: _progress_bar(progress, f"xharm simulate ({n_dates} dates)"),
    )
    return ps


@contextlib.contextmanager
def _progress_bar(show: bool, desc: str) -> Iterator[None]:
    """A tqdm bar over the tasks of the Dask computations inside the block (local schedulers)."""
    if not show:
        yield
        return
    from dask.callbacks import Callback
    from tqdm.auto import tqdm

    bar = tqdm(total=0, desc=desc, unit="task")

    class _Bar(Callback):  # type: ignore[misc]
        def _start_state(self, dsk: Any, state: Any) -> None:
            bar.total += sum(len(state[k]) for k in ("ready", "waiting", "running"))
            bar.refresh()

        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            bar.update()

    try:
        with _Bar():
            yield
    finally:
        bar.close()
