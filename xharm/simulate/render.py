"""Render one date of a paired Sentinel-2 / Landsat-8 acquisition (NumPy core).

Per date: surface state (phenology per field, soil moisture) -> true nadir reflectance
of every band on the 10 m grid by table look-up (PROSAIL spectra precomputed on an
LAI x greenness grid per vegetation class, band-integrated once) -> BRDF factor for
each sensor's sun/view geometry -> clouds, cirrus and shadows -> atmospheric residual
-> PSF, misregistration and detector sampling onto the 10/20/30 m grids -> noise ->
optional quantisation to product DN. Masks (SCL, QA_PIXEL) come from the same layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..core.sensors import get_sensor
from . import atmosphere as atm
from . import instrument as sim
from . import phenology
from .clouds import Weather, cloud_layers, diffuse_fraction, qa_pixel_layer, scl_layer
from .geometry import Misregistration
from .landscape import CLASS_CODES, URBAN_BLOCKS, URBAN_STREETS, VEGETATION, Landscape, upsample
from .spectra import (
    CANOPIES,
    REFERENCE_SUN_ZENITH,
    WAVELENGTHS,
    canopy_spectrum,
    material_spectra,
    snow_spectrum,
    soil_spectrum,
    water_spectrum,
)

__all__ = ["L8_BANDS", "S2_10M", "S2_20M", "DateSpec", "Geometry", "RenderConfig", "render_date"]

S2_10M = ("B02", "B03", "B04", "B08")
S2_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
L8_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
_S2_ALL = S2_10M + S2_20M

LAI_NODES = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5])
S_NODES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_URBAN = URBAN_STREETS + URBAN_BLOCKS
_URBAN_SAMPLES = 16
_DEFAULT_MISREGISTRATION = Misregistration()

S2_FLOOR = -0.0999
"""Lowest Sentinel-2 L1C/L2A reflectance the product holds (DN 1, offset -1000, baseline >= 04.00)."""
L8_L2_FLOOR = 1 * 2.75e-5 - 0.2
"""Lowest Landsat C2 L2 surface reflectance (DN 1)."""
L8_L1_FLOOR = 1 * 2e-5 - 0.1
"""Lowest Landsat C2 L1 TOA reflectance (DN 1)."""


@dataclass(frozen=True)
class Geometry:
    """Sun/view angles of one acquisition, degrees (azimuths from north, clockwise)."""

    sun_zenith: float
    sun_azimuth: float
    view_zenith: float
    view_azimuth: float

    @property
    def relative_azimuth(self) -> float:
        """``|sun_azimuth - view_azimuth|`` folded to 0..180."""
        d = abs(self.sun_azimuth - self.view_azimuth) % 360.0
        return 360.0 - d if d > 180 else d


@dataclass(frozen=True)
class DateSpec:
    """One date of the series: day of year, weather, both sensors' geometry, Landsat's shift.

    ``shift_m`` is the ``(dx, dy)`` misregistration of the Landsat image against
    Sentinel-2 on this date, metres (content moves ``dx`` east, ``dy`` north).
    """

    index: int
    doy: int
    weather: Weather
    s2: Geometry
    l8: Geometry
    shift_m: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class RenderConfig:
    """Knobs of the sensor simulation (all hashable, so renders tokenize cheaply).

    Attributes
    ----------
    seed
        Seed of every random draw (numpy Generator, per date and layer).
    s2_platform, l8_platform
        Spectral responses used (``sentinel-2a``/``-2b``, ``landsat-8``/``-9``).
    misregistration
        Landsat-vs-Sentinel-2 misregistration: a fixed ``(dx, dy)`` in metres or a
        :class:`~xharm.simulate.geometry.Misregistration` drawn per date (default:
        zero-mean, 2.8 m per axis, the published GRI-era figure).
    gap_minutes, tau_minutes
        Landsat acquired ``gap`` minutes before Sentinel-2; cloud decorrelation time.
    noise, brdf, atmosphere
        Scale of sensor noise (0 = off), BRDF on/off, scale of the per-overpass haze and
        cirrus veil and of the processors' AOT errors (0 = no atmosphere at all: the
        products are the observed surface, as with a perfect correction).
    clouds
        Draw clouds and shadows.
    quantize
        Round values to the product DN (S2 L2A with offset -1000, L8 C2 L2).
    level
        ``"L2"``: surface reflectance as each product's processor retrieves it (default);
        ``"L1"``: top-of-atmosphere reflectance (L1C / L1TP-like) of the same scene.
    mtf_s2_10, mtf_s2_20, mtf_l8
        One system MTF at Nyquist for all bands of that grid (``None``: the per-band
        values of :func:`~xharm.simulate.instrument.mtf_nyquist`).
    """

    seed: int = 0
    s2_platform: str = "sentinel-2a"
    l8_platform: str = "landsat-8"
    misregistration: tuple[float, float] | Misregistration = _DEFAULT_MISREGISTRATION
    gap_minutes: float = 20.0
    tau_minutes: float = 30.0
    noise: float = 1.0
    brdf: bool = True
    atmosphere: float = 1.0
    clouds: bool = True
    quantize: bool = False
    level: str = "L2"
    mtf_s2_10: float | None = None
    mtf_s2_20: float | None = None
    mtf_l8: float | None = None


@lru_cache(maxsize=1)
def _canopy_spectra() -> np.ndarray:
    """PROSAIL spectra ``(class, lai, s, 2101)`` on the state grid (computed once)."""
    out = np.zeros((len(VEGETATION), LAI_NODES.size, S_NODES.size, 2101))
    for c, name in enumerate(VEGETATION):
        for j, s in enumerate(S_NODES):
            cab, cbrown = phenology.pigments(name, s)
            for i, lai in enumerate(LAI_NODES):
                out[c, i, j] = canopy_spectrum(CANOPIES[name], float(lai), float(cab), float(cbrown))
    return out


@lru_cache(maxsize=8)
def _tables(platform: str, bands: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Band-integrated look-up tables of every surface type for one sensor."""
    W = sim.band_matrix(platform, bands)
    urban = np.zeros((len(_URBAN), _URBAN_SAMPLES, len(bands)))
    for k, m in enumerate(_URBAN):
        spec = material_spectra(m)
        idx = np.arange(_URBAN_SAMPLES) % len(spec)
        urban[k] = spec[idx] @ W.T
    return {
        "veg": (_canopy_spectra() @ W.T).astype("float32"),  # (class, lai, s, band)
        "dry": soil_spectrum(1.0, 0.0) @ W.T,
        "wet": soil_spectrum(1.0, 1.0) @ W.T,
        "water_clear": water_spectrum(0.05, 0.01, 0.004) @ W.T,
        "water_turbid": water_spectrum(0.6, 0.4, 0.03) @ W.T,
        "urban": urban.astype("float32"),
        "cloud": snow_spectrum(20.0, page="Segelstein") @ W.T,
        "cirrus": snow_spectrum(60.0) @ W.T,
        "center": np.array([get_sensor(platform).band(b).center for b in bands]),
    }


def _state(land: Landscape, doy: int) -> dict[str, np.ndarray]:
    """Phenology state of a date: per-field greenness, per-pixel LAI interpolation index/weight."""
    nf = land.field_shift.size
    veg_idx = np.full(256, -1, dtype="int16")
    for c, name in enumerate(VEGETATION):
        veg_idx[CLASS_CODES[name]] = c
    vc = np.maximum(veg_idx[land.labels], 0).astype("int64")
    lai_f = np.zeros((len(VEGETATION), nf), dtype="float32")
    s_f = np.zeros((len(VEGETATION), nf), dtype="float32")
    for c, name in enumerate(VEGETATION):
        lai_f[c] = phenology.lai(name, doy, land.field_shift, land.field_scale)
        s_f[c] = phenology.greenness(name, doy, land.field_shift)
    # one (class, field) pair per pixel -> compact key into per-key LAI tables
    key = vc * nf + land.field_id
    used = np.flatnonzero(np.bincount(key.ravel(), minlength=len(VEGETATION) * nf))
    remap = np.zeros(len(VEGETATION) * nf, dtype="int64")
    remap[used] = np.arange(used.size)
    inv = remap[key]
    kc, kf = used // nf, used % nf
    lai = lai_f[vc, land.field_id] * land.texture
    li = np.clip(np.searchsorted(LAI_NODES, lai, side="right") - 1, 0, LAI_NODES.size - 2)
    lw = np.clip((lai - LAI_NODES[li]) / (LAI_NODES[li + 1] - LAI_NODES[li]), 0, 1).astype("float32")
    return {
        "key": inv.reshape(land.labels.shape).astype("int64"),
        "key_class": kc,
        "key_s": s_f[kc, kf],
        "li": li,
        "lw": lw,
        # brighter/darker field soil shows through the canopy gaps (Beer's law, G = 0.5, nadir)
        "soil_scale": (1.0 + (land.field_soil[land.field_id] - 1.0) * np.exp(-0.5 * lai)).astype("float32"),
    }


def _surface(
    land: Landscape, st: dict[str, np.ndarray], tab: dict[str, np.ndarray], moisture: float, grass: np.ndarray
) -> np.ndarray:
    """True nadir reflectance ``(band, y, x)`` on the 10 m grid (row strips, all bands at once)."""
    veg = tab["veg"]
    nb = veg.shape[-1]
    nl = LAI_NODES.size
    # greenness is constant per field: interpolate it once per (class, field) key
    s = st["key_s"]
    si = np.clip(np.searchsorted(S_NODES, s, side="right") - 1, 0, S_NODES.size - 2)
    sw = np.clip((s - S_NODES[si]) / (S_NODES[si + 1] - S_NODES[si]), 0, 1)[:, None, None]
    kc = st["key_class"]
    flat = ((1 - sw) * veg[kc, :, si] + sw * veg[kc, :, si + 1]).astype("float32").reshape(-1, nb)
    ny, nx = land.labels.shape
    out = np.empty((nb, ny, nx), dtype="float32")
    soil_row = ((1 - moisture) * tab["dry"] + moisture * tab["wet"]).astype("float32")
    clear, turbid = tab["water_clear"].astype("float32"), tab["water_turbid"].astype("float32")
    urban_tab = tab["urban"].reshape(-1, nb)
    codes = CLASS_CODES
    step = max(1, 65536 // nx)
    for r0 in range(0, ny, step):
        sl = slice(r0, min(ny, r0 + step))
        b0 = st["key"][sl].ravel() * nl + st["li"][sl].ravel()
        lw = st["lw"][sl].ravel()[:, None]
        v = flat[b0] * (1 - lw) + flat[b0 + 1] * lw
        v *= st["soil_scale"][sl].ravel()[:, None]
        lab = land.labels[sl].ravel()
        m = lab == codes["bare"]
        if m.any():
            fsoil = land.field_soil[land.field_id[sl].ravel()[m]]
            v[m] = (fsoil * land.texture[sl].ravel()[m])[:, None] * soil_row
        m = lab == codes["water"]
        if m.any():
            v[m] = clear + land.water_mix[sl].ravel()[m][:, None] * (turbid - clear)
        m = lab == codes["urban"]
        if m.any():
            k = land.urban_material[sl].ravel()[m].astype("int64") * _URBAN_SAMPLES
            k += land.urban_sample[sl].ravel()[m] % _URBAN_SAMPLES
            g = land.urban_green[sl].ravel()[m][:, None]
            v[m] = (1 - g) * urban_tab[k] + g * grass.astype("float32")
        out[:, sl] = v.T.reshape(nb, sl.stop - r0, nx)
    return out


def _grass_value(
    tab: dict[str, np.ndarray], doy: int, name: str = "grassland", scale: float = 1.0
) -> np.ndarray:
    """Band values of one vegetation class at its calendar LAI (times ``scale``) on ``doy``."""
    c = VEGETATION.index(name)
    lai = float(phenology.lai(name, doy)) * scale
    s = float(phenology.greenness(name, doy))
    vals = np.array(
        [
            [np.interp(lai, LAI_NODES, tab["veg"][c, :, j, b]) for j in range(S_NODES.size)]
            for b in range(tab["veg"].shape[-1])
        ]
    )
    return np.array([np.interp(s, S_NODES, row) for row in vals])


def _secondary(land: Landscape) -> tuple[np.ndarray, Landscape] | None:
    """The pixels with a second component, as a ``(1, M)`` landscape of that component."""
    if land.mix_frac is None or land.mix_label is None or land.mix_field is None:
        return None
    m = land.mix_frac > 0
    if not m.any():
        return None

    def pick(a: np.ndarray) -> np.ndarray:
        return a[m][None, :]

    sub = Landscape(
        labels=pick(land.mix_label), field_id=pick(land.mix_field), field_shift=land.field_shift,
        field_scale=land.field_scale, field_soil=land.field_soil, texture=pick(land.texture),
        urban_material=pick(land.urban_material), urban_sample=pick(land.urban_sample),
        urban_green=pick(land.urban_green), water_mix=pick(land.water_mix),
    )  # fmt: skip
    return m, sub


def _features(tab: dict[str, np.ndarray], doy: int) -> np.ndarray:
    """Band values ``(4, band)`` of the feature kinds: none, road (asphalt), woody, roof."""
    nb = tab["veg"].shape[-1]
    urban = tab["urban"]
    road = urban[0].mean(axis=0)
    roof = urban[len(URBAN_STREETS) :].mean(axis=(0, 1))
    woody = _grass_value(tab, doy, "deciduous", 0.9)
    return np.stack([np.zeros(nb), road, woody, roof]).astype("float32")


def _mixed_surface(
    land: Landscape,
    st: dict[str, np.ndarray],
    sec: tuple[np.ndarray, Landscape, dict[str, np.ndarray]] | None,
    tab: dict[str, np.ndarray],
    moisture: float,
    doy: int,
) -> np.ndarray:
    """Area-weighted surface of every pixel: own component, the neighbour across the edge, the feature."""
    grass = _grass_value(tab, doy)
    out = _surface(land, st, tab, moisture, grass)
    if sec is not None:
        m, sub, st2 = sec
        f = land.mix_frac[m]  # type: ignore[index]
        other = _surface(sub, st2, tab, moisture, grass)[:, 0, :]
        out[:, m] = out[:, m] * (1 - f) + other * f
    if land.feat_frac is not None and land.feat_kind is not None:
        m = land.feat_frac > 0
        if m.any():
            f = land.feat_frac[m]
            spec = _features(tab, doy)[land.feat_kind[m]].T
            out[:, m] = out[:, m] * (1 - f) + spec * f
    return out


def _illumination(land: Landscape, geom: Geometry, diff: np.ndarray) -> np.ndarray | None:
    """Terrain illumination ``(band, y, x)``: direct light by ``cos i / cos sza``, sky light by sky view."""
    if land.normal is None:
        return None
    ne, nn, nu = land.normal
    z, a = np.radians(geom.sun_zenith), np.radians(geom.sun_azimuth)
    cos_i = np.clip(ne * np.sin(z) * np.sin(a) + nn * np.sin(z) * np.cos(a) + nu * np.cos(z), 0.0, None)
    direct = (cos_i / np.cos(z)).astype("float32")
    sky = (0.5 * (1.0 + nu)).astype("float32")
    return np.stack([(1 - d) * direct + d * sky for d in diff.astype("float32")])


def _sensor_image(
    truth: np.ndarray,
    tab: dict[str, np.ndarray],
    platform: str,
    bands: tuple[str, ...],
    geom: Geometry,
    layers: tuple[np.ndarray, np.ndarray, np.ndarray],
    weather: Weather,
    cfg: RenderConfig,
    illumination: np.ndarray | None = None,
) -> np.ndarray:
    """Top of canopy as the sensor sees it, still on the 10 m grid: terrain, BRDF, clouds."""
    op, ci, sh = layers
    diff = diffuse_fraction(tab["center"], weather.aot, geom.sun_zenith)
    if illumination is not None:
        truth = truth * illumination
    out = np.empty_like(truth)
    cloudy = cfg.clouds and bool(op.any() or ci.any())
    if cloudy:
        shade = 1.0 - 0.9 * sh  # direct sun left in a shadow
        keep = (1.0 - op) * (1.0 - ci)  # surface signal through cirrus and cloud
        thin = (1.0 - op) * ci
    for b, band in enumerate(bands):
        f = 1.0
        if cfg.brdf:
            f = sim.brdf_factor(
                platform, band, geom.sun_zenith, geom.view_zenith, geom.relative_azimuth, REFERENCE_SUN_ZENITH
            )
        if cloudy:
            light = np.float32(diff[b]) + np.float32(1 - diff[b]) * shade
            v = truth[b] * (np.float32(f) * light * keep)
            v += op * np.float32(tab["cloud"][b]) + thin * np.float32(tab["cirrus"][b])
        else:
            v = truth[b] * np.float32(f)
        out[b] = v
    return out


def _observe_bands(
    img: np.ndarray,
    platform: str,
    bands: tuple[str, ...],
    resolution: float,
    mtf: float | None,
    shift_m: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """:func:`~xharm.simulate.instrument.observe` with each band's own PSF (or one ``mtf`` for all)."""
    sig = [sim.psf_sigma(platform, resolution, mtf, band=b) for b in bands]
    return np.stack([sim.observe(img[i], 10.0, resolution, sig[i], shift_m) for i in range(len(bands))])


def _wavelengths(platform: str, bands: tuple[str, ...]) -> np.ndarray:
    """SRF-weighted centre wavelength (nm) of each band."""
    return sim.band_matrix(platform, bands) @ WAVELENGTHS


def _angles(geom: Geometry) -> tuple[float, float, float]:
    return (geom.sun_zenith, geom.view_zenith, geom.relative_azimuth)


def _products(
    grids: list[tuple[np.ndarray, tuple[str, ...], float]],
    sky: tuple[np.ndarray, np.ndarray | None],
    platform: str,
    geom: Geometry,
    cfg: RenderConfig,
    rng: np.random.Generator,
    processor: atm.Processor,
    swir: tuple[int, str],
    surface10: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Observed surfaces on their grids -> TOA (atmosphere) + noise -> the processor's Level 2.

    ``sky = (aot, veil)`` on the 10 m grid (true AOT incl. haze; cirrus veil reflectance).
    ``swir = (grid index, band)`` is the band the processor's aerosol retrieval reads.
    ``surface10`` (10 m, 0..1): 1 - cloud opacity; clouds are no surface for the adjacency
    terms, and the processors screen them out of their retrieval and adjacency windows.
    With ``cfg.atmosphere == 0`` there is no atmosphere: noise is added to the surface.
    """
    if not cfg.atmosphere:
        return [sim.add_noise(a, platform, b, rng, cfg.noise) if cfg.noise else a for a, b, _ in grids]
    aot10, veil10 = sky

    def on(a10: np.ndarray, k: int) -> np.ndarray:
        return a10 if k == 1 else _block_mean(a10, k)

    def surf(k: int, shape: tuple[int, ...]) -> np.ndarray | None:
        return None if surface10 is None else on(surface10, k)[: shape[-2], : shape[-1]]

    toa = []
    for a, bands, r in grids:
        k = round(r / 10.0)
        veil = None if veil10 is None else on(veil10, k)
        sf = surf(k, a.shape)
        t = atm.level1(a, _wavelengths(platform, bands), _angles(geom), on(aot10, k), r, veil, surface=sf)
        toa.append(sim.add_noise(t, platform, bands, rng, cfg.noise) if cfg.noise else t)
    if cfg.level == "L1":
        return toa
    gi, band = swir
    _, b_sw, r_sw = grids[gi]
    k_sw = round(r_sw / 10.0)
    truth_aot = on(aot10, k_sw)
    swir_toa = toa[gi][b_sw.index(band)]
    aot_hat = atm.retrieve_aot(
        swir_toa, truth_aot, processor, r_sw, rng, cfg.atmosphere, clear=surf(k_sw, swir_toa.shape)
    )
    out = []
    for (_, bands, r), t in zip(grids, toa, strict=True):
        f = r_sw / r
        est = aot_hat
        if f != 1:
            est = upsample(aot_hat, round(f), t.shape[1:]) if f > 1 else _block_mean(aot_hat, round(1 / f))
        sf = surf(round(r / 10.0), t.shape)
        out.append(atm.level2(t, _wavelengths(platform, bands), _angles(geom), est, processor, r, clear=sf))
    return out


def _target(truth30: np.ndarray, aot10: np.ndarray, platform: str, cfg: RenderConfig) -> np.ndarray:
    """Landsat radiometry of the clear nadir surface: LaSRC's systematic retrieval, no per-date error.

    The surface with Landsat's PSF on the registered grid goes to TOA at the reference
    geometry (sun 35 deg, nadir) through the date's aerosol (no haze) and back through the
    Landsat processor with only its systematic AOT errors (bias, dark-target term).
    """
    if not cfg.atmosphere:
        return truth30
    proc = atm.PROCESSORS["lasrc"]
    ang = (REFERENCE_SUN_ZENITH, 0.0, 0.0)
    wl = _wavelengths(platform, L8_BANDS)
    aot = _block_mean(aot10, 3)
    toa = atm.level1(truth30, wl, ang, aot, 30.0)
    aot_hat = atm.retrieve_aot(toa[L8_BANDS.index("B7")], aot, proc, 30.0, None, cfg.atmosphere)
    return atm.level2(toa, wl, ang, aot_hat, proc, 30.0)


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    h, w = a.shape[-2] // k * k, a.shape[-1] // k * k
    return a[..., :h, :w].reshape(*a.shape[:-2], h // k, k, w // k, k).mean(axis=(-3, -1))


def render_date(land: Landscape, date: DateSpec, cfg: RenderConfig) -> dict[str, np.ndarray]:
    """Render every layer of one date.

    Returns
    -------
    dict
        ``s2_10m (4, H, W)``, ``s2_20m (6, H/2, W/2)``, ``l8 (7, H/3, W/3)`` float32
        reflectance; ``scl`` uint8 at 20 m; ``qa_pixel`` uint16 at 30 m; ``l8_truth``
        (7, H/3, W/3): Landsat bands of the clear, nadir-normalised surface, Landsat PSF,
        no misregistration, noise, cloud or AC residual.

    Examples
    --------
    >>> from xharm.simulate.landscape import make_landscape
    >>> from xharm.simulate.clouds import draw_weather
    >>> land = make_landscape((60, 60), seed=0)
    >>> g = Geometry(40.0, 150.0, 3.0, 100.0)
    >>> out = render_date(land, DateSpec(0, 180, draw_weather(0, 0), g, g), RenderConfig())
    >>> out["s2_10m"].shape, out["s2_20m"].shape, out["l8"].shape, out["qa_pixel"].dtype.name
    ((4, 60, 60), (6, 30, 30), (7, 20, 20), 'uint16')
    """
    res = 10.0
    st = _state(land, date.doy)
    sub = _secondary(land)
    sec = None if sub is None else (sub[0], sub[1], _state(sub[1], date.doy))
    w = date.weather
    out: dict[str, np.ndarray] = {}
    water = land.labels == CLASS_CODES["water"]
    aot10 = atm.aerosol_field(land.shape, w.aot, cfg.seed, date.index)
    for role in ("s2", "l8"):
        platform = cfg.s2_platform if role == "s2" else cfg.l8_platform
        bands = _S2_ALL if role == "s2" else L8_BANDS
        geom = date.s2 if role == "s2" else date.l8
        tab = _tables(platform, bands)
        truth = _mixed_surface(land, st, sec, tab, w.soil_moisture, date.doy)
        if cfg.clouds:
            layers = cloud_layers(
                land.shape, res, w, cfg.seed, date.index, role=role, sun_zenith=geom.sun_zenith,
                sun_azimuth=geom.sun_azimuth, gap_minutes=cfg.gap_minutes, tau_minutes=cfg.tau_minutes,
            )  # fmt: skip
        else:
            z = np.zeros(land.shape, "float32")
            layers = (z, z, z)
        rng = np.random.default_rng([cfg.seed, date.index, 21 if role == "s2" else 22])
        illum = _illumination(land, geom, diffuse_fraction(tab["center"], w.aot, geom.sun_zenith))
        toc = _sensor_image(truth, tab, platform, bands, geom, layers, w, cfg, illum)
        surface10 = (1.0 - np.clip(layers[0], 0.0, 1.0)).astype("float32")  # opaque cloud is no surface
        air, veil = aot10, None
        if cfg.atmosphere:
            haze, veil = atm.haze_field(land.shape, res, cfg.seed, date.index, role, cfg.gap_minutes,
                                        cfg.tau_minutes)  # fmt: skip
            air, veil = aot10 + np.float32(cfg.atmosphere) * haze, np.float32(cfg.atmosphere) * veil
        if role == "s2":
            s10 = _observe_bands(toc[:4], platform, S2_10M, 10.0, cfg.mtf_s2_10)
            s20 = _observe_bands(toc[4:], platform, S2_20M, 20.0, cfg.mtf_s2_20)
            grids = [(s10, S2_10M, 10.0), (s20, S2_20M, 20.0)]
            s10, s20 = _products(grids, (air, veil), platform, geom, cfg, rng, atm.PROCESSORS["sen2cor"],
                                 swir=(1, "B12"), surface10=surface10)  # fmt: skip
            if cfg.quantize:
                s10, s20 = (sim.decode(sim.encode(a, platform), platform) for a in (s10, s20))
            else:  # what the product's encoding can hold: DN >= 1 with BOA_ADD_OFFSET -1000 (NaN stays NaN)
                s10, s20 = (np.maximum(a, np.float32(S2_FLOOR)) for a in (s10, s20))
            out["s2_10m"], out["s2_20m"] = s10, s20
            ndvi = (truth[3] - truth[2]) / np.maximum(truth[3] + truth[2], 1e-6)
            op, ci, sh = (_block_mean(a, 2) for a in layers)
            out["scl"] = scl_layer(
                op, ci, sh, _block_mean(water.astype("float32"), 2) > 0.5, _block_mean(ndvi, 2)
            )
        else:
            l8 = _observe_bands(toc, platform, L8_BANDS, 30.0, cfg.mtf_l8, date.shift_m)
            # terrain shading stays in the truth: neither Landsat's L2 processor nor HLS corrects
            # topography, so it is part of the Landsat radiometry a harmonised product should match
            shaded = truth if illum is None else truth * illum
            truth30 = _observe_bands(shaded, platform, L8_BANDS, 30.0, cfg.mtf_l8)
            out["l8_truth"] = truth30
            out["l8_target"] = _target(truth30, aot10, platform, cfg)
            (l8,) = _products([(l8, L8_BANDS, 30.0)], (air, veil), platform, geom, cfg, rng,
                              atm.PROCESSORS["lasrc"], swir=(0, "B7"), surface10=surface10)  # fmt: skip
            if cfg.quantize and cfg.level == "L1":  # C2 L1 reflectance: DN * 2e-5 - 0.1
                l8 = (np.clip(np.round((l8 + 0.1) / 2e-5), 1, 65535) * 2e-5 - 0.1).astype("float32")
            elif cfg.quantize:
                l8 = sim.decode(sim.encode(l8, platform), platform)
            else:  # the encoding's floor: C2 L2 DN 1 = -0.19997, C2 L1 DN 1 = -0.09998
                l8 = np.maximum(l8, np.float32(L8_L1_FLOOR if cfg.level == "L1" else L8_L2_FLOOR))
            out["l8"] = l8
            # Landsat's masks describe Landsat's own (misregistered) pixels
            stack = np.stack([*layers, water.astype("float32")])
            op, ci, sh, wat = sim.observe(stack, res, 30.0, 0.0, date.shift_m)
            out["qa_pixel"] = qa_pixel_layer(op, ci, sh, wat > 0.5)
    return out
