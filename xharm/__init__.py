"""xharm: harmonize dense satellite time series held as xarray datacubes.

>>> import xharm                                   # registers the .harmonize accessor
>>> l8like = xharm.to_landsat(s2)                  # doctest: +SKIP
>>> scores = xharm.metrics(l8like, l8_reference)   # doctest: +SKIP

Importing xharm is light: JAX is imported only when a model runs.
"""

from __future__ import annotations

from typing import Any

from . import _lazy
from . import accessor as _accessor  # noqa: F401  (registers .harmonize)
from .exceptions import XharmError

__version__ = "0.1.0"

__all__ = ["XharmError", "__version__", *_lazy.FUNCTIONS]


def __getattr__(name: str) -> Any:
    if name in _lazy.FUNCTIONS:
        return _lazy.load(name)
    raise AttributeError(f"module 'xharm' has no attribute {name!r}")
