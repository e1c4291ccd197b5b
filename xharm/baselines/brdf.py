"""BRDF normalisation to nadir (NBAR) with the HLS c-factor method.

``NBAR = rho_obs * c`` with ``c = f(theta_s_nbar, 0, 0) / f(theta_s, theta_v, phi)`` and
``f = f_iso + f_vol * K_vol + f_geo * K_geo`` (Roy et al. 2016, RSE 176:255-271;
red-edge coefficients from Roy et al. 2017, RSE 199:25-38). The kernels are the MODIS
RossThick (volumetric) and LiSparse-Reciprocal (geometric, crown shape ``h/b = 2``,
``b/r = 1``) kernels (Lucht, Schaaf & Strahler 2000, IEEE TGRS 38(2):977-998, eqs. 37-44).
The coefficients are fixed and global (SENSORS.md §A.3). ``phi`` is the relative azimuth
``view_azimuth - sun_azimuth`` (both measured from the target towards sun / sensor),
so ``phi = 0`` with ``theta_s = theta_v`` is the hot spot.

All angles are in degrees. The kernel functions are plain NumPy ufunc expressions and
work unchanged on NumPy, Dask and xarray inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..core.sensors import ANGLE_NAMES  # re-exported: the BRDF step looks these names up
from ..exceptions import MissingBandError, describe
from ..validate import require_present

__all__ = [
    "ANGLE_NAMES",
    "BRDF_COEFFICIENTS",
    "brdf_model",
    "c_factor",
    "c_factors",
    "li_sparse_r",
    "nbar",
    "ross_thick",
]

#: HLS fixed BRDF coefficients ``(f_iso, f_geo, f_vol)`` per Sentinel-2 band id
#: (SENSORS.md §A.3 table; B08 and B8A share the NIR triplet; B01 uses blue, as HLS does).
BRDF_COEFFICIENTS: dict[str, tuple[float, float, float]] = {
    "B01": (0.0774, 0.0079, 0.0372),
    "B02": (0.0774, 0.0079, 0.0372),
    "B03": (0.1306, 0.0178, 0.0580),
    "B04": (0.1690, 0.0227, 0.0574),
    "B05": (0.2085, 0.0256, 0.0845),
    "B06": (0.2316, 0.0273, 0.1003),
    "B07": (0.2599, 0.0294, 0.1197),
    "B08": (0.3093, 0.0330, 0.1535),
    "B8A": (0.3093, 0.0330, 0.1535),
    "B11": (0.3430, 0.0453, 0.1154),
    "B12": (0.2658, 0.0387, 0.0639),
}


def ross_thick(sun_zenith: Any, view_zenith: Any, relative_azimuth: Any) -> Any:
    """RossThick volumetric kernel (the ``- pi/4`` form), angles in degrees.

    ``K = ((pi/2 - xi) cos xi + sin xi) / (cos ts + cos tv) - pi/4`` with the phase angle
    ``cos xi = cos ts cos tv + sin ts sin tv cos phi``.

    Examples
    --------
    >>> float(ross_thick(0.0, 0.0, 0.0))
    0.0
    """
    ts, tv, phi = np.radians(sun_zenith), np.radians(view_zenith), np.radians(relative_azimuth)
    cos_xi = _clip1(np.cos(ts) * np.cos(tv) + np.sin(ts) * np.sin(tv) * np.cos(phi))
    xi = np.arccos(cos_xi)
    return ((np.pi / 2 - xi) * cos_xi + np.sin(xi)) / (np.cos(ts) + np.cos(tv)) - np.pi / 4


def li_sparse_r(
    sun_zenith: Any, view_zenith: Any, relative_azimuth: Any, *, hb: float = 2.0, br: float = 1.0
) -> Any:
    """LiSparse-Reciprocal geometric kernel, angles in degrees (HLS: ``h/b = 2``, ``b/r = 1``).

    Examples
    --------
    >>> float(li_sparse_r(0.0, 0.0, 0.0))
    0.0
    """
    phi = np.radians(relative_azimuth)
    # equivalent zeniths for non-spherical crowns: tan t' = (b/r) tan t
    tan_s = br * np.tan(np.radians(sun_zenith))
    tan_v = br * np.tan(np.radians(view_zenith))
    ts, tv = np.arctan(tan_s), np.arctan(tan_v)
    sec_s, sec_v = 1.0 / np.cos(ts), 1.0 / np.cos(tv)
    d2 = np.maximum(tan_s**2 + tan_v**2 - 2.0 * tan_s * tan_v * np.cos(phi), 0.0)
    cos_t = _clip1(hb * np.sqrt(d2 + (tan_s * tan_v * np.sin(phi)) ** 2) / (sec_s + sec_v))
    t = np.arccos(cos_t)
    overlap = (t - np.sin(t) * cos_t) * (sec_s + sec_v) / np.pi
    cos_xi = np.cos(ts) * np.cos(tv) + np.sin(ts) * np.sin(tv) * np.cos(phi)
    return overlap - sec_s - sec_v + 0.5 * (1.0 + cos_xi) * sec_s * sec_v


def brdf_model(band: str, sun_zenith: Any, view_zenith: Any, relative_azimuth: Any) -> Any:
    """The HLS RTLSR model ``f_iso + f_vol K_vol + f_geo K_geo`` of one Sentinel-2 band."""
    iso, geo, vol = _coefficients(band)
    return (
        iso
        + vol * ross_thick(sun_zenith, view_zenith, relative_azimuth)
        + geo * li_sparse_r(sun_zenith, view_zenith, relative_azimuth)
    )


def c_factor(
    band: str, sun_zenith: Any, view_zenith: Any, relative_azimuth: Any, nbar_sun_zenith: Any
) -> Any:
    """HLS c-factor: ``f(nbar_sun_zenith, 0, 0) / f(sun_zenith, view_zenith, relative_azimuth)``.

    Examples
    --------
    >>> float(c_factor("B04", 35.0, 0.0, 120.0, 35.0))  # nadir view at the NBAR sun angle
    1.0
    """
    return brdf_model(band, nbar_sun_zenith, 0.0, 0.0) / brdf_model(
        band, sun_zenith, view_zenith, relative_azimuth
    )


def nbar(cube: xr.DataArray, angles: Mapping[str, Any], nbar_sun_zenith: Any) -> xr.DataArray:
    """Normalise a Sentinel-2 cube to nadir view and ``nbar_sun_zenith``.

    Parameters
    ----------
    cube
        Canonical cube with Sentinel-2 band ids (any resolution; angles must broadcast to it).
    angles
        ``sun_zenith``, ``sun_azimuth``, ``view_zenith``, ``view_azimuth`` in degrees: scalars or
        DataArrays with dims among ``("time", "y", "x")`` on the cube's coordinates.
    nbar_sun_zenith
        Normalisation solar zenith, degrees: scalar or a DataArray on ``time``.

    Returns
    -------
    xarray.DataArray
        ``cube * c`` (float32, lazy for Dask input); kernels are evaluated once on the
        angle grid and shared by every band.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> gbox = GeoBox.from_bbox((600000, 4999920, 600060, 4999980), "EPSG:32632", resolution=30)
    >>> cube = make_cube(np.full((1, 1, 2, 2), 0.2), geobox=gbox, bands=["B04"], sensor="S2A",
    ...                  time=["2021-06-01"])
    >>> ang = dict(sun_zenith=30.0, sun_azimuth=150.0, view_zenith=0.0, view_azimuth=0.0)
    >>> round(float(nbar(cube, ang, 30.0)[0, 0, 0, 0]), 6)
    0.2
    """
    require_present(
        ANGLE_NAMES,
        angles,
        problem="angle(s) {missing} missing for the BRDF normalisation",
        found=", ".join(angles) or "none",
        fix="pass angles={...} or set them in cube.attrs, or use brdf=False",
    )
    c = c_factors(cube["band"], angles, nbar_sun_zenith)
    out = (cube * c).transpose(*cube.dims).astype("float32", copy=False)
    out.attrs = dict(cube.attrs)
    return out


def c_factors(band: xr.DataArray, angles: Mapping[str, Any], nbar_sun_zenith: Any) -> xr.DataArray:
    """c-factors of several bands at once (float32), kernels evaluated once and shared.

    ``band`` is the cube's band coordinate (Sentinel-2 ids); the result has dim ``band``
    plus whatever dims the angles carry.
    """
    coef = np.array([_coefficients(str(b)) for b in band.values], dtype="float64")  # iso, geo, vol
    names = ("sun_zenith", "view_zenith", "sun_azimuth", "view_azimuth", "nbar")
    values = [angles[n] for n in names[:4]] + [nbar_sun_zenith]
    arrays = xr.broadcast(*[v if isinstance(v, xr.DataArray) else xr.DataArray(float(v)) for v in values])
    sz, vz, sa, va, sz_n = (a.data for a in arrays)  # kernels on raw NumPy/Dask arrays: one alignment only
    raa = va - sa
    k_vol, k_geo = ross_thick(sz, vz, raa), li_sparse_r(sz, vz, raa)
    k_vol0, k_geo0 = ross_thick(sz_n, 0.0, 0.0), li_sparse_r(sz_n, 0.0, 0.0)
    iso, geo, vol = (coef[:, i].reshape((-1,) + (1,) * np.ndim(sz)) for i in range(3))
    c = (iso + vol * k_vol0 + geo * k_geo0) / (iso + vol * k_vol + geo * k_geo)
    dims = ("band", *arrays[0].dims)
    coords = {k: v for k, v in arrays[0].coords.items()}
    return xr.DataArray(c.astype("float32"), dims=dims, coords={"band": band, **coords})


def _clip1(x: Any) -> Any:
    # ufuncs only: np.clip would turn lazy xarray/Dask input into NumPy
    return np.minimum(np.maximum(x, -1.0), 1.0)


def _coefficients(band: str) -> tuple[float, float, float]:
    try:
        return BRDF_COEFFICIENTS[band]
    except KeyError:
        raise MissingBandError(
            describe(
                f"no HLS BRDF coefficients for band {band!r}",
                expected="one of " + ", ".join(BRDF_COEFFICIENTS),
                found=repr(band),
                fix="drop the band before the BRDF step (B09/B10 are not BRDF-normalised in HLS)",
            )
        ) from None
