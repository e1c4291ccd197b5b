"""Physically based simulator of paired Sentinel-2 / Landsat-8 scenes (xharm's default data).

Spectra from PROSAIL and documented models/measurements (:mod:`.spectra`), a crop
landscape with phenology (:mod:`.landscape`, :mod:`.phenology`), the real spectral
responses, PSFs, noise, BRDF and grids of both sensors (:mod:`.sensors`), and clouds
with SCL / QA_PIXEL masks (:mod:`.clouds`). See ``docs/simulate.md``.

Examples
--------
>>> from xharm import simulate
>>> ps = simulate.pair_series(n_dates=1, size_km=0.6, seed=0)
>>> ps.l8.attrs["platform"], ps.s2_10m.band.values.tolist()
('landsat-8', ['B02', 'B03', 'B04', 'B08'])
"""

from .api import PairSeries, grids, pair_series, scene, to_zarr

__all__ = ["PairSeries", "grids", "pair_series", "scene", "to_zarr"]
