"""Lazy readers: Landsat C2 L2, Sentinel-2 L1C/L2A, HLS v2.0 and local STAC catalogs.

Every reader returns Dask-backed canonical cubes (see :mod:`xharm.core.cube`) and raw QA
layers; nothing is computed until asked. Bad inputs raise
:class:`~xharm.exceptions.XharmError` subclasses naming the file at fault.
"""

from .hls import read_hls
from .hls import read_metadata as read_hls_metadata
from .landsat import read_landsat_c2l2, read_mtl
from .sentinel2 import read_s2_angles, read_s2_metadata, read_scl, read_sentinel2
from .stac import load_stac, stac_items

__all__ = [
    "load_stac",
    "read_hls",
    "read_hls_metadata",
    "read_landsat_c2l2",
    "read_mtl",
    "read_s2_angles",
    "read_s2_metadata",
    "read_scl",
    "read_sentinel2",
    "stac_items",
]
