"""HLS v2.0 bandpass adjustment of Sentinel-2 MSI to Landsat-8 OLI-like reflectance.

``rho_OLI-like = slope * rho_MSI + offset`` with the per-platform HLS coefficients
(:func:`xharm.core.sensors.hls_bandpass`, SENSORS.md §A.2). The platform comes from the
cube -- a per-date ``platform`` coordinate on ``time`` (stackstac layout) or
``attrs["platform"]``/``attrs["sensor"]`` -- or from an explicit ``platform=``; it is never
guessed: a cube that only says "sentinel-2" raises :class:`~xharm.exceptions.SensorError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..core.sensors import get_sensor, hls_bandpass
from ..exceptions import DimensionError, SensorError, describe

__all__ = ["S2_TO_L8", "apply_bandpass", "bandpass_coefficients", "platforms_of"]

#: Sentinel-2 band -> Landsat-8 OLI band (B08 stands in for B8A when chosen as NIR source).
S2_TO_L8: dict[str, str] = {
    "B01": "B1",
    "B02": "B2",
    "B03": "B3",
    "B04": "B4",
    "B8A": "B5",
    "B08": "B5",
    "B11": "B6",
    "B12": "B7",
}
_HLS_PLATFORMS = ("sentinel-2a", "sentinel-2b", "sentinel-2c")


def platforms_of(cube: xr.DataArray, platform: str | Sequence[str] | None = None) -> list[str]:
    """The Sentinel-2 platform of every date of ``cube`` (xharm sensor names).

    Order of precedence: ``platform`` argument (one name, or one per date), a
    ``platform`` coordinate on ``time``, ``attrs["platform"]``, ``attrs["sensor"]``.
    Metadata only.

    Raises
    ------
    SensorError
        When no source names S2A/S2B/S2C for some date.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> gbox = GeoBox.from_bbox((600000, 4999920, 600060, 4999980), "EPSG:32632", resolution=30)
    >>> cube = make_cube(np.zeros((2, 1, 2, 2)), geobox=gbox, bands=["B04"], sensor="S2B",
    ...                  time=["2021-06-01", "2021-06-04"])
    >>> platforms_of(cube)
    ['sentinel-2b', 'sentinel-2b']
    """
    nt = cube.sizes["time"]
    if platform is not None:
        names = [platform] * nt if isinstance(platform, str) else list(platform)
        where = "the platform= argument"
    elif "platform" in cube.coords and cube["platform"].dims == ("time",):
        names = [str(p) for p in cube["platform"].values]
        where = "the cube's 'platform' coordinate"
    else:
        where = "cube.attrs['platform'] / attrs['sensor']"
        found = {k: cube.attrs[k] for k in ("platform", "sensor") if cube.attrs.get(k)}
        specific = {k: specific_platform(v) for k, v in found.items()}
        known = {v for v in specific.values() if v is not None}
        if len(known) > 1:
            raise SensorError(
                describe(
                    "the cube's platform and sensor attributes disagree",
                    expected="one Sentinel-2 satellite",
                    found=found,
                    fix="correct cube.attrs['platform'], or pass platform=...",
                )
            )
        names = [known.pop() if known else next(iter(found.values()), "")] * nt
    if len(names) != nt:
        raise DimensionError(
            describe(
                f"{where} gives {len(names)} platforms for {nt} dates",
                expected=f"one platform, or {nt} (one per date)",
                found=len(names),
            )
        )
    out = []
    for name in names:
        try:
            sensor = get_sensor(str(name))
        except SensorError:
            sensor = None
        if sensor is None or sensor.name not in _HLS_PLATFORMS:
            raise SensorError(
                describe(
                    f"cannot tell which Sentinel-2 satellite took the data ({where} says {name!r})",
                    expected="sentinel-2a, sentinel-2b or sentinel-2c (the HLS coefficients differ)",
                    found=repr(name),
                    fix="set cube.attrs['platform'] = 'sentinel-2b' (or a per-date 'platform' coord), "
                    "or pass platform=...",
                )
            )
        out.append(sensor.name)
    return out


def bandpass_coefficients(platforms: Sequence[str], bands: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """HLS slope and offset arrays shaped ``(len(platforms), len(bands))``.

    ``bands`` are Sentinel-2 ids; B08 takes the B8A (NIR) coefficients, the only HLS NIR
    pair. Bands HLS does not adjust (red edge, B09, B10) get slope 1 and offset 0.

    Examples
    --------
    >>> slope, offset = bandpass_coefficients(["S2A", "S2B"], ["B03"])
    >>> slope.tolist(), offset.tolist()
    ([[1.0053], [1.0075]], [[-0.0009], [-0.0008]])
    """
    slope = np.ones((len(platforms), len(bands)), dtype="float64")
    offset = np.zeros_like(slope)
    for i, p in enumerate(platforms):
        table = hls_bandpass(p)
        for j, b in enumerate(bands):
            key = "B8A" if b == "B08" else b
            if key in table:
                _, slope[i, j], offset[i, j] = table[key]
    return slope, offset


def apply_bandpass(cube: xr.DataArray, platform: str | Sequence[str] | None = None) -> xr.DataArray:
    """Apply the HLS bandpass adjustment to a Sentinel-2 cube (band names unchanged).

    Parameters
    ----------
    cube
        Canonical cube with Sentinel-2 band ids (any resolution).
    platform
        Override of the cube's platform (one name or one per date).

    Returns
    -------
    xarray.DataArray
        float32, lazy for Dask input; ``attrs["bandpass_platforms"]`` lists the platform per date.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> gbox = GeoBox.from_bbox((600000, 4999920, 600060, 4999980), "EPSG:32632", resolution=30)
    >>> cube = make_cube(np.full((1, 1, 2, 2), 0.25), geobox=gbox, bands=["B02"], sensor="S2A",
    ...                  time=["2021-06-01"])
    >>> round(float(apply_bandpass(cube)[0, 0, 0, 0]), 6)  # 0.9778 * 0.25 - 0.0040
    0.24045
    """
    plats = platforms_of(cube, platform)
    bands = [str(b) for b in cube["band"].values]
    slope, offset = bandpass_coefficients(plats, bands)
    coords = {"time": cube["time"], "band": cube["band"]}
    s = xr.DataArray(slope.astype("float32"), dims=("time", "band"), coords=coords)
    o = xr.DataArray(offset.astype("float32"), dims=("time", "band"), coords=coords)
    out = (cube * s + o).transpose(*cube.dims).astype("float32", copy=False)
    out.attrs = dict(cube.attrs, bandpass_platforms=plats)
    return out


def specific_platform(name: Any) -> str | None:
    """The HLS platform whose own coefficients apply to sensor ``name`` (``"sentinel-2b"``), else None."""
    try:
        sensor = get_sensor(str(name))
    except SensorError:
        return None
    return sensor.name if sensor.name in _HLS_PLATFORMS else None
