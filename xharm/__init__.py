"""xharm: harmonize dense satellite time series held as xarray datacubes.

>>> import xharm                                   # registers the .harmonize accessor
>>> l8like = xharm.to_landsat(s2)                  # doctest: +SKIP
>>> scores = xharm.metrics(l8like, l8_reference)   # doctest: +SKIP

Importing xharm is light: JAX is imported only when a model runs.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import accessor as _accessor  # noqa: F401  (registers .harmonize)
from .exceptions import XharmError

__version__ = "0.1.0"

_LAZY = {
    "to_landsat": "xharm.pipeline:to_landsat",
    "harmonize_zarr": "xharm.pipeline:harmonize_zarr",
    "metrics": "xharm.metrics:metrics",
    "to_canonical": "xharm.cube:to_canonical",
    "from_canonical": "xharm.cube:from_canonical",
    "valid_mask": "xharm.qa:valid_mask",
    "dense_series": "xharm.dense:dense_series",
    "sharpen": "xharm.sharpening.api:sharpen",
}

__all__ = ["XharmError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name].split(":")
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'xharm' has no attribute {name!r}")
