"""Frozen band tables for the sensors xharm reads and writes.

Each :class:`Sensor` lists its :class:`Band` objects (sensor band id, STAC ``eo``
common name, native resolution, nominal wavelength range) and the
:class:`Scaling` rule that turns stored integers into physical values.

Band ids follow each agency's own naming: Sentinel-2 ``B01``..``B12`` and ``B8A``,
Landsat ``B1``..``B11`` (as USGS and the MGAN paper write them), HLS ``B01``..``B12``
with the HLS product's numbering (L30 NIR is ``B05``, S30 NIR narrow is ``B8A``).
Lookups accept every spelling users meet in the wild (``B2``, ``B02``, ``SR_B2``,
``blue``), see :meth:`Sensor.band`.

Relative spectral response functions are not typed in here: :meth:`Sensor.srf`
reads the official tables shipped by the ``pyrsr`` package.

Nominal wavelength ranges are the agencies' published band edges (ESA S2 MSI
technical guide, USGS Landsat 8-9 OLI data users handbook), in nanometres.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from ..exceptions import MissingDependencyError, SensorError, UnknownBandError, describe

__all__ = [
    "ANGLE_NAMES",
    "APERTURE",
    "HLS_BANDPASS",
    "MTF_NYQUIST",
    "SENSORS",
    "Band",
    "BandSpec",
    "Scaling",
    "Sensor",
    "get_sensor",
    "hls_bandpass",
    "mtf_nyquist",
    "psf_sigma",
    "s2_boa_offset",
]


#: The acquisition angles xharm reads and writes (degrees; coordinates, ``attrs`` or ``angles=``):
#: what the readers attach and the BRDF step of :mod:`xharm.baselines` looks up.
ANGLE_NAMES: tuple[str, str, str, str] = ("sun_zenith", "sun_azimuth", "view_zenith", "view_azimuth")


@dataclass(frozen=True)
class Band:
    """One spectral band of one sensor.

    Attributes
    ----------
    id
        The agency band id (``"B02"``, ``"B8A"``, ``"B5"``, ``"VV"``).
    common_name
        STAC ``eo`` common name (``"blue"``, ``"nir08"``, ``"swir16"``); for SAR the
        polarisation in lower case.
    resolution
        Native ground sampling distance in metres.
    wavelength
        Nominal band edges ``(min, max)`` in nm; ``None`` for SAR.
    """

    id: str
    common_name: str
    resolution: float
    wavelength: tuple[float, float] | None = None

    @property
    def center(self) -> float | None:
        """Centre of the nominal band edges in nm."""
        if self.wavelength is None:
            return None
        return 0.5 * (self.wavelength[0] + self.wavelength[1])


@dataclass(frozen=True)
class Scaling:
    """Rule turning stored values into physical ones: ``value = dn * scale + offset``.

    Attributes
    ----------
    scale, offset
        Linear decoding in physical units. Sentinel-2's baseline-dependent DN offset
        is passed to :meth:`decode` as ``offset_dn`` (see :func:`s2_boa_offset`).
    fill
        Stored value meaning "no data"; ``None`` when there is none.
    dtype
        Stored integer dtype (``"uint16"``, ``"int16"``) or ``"float32"``.
    valid_range
        Physically plausible decoded range, used to tell reflectance from DN.
    """

    scale: float = 1.0
    offset: float = 0.0
    fill: float | None = None
    dtype: str = "float32"
    valid_range: tuple[float, float] = (-0.5, 2.0)

    def decode(self, dn: Any, offset_dn: float = 0.0) -> Any:
        """Decode stored values to physical values, fill -> NaN (NumPy or Dask).

        ``value = (dn + offset_dn) * scale + offset``. ``offset_dn`` is the additive
        DN offset some products carry in their metadata (Sentinel-2 ``BOA_ADD_OFFSET``
        / ``RADIO_ADD_OFFSET``, -1000 from baseline 04.00 on).

        Examples
        --------
        >>> import numpy as np
        >>> get_sensor("sentinel-2b").scaling.decode(np.array([0, 2000], "uint16"), offset_dn=-1000)
        array([nan, 0.1], dtype=float32)
        """
        # float64 arithmetic, float32 result: 2000 DN - 1000 decodes to exactly 0.1f
        values = (dn + float(offset_dn)) * float(self.scale) + float(self.offset)
        if self.fill is None:
            return values.astype("float32")
        return np.where(dn == self.fill, np.float32(np.nan), values).astype("float32")


@dataclass(frozen=True)
class Sensor:
    """A sensor/product: platform, instrument, bands and scaling.

    Attributes
    ----------
    name
        xharm's key (``"sentinel-2a"``, ``"landsat-8"``, ``"hls-s30"``).
    platform, instrument
        As STAC ``platform`` / ``instruments`` write them.
    family
        ``"sentinel-2"``, ``"landsat"``, ``"hls"`` or ``"sentinel-1"``.
    bands
        Every band of the product, in the agency's order.
    scaling
        How stored values become reflectance (or backscatter).
    srf_key
        ``(satellite, sensor)`` for :class:`pyrsr.RSR`, or ``None`` where pyrsr has
        no table (Sentinel-2C, SAR).
    """

    name: str
    platform: str
    instrument: str
    family: str
    bands: tuple[Band, ...]
    scaling: Scaling
    srf_key: tuple[str, str] | None = None
    aliases: tuple[str, ...] = field(default=(), compare=False)

    @property
    def band_ids(self) -> tuple[str, ...]:
        """Band ids in the agency's order."""
        return tuple(b.id for b in self.bands)

    @property
    def common_names(self) -> tuple[str, ...]:
        """STAC common names in the agency's order."""
        return tuple(b.common_name for b in self.bands)

    def bands_at(self, resolution: float) -> tuple[Band, ...]:
        """Bands whose native resolution is ``resolution`` metres."""
        return tuple(b for b in self.bands if b.resolution == resolution)

    def band(self, name: str) -> Band:
        """Find a band by id, common name or a common alias.

        Accepts ``"B02"``, ``"B2"``, ``"b02"``, ``"SR_B2"``, ``"blue"`` and, for
        Sentinel-2, ``"B8A"``/``"B08A"``.

        Raises
        ------
        UnknownBandError
            When nothing matches; the message lists the valid names.

        Examples
        --------
        >>> get_sensor("landsat-8").band("SR_B5").common_name
        'nir08'
        >>> get_sensor("sentinel-2b").band("swir16").id
        'B11'
        """
        key = normalize_band_name(name)
        found = _band_index(self).get(key)
        if found is None:
            raise UnknownBandError(
                describe(
                    f"band {name!r} is not a band of {self.name}",
                    expected=f"one of {', '.join(self.band_ids)} or {', '.join(self.common_names)}",
                    found=repr(name),
                    fix=f"rename the band, or pass the right sensor (this one is {self.name!r})",
                )
            )
        return found

    def resolve(self, names: Iterable[str]) -> tuple[Band, ...]:
        """Resolve several names at once (see :meth:`band`)."""
        return tuple(self.band(n) for n in names)

    def srf(self, band: str) -> tuple[np.ndarray, np.ndarray]:
        """Relative spectral response of a band from ``pyrsr``, at 1 nm.

        Returns
        -------
        wavelength_nm, response
            1-D arrays, the response peak-normalised as the agencies publish it,
            zero tails trimmed.

        Raises
        ------
        SensorError
            When pyrsr has no table for this sensor (Sentinel-2C, SAR, HLS).
        """
        b = self.band(band)
        if self.srf_key is None:
            raise SensorError(
                describe(
                    f"no spectral response table for {self.name}",
                    expected="one of " + ", ".join(s.name for s in SENSORS.values() if s.srf_key),
                    found=self.name,
                    fix="use the SRF of the closest platform (e.g. sentinel-2b for sentinel-2c)",
                )
            )
        wvl, resp = _srf_tables(self.srf_key)[_pyrsr_band(self, b)]
        return wvl, resp


def normalize_band_name(name: str) -> str:
    s = str(name).strip().upper()
    s = re.sub(r"^(SR_|ST_|TOA_)", "", s)
    m = re.fullmatch(r"B0*(\d+)(A?)", s)
    if m:
        return f"B{int(m.group(1))}{m.group(2)}"
    return s


@cache
def _band_index(sensor: Sensor) -> Mapping[str, Band]:
    index: dict[str, Band] = {}
    for b in sensor.bands:
        index[normalize_band_name(b.id)] = b
        index[b.common_name.upper()] = b
    return index


def _pyrsr_band(sensor: Sensor, band: Band) -> str:
    m = re.fullmatch(r"B0*(\d+)(A?)", band.id)
    if m is None:
        raise SensorError(f"band {band.id!r} of {sensor.name} has no spectral response")
    return f"{int(m.group(1))}{m.group(2)}"


@cache
def _srf_tables(key: tuple[str, str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        from pyrsr import RSR
    except ImportError as err:  # pragma: no cover - pyrsr is a hard dependency
        raise MissingDependencyError("reading spectral responses needs pyrsr: pip install pyrsr") from err
    rsr = RSR(key[0], key[1], wvl_unit="nanometers", specres_nm=1)
    wvl = np.asarray(rsr.rsrs_wvl, dtype="float64")
    out = {}
    for band, resp in rsr.rsrs.items():
        r = np.asarray(resp, dtype="float64")
        nz = np.nonzero(r > 0)[0]
        # pyrsr stores area-normalised responses; return them peak-normalised as published
        out[str(band)] = (wvl[nz[0] : nz[-1] + 1].copy(), r[nz[0] : nz[-1] + 1] / r.max())
    return out


# --------------------------------------------------------------------------- tables

_S2_BANDS = (
    Band("B01", "coastal", 60.0, (433.0, 453.0)),
    Band("B02", "blue", 10.0, (458.0, 523.0)),
    Band("B03", "green", 10.0, (543.0, 578.0)),
    Band("B04", "red", 10.0, (650.0, 680.0)),
    Band("B05", "rededge071", 20.0, (698.0, 713.0)),
    Band("B06", "rededge075", 20.0, (733.0, 748.0)),
    Band("B07", "rededge078", 20.0, (773.0, 793.0)),
    Band("B08", "nir", 10.0, (785.0, 900.0)),
    Band("B8A", "nir08", 20.0, (855.0, 875.0)),
    Band("B09", "nir09", 60.0, (935.0, 955.0)),
    Band("B10", "cirrus", 60.0, (1360.0, 1390.0)),
    Band("B11", "swir16", 20.0, (1565.0, 1655.0)),
    Band("B12", "swir22", 20.0, (2100.0, 2280.0)),
)

_OLI_BANDS = (
    Band("B1", "coastal", 30.0, (433.0, 453.0)),
    Band("B2", "blue", 30.0, (450.0, 515.0)),
    Band("B3", "green", 30.0, (525.0, 600.0)),
    Band("B4", "red", 30.0, (630.0, 680.0)),
    Band("B5", "nir08", 30.0, (845.0, 885.0)),
    Band("B6", "swir16", 30.0, (1560.0, 1660.0)),
    Band("B7", "swir22", 30.0, (2100.0, 2300.0)),
    Band("B8", "pan", 15.0, (500.0, 680.0)),
    Band("B9", "cirrus", 30.0, (1360.0, 1390.0)),
    Band("B10", "lwir11", 100.0, (10600.0, 11190.0)),
    Band("B11", "lwir12", 100.0, (11500.0, 12510.0)),
)

_HLS_S30_BANDS = tuple(Band(b.id, b.common_name, 30.0, b.wavelength) for b in _S2_BANDS)
_HLS_L30_BANDS = tuple(
    Band(f"B{int(b.id[1:]):02d}", b.common_name, 30.0, b.wavelength) for b in _OLI_BANDS if b.id != "B8"
)

_S1_BANDS = (Band("VV", "vv", 10.0), Band("VH", "vh", 10.0))

#: Sentinel-2 L1C/L2A: reflectance = (DN + offset_dn) / 10000, DN 0 = no data.
S2_SCALING = Scaling(scale=1e-4, offset=0.0, fill=0, dtype="uint16")
#: Landsat Collection-2 Level-2 surface reflectance.
LANDSAT_C2L2_SCALING = Scaling(scale=2.75e-5, offset=-0.2, fill=0, dtype="uint16")
#: HLS v2.0 reflectance.
HLS_SCALING = Scaling(scale=1e-4, offset=0.0, fill=-9999, dtype="int16")
#: Sentinel-1 backscatter as delivered by analysis-ready products (linear or dB floats).
S1_SCALING = Scaling(scale=1.0, offset=0.0, fill=None, dtype="float32", valid_range=(-60.0, 60.0))


def _s2(name: str, platform: str, srf: tuple[str, str] | None, aliases: tuple[str, ...]) -> Sensor:
    return Sensor(name, platform, "msi", "sentinel-2", _S2_BANDS, S2_SCALING, srf, aliases)


def _landsat(
    name: str, platform: str, instrument: str, srf: tuple[str, str], aliases: tuple[str, ...]
) -> Sensor:
    return Sensor(name, platform, instrument, "landsat", _OLI_BANDS, LANDSAT_C2L2_SCALING, srf, aliases)


SENSORS: dict[str, Sensor] = {
    s.name: s
    for s in (
        _s2("sentinel-2a", "sentinel-2a", ("Sentinel-2A", "MSI"), ("s2a", "s2a_msi", "S2A_MSI")),
        _s2("sentinel-2b", "sentinel-2b", ("Sentinel-2B", "MSI"), ("s2b", "s2b_msi", "S2B_MSI")),
        _s2("sentinel-2c", "sentinel-2c", None, ("s2c", "s2c_msi", "S2C_MSI")),
        _landsat(
            "landsat-8", "landsat-8", "oli", ("Landsat-8", "OLI_TIRS"), ("l8", "lc08", "landsat8", "oli")
        ),
        _landsat(
            "landsat-9", "landsat-9", "oli2", ("Landsat-9", "OLI_TIRS"), ("l9", "lc09", "landsat9", "oli2")
        ),
        Sensor("hls-s30", "sentinel-2", "msi", "hls", _HLS_S30_BANDS, HLS_SCALING, None, ("s30", "hlss30")),
        Sensor("hls-l30", "landsat", "oli", "hls", _HLS_L30_BANDS, HLS_SCALING, None, ("l30", "hlsl30")),
        Sensor("sentinel-1", "sentinel-1", "c-sar", "sentinel-1", _S1_BANDS, S1_SCALING, None, ("s1",)),
    )
}


def _sensor_key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name).lower())


_ALIASES: dict[str, str] = {}
for _s in SENSORS.values():
    for _a in (_s.name, *_s.aliases):
        _ALIASES[_sensor_key(_a)] = _s.name


def get_sensor(name: str | Sensor) -> Sensor:
    """Look up a sensor by name or alias (case, ``-``, ``_`` and spaces ignored).

    Examples
    --------
    >>> get_sensor("S2B").name
    'sentinel-2b'
    >>> get_sensor("LC08").name
    'landsat-8'
    """
    if isinstance(name, Sensor):
        return name
    key = _ALIASES.get(_sensor_key(name))
    if key is None:
        raise SensorError(
            describe(
                f"unknown sensor {name!r}",
                expected="one of " + ", ".join(SENSORS),
                found=repr(name),
                fix="pass one of the names above (aliases such as 'S2A', 'L8', 'LC08' work too)",
            )
        )
    return SENSORS[key]


def s2_boa_offset(processing_baseline: str | float | None) -> float:
    """BOA/RADIO_ADD_OFFSET in DN implied by an S2 processing baseline.

    From baseline 04.00 (2022-01-25) on, L1C and L2A DN carry an additive offset
    of -1000 (``reflectance = (DN - 1000) / 10000``); before it, 0. Readers use the
    offset written in the product metadata when there is one and this rule only
    as a fallback.

    Examples
    --------
    >>> s2_boa_offset("04.00"), s2_boa_offset("N0209"), s2_boa_offset(None)
    (-1000.0, 0.0, 0.0)
    """
    if processing_baseline is None:
        return 0.0
    text = str(processing_baseline).upper().lstrip("N")
    try:
        value = float(text) if "." in text else float(text) / 100.0
    except ValueError as err:
        raise SensorError(
            describe(
                f"cannot read the processing baseline {processing_baseline!r}",
                expected="'04.00', '4.0' or 'N0400'",
                found=repr(processing_baseline),
            )
        ) from err
    return -1000.0 if value >= 4.0 else 0.0


@dataclass(frozen=True)
class BandSpec:
    """Which bands of which sensor, at which resolution, decoded how.

    A frozen, hashable value object with a cheap deterministic Dask token.

    Examples
    --------
    >>> spec = BandSpec.of("sentinel-2a", ["blue", "B03"], 10.0)
    >>> spec.bands
    ('B02', 'B03')
    """

    sensor: str
    bands: tuple[str, ...]
    resolution: float
    scaling: Scaling

    @classmethod
    def of(cls, sensor: str | Sensor, bands: Iterable[str], resolution: float | None = None) -> BandSpec:
        """Build a spec, resolving band aliases against the sensor table."""
        s = get_sensor(sensor)
        resolved = s.resolve(bands)
        res = resolution if resolution is not None else max(b.resolution for b in resolved)
        return cls(s.name, tuple(b.id for b in resolved), float(res), s.scaling)

    @property
    def common_names(self) -> tuple[str, ...]:
        """STAC common names of :attr:`bands`."""
        sensor = get_sensor(self.sensor)
        return tuple(sensor.band(b).common_name for b in self.bands)

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.sensor, self.bands, self.resolution, self.scaling)


# HLS v2.0 bandpass adjustment MSI -> OLI-like, reflectance units:
#   rho_oli_like = slope * rho_msi + offset
# Source: ../shared/reference/SENSORS.md §A.2 (hls.gsfc.nasa.gov bandpass page and
# NASA-IMPACT/hls-sentinel bandpass_parameter.S2{A,B,C}.txt). Keys: MSI band -> OLI band.
HLS_BANDPASS: dict[str, dict[str, tuple[str, float, float]]] = {
    "sentinel-2a": {
        "B01": ("B1", 0.9959, -0.0002),
        "B02": ("B2", 0.9778, -0.0040),
        "B03": ("B3", 1.0053, -0.0009),
        "B04": ("B4", 0.9765, 0.0009),
        "B8A": ("B5", 0.9983, -0.0001),
        "B11": ("B6", 0.9987, -0.0011),
        "B12": ("B7", 1.0030, -0.0012),
    },
    "sentinel-2b": {
        "B01": ("B1", 0.9959, -0.0002),
        "B02": ("B2", 0.9778, -0.0040),
        "B03": ("B3", 1.0075, -0.0008),
        "B04": ("B4", 0.9761, 0.0010),
        "B8A": ("B5", 0.9966, 0.0000),
        "B11": ("B6", 1.0000, -0.0003),
        "B12": ("B7", 0.9867, 0.0004),
    },
    "sentinel-2c": {
        "B01": ("B1", 1.003, -0.0),
        "B02": ("B2", 0.9851, -0.0027),
        "B03": ("B3", 1.0038, -0.0009),
        "B04": ("B4", 0.9718, 0.0011),
        "B8A": ("B5", 0.9995, -0.0003),
        "B11": ("B6", 0.9994, -0.0007),
        "B12": ("B7", 0.991, 0.0004),
    },
}


def hls_bandpass(platform: str | Sensor) -> dict[str, tuple[str, float, float]]:
    """HLS v2.0 MSI -> OLI bandpass coefficients for one Sentinel-2 platform.

    Returns
    -------
    dict
        ``{msi_band: (oli_band, slope, offset)}`` with offsets in reflectance units.

    Raises
    ------
    SensorError
        When the platform is not Sentinel-2A/2B/2C; xharm never guesses it.

    Examples
    --------
    >>> hls_bandpass("S2B")["B8A"]
    ('B5', 0.9966, 0.0)
    """
    sensor = get_sensor(platform)
    if sensor.name not in HLS_BANDPASS:
        raise SensorError(
            describe(
                f"HLS bandpass coefficients exist only for Sentinel-2 platforms, not {sensor.name}",
                expected="sentinel-2a, sentinel-2b or sentinel-2c",
                found=sensor.name,
                fix="set the cube's 'platform' attribute, e.g. cube.attrs['platform'] = 'sentinel-2b'",
            )
        )
    return dict(HLS_BANDPASS[sensor.name])


# --------------------------------------------------------------------------- optics (MTF / PSF)

#: System MTF at Nyquist per (sensor family, resolution m). Sources: :func:`mtf_nyquist`.
MTF_NYQUIST: dict[tuple[str, float], float] = {
    ("sentinel-2", 10.0): 0.27,
    ("sentinel-2", 20.0): 0.30,
    ("landsat", 30.0): 0.27,
}

#: ``(aperture diameter m, orbit altitude m)`` per sensor family: MSI 150 mm at 786 km
#: (ESA Sentinel-2 User Handbook), OLI 135 mm at 705 km (Knight & Kvaran 2014, Remote
#: Sens. 6:10286). They set the per-band diffraction MTF in :func:`mtf_nyquist`.
APERTURE: dict[str, tuple[float, float]] = {"sentinel-2": (0.150, 786e3), "landsat": (0.135, 705e3)}
#: Bands averaged to :data:`MTF_NYQUIST` per (family, resolution).
_MTF_BANDS: dict[tuple[str, float], tuple[str, ...]] = {
    ("sentinel-2", 10.0): ("B02", "B03", "B04", "B08"),
    ("sentinel-2", 20.0): ("B05", "B06", "B07", "B8A", "B11", "B12"),
    ("landsat", 30.0): ("B1", "B2", "B3", "B4", "B5", "B6", "B7"),
}


def _diffraction_mtf(family: str, wavelength_nm: float, resolution: float) -> float:
    """Diffraction MTF of a clear circular aperture at the Nyquist frequency of ``resolution``."""
    d, h = APERTURE[family]
    nu = min(1.0, (1.0 / (2.0 * resolution)) * wavelength_nm * 1e-9 * h / d)
    return float(2.0 / np.pi * (np.arccos(nu) - nu * np.sqrt(1.0 - nu * nu)))


def mtf_nyquist(sensor: str | Sensor, band: str, resolution: float) -> float:
    """System MTF at Nyquist of one band: the published band average spread by diffraction.

    ``MTF_b = MTF_avg * D_b / mean(D)`` with ``D_b`` the diffraction MTF of the band's
    centre wavelength (:data:`APERTURE`), averaged over the bands of that resolution.
    The band averages (:data:`MTF_NYQUIST`) are round figures of the in-flight
    measurements: Sentinel-2 MSI 10 m bands 0.27, 20 m bands 0.30 (ESA S2 MSI L1C Data
    Quality Reports: within the 0.15-0.30 requirement, typically 0.2-0.3); Landsat-8 OLI
    0.27 (Storey et al. 2014, Remote Sens. 6:11127, edge-response derived MTF). The
    simulator renders with them (:mod:`xharm.simulate.instrument`) and the geometry-aware
    baseline ``method="hls_psf"`` blurs with them.

    Examples
    --------
    >>> b2, b7 = (mtf_nyquist("landsat-8", b, 30.0) for b in ("B2", "B7"))
    >>> b2 > 0.27 > b7
    True
    """
    s = get_sensor(sensor)
    key = (s.family, float(resolution))
    bands = _MTF_BANDS[key]
    diff = [_diffraction_mtf(s.family, _center(s, b), float(resolution)) for b in bands]
    own = _diffraction_mtf(s.family, _center(s, band), float(resolution))
    return float(MTF_NYQUIST[key] * own / np.mean(diff))


def _center(s: Sensor, band: str) -> float:
    c = s.band(band).center
    if c is None:
        raise SensorError(describe(f"band {band} of {s.name} has no centre wavelength", fix="optical bands"))
    return float(c)


def psf_sigma(
    sensor: str | Sensor, resolution: float, mtf: float | None = None, band: str | None = None
) -> float:
    """Gaussian optics sigma (m) so that Gaussian x detector-box MTF at Nyquist equals ``mtf``.

    ``MTF_sys(f_N) = exp(-2 pi^2 s^2 f_N^2) sinc(1/2)``, ``f_N = 1/(2 GSD)``. Without
    ``mtf``: the band's :func:`mtf_nyquist` when ``band`` is given, else the band average.

    Examples
    --------
    >>> round(psf_sigma("landsat-8", 30.0, mtf=0.27), 2)
    12.51
    >>> psf_sigma("landsat-8", 30.0, band="B7") > psf_sigma("landsat-8", 30.0, band="B2")
    True
    """
    s = get_sensor(sensor)
    if mtf is not None:
        m = mtf
    elif band is not None:
        m = mtf_nyquist(s, band, resolution)
    else:
        m = MTF_NYQUIST[(s.family, float(resolution))]
    gauss = min(m / np.sinc(0.5), 0.999)
    fn = 1.0 / (2.0 * resolution)
    return float(np.sqrt(-np.log(gauss) / (2 * np.pi**2 * fn**2)))
