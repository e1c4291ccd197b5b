"""Physically based simulator of paired Sentinel-2 / Landsat-8 scenes (xharm's default data).

Spectra from PROSAIL and documented models/measurements (:mod:`.spectra`), landscapes
with continuous parcel geometry and archetypes (:mod:`.parcels`, :mod:`.landscape`) and
phenology (:mod:`.phenology`), the real spectral responses, per-band PSFs, noise, BRDF and
grids of both sensors (:mod:`.instrument`), a per-date misregistration (:mod:`.geometry`),
the atmosphere and each product's atmospheric correction (:mod:`.atmosphere`), clouds
with SCL / QA_PIXEL masks (:mod:`.clouds`), and the realism measures (:mod:`.realism`).
See ``docs/simulate.md``.

Examples
--------
>>> from xharm import simulate
>>> ps = simulate.pair_series(n_dates=1, size_km=0.6, seed=0)
>>> ps.l8.attrs["platform"], ps.s2_10m.band.values.tolist()
('landsat-8', ['B02', 'B03', 'B04', 'B08'])
"""

from .api import PairSeries, grids, landscape_of, pair_series, scene, to_zarr

__all__ = ["PairSeries", "grids", "landscape_of", "pair_series", "scene", "to_zarr"]
