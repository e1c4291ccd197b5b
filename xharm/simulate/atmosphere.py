"""The atmosphere between surface and sensor, and each product's own atmospheric correction.

Forward (both sensors, same day): a spatially smooth aerosol field (AOT at 550 nm, the
date's mean times ``exp(0.25 n)`` with ``n`` fractal noise smooth at > 1 km) plus thin
haze and a sub-visible cirrus veil that differ between the two overpasses (extra AOT and a
flat additive reflectance, smooth at > 200 m, partly decorrelated over the ~20 min gap
like the clouds), the adjacency effect (the
diffusely transmitted light sees the surface smoothed over ~300 m) and multiple
reflections, through :func:`~xharm.simulate.instrument.toa_reflectance`.

Inverse (per product): a Level-2 processor estimates the AOT from the simulated TOA scene
with its own systematic bias, a per-date error, a dependence on the scene's dark-target
brightness (TOA SWIR 2.2 um over its retrieval window) and a smooth retrieval noise, all
at its own retrieval resolution; then inverts the same TOA model with that estimate
(:func:`~xharm.simulate.instrument.surface_reflectance`), with or without its own adjacency
correction. The residual is therefore spectral (aerosol depth ``~ lambda^-1.3``),
reflectance-dependent (transmittance, spherical albedo), land-cover dependent (dark-target
term, adjacency) and partly systematic per processor (the bias).

Magnitudes: operational AOT retrievals over land have RMSE 0.07-0.10 against AERONET
(MAJA: 0.068-0.095, Rouquié et al. 2017, Remote Sens. 9:1230); LaSRC's aerosol retrieval
is of the same order (Vermote et al. 2016, RSE 185:46). :data:`PROCESSORS` sets per-date
errors of 0.04-0.05 and biases of +0.03 / -0.01, so the cross-sensor difference of the
two retrievals is ~0.07 AOT RMS. The resulting same-day surface-reflectance discrepancy is
checked against the published raw Sentinel-2 vs Landsat-8 figures in ``docs/simulate.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .instrument import surface_reflectance, toa_reflectance
from .landscape import fractal_noise, upsample

__all__ = [
    "PROCESSORS",
    "Processor",
    "aerosol_field",
    "environment",
    "haze_field",
    "level1",
    "level2",
    "retrieve_aot",
]

#: Scale (m) of the adjacency effect: Gaussian sigma of the environment seen by diffuse light.
ADJACENCY_M = 300.0


@dataclass(frozen=True)
class Processor:
    """A Level-2 atmospheric-correction processor's aerosol retrieval and inversion.

    Attributes
    ----------
    name
        ``"sen2cor"`` (Sentinel-2 L2A) or ``"lasrc"`` (Landsat C2 L2).
    aot_bias
        Systematic AOT error (all scenes, all dates).
    aot_sigma
        Standard deviation of the per-date AOT error.
    scale_m
        Resolution of the aerosol retrieval (Gaussian sigma, m).
    dark_k
        AOT error per unit TOA SWIR-2.2 reflectance above 0.1 over the retrieval window
        (brighter scenes break the dark-target assumption).
    noise_sigma
        Smooth spatial retrieval noise (AOT, at ``scale_m``).
    adjacency
        Whether the processor corrects the adjacency effect (with its own environment estimate).
    """

    name: str
    aot_bias: float
    aot_sigma: float
    scale_m: float
    dark_k: float
    noise_sigma: float
    adjacency: bool


#: The two products' processors (values: see the module docstring).
PROCESSORS: dict[str, Processor] = {
    "sen2cor": Processor("sen2cor", aot_bias=0.03, aot_sigma=0.05, scale_m=1000.0, dark_k=0.4,
                         noise_sigma=0.05, adjacency=True),
    "lasrc": Processor("lasrc", aot_bias=-0.01, aot_sigma=0.04, scale_m=2000.0, dark_k=-0.25,
                       noise_sigma=0.04, adjacency=False),
}  # fmt: skip


def _smooth(a: np.ndarray, sigma_px: float, coarsen: int) -> np.ndarray:
    """Gaussian smoothing of a 2-D field, done on a ``coarsen``-times coarser grid and upsampled back."""
    ny, nx = a.shape
    k = max(1, min(coarsen, ny // 2, nx // 2))
    h, w = ny // k * k, nx // k * k
    c = a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
    c = ndimage.gaussian_filter(c, sigma_px / k, mode="reflect")
    return upsample(c, k, (ny, nx)) if k > 1 else c.astype("float32")


def aerosol_field(shape: tuple[int, int], mean_aot: float, seed: int, date_index: int) -> np.ndarray:
    """True AOT at 550 nm on the product grid: ``mean_aot exp(0.25 n)``, ``n`` smooth at > 1 km.

    Examples
    --------
    >>> a = aerosol_field((60, 60), 0.2, 0, 1)
    >>> a.shape, bool(0.1 < a.mean() < 0.3)
    ((60, 60), True)
    """
    n = fractal_noise(shape, np.random.default_rng([seed, date_index, 31]), beta=3.5, coarsen=16)
    return (mean_aot * np.exp(0.25 * n)).astype("float32")


def haze_field(
    shape: tuple[int, int],
    resolution: float,
    seed: int,
    date_index: int,
    role: str,
    gap_minutes: float = 20.0,
    tau_minutes: float = 30.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Thin haze and a thin cirrus veil seen by one overpass, smooth at > 200 m, different for S2 and L8.

    Returns ``(extra_aot, veil)``: extra aerosol depth at 550 nm (none on 30 % of dates,
    else 0.02-0.12) and the additive, spectrally flat reflectance of sub-visible cirrus
    (ice crystals scatter alike at all these wavelengths; none on a fifth of the dates, else
    up to 0.02), which neither processor removes. Landsat (``gap_minutes`` earlier) sees
    ``r n_S2 + sqrt(1 - r^2) n_new``, ``r = exp(-gap / tau)``, for both layers.

    Examples
    --------
    >>> (a2, v2), (a8, v8) = (haze_field((90, 90), 10.0, 0, 2, r) for r in ("s2", "l8"))
    >>> bool(a2.min() >= 0 and v2.min() >= 0) and not np.allclose(a2, a8)
    True
    """
    rng = np.random.default_rng([seed, date_index, 33])
    amp = 0.0 if rng.random() < 0.3 else float(rng.uniform(0.02, 0.12))
    veil = 0.0 if rng.random() < 0.2 else float(rng.uniform(0.005, 0.02))
    coarsen = max(1, int(200 / resolution))
    r = float(np.exp(-gap_minutes / tau_minutes))
    out = []
    for k, a in ((34, amp), (36, veil)):
        n = fractal_noise(shape, np.random.default_rng([seed, date_index, k]), beta=3.2, coarsen=coarsen)
        if role == "l8":
            new = fractal_noise(
                shape, np.random.default_rng([seed, date_index, k + 1]), beta=3.2, coarsen=coarsen
            )
            n = r * n + np.sqrt(1 - r * r) * new
        out.append((a * np.clip(0.5 + 0.5 * n, 0.0, None)).astype("float32"))
    return out[0], out[1]


def environment(
    rho: np.ndarray, resolution: float, scale_m: float = ADJACENCY_M, weight: np.ndarray | None = None
) -> np.ndarray:
    """Environment reflectance ``(band, y, x)``: each band smoothed with a Gaussian of ``scale_m``.

    ``weight`` (0..1, ``(y, x)``): a normalized convolution over the weighted pixels only, e.g.
    the cloud-free surface (clouds lie above the aerosol layer: they are no surface for the
    adjacency and surface-atmosphere trapping terms); where nothing is weighted nearby, the
    weighted scene mean.
    """
    coarsen = max(1, round(80.0 / resolution))
    sig = scale_m / resolution
    if weight is None:
        return np.stack([_smooth(b, sig, coarsen) for b in rho])
    w = np.clip(weight, 0.0, 1.0).astype("float32")
    den = _smooth(w, sig, coarsen)
    out = []
    for b in rho:
        mean = float((b * w).sum() / w.sum()) if w.sum() > 0 else float(b.mean())
        num = _smooth(np.nan_to_num(b) * w, sig, coarsen)
        out.append(np.where(den > 1e-3, num / np.maximum(den, 1e-3), mean).astype("float32"))
    return np.stack(out)


def retrieve_aot(
    toa_swir: np.ndarray,
    true_aot: np.ndarray,
    processor: Processor,
    resolution: float,
    rng: np.random.Generator | None,
    scale: float = 1.0,
    clear: np.ndarray | None = None,
) -> np.ndarray:
    """The processor's AOT field: its view of the true aerosol at its resolution, plus its errors.

    ``aot_hat = smooth(aot) + scale * (bias + e_date + dark_k (smooth(toa_swir) - 0.1) + noise)``,
    clipped at 0.01; ``e_date ~ N(0, aot_sigma)``, ``noise`` smooth at ``scale_m``. Without
    ``rng`` only the systematic part (bias, dark-target term) is applied. ``clear`` (0..1):
    the dark-target statistic over cloud-free pixels only, as processors screen clouds first.
    """
    sig = processor.scale_m / resolution
    coarsen = max(1, round(240.0 / resolution))
    seen = _smooth(true_aot, sig, coarsen)
    if clear is None:
        dark = _smooth(toa_swir, sig, coarsen) - 0.1
    else:
        dark = environment(toa_swir[None], resolution, processor.scale_m, weight=clear)[0] - 0.1
    err = processor.aot_bias + processor.dark_k * dark
    if rng is not None:
        c = max(1, int(processor.scale_m / 4 / resolution))
        noise = fractal_noise(true_aot.shape, rng, beta=3.5, coarsen=c)
        err = err + rng.normal(0.0, processor.aot_sigma) + processor.noise_sigma * noise
    return np.clip(seen + np.float32(scale) * err, 0.01, None).astype("float32")


def level2(
    toa: np.ndarray,
    wavelengths: np.ndarray,
    angles: tuple[float, float, float],
    aot_hat: np.ndarray,
    processor: Processor,
    resolution: float,
    clear: np.ndarray | None = None,
) -> np.ndarray:
    """Surface reflectance ``(band, y, x)`` as the processor retrieves it from TOA ``(band, y, x)``.

    ``clear`` (0..1): the cloud-free pixels the processor's adjacency environment averages.
    """
    out = np.empty_like(toa, dtype="float32")
    for b, wl in enumerate(wavelengths):
        first = surface_reflectance(toa[b], float(wl), *angles, aot=aot_hat)
        env = environment(first[None], resolution, weight=clear)[0] if processor.adjacency else None
        out[b] = (
            first if env is None else surface_reflectance(toa[b], float(wl), *angles, aot=aot_hat, env=env)
        )
    return out


def level1(
    rho: np.ndarray,
    wavelengths: np.ndarray,
    angles: tuple[float, float, float],
    aot: np.ndarray,
    resolution: float,
    veil: np.ndarray | None = None,
    surface: np.ndarray | None = None,
) -> np.ndarray:
    """TOA reflectance ``(band, y, x)`` of ``rho``: adjacency, multiple reflections, cirrus veil.

    ``surface`` (0..1): the share of each pixel that is surface (1 - cloud opacity); the
    adjacency environment averages the surface only (clouds lie above the aerosol layer).
    """
    env = environment(rho, resolution, weight=surface)
    toa = np.stack(
        [toa_reflectance(rho[b], float(wl), *angles, aot=aot, env=env[b]) for b, wl in enumerate(wavelengths)]
    )
    return toa if veil is None else toa + veil
