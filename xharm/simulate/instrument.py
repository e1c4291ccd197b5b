"""Sensor models: spectral integration, PSF, noise, BRDF, atmospheric residual, encoding.

- **Spectral integration** with the agencies' relative spectral responses read by
  :meth:`xharm.core.sensors.Sensor.srf` (``pyrsr`` tables): ``rho_b = sum(R_b rho) / sum(R_b)``.
- **PSF**: a Gaussian optics blur followed by the detector's box average onto the
  product grid. The Gaussian width is set so that the *system* MTF (Gaussian x detector
  sinc) at Nyquist equals the band's value from :func:`mtf_nyquist`. The band average per
  (sensor, resolution) is :data:`MTF_NYQUIST`, round figures of the in-flight
  measurements: Sentinel-2 MSI 10 m bands 0.27, 20 m bands 0.30 (ESA S2 MSI L1C Data
  Quality Reports, MTF at Nyquist within the 0.15-0.30 requirement and typically
  0.2-0.3); Landsat-8 OLI 0.27 (Storey et al. 2014, Remote Sens. 6:11127, edge-response
  derived MTF). Per band, that average is spread by the diffraction MTF of each
  instrument's published aperture and orbit (:data:`APERTURE`: MSI 150 mm entrance pupil
  at 786 km, OLI 135 mm at 705 km), which falls with wavelength: SWIR bands are softer
  than blue bands by 10-25 %. Configurable per call.
- **Noise**: zero-mean Gaussian, ``sigma = (rho_ref / SNR) sqrt(rho / rho_ref)``
  (photon-noise limited), with the SNR at the reference radiance: MSI requirement values
  (ESA Sentinel-2 User Handbook, radiometric performance table) and OLI on-orbit SNR at
  typical radiance (Morfitt et al. 2015, Remote Sens. 7:2208). ``rho_ref`` is a round
  reflectance equivalent of each band's reference radiance (an approximation). See :data:`SNR`.
- **BRDF**: RossThick-LiSparse-Reciprocal kernels with the fixed HLS/MODIS coefficients
  (SENSORS.md §A.3, Roy et al. 2016/2017): observed = true-nadir x f(obs)/f(ref).
- **Atmospheric-correction residual**: an aerosol-like additive error
  ``d_rho = d_tau (lambda/550)^-1.3 * 0.1`` with an independent ``d_tau ~ N(0, 0.03)`` per
  sensor and date (order of the LaSRC AOT uncertainty, Vermote et al. 2016 RSE 185:46).
- **Encoding**: Sentinel-2 L2A DN ``= rho * 10000 + 1000`` (baseline >= 04.00) and
  Landsat C2 L2 DN ``= (rho + 0.2) / 2.75e-5``, 0 = no data.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import sparse

from ..core.sensors import MTF_NYQUIST, Sensor, get_sensor, mtf_nyquist, psf_sigma
from .spectra import WAVELENGTHS

__all__ = [
    "BRDF_COEFFS",
    "MTF_NYQUIST",
    "SNR",
    "add_noise",
    "atmosphere_residual",
    "atmosphere_terms",
    "band_matrix",
    "brdf_factor",
    "decode",
    "encode",
    "fit_bandpass",
    "integrate",
    "mtf_nyquist",
    "observe",
    "psf_sigma",
    "solar_zenith",
    "surface_reflectance",
    "toa_reflectance",
]

#: ``(SNR, rho_ref)`` per band: SNR at the reference radiance and a round reflectance
#: equivalent of that radiance. MSI: ESA requirement values (S2 User Handbook);
#: OLI: on-orbit SNR at typical radiance (Morfitt et al. 2015, Remote Sens. 7:2208).
SNR: dict[str, dict[str, tuple[float, float]]] = {
    "sentinel-2": {
        "B01": (129, 0.14), "B02": (154, 0.12), "B03": (168, 0.11), "B04": (142, 0.10),
        "B05": (117, 0.10), "B06": (89, 0.10), "B07": (105, 0.10), "B08": (174, 0.10),
        "B8A": (72, 0.08), "B09": (114, 0.08), "B10": (50, 0.02), "B11": (100, 0.06), "B12": (100, 0.06),
    },
    "landsat": {
        "B1": (238, 0.12), "B2": (364, 0.11), "B3": (302, 0.10), "B4": (227, 0.09),
        "B5": (204, 0.10), "B6": (265, 0.09), "B7": (334, 0.06),
    },
}  # fmt: skip

#: HLS (f_iso, f_geo, f_vol) per band, SENSORS.md §A.3 (NASA-IMPACT/hls-sentinel).
_BRDF_BY_NAME: dict[str, tuple[float, float, float]] = {
    "coastal": (0.0774, 0.0079, 0.0372),
    "blue": (0.0774, 0.0079, 0.0372),
    "green": (0.1306, 0.0178, 0.0580),
    "red": (0.1690, 0.0227, 0.0574),
    "rededge071": (0.2085, 0.0256, 0.0845),
    "rededge075": (0.2316, 0.0273, 0.1003),
    "rededge078": (0.2599, 0.0294, 0.1197),
    "nir": (0.3093, 0.0330, 0.1535),
    "nir08": (0.3093, 0.0330, 0.1535),
    "swir16": (0.3430, 0.0453, 0.1154),
    "swir22": (0.2658, 0.0387, 0.0639),
}
#: ``{(sensor name, band id): (f_iso, f_geo, f_vol)}`` built from the table above.
BRDF_COEFFS = _BRDF_BY_NAME


@lru_cache(maxsize=32)
def band_matrix(sensor: str | Sensor, bands: tuple[str, ...]) -> np.ndarray:
    """SRF weights on :data:`~xharm.simulate.spectra.WAVELENGTHS`, rows summing to 1.

    Parameters
    ----------
    sensor
        Sensor with a pyrsr table (Sentinel-2A/2B, Landsat-8/9).
    bands
        Band names (ids, aliases or common names).

    Returns
    -------
    numpy.ndarray
        ``(n_bands, 2101)``; ``spectra @ W.T`` gives band reflectance.

    Examples
    --------
    >>> W = band_matrix("sentinel-2a", ("B04",))
    >>> float(round(W.sum(), 6)), int(WAVELENGTHS[W[0].argmax()]) in range(650, 685)
    (1.0, True)
    """
    s = get_sensor(sensor)
    out = np.zeros((len(bands), WAVELENGTHS.size))
    for i, b in enumerate(bands):
        wl, resp = s.srf(b)
        out[i] = np.interp(WAVELENGTHS, wl, resp, left=0.0, right=0.0)
        out[i] /= out[i].sum()
    out.setflags(write=False)
    return out


def integrate(spectra: np.ndarray, sensor: str | Sensor, bands: tuple[str, ...] | list[str]) -> np.ndarray:
    """Band-integrate spectra ``(..., 2101)`` -> ``(..., n_bands)``.

    Examples
    --------
    >>> flat = np.full((1, WAVELENGTHS.size), 0.3)
    >>> np.allclose(integrate(flat, "landsat-8", ["B2", "B5"]), 0.3)
    True
    """
    return np.asarray(spectra) @ band_matrix(sensor, tuple(bands)).T


def _kernel(sigma: float, shift: float) -> np.ndarray:
    """1-D correlation weights: Gaussian ``sigma`` (px) centred ``-shift`` px, or linear interpolation."""
    r = int(np.ceil(3.0 * sigma + abs(shift))) + 1
    i = np.arange(-r, r + 1, dtype="float64")
    if sigma > 0.05:
        w = np.exp(-0.5 * ((i + shift) / sigma) ** 2)
    else:
        w = np.clip(1.0 - np.abs(i + shift), 0.0, None)
    return w / w.sum()


@lru_cache(maxsize=64)
def _operator(n: int, k: int, sigma: float, shift: float) -> sparse.csr_matrix:
    """Sparse ``(n // k, n)`` operator: blur + shift by ``shift`` px + box average of ``k`` px.

    Edges repeat the outermost pixel (like ``mode="nearest"``).
    """
    w = _kernel(sigma, shift)
    r = (w.size - 1) // 2
    m = n // k
    rows, cols, vals = [], [], []
    for off in range(k):
        centre = np.arange(m) * k + off
        for t in range(w.size):
            rows.append(np.arange(m))
            cols.append(np.clip(centre + t - r, 0, n - 1))
            vals.append(np.full(m, w[t] / k))
    op = sparse.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, n), dtype="float32"
    )
    return op.tocsr()


def observe(
    field: np.ndarray,
    fine_res: float,
    resolution: float,
    sigma_m: float,
    shift_m: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Image a fine ``(..., y, x)`` field onto a coarser nested grid.

    Gaussian optics blur (``sigma_m``), a sub-pixel shift ``(dx, dy)`` in metres
    (misregistration: image content moves ``dx`` east and ``dy`` north) and the detector
    box average over ``resolution / fine_res`` fine pixels, applied as one separable
    sparse operator per axis (only the output pixels are evaluated).

    Examples
    --------
    >>> f = np.arange(36.0).reshape(6, 6)
    >>> observe(f, 10.0, 30.0, 0.0).tolist()
    [[7.0, 10.0], [25.0, 28.0]]
    """
    f = np.asarray(field, dtype="float32")
    k = round(resolution / fine_res)
    s = sigma_m / fine_res
    ny, nx = f.shape[-2:]
    # content moving +dx east = +dx columns; +dy north = -dy rows
    ay = _operator(ny, k, round(s, 6), round(-shift_m[1] / fine_res, 6))
    ax = _operator(nx, k, round(s, 6), round(shift_m[0] / fine_res, 6))
    planes = f.reshape(-1, ny, nx)
    out = np.empty((planes.shape[0], ny // k, nx // k), dtype="float32")
    for i, p in enumerate(planes):
        out[i] = (ax @ (ay @ p).T).T
    return out.reshape(*f.shape[:-2], ny // k, nx // k)


def add_noise(
    values: np.ndarray,
    sensor: str | Sensor,
    bands: list[str] | tuple[str, ...],
    rng: np.random.Generator,
    scale: float = 1.0,
) -> np.ndarray:
    """Add photon-limited Gaussian noise from published SNRs to ``(band, y, x)`` reflectance.

    Examples
    --------
    >>> x = np.full((1, 200, 200), 0.1, "float32")
    >>> y = add_noise(x, "landsat-8", ["B4"], np.random.default_rng(0))
    >>> 0.0003 < float(y.std()) < 0.0006
    True
    """
    s = get_sensor(sensor)
    out = np.array(values, dtype="float32", copy=True)
    for i, b in enumerate(bands):
        snr, rho_ref = SNR[s.family][s.band(b).id]
        sigma = (rho_ref / snr) * np.sqrt(np.clip(out[i], 0.005, None) / rho_ref) * scale
        out[i] += (rng.standard_normal(out[i].shape, dtype="float32") * sigma).astype("float32")
    return out


def _kernels(sza: float, vza: float, raa: float) -> tuple[float, float]:
    """RossThick and LiSparse-Reciprocal kernels (Lucht et al. 2000; h/b = 2, b/r = 1)."""
    ts, tv, phi = np.radians(sza), np.radians(vza), np.radians(raa)
    cos_xi = np.cos(ts) * np.cos(tv) + np.sin(ts) * np.sin(tv) * np.cos(phi)
    xi = np.arccos(np.clip(cos_xi, -1, 1))
    k_vol = ((np.pi / 2 - xi) * cos_xi + np.sin(xi)) / (np.cos(ts) + np.cos(tv)) - np.pi / 4
    hb, br = 2.0, 1.0
    tsp, tvp = np.arctan(br * np.tan(ts)), np.arctan(br * np.tan(tv))
    cos_xip = np.cos(tsp) * np.cos(tvp) + np.sin(tsp) * np.sin(tvp) * np.cos(phi)
    d2 = np.tan(tsp) ** 2 + np.tan(tvp) ** 2 - 2 * np.tan(tsp) * np.tan(tvp) * np.cos(phi)
    sec = 1 / np.cos(tsp) + 1 / np.cos(tvp)
    cost = np.clip(hb * np.sqrt(d2 + (np.tan(tsp) * np.tan(tvp) * np.sin(phi)) ** 2) / sec, -1, 1)
    t = np.arccos(cost)
    overlap = (t - np.sin(t) * np.cos(t)) * sec / np.pi
    k_geo = overlap - sec + 0.5 * (1 + cos_xip) / np.cos(tvp) / np.cos(tsp)
    return float(k_vol), float(k_geo)


def brdf_factor(sensor: str | Sensor, band: str, sza: float, vza: float, raa: float, sza_ref: float) -> float:
    """Ratio ``f(sza, vza, raa) / f(sza_ref, 0, 0)`` with the HLS coefficients of ``band``.

    Multiplying a nadir reflectance at ``sza_ref`` by this gives the observed one; the
    HLS c-factor is its inverse. Bands without HLS coefficients get 1.

    Examples
    --------
    >>> brdf_factor("landsat-8", "B5", 35.0, 0.0, 0.0, 35.0)
    1.0
    """
    coeffs = _BRDF_BY_NAME.get(get_sensor(sensor).band(band).common_name)
    if coeffs is None:
        return 1.0
    iso, geo, vol = coeffs
    kv, kg = _kernels(sza, vza, raa)
    kv0, kg0 = _kernels(sza_ref, 0.0, 0.0)
    return float((iso + geo * kg + vol * kv) / (iso + geo * kg0 + vol * kv0))


def atmosphere_residual(sensor: str | Sensor, bands: list[str] | tuple[str, ...], d_tau: float) -> np.ndarray:
    """Per-band additive residual of an aerosol optical-depth error ``d_tau`` at 550 nm.

    Examples
    --------
    >>> r = atmosphere_residual("landsat-8", ["B2", "B7"], 0.05)
    >>> bool(r[0] > r[1] > 0)
    True
    """
    s = get_sensor(sensor)
    centers = np.array([s.band(b).center for b in bands], dtype="float64")
    return (0.1 * d_tau * (centers / 550.0) ** -1.3).astype("float32")


def encode(values: np.ndarray, sensor: str | Sensor, boa_offset: float = -1000.0) -> np.ndarray:
    """Reflectance -> product DN (uint16, 0 = no data for NaN).

    Sentinel-2 L2A: ``DN = rho * 10000 - boa_offset``; Landsat C2 L2: ``DN = (rho + 0.2) / 2.75e-5``.

    Examples
    --------
    >>> encode(np.array([0.0, 0.5, np.nan]), "sentinel-2b").tolist()
    [1000, 6000, 0]
    >>> encode(np.array([0.0]), "landsat-8").tolist()
    [7273]
    """
    s = get_sensor(sensor)
    v = np.asarray(values, dtype="float64")
    if s.family == "sentinel-2":
        dn = np.round(v * 10000.0 - boa_offset)
    else:
        dn = np.round((v - s.scaling.offset) / s.scaling.scale)
    dn = np.clip(np.nan_to_num(dn, nan=0.0), 1, 65535)
    return np.where(np.isnan(v), 0, dn).astype("uint16")


def decode(dn: np.ndarray, sensor: str | Sensor, boa_offset: float = -1000.0) -> np.ndarray:
    """Product DN -> float32 reflectance (0 -> NaN); the inverse of :func:`encode`.

    Examples
    --------
    >>> decode(np.array([1000, 0], "uint16"), "sentinel-2a").tolist()[0]
    0.0
    """
    s = get_sensor(sensor)
    d = np.asarray(dn)
    if s.family == "sentinel-2":
        v = (d.astype("float64") + boa_offset) / 10000.0
    else:
        v = d.astype("float64") * s.scaling.scale + s.scaling.offset
    return np.where(d == 0, np.nan, v).astype("float32")


def solar_zenith(lat: float, doy: int, solar_hour: float) -> float:
    """Solar zenith angle (deg) from latitude, day of year and local solar time.

    Declination from Spencer (1971, Search 2:172); hour angle ``15 (t - 12)`` deg.

    Examples
    --------
    >>> 20 < solar_zenith(48.0, 172, 10.5) < 35
    True
    """
    g = 2 * np.pi * (doy - 1) / 365.0
    dec = (
        0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
        + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g)
    )  # fmt: skip
    h = np.radians(15.0 * (solar_hour - 12.0))
    phi = np.radians(lat)
    cos_z = np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.cos(h)
    return float(np.degrees(np.arccos(np.clip(cos_z, -1, 1))))


def fit_bandpass(
    spectra: np.ndarray, msi: str | Sensor = "sentinel-2a", oli: str | Sensor = "landsat-8"
) -> dict[str, tuple[str, float, float]]:
    """Least-squares ``rho_OLI = slope * rho_MSI + offset`` per HLS band pair over spectra.

    This is how HLS derived its bandpass coefficients (Hyperion spectra convolved with
    both sensors' responses; SENSORS.md §A.2).

    Returns
    -------
    dict
        ``{msi_band: (oli_band, slope, offset)}`` like :func:`xharm.core.sensors.hls_bandpass`.

    Examples
    --------
    >>> from xharm.simulate.spectra import soil_spectrum
    >>> spectra = np.stack([soil_spectrum(b, m) for b in (0.5, 1.0, 1.5) for m in (0.0, 0.5, 1.0)])
    >>> abs(fit_bandpass(spectra)["B11"][1] - 1.0) < 0.02
    True
    """
    pairs = {"B01": "B1", "B02": "B2", "B03": "B3", "B04": "B4", "B8A": "B5", "B11": "B6", "B12": "B7"}
    x = integrate(spectra, msi, list(pairs))
    y = integrate(spectra, oli, list(pairs.values()))
    out = {}
    for i, (mb, ob) in enumerate(pairs.items()):
        slope, offset = np.polyfit(x[:, i], y[:, i], 1)
        out[mb] = (ob, float(slope), float(offset))
    return out


def atmosphere_terms(
    wavelength_nm: float,
    sun_zenith: float,
    view_zenith: float = 0.0,
    relative_azimuth: float = 0.0,
    aot: float | np.ndarray = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(path, t_dir, t_tot, s)`` of the approximate atmosphere at one wavelength (``aot`` may be a field).

    Rayleigh + aerosol single-scattering path reflectance
    ``(tau_R P_R + w_a tau_a P_HG) / (4 mu_s mu_v)`` (Rayleigh phase ``0.75 (1 + cos^2)``;
    Henyey-Greenstein ``g = 0.65``, ``w_a = 0.9``; aerosol depth ``aot (lambda/550)^-1.3``);
    two-way total transmittance ``t_tot = exp(-(0.52 tau_R + 0.16 tau_a) (1/mu_s + 1/mu_v))``
    (Gordon & Wang 1994 style), its direct part ``t_dir = exp(-(tau_R + tau_a)(1/mu_s + 1/mu_v))``
    and the spherical albedo ``s = 0.92 tau_R exp(-tau_R) + 0.2 tau_a`` (a thin-atmosphere
    approximation). Gaseous absorption is ignored.

    Examples
    --------
    >>> p, td, tt, s = atmosphere_terms(490.0, 30.0)
    >>> bool(0 < td < tt < 1 and 0 < s < 0.2 and p > 0.05)
    True
    """
    lam = wavelength_nm / 1000.0
    tau_r = 0.008569 * lam**-4 * (1 + 0.0113 * lam**-2 + 0.00013 * lam**-4)
    tau_a = np.asarray(aot, dtype="float32") * np.float32((wavelength_nm / 550.0) ** -1.3)
    ts, tv = np.radians(sun_zenith), np.radians(view_zenith)
    mus, muv = np.cos(ts), np.cos(tv)
    cos_scat = -mus * muv - np.sin(ts) * np.sin(tv) * np.cos(np.radians(relative_azimuth))
    g = 0.65
    p_r = 0.75 * (1 + cos_scat**2)
    p_a = (1 - g * g) / (1 + g * g - 2 * g * cos_scat) ** 1.5
    air = np.float32(1 / mus + 1 / muv)
    path = (np.float32(tau_r * p_r) + np.float32(0.9 * p_a) * tau_a) / np.float32(4 * mus * muv)
    t_tot = np.exp(-(np.float32(0.52 * tau_r) + np.float32(0.16) * tau_a) * air)
    t_dir = np.exp(-(np.float32(tau_r) + tau_a) * air)
    s = np.float32(0.92 * tau_r * np.exp(-tau_r)) + np.float32(0.2) * tau_a
    return path, t_dir, t_tot, s


def toa_reflectance(
    rho: np.ndarray,
    wavelength_nm: float,
    sun_zenith: float,
    view_zenith: float = 0.0,
    relative_azimuth: float = 0.0,
    aot: float | np.ndarray = 0.1,
    env: np.ndarray | None = None,
) -> np.ndarray:
    """Approximate top-of-atmosphere reflectance of surface reflectance ``rho``.

    ``rho_TOA = path + (t_dir rho + (t_tot - t_dir) env) / (1 - s env)`` with the terms of
    :func:`atmosphere_terms`: the directly transmitted signal sees the pixel, the diffusely
    transmitted one its environment ``env`` (the adjacency effect; default ``rho``, a
    uniform surface), and ``s`` the multiple reflections between surface and atmosphere.
    Used for the Level-1 (TOA) scenes and to compare with real Level-1C samples.

    Examples
    --------
    >>> float(toa_reflectance(np.array(0.03), 490.0, 30.0)) > 0.08
    True
    """
    path, t_dir, t_tot, s = atmosphere_terms(wavelength_nm, sun_zenith, view_zenith, relative_azimuth, aot)
    r = np.asarray(rho, dtype="float32")
    e = r if env is None else np.asarray(env, dtype="float32")
    return (path + (t_dir * r + (t_tot - t_dir) * e) / (1 - s * e)).astype("float32")


def surface_reflectance(
    toa: np.ndarray,
    wavelength_nm: float,
    sun_zenith: float,
    view_zenith: float = 0.0,
    relative_azimuth: float = 0.0,
    aot: float | np.ndarray = 0.1,
    env: np.ndarray | None = None,
) -> np.ndarray:
    """Invert :func:`toa_reflectance` for ``rho`` given an aerosol depth (an AC processor's step).

    Without ``env`` the surface is taken as uniform (no adjacency correction); with it,
    ``env`` is the processor's estimate of the environment reflectance.

    Examples
    --------
    >>> rho = np.array([0.02, 0.3])
    >>> np.allclose(surface_reflectance(toa_reflectance(rho, 650.0, 35.0), 650.0, 35.0), rho, atol=1e-5)
    True
    """
    path, t_dir, t_tot, s = atmosphere_terms(wavelength_nm, sun_zenith, view_zenith, relative_azimuth, aot)
    y = np.asarray(toa, dtype="float32") - path
    if env is None:
        y = y / t_tot
        return (y / (1 + s * y)).astype("float32")
    e = np.asarray(env, dtype="float32")
    return ((y * (1 - s * e) - (t_tot - t_dir) * e) / t_dir).astype("float32")
