"""Real Sentinel-2 scenes as NumPy band stacks for sharpening: training, Wald evaluation, tests.

A *scene* is ``{10: (4, H, W), 20: (6, H/2, W/2), 60: (2, H/6, W/6)}`` float reflectance
on nested grids, bands in the DSen2 order of :mod:`xharm.models.dsen2`
(10 m B02 B03 B04 B08; 20 m B05 B06 B07 B8A B11 B12; 60 m B01 B09).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.cube import make_cube
from ..exceptions import MissingDependencyError, describe
from ..spec import S2_10M_GUIDE, S2_20M_SHARP, S2_60M_SHARP

__all__ = ["BANDS", "read_dsen2_mat", "scene_from_cubes", "scene_to_cubes"]

BANDS: dict[int, tuple[str, ...]] = {10: S2_10M_GUIDE, 20: S2_20M_SHARP, 60: S2_60M_SHARP}
_MAT_ORDER = {"im10": ("B04", "B03", "B02", "B08"), "im20": S2_20M_SHARP, "im60": ("B01", "B09")}


def read_dsen2_mat(path: str | Path) -> dict[int, np.ndarray]:
    """A DSen2 demo patch (``lanha/DSen2`` ``data/*.mat``, MATLAB v7.3) as a scene.

    The files hold L1C DN (reflectance x 10000) in DSen2's band order (10 m: B4 B3 B2 B8);
    they are reordered to ``BANDS`` and scaled to reflectance. No georeference is stored.
    """
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - optional
        raise MissingDependencyError(
            describe("reading .mat files needs h5py", fix="pip install h5py")
        ) from err
    out = {}
    with h5py.File(path, "r") as f:
        for key, res in (("im10", 10), ("im20", 20), ("im60", 60)):
            arr = np.asarray(f[key], dtype=np.float32) / 10000.0
            order = _MAT_ORDER[key]
            out[res] = np.stack([arr[order.index(b)] for b in BANDS[res]])
    return out


def scene_from_cubes(cubes: Mapping[Any, Any], time_index: int = 0) -> dict[int, np.ndarray]:
    """One date of the reader's ``{10.0: cube, 20.0: cube, 60.0: cube}`` as a scene (computed)."""
    out = {}
    for res in (10, 20, 60):
        cube = cubes.get(float(res), cubes.get(res))
        if cube is None:
            continue
        out[res] = np.asarray(cube.isel(time=time_index).sel(band=list(BANDS[res])).values, dtype=np.float32)
    return out


def scene_to_cubes(
    scene: Mapping[int, np.ndarray],
    *,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (500000.0, 5000000.0),
    time: str = "2017-05-27",
    level: str | None = "L1C",
    chunks: int | None = None,
) -> dict[int, Any]:
    """Canonical cubes of a scene on nested north-up grids with its top-left corner at ``origin``.

    The DSen2 demo patches carry no georeference; this places them on a nominal grid so
    that they run through :func:`xharm.sharpening.api.sharpen` like any cube (``chunks``: Dask
    chunks of the 10 m cube in px, the others scaled).
    """
    from affine import Affine
    from odc.geo.geobox import GeoBox

    out = {}
    for res, arr in scene.items():
        h, w = arr.shape[-2:]
        x0, y1 = origin
        g = GeoBox((h, w), Affine(float(res), 0.0, x0, 0.0, -float(res), y1), crs)
        attrs = {"processing_level": level} if level else {}
        data: Any = np.asarray(arr, np.float32)[None]
        if chunks:
            import dask.array as da

            c = max(1, chunks * 10 // res)
            data = da.from_array(data, chunks=(1, -1, c, c))
        out[res] = make_cube(data, geobox=g, bands=BANDS[res], sensor="sentinel-2a", time=[time], attrs=attrs)
    return out
